#pragma once
// SPIFFE IDs (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md): the workload
// identity carried in the URI SAN of every mesh certificate. Trellis names workloads
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, as Istio does.

#include <optional>
#include <string>
#include <string_view>

namespace trellis::pki {

struct SpiffeId {
  std::string trustDomain;  // lower case: [a-z0-9.-_]
  std::string path;         // "" or "/seg/seg...", segments of [a-zA-Z0-9.-_], no "." or ".."

  /// "spiffe://trust-domain/path".
  std::string uri() const;
  /// Parses and validates per the SPIFFE spec (scheme and trust domain are case-insensitive on
  /// input and lower-cased; no query, fragment, port or userinfo; at most 2048 bytes). On
  /// failure returns nullopt and, if `error` is set, a precise reason.
  static std::optional<SpiffeId> parse(std::string_view uri, std::string* error = nullptr);
  /// spiffe://<trustDomain>/ns/<ns>/sa/<sa>; nullopt (and `error`) if a part is invalid.
  static std::optional<SpiffeId> forWorkload(std::string_view trustDomain, std::string_view ns,
                                             std::string_view serviceAccount,
                                             std::string* error = nullptr);
  /// The namespace and service account of a /ns/<ns>/sa/<sa> path; empty when the path has
  /// another shape.
  std::string workloadNamespace() const;
  std::string serviceAccount() const;

  bool operator==(const SpiffeId&) const = default;
};

/// The SPIFFE ID trellisd serves its mutual-TLS xDS port as, which sidecars insist on:
/// spiffe://<trustDomain>/ns/trellis-system/sa/trellisd.
std::string controlPlaneId(std::string_view trustDomain);

}  // namespace trellis::pki
