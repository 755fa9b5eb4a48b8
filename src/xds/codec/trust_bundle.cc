// The trust bundle as an SDS Secret, the way Istio sends "ROOTCA": a validation context whose
// trusted_ca is the roots' PEM inline. The workload certificate ("default") never travels:
// each proxy makes its own key and answers that secret from its identity agent.

#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"
#include "xds/codec/codec.h"
#include "xds/codec/problems.h"

namespace trellis::xds {

using envoy::extensions::transport_sockets::tls::v3::Secret;

Secret encodeTrustBundle(const std::string& pem) {
  Secret secret;
  secret.set_name(std::string(kTrustBundleSecret));
  secret.mutable_validation_context()->mutable_trusted_ca()->set_inline_string(pem);
  return secret;
}

std::optional<std::string> decodeTrustBundle(const Secret& secret, std::string& error) {
  detail::Problems problems;
  problems.enter("Secret", secret.name());
  const auto& validation = secret.validation_context();
  const auto& trusted = validation.trusted_ca();
  if (secret.name() != kTrustBundleSecret) {
    problems.fail("name", "unexpected secret (only \"ROOTCA\" is sent to a Trellis proxy)");
  } else if (!detail::onlyFields(secret, {"name", "validation_context"}, problems, "") ||
             !detail::onlyFields(validation, {"trusted_ca"}, problems, "validation_context") ||
             !detail::onlyFields(trusted, {"inline_string", "inline_bytes"}, problems,
                                 "validation_context.trusted_ca")) {
    // reported
  } else if (trusted.inline_string().empty() && trusted.inline_bytes().empty()) {
    problems.fail("validation_context.trusted_ca", "expected the roots' PEM inline");
  } else {
    return trusted.has_inline_string() ? trusted.inline_string() : trusted.inline_bytes();
  }
  error = problems.error();
  return std::nullopt;
}

}  // namespace trellis::xds
