#pragma once
// Keys, certificate signing requests and certificates (OpenSSL 3), as the mesh uses them: ECDSA
// P-256 keys generated where they are used, CSRs carrying a SPIFFE ID, PEM in and out. Errors
// are returned as text (OpenSSL's reason included), never thrown.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/pki/spiffe_id.h"

namespace trellis::pki {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

/// A new ECDSA P-256 key pair.
KeyPtr generateKey();
/// PKCS#8 PEM of the private key.
std::string privateKeyPem(const EVP_PKEY& key);
KeyPtr parsePrivateKey(std::string_view pem, std::string* error = nullptr);

/// A PEM CSR for `id` (URI SAN, no subject other than an O=trellis), signed by `key`.
std::string makeCsr(const EVP_PKEY& key, const SpiffeId& id);

/// What a CSR asks for, after its self-signature was checked.
struct CsrInfo {
  std::vector<std::string> uriSans;
  KeyPtr publicKey;
};
std::optional<CsrInfo> parseCsr(std::string_view pem, std::string* error = nullptr);

/// Every certificate of a PEM bundle, in order (leaf first for a chain).
std::vector<CertPtr> parseCertificates(std::string_view pem, std::string* error = nullptr);
std::string certificatePem(const X509& cert);

/// What the mesh needs to know about a certificate.
struct CertInfo {
  std::vector<std::string> uriSans;
  std::string subject;    // one line, RFC 2253
  int64_t notBefore = 0;  // Unix seconds
  int64_t notAfter = 0;   // Unix seconds
  std::string serialHex;
  bool isCa = false;
  std::string fingerprint;  // SHA-256 of the DER, hex
};
CertInfo inspect(const X509& cert);

/// Checks `chainPem` (leaf first, then intermediates) against the roots in `bundlePem` at
/// Unix time `now`; when `expected` is given the leaf's URI SAN must be exactly it. False with
/// a precise `error` (expired, unknown issuer, identity mismatch, ...). Every bundle
/// certificate is a trust anchor, self-signed or not; the leaf must also pass X.509-SVID 5.2
/// (CA:FALSE, no keyCertSign/cRLSign, exactly one URI SAN that is a valid SPIFFE ID).
bool verifyChain(std::string_view chainPem, std::string_view bundlePem, int64_t now,
                 const std::optional<SpiffeId>& expected, std::string* error = nullptr);

/// Proof of possession: `key` signs `data` (ECDSA with SHA-256, DER signature), and the
/// signature is checked against the public key of certificate `cert`.
std::string sign(const EVP_PKEY& key, std::string_view data);
bool verifySignature(const X509& cert, std::string_view data, std::string_view signature);

}  // namespace trellis::pki
