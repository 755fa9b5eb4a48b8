#pragma once
// The authorization engine: decides whether a request (or a TCP connection) may reach a
// Service, from the AuthorizationPolicies that apply to it (`config::Snapshot::authorization`),
// with Istio's semantics (docs/configuration.md#authorizationpolicy):
//   1. any matching DENY policy denies;
//   2. else, when ALLOW policies apply, one of them must match;
//   3. else the request is allowed.
// AUDIT policies never change the decision; the ones that match are reported.
//
// Pure and thread-safe; a call allocates only when an AUDIT policy matches.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "config/model.h"

namespace trellis::authz {

/// What a header lookup is: a lower-case name in, the value (or nullopt) out.
template <typename F>
concept HeaderLookupFunction =
    (std::is_invocable_r_v<std::optional<std::string_view>, const F&, std::string_view>);

/// A non-owning reference to the caller's header lookup: called with a lower-case header name,
/// it returns the header's value, or nullopt when the request does not have it. A header sent
/// several times is one value, its fields joined with "," (RFC 9110 §5.3), as Envoy matches them.
class HeaderLookup {
 public:
  HeaderLookup() = default;
  /// `lookup` must outlive every use of this object (it is typically a lambda on the stack of
  /// the request handler); temporaries are rejected for that reason.
  template <HeaderLookupFunction F>
  explicit HeaderLookup(const F& lookup)
      : context_(&lookup), call_([](const void* context, std::string_view name) {
          return std::optional<std::string_view>((*static_cast<const F*>(context))(name));
        }) {}
  template <typename F>
  explicit HeaderLookup(const F&& lookup) = delete;

  std::optional<std::string_view> operator()(std::string_view lowerName) const {
    if (call_ == nullptr) return std::nullopt;
    return call_(context_, lowerName);
  }

 private:
  const void* context_ = nullptr;
  std::optional<std::string_view> (*call_)(const void*, std::string_view) = nullptr;
};

/// What a policy may look at. For a TCP connection only `principal` and `port` are known.
struct Request {
  std::string_view principal;  // the peer's SPIFFE ID ("spiffe://td/ns/shop/sa/checkout"); ""
                               // when the peer presented no certificate
  uint16_t port = 0;           // the destination port: the inbound listener's
  bool isHttp = false;
  std::string_view method;  // HTTP only
  std::string_view path;    // HTTP only; a query string ("?…") is ignored
  HeaderLookup headers;     // HTTP only
};

struct Decision {
  enum class Reason : uint8_t {
    NoPolicy,        // no DENY matched and no ALLOW policy applies: allowed
    AllowMatched,    // an ALLOW policy matched: allowed
    DenyMatched,     // a DENY policy matched: denied
    NoAllowMatched,  // ALLOW policies apply and none matched: denied
  };
  bool allowed = true;
  Reason reason = Reason::NoPolicy;
  /// The policy that decided ("<namespace>/<name>"; AllowMatched and DenyMatched only) and the
  /// index of its rule that matched: the first in configuration order.
  std::string_view policy;
  size_t rule = 0;
  /// The AUDIT policies that matched, in configuration order.
  std::vector<std::string_view> audited;
};

/// Evaluates `policies` (those of the destination Service) for `request`. The views in the
/// result point into `policies`.
Decision evaluate(std::span<const config::AuthorizationPolicy> policies, const Request& request);

/// A short token for logs and the x-trellis-reason header: "no_policy", "allowed_by_policy",
/// "denied_by_policy", "no_allow_policy_matched".
std::string_view reasonName(Decision::Reason reason);

/// The namespace of a workload SPIFFE ID "spiffe://<trust domain>/ns/<ns>/sa/<sa>", or "" when
/// `principal` has another shape.
std::string_view principalNamespace(std::string_view principal);

/// Whether `value` matches one of `values`' forms ("*" needs a non-empty value).
bool matches(const config::AuthzValues& values, std::string_view value);

}  // namespace trellis::authz
