// trellis.dev/v1alpha1 PeerAuthentication: Istio's security.istio.io PeerAuthentication, the
// mutual TLS mode (STRICT, PERMISSIVE, DISABLE) of the inbound listeners serving its target
// Services, and the precedence between such policies.

#include <fmt/format.h>

#include <map>
#include <set>
#include <utility>

#include "config/peer_authentication.h"
#include "config/policy_parts.h"
#include "config/resources.h"

namespace trellis::config {
namespace {

// Istio fields that trellis does not implement: accepted by the schema so that a ported policy
// gets a reason rather than "unknown field".
constexpr std::pair<std::string_view, std::string_view> kUnsupportedSpec[] = {
    {"selector", "not supported (choose Services with targetRefs)"},
    {"targetRef", "not supported (use targetRefs)"},
    {"portLevelMtls", "not supported (the mode applies to every port of the Service)"},
};

std::optional<MtlsMode> parseMode(Scope& scope, const Value& mtlsValue) {
  auto mtls = scope.object(mtlsValue, {"mode"});
  if (!mtls) return std::nullopt;
  Value mode = scope.require(*mtls, "mode");
  auto text = scope.string(mode, 64);
  if (!text) return std::nullopt;
  // Istio's UNSET inherits the parent's mode; here a policy that sets nothing is left out.
  if (*text == "UNSET") {
    scope.error(mode,
                "UNSET is not supported (expected STRICT, PERMISSIVE or DISABLE; without a "
                "policy the namespace's mode, or PERMISSIVE, applies)");
    return std::nullopt;
  }
  return scope.choice<MtlsMode>(mode, {{"STRICT", MtlsMode::Strict},
                                       {"PERMISSIVE", MtlsMode::Permissive},
                                       {"DISABLE", MtlsMode::Disable}});
}

std::pair<std::string_view, std::string_view> splitService(std::string_view service) {
  size_t slash = service.find('/');
  if (slash == std::string_view::npos) return {};
  return {service.substr(0, slash), service.substr(slash + 1)};
}

}  // namespace

void parsePeerAuthentication(Scope& scope, ResourceMeta meta, const Value& specValue,
                             Resources& out) {
  PeerAuthenticationDef def;
  def.meta = std::move(meta);
  auto spec =
      scope.object(specValue, {"targetRefs", "mtls", "selector", "targetRef", "portLevelMtls"});
  if (spec) {
    for (const auto& [name, reason] : kUnsupportedSpec) {
      if (Value value = spec->get(name); value.present) scope.error(value, std::string(reason));
    }
    def.namespaceWide = !parseServiceTargetRefs(scope, spec->get("targetRefs"), def.targetRefs);
    def.mode = parseMode(scope, scope.require(*spec, "mtls")).value_or(def.mode);
  }
  out.peerAuthentications.push_back(std::move(def));
}

ResolvedMtls resolvePeerAuthentication(const std::vector<PeerAuthenticationDef>& policies,
                                       std::string_view service) {
  auto [ns, name] = splitService(service);
  ResolvedMtls resolved;
  if (name.empty()) return resolved;
  const PeerAuthenticationDef* namespaceWide = nullptr;
  for (const PeerAuthenticationDef& policy : policies) {
    if (policy.meta.ns != ns) continue;
    if (policy.namespaceWide) {
      if (namespaceWide == nullptr) namespaceWide = &policy;
      continue;
    }
    for (const PolicyTargetRef& ref : policy.targetRefs) {
      if (ref.name == name) return {policy.mode, &policy};
    }
  }
  if (namespaceWide != nullptr) return {namespaceWide->mode, namespaceWide};
  return resolved;
}

std::vector<PeerAuthenticationConflict> peerAuthenticationConflicts(
    const std::vector<PeerAuthenticationDef>& policies) {
  std::vector<PeerAuthenticationConflict> conflicts;
  std::map<std::string_view, const PeerAuthenticationDef*> firstOfNamespace;
  std::map<std::pair<std::string_view, std::string_view>, const PeerAuthenticationDef*>
      firstForService;  // (namespace, Service name) → the first policy naming it
  for (const PeerAuthenticationDef& policy : policies) {
    if (policy.namespaceWide) {
      auto [it, first] = firstOfNamespace.emplace(policy.meta.ns, &policy);
      if (!first && it->second->mode != policy.mode) {
        conflicts.push_back({it->second, &policy, {}, nullptr});
      }
      continue;
    }
    for (const PolicyTargetRef& ref : policy.targetRefs) {
      // Views of the policy's own strings: make_pair would copy ref.name into a temporary the
      // key's view outlived (found by the config_loader fuzzer).
      auto [it, first] = firstForService.emplace(
          std::pair<std::string_view, std::string_view>(policy.meta.ns, ref.name), &policy);
      if (!first && it->second->mode != policy.mode) {
        conflicts.push_back({it->second, &policy, ref.name, &ref});
      }
    }
  }
  return conflicts;
}

std::string_view mtlsModeName(MtlsMode mode) {
  switch (mode) {
    case MtlsMode::Strict:
      return "STRICT";
    case MtlsMode::Permissive:
      return "PERMISSIVE";
    case MtlsMode::Disable:
      return "DISABLE";
  }
  return "?";
}

void checkPeerAuthentications(const Resources& resources, Diagnostics& diagnostics) {
  std::set<std::string> services;
  std::set<std::string> namespaces;
  for (const ServiceDef& service : resources.services) {
    services.insert(service.meta.qualifiedName());
    namespaces.insert(service.meta.ns);
  }
  for (const PeerAuthenticationDef& policy : resources.peerAuthentications) {
    if (policy.namespaceWide && namespaces.count(policy.meta.ns) == 0) {
      diagnostics.warning(policy.meta.at,
                          fmt::format("namespace {} has no Service; the policy only sets the mode "
                                      "of listeners that name a Service of it",
                                      policy.meta.ns));
    }
    for (const PolicyTargetRef& ref : policy.targetRefs) {
      std::string key = policy.meta.ns + "/" + ref.name;
      if (services.count(key) == 0) {
        diagnostics.warning(ref.at, fmt::format("Service {} not found; the policy only sets the "
                                                "mode of listeners that name it",
                                                key));
      }
    }
  }
  for (const PeerAuthenticationConflict& conflict :
       peerAuthenticationConflicts(resources.peerAuthentications)) {
    const std::string winner = conflict.winner->meta.qualifiedName();
    const std::string scope =
        conflict.service.empty()
            ? fmt::format("every Service of namespace {}", conflict.winner->meta.ns)
            : fmt::format("Service {}/{}", conflict.winner->meta.ns, conflict.service);
    diagnostics.warning(
        conflict.ref != nullptr ? conflict.ref->at : conflict.overridden->meta.at,
        fmt::format("conflicts with PeerAuthentication {} for {}: {} comes first in "
                    "configuration order, so its mode {} applies, not {}",
                    winner, scope, winner, mtlsModeName(conflict.winner->mode),
                    mtlsModeName(conflict.overridden->mode)));
  }
}

}  // namespace trellis::config
