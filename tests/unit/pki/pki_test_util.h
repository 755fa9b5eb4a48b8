#pragma once
// Raw OpenSSL helpers for the PKI tests: what the library does not offer (intermediate CAs,
// DER tampering, extension inspection), so the tests can build and examine certificates
// independently of the code under test.

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tls/pki/x509.h"

namespace trellis::pki::testing {

inline int64_t nowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free_all(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

inline std::string bioString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

struct ExtFree {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};

inline bool addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx{};
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

struct Issued {
  CertPtr cert;
  KeyPtr key;
};

// A CA certificate (CA:TRUE, keyCertSign) signed by `issuerCert`/`issuerKey`, with URI SAN
// `uri` unless empty. Returns null members on failure.
inline Issued makeCaCert(X509* issuerCert, EVP_PKEY* issuerKey, const std::string& uri,
                         int64_t notBefore, int64_t notAfter, bool ca = true) {
  Issued out;
  out.key = generateKey();
  CertPtr cert(X509_new());
  X509_NAME* name = X509_NAME_new();
  unsigned char serial[8];
  bool ok = out.key && cert && name && RAND_bytes(serial, sizeof serial) == 1 &&
            X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
            ASN1_INTEGER_set_int64(X509_get_serialNumber(cert.get()), serial[0] + 1) == 1 &&
            X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, notBefore - nowUnix(), nullptr) !=
                nullptr &&
            X509_time_adj_ex(X509_getm_notAfter(cert.get()), 0, notAfter - nowUnix(), nullptr) !=
                nullptr &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("test intermediate"),
                                       -1, -1, 0) == 1 &&
            X509_set_subject_name(cert.get(), name) == 1 &&
            X509_set_issuer_name(cert.get(), X509_get_subject_name(issuerCert)) == 1 &&
            X509_set_pubkey(cert.get(), out.key.get()) == 1 &&
            addExt(cert.get(), issuerCert, NID_basic_constraints,
                   ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
            addExt(cert.get(), issuerCert, NID_key_usage,
                   ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
            addExt(cert.get(), issuerCert, NID_subject_key_identifier, "hash") &&
            addExt(cert.get(), issuerCert, NID_authority_key_identifier, "keyid:always") &&
            (uri.empty() ||
             addExt(cert.get(), issuerCert, NID_subject_alt_name, ("URI:" + uri).c_str())) &&
            X509_sign(cert.get(), issuerKey, EVP_sha256()) > 0;
  X509_NAME_free(name);
  if (!ok) return {};
  out.cert = std::move(cert);
  return out;
}

inline std::string base64Body(const std::string& pem) {
  std::string out;
  size_t start = pem.find('\n') + 1;
  size_t end = pem.find("-----END");
  for (size_t i = start; i < end; ++i) {
    if (pem[i] != '\n') out.push_back(pem[i]);
  }
  return out;
}

// DER <-> PEM for a CSR, so a test can flip bytes inside the signed part.
inline std::vector<unsigned char> csrDer(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509_REQ* req = PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr);
  if (!req) return {};
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req, &der);
  X509_REQ_free(req);
  if (len <= 0) return {};
  std::vector<unsigned char> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

inline std::string csrPemFromDer(const std::vector<unsigned char>& der) {
  const unsigned char* p = der.data();
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  if (!req) return {};
  BioPtr bio(BIO_new(BIO_s_mem()));
  std::string out;
  if (PEM_write_bio_X509_REQ(bio.get(), req) == 1) out = bioString(bio.get());
  X509_REQ_free(req);
  return out;
}

// Whether the extension `nid` is present and marked critical.
inline bool isCritical(const X509& cert, int nid) {
  int idx = X509_get_ext_by_NID(&cert, nid, -1);
  return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(&cert, idx)) == 1;
}

}  // namespace trellis::pki::testing
