#pragma once
// The mesh's certificate authority, as trellisd runs it: a signing certificate (a self-signed
// root it created, or a root or intermediate the operator supplied) and its key, which never
// leaves trellisd. It signs workload CSRs into short-lived SPIFFE certificates.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "tls/pki/x509.h"

namespace trellis::pki {

class CertificateAuthority {
 public:
  /// A new self-signed root for `trustDomain` (ECDSA P-256; URI SAN spiffe://<trustDomain>;
  /// CA:TRUE, keyCertSign and cRLSign), valid from now for `validity` (notBefore is backdated
  /// a minute for clock skew). The trust domain is lower-cased; an invalid one throws
  /// std::invalid_argument (there is no error channel), an OpenSSL failure std::runtime_error.
  static CertificateAuthority createRoot(std::string_view trustDomain,
                                         std::chrono::seconds validity);
  /// From PEM: `certChainPem` is the signing certificate first, then any intermediates up to
  /// (not necessarily including) the root; `keyPem` is its private key. Refused (nullopt and a
  /// precise `error`) when the key does not match, the certificate is not a CA, or it expired
  /// (or is not yet valid), or a chain certificate is not the issuer of the one before it.
  static std::optional<CertificateAuthority> load(std::string_view certChainPem,
                                                  std::string_view keyPem,
                                                  std::string* error = nullptr);

  /// Signs `csrPem` into a certificate for `id` (the CSR's URI SAN must be `id`; its key is
  /// kept, its other fields ignored), valid from a minute ago (clock skew) for `ttl`, never
  /// beyond the CA's own expiry; digitalSignature + keyEncipherment, serverAuth + clientAuth,
  /// CA:FALSE. Returns the PEM chain: the leaf, then the CA certificate and its intermediates.
  /// Also refused: an `id` without a path (X.509-SVID 3.1), not in canonical form, or outside
  /// trustDomain() when the CA has one (a CA without a SPIFFE ID signs any trust domain).
  std::optional<std::string> sign(std::string_view csrPem, const SpiffeId& id,
                                  std::chrono::seconds ttl, std::string* error = nullptr) const;

  /// The signing certificate and its intermediates (PEM), as given or created.
  const std::string& chainPem() const { return chainPem_; }
  /// The private key (PEM), for storing it (mode 0600) next to the certificate.
  std::string keyPem() const;
  const std::string& trustDomain() const { return trustDomain_; }
  const X509& certificate() const { return *cert_; }

 private:
  CertificateAuthority() = default;
  CertPtr cert_;
  KeyPtr key_;
  std::string chainPem_;
  std::string trustDomain_;  // from the CA certificate's URI SAN (spiffe://td), if any
};

}  // namespace trellis::pki
