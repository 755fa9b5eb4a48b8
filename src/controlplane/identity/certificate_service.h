#pragma once
// trellisd's certificate issuance: a proxy sends a CSR for its SPIFFE ID (the key never leaves
// the proxy) and proves it may have that identity, with a join token for its first certificate
// or, to renew, with its current certificate and the CSR signed by that certificate's key.
// Anything else is refused, logged and counted by reason.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "controlplane/identity/ca_files.h"
#include "controlplane/identity/join_tokens.h"

namespace trellis::controlplane {

struct CertificateRequest {
  std::string csrPem;
  std::string joinToken;        // first certificate
  std::string currentChainPem;  // renewal: the certificate being renewed (and its chain) ...
  std::string signatureBase64;  // ... and csrPem signed with its key (ECDSA, SHA-256)
};

struct CertificateResponse {
  int status = 200;    // HTTP status: 200, 400 (bad request), 403 (refused)
  std::string reason;  // metric label: "issued", "bad_csr", "token_expired", ...
  std::string error;   // for the caller and the log
  std::string identity;
  std::string chainPem;   // leaf first
  std::string bundlePem;  // the roots to trust
  int64_t expiresAt = 0;  // Unix seconds
};

class CertificateService {
 public:
  CertificateService(LoadedCa ca, JoinTokens& tokens, std::string trustDomain,
                     std::chrono::seconds ttl)
      : ca_(std::move(ca)), tokens_(tokens), trustDomain_(std::move(trustDomain)), ttl_(ttl) {}

  CertificateResponse issue(const CertificateRequest& request, int64_t now);
  /// trellisd's own certificate (its mutual-TLS xDS port): trellisd holds the key, so there is
  /// nothing to prove. The chain (leaf first), or nullopt and `error`.
  std::optional<std::string> issueOwn(const std::string& csrPem, const pki::SpiffeId& id,
                                      std::chrono::seconds ttl, std::string* error) const {
    return ca_.ca.sign(csrPem, id, ttl, error);
  }

  const std::string& bundlePem() const { return ca_.bundlePem; }
  const std::string& trustDomain() const { return trustDomain_; }
  std::chrono::seconds ttl() const { return ttl_; }
  /// Requests by outcome ("issued" or the refusal reason), for trellisd's metrics.
  const std::map<std::string, uint64_t>& outcomes() const { return outcomes_; }

 private:
  CertificateResponse refuse(int status, std::string reason, std::string error,
                             std::string identity = {});

  LoadedCa ca_;
  JoinTokens& tokens_;
  std::string trustDomain_;
  std::chrono::seconds ttl_;
  std::map<std::string, uint64_t> outcomes_;
};

}  // namespace trellis::controlplane
