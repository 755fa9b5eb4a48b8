#include "tls/pki/x509.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <ctime>

#include "tls/pki/openssl_ptr.h"

namespace trellis::pki {
namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): the pointer aliases

struct ExtStackFree {
  void operator()(STACK_OF(X509_EXTENSION) * s) const {
    sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
  }
};
using ExtStackPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtStackFree>;
// Holds borrowed certificates: freeing the stack leaves them to their owners.
struct CertStackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
};
using CertStackPtr = std::unique_ptr<STACK_OF(X509), CertStackFree>;

// `what`, then OpenSSL's reason for the latest failure; drains the thread's error queue so a
// stale entry cannot be blamed for a later, unrelated failure.
std::string opensslError(std::string_view what) {
  std::string out(what);
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;
  if (last != 0) {
    char buf[256];
    ERR_error_string_n(last, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  return out;
}

BioPtr memBio(std::string_view data) {
  // A default string_view has a null data(), which BIO_new_mem_buf refuses.
  return BioPtr(BIO_new_mem_buf(data.empty() ? "" : data.data(), static_cast<int>(data.size())));
}

std::string bioString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<size_t>(len));
}

// Ed25519/Ed448 sign the message itself and take no digest; everything else uses SHA-256.
const EVP_MD* digestFor(const EVP_PKEY& key) {
  if (EVP_PKEY_is_a(&key, "ED25519") || EVP_PKEY_is_a(&key, "ED448")) return nullptr;
  return EVP_sha256();
}

// OpenSSL's signing and key-setting calls take a non-const key only because they bump its
// reference count; they never change the key itself.
EVP_PKEY* mutableKey(const EVP_PKEY& key) {
  return const_cast<EVP_PKEY*>(&key);
}

std::string hex(const unsigned char* data, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

int64_t unixTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::vector<std::string> uriNames(const GENERAL_NAMES* names) {
  std::vector<std::string> out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                     static_cast<size_t>(ASN1_STRING_length(uri)));
  }
  return out;
}

// The subjectAltName extension holding the single URI `uri`. Built from a GENERAL_NAME rather
// than a config string ("URI:...") so no character of the URI can be read as syntax.
ExtPtr uriSanExtension(const std::string& uri, bool critical) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  GeneralNamePtr name(GENERAL_NAME_new());
  Ptr<ASN1_IA5STRING, ASN1_IA5STRING_free> str(ASN1_IA5STRING_new());
  if (!names || !name || !str) return nullptr;
  if (ASN1_STRING_set(str.get(), uri.data(), static_cast<int>(uri.size())) != 1) return nullptr;
  GENERAL_NAME_set0_value(name.get(), GEN_URI, str.release());
  if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) return nullptr;
  name.release();  // owned by `names` now
  return ExtPtr(X509V3_EXT_i2d(NID_subject_alt_name, critical ? 1 : 0, names.get()));
}

}  // namespace

KeyPtr generateKey() {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) ERR_clear_error();
  return key;
}

std::string privateKeyPem(const EVP_PKEY& key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY") in OpenSSL 3.
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  return bioString(bio.get());
}

KeyPtr parsePrivateKey(std::string_view pem, std::string* error) {
  BioPtr bio = memBio(pem);
  if (!bio) {
    fail(error, opensslError("private key"));
    return nullptr;
  }
  // An empty passphrase callback result: an encrypted key fails instead of prompting on a tty.
  pem_password_cb* noPassword = [](char*, int, int, void*) { return 0; };
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassword, nullptr));
  if (!key) {
    fail(error, opensslError("private key: not a readable PEM key"));
    return nullptr;
  }
  ERR_clear_error();
  return key;
}

std::string makeCsr(const EVP_PKEY& key, const SpiffeId& id) {
  ReqPtr req(X509_REQ_new());
  NamePtr subject(X509_NAME_new());
  ExtStackPtr exts(sk_X509_EXTENSION_new_null());
  BioPtr bio(BIO_new(BIO_s_mem()));
  ExtPtr san = uriSanExtension(id.uri(), /*critical=*/false);
  bool ok = req && subject && exts && bio && san &&
            X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) == 1 &&
            X509_NAME_add_entry_by_txt(subject.get(), "O", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("trellis"), -1, -1,
                                       0) == 1 &&
            X509_REQ_set_subject_name(req.get(), subject.get()) == 1 &&
            X509_REQ_set_pubkey(req.get(), mutableKey(key)) == 1 &&
            sk_X509_EXTENSION_push(exts.get(), san.get()) > 0;
  if (ok) san.release();  // owned by `exts` now
  ok = ok && X509_REQ_add_extensions(req.get(), exts.get()) == 1 &&
       X509_REQ_sign(req.get(), mutableKey(key), digestFor(key)) > 0 &&
       PEM_write_bio_X509_REQ(bio.get(), req.get()) == 1;
  if (!ok) {
    ERR_clear_error();
    return {};
  }
  return bioString(bio.get());
}

std::optional<CsrInfo> parseCsr(std::string_view pem, std::string* error) {
  BioPtr bio = memBio(pem);
  ReqPtr req(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!req) return refuse(error, opensslError("CSR: not a readable PEM certificate request"));
  CsrInfo info;
  info.publicKey.reset(X509_REQ_get_pubkey(req.get()));
  if (!info.publicKey) return refuse(error, opensslError("CSR: unusable public key"));
  if (X509_REQ_verify(req.get(), info.publicKey.get()) != 1) {
    return refuse(error, opensslError("CSR: self-signature does not verify"));
  }
  // No extension request at all is not an error: the CSR then asks for no URI SAN.
  ExtStackPtr exts(X509_REQ_get_extensions(req.get()));
  if (exts) {
    int crit = -1;
    GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
        X509V3_get_d2i(exts.get(), NID_subject_alt_name, &crit, nullptr)));
    if (!names && crit == -2) {
      return refuse(error, "CSR: more than one subjectAltName extension");
    }
    if (!names && crit >= 0) {
      return refuse(error, opensslError("CSR: malformed subjectAltName"));
    }
    if (names) info.uriSans = uriNames(names.get());
  }
  ERR_clear_error();
  return info;
}

std::vector<CertPtr> parseCertificates(std::string_view pem, std::string* error) {
  std::vector<CertPtr> certs;
  BioPtr bio = memBio(pem);
  if (!bio) {
    fail(error, opensslError("certificates"));
    return certs;
  }
  // The end of input is recognised by the error it leaves, so start from an empty queue.
  ERR_clear_error();
  while (CertPtr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    certs.push_back(std::move(cert));
  }
  // The loop ends at the first block it cannot read: the end of the input (no further
  // "BEGIN CERTIFICATE" line) is the only good reason.
  unsigned long err = ERR_peek_last_error();
  if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    err = 0;
  }
  if (err != 0) {
    std::string why = opensslError("certificate " + std::to_string(certs.size() + 1) +
                                   " of the PEM bundle is malformed");
    certs.clear();
    fail(error, std::move(why));
  } else if (certs.empty()) {
    fail(error, "no certificate in the PEM data");
  }
  return certs;
}

std::string certificatePem(const X509& cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), &cert) != 1) {
    ERR_clear_error();
    return {};
  }
  return bioString(bio.get());
}

CertInfo inspect(const X509& cert) {
  CertInfo info;
  int crit = -1;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(&cert, NID_subject_alt_name, &crit, nullptr)));
  if (names) info.uriSans = uriNames(names.get());

  if (BioPtr bio{BIO_new(BIO_s_mem())};
      bio && X509_NAME_print_ex(bio.get(), X509_get_subject_name(&cert), 0, XN_FLAG_RFC2253) >= 0) {
    info.subject = bioString(bio.get());
  }
  info.notBefore = unixTime(X509_get0_notBefore(&cert));
  info.notAfter = unixTime(X509_get0_notAfter(&cert));

  if (BnPtr bn{ASN1_INTEGER_to_BN(X509_get0_serialNumber(&cert), nullptr)}) {
    if (char* h = BN_bn2hex(bn.get())) {
      info.serialHex = h;
      OPENSSL_free(h);
      for (char& c : info.serialHex) c = static_cast<char>(std::tolower(c));
    }
  }
  // Extension flags are computed lazily and cached inside the X509; the certificate's content
  // does not change.
  X509* mutableCert = const_cast<X509*>(&cert);
  uint32_t flags = X509_get_extension_flags(mutableCert);
  info.isCa = (flags & EXFLAG_BCONS) && (flags & EXFLAG_CA);

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdLen = 0;
  if (X509_digest(&cert, EVP_sha256(), md, &mdLen) == 1) info.fingerprint = hex(md, mdLen);
  ERR_clear_error();
  return info;
}

bool verifyChain(std::string_view chainPem, std::string_view bundlePem, int64_t now,
                 const std::optional<SpiffeId>& expected, std::string* error) {
  std::string why;
  std::vector<CertPtr> chain = parseCertificates(chainPem, &why);
  if (chain.empty()) return fail(error, "chain: " + why);
  std::vector<CertPtr> roots = parseCertificates(bundlePem, &why);
  if (roots.empty()) return fail(error, "trust bundle: " + why);

  StorePtr store(X509_STORE_new());
  if (!store) return fail(error, opensslError("verify"));
  for (const CertPtr& root : roots) {
    if (X509_STORE_add_cert(store.get(), root.get()) != 1) {
      return fail(error, opensslError("trust bundle: cannot add a certificate"));
    }
  }
  CertStackPtr untrusted(sk_X509_new_null());
  if (!untrusted) return fail(error, opensslError("verify"));
  for (size_t i = 1; i < chain.size(); ++i) {
    if (sk_X509_push(untrusted.get(), chain[i].get()) <= 0)
      return fail(error, opensslError("verify"));
  }
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509* leaf = chain.front().get();
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
    return fail(error, opensslError("verify: cannot set up the verification"));
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now));
  // Every bundle certificate is a trust anchor, self-signed or not: a CA loaded from an
  // intermediate distributes that intermediate as the bundle.
  if (X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN) != 1) {
    return fail(error, opensslError("verify: cannot set the verification flags"));
  }

  int rc = X509_verify_cert(ctx.get());
  if (rc != 1) {
    int code = X509_STORE_CTX_get_error(ctx.get());
    int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    std::string msg = "certificate verification failed";
    if (code == X509_V_OK) {  // failed before checking any certificate
      msg = opensslError(msg);
    } else {
      msg += " at depth " + std::to_string(depth);
      if (X509* bad = X509_STORE_CTX_get_current_cert(ctx.get())) {
        msg += " (" + inspect(*bad).subject + ")";
      }
      msg += ": ";
      msg += X509_verify_cert_error_string(code);
    }
    ERR_clear_error();
    return fail(error, msg);
  }

  // X.509-SVID 5.2: beyond path validation, the leaf must be a leaf and carry one SPIFFE ID.
  CertInfo info = inspect(*leaf);
  if (info.isCa) return fail(error, "leaf certificate is a CA (basicConstraints CA:TRUE)");
  if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) &&
      (X509_get_key_usage(leaf) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN))) {
    return fail(error, "leaf certificate has keyCertSign or cRLSign key usage");
  }
  if (info.uriSans.size() != 1) {
    return fail(error, "leaf certificate has " + std::to_string(info.uriSans.size()) +
                           " URI SANs; exactly one is required");
  }
  std::optional<SpiffeId> id = SpiffeId::parse(info.uriSans.front(), &why);
  if (!id) return fail(error, "leaf URI SAN '" + info.uriSans.front() + "': " + why);
  if (expected && *id != *expected) {
    return fail(error, "identity mismatch: certificate is for '" + id->uri() + "', expected '" +
                           expected->uri() + "'");
  }
  return true;
}

std::string sign(const EVP_PKEY& key, std::string_view data) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, digestFor(key), nullptr, mutableKey(key)) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, bytes, data.size()) != 1) {
    ERR_clear_error();
    return {};
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, bytes,
                     data.size()) != 1) {
    ERR_clear_error();
    return {};
  }
  sig.resize(len);  // a DER ECDSA signature is often shorter than the maximum
  return sig;
}

bool verifySignature(const X509& cert, std::string_view data, std::string_view signature) {
  EVP_PKEY* pub = X509_get0_pubkey(&cert);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = pub && ctx &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, digestFor(*pub), nullptr, pub) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace trellis::pki
