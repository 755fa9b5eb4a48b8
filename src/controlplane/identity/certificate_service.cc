#include "controlplane/identity/certificate_service.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include "common/logging.h"

namespace trellis::controlplane {
namespace {

std::optional<std::string> decodeBase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 4096) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t size = static_cast<size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes.
  if (text.back() == '=') --size;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --size;
  out.resize(size);
  return out;
}

}  // namespace

CertificateResponse CertificateService::refuse(int status, std::string reason, std::string error,
                                               std::string identity) {
  ++outcomes_[reason];
  log::warn("certificate request refused ({}){}: {}", reason,
            identity.empty() ? std::string() : " for " + identity, error);
  CertificateResponse response;
  response.status = status;
  response.reason = std::move(reason);
  response.error = std::move(error);
  response.identity = std::move(identity);
  return response;
}

CertificateResponse CertificateService::issue(const CertificateRequest& request, int64_t now) {
  std::string problem;
  auto csr = pki::parseCsr(request.csrPem, &problem);
  if (!csr) return refuse(400, "bad_csr", "the CSR is not valid: " + problem);
  if (csr->uriSans.size() != 1) {
    return refuse(400, "bad_csr",
                  fmt::format("the CSR must carry exactly one URI SAN (its SPIFFE ID); it has {}",
                              csr->uriSans.size()));
  }
  auto id = pki::SpiffeId::parse(csr->uriSans.front(), &problem);
  if (!id) return refuse(400, "bad_csr", "the CSR's URI SAN is not a SPIFFE ID: " + problem);
  const std::string identity = id->uri();
  if (id->trustDomain != trustDomain_) {
    return refuse(
        403, "wrong_trust_domain",
        fmt::format("this mesh's trust domain is {}, not {}", trustDomain_, id->trustDomain),
        identity);
  }
  const std::string ns = id->workloadNamespace();
  const std::string serviceAccount = id->serviceAccount();
  if (ns.empty() || serviceAccount.empty()) {
    return refuse(403, "not_a_workload",
                  "workload identities have the form spiffe://" + trustDomain_ +
                      "/ns/<namespace>/sa/<service-account>",
                  identity);
  }

  if (!request.joinToken.empty()) {
    JoinTokenRecord record;
    const JoinTokens::Refusal refusal =
        tokens_.check(request.joinToken, ns, serviceAccount, now, &record);
    switch (refusal) {
      case JoinTokens::Refusal::None:
        break;
      case JoinTokens::Refusal::Malformed:
        return refuse(403, "token_malformed", "the join token is malformed", identity);
      case JoinTokens::Refusal::Unknown:
        return refuse(403, "token_unknown", "the join token is not known", identity);
      case JoinTokens::Refusal::Expired:
        return refuse(
            403, "token_expired",
            fmt::format("join token {} expired {} s ago", record.id, now - record.expiresAt),
            identity);
      case JoinTokens::Refusal::WrongIdentity:
        return refuse(403, "token_wrong_identity",
                      fmt::format("join token {} is for namespace {} and service account {}",
                                  record.id, record.ns, record.serviceAccount),
                      identity);
    }
  } else if (!request.currentChainPem.empty()) {
    // Renewal: the caller holds a valid certificate for this very identity, and proves it has
    // its key by signing the new CSR with it.
    if (!pki::verifyChain(request.currentChainPem, ca_.bundlePem, now, id, &problem)) {
      return refuse(403, "renewal_certificate_invalid",
                    "the certificate presented for renewal is not valid: " + problem, identity);
    }
    auto signature = decodeBase64(request.signatureBase64);
    std::vector<pki::CertPtr> chain = pki::parseCertificates(request.currentChainPem);
    if (!signature || chain.empty() ||
        !pki::verifySignature(*chain.front(), request.csrPem, *signature)) {
      return refuse(403, "renewal_signature_invalid",
                    "the CSR is not signed with the key of the certificate presented", identity);
    }
  } else {
    return refuse(403, "no_credential",
                  "a certificate request needs a join token (trellisctl token create), or the "
                  "current certificate and a signature to renew",
                  identity);
  }

  auto chain = ca_.ca.sign(request.csrPem, *id, ttl_, &problem);
  if (!chain) return refuse(500, "signing_failed", "signing failed: " + problem, identity);
  ++outcomes_["issued"];
  CertificateResponse response;
  response.reason = "issued";
  response.identity = identity;
  response.chainPem = std::move(*chain);
  response.bundlePem = ca_.bundlePem;
  std::vector<pki::CertPtr> issued = pki::parseCertificates(response.chainPem);
  response.expiresAt = issued.empty() ? 0 : pki::inspect(*issued.front()).notAfter;
  log::info("certificate issued for {} (expires {})", identity, response.expiresAt);
  return response;
}

}  // namespace trellis::controlplane
