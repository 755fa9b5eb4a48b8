#include "config/policy_attach.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

namespace trellis::config {
namespace {

// GEP-713 conflict resolution: a policy targeting the rule by sectionName beats one targeting
// the whole route; then the oldest wins (no creationTimestamp counts as oldest, in configuration
// order, as for routes); then the first by namespace/name.
template <typename Def>
auto precedenceKey(const RankedPolicy<Def>& ranked) {
  const ResourceMeta& meta = ranked.policy->meta;
  return std::make_tuple(!ranked.specific, meta.creationTimestamp,
                         meta.creationTimestamp == 0 ? ranked.index : 0, meta.qualifiedName(),
                         ranked.index);
}

template <typename Def>
void sortByPrecedence(std::vector<RankedPolicy<Def>>& policies) {
  std::sort(policies.begin(), policies.end(),
            [](const auto& a, const auto& b) { return precedenceKey(a) < precedenceKey(b); });
}

template <typename Def>
std::string precedenceReason(const RankedPolicy<Def>& winner, const RankedPolicy<Def>& loser,
                             const std::string& ruleName) {
  const ResourceMeta& a = winner.policy->meta;
  const ResourceMeta& b = loser.policy->meta;
  if (winner.specific != loser.specific) {
    return fmt::format("it targets rule {} by sectionName", ruleName);
  }
  if (a.creationTimestamp != b.creationTimestamp) {
    return a.creationTimestamp == 0 ? "it has no creationTimestamp, which counts as oldest"
                                    : "it is older";
  }
  if (a.creationTimestamp == 0) return "it comes first in the configuration";
  return "it comes first by namespace/name";
}

// Picks each field from the policy of highest precedence that sets it, warning about the
// others that set it too.
template <typename Def>
class FieldPicker {
 public:
  FieldPicker(const std::vector<RankedPolicy<Def>>& ranked, std::string target,
              std::string ruleName, Diagnostics& diagnostics, std::set<std::string>& reported)
      : ranked_(ranked),
        target_(std::move(target)),
        ruleName_(std::move(ruleName)),
        diagnostics_(diagnostics),
        reported_(reported) {}

  template <typename T>
  const T* pick(PolicyField<T> Def::*member) {
    const RankedPolicy<Def>* winner = nullptr;
    for (const RankedPolicy<Def>& entry : ranked_) {
      const PolicyField<T>& field = entry.policy->*member;
      if (!field.value) continue;
      if (winner == nullptr) {
        winner = &entry;
        continue;
      }
      const ResourceMeta& meta = winner->policy->meta;
      std::string message =
          fmt::format("ignored for {}: {} {} sets it too and takes precedence ({})", target_,
                      meta.kind, meta.qualifiedName(), precedenceReason(*winner, entry, ruleName_));
      std::string key = fmt::format("{}\n{}\n{}", field.at.resource, field.at.field, message);
      if (reported_.insert(key).second) diagnostics_.warning(field.at, std::move(message));
    }
    return winner == nullptr ? nullptr : &*(winner->policy->*member).value;
  }

 private:
  const std::vector<RankedPolicy<Def>>& ranked_;
  std::string target_;
  std::string ruleName_;
  Diagnostics& diagnostics_;
  std::set<std::string>& reported_;
};

template <typename T, typename U>
void assign(const T* value, U& target) {
  if (value != nullptr) target = *value;
}

void applyRoutePolicies(FieldPicker<RoutePolicyDef>& picker, bool retries, RouteRule& rule) {
  assign(picker.pick(&RoutePolicyDef::requestTimeout), rule.timeouts.request);
  assign(picker.pick(&RoutePolicyDef::perTryTimeout), rule.timeouts.perTry);
  assign(picker.pick(&RoutePolicyDef::streamIdleTimeout), rule.timeouts.streamIdle);
  if (retries) {
    // Field by field over the route's own (Gateway API) retry, or over the defaults.
    RetryPolicy retry = rule.retry.value_or(RetryPolicy{});
    assign(picker.pick(&RoutePolicyDef::attempts), retry.numRetries);
    assign(picker.pick(&RoutePolicyDef::retryOn), retry.retryOn);
    assign(picker.pick(&RoutePolicyDef::retriableStatusCodes), retry.retriableStatusCodes);
    assign(picker.pick(&RoutePolicyDef::retriableGrpcStatuses), retry.retriableGrpcStatuses);
    assign(picker.pick(&RoutePolicyDef::retryPerTryTimeout), retry.perTryTimeout);
    const Duration* base = picker.pick(&RoutePolicyDef::backoffBase);
    const Duration* max = picker.pick(&RoutePolicyDef::backoffMax);
    assign(base, retry.backoffBase);
    if (max != nullptr) {
      retry.backoffMax = *max;
    } else if (base != nullptr) {
      retry.backoffMax = defaultBackoffMax(*base);
    }
    // Base and maximum may come from different policies (or the route): never cap below base.
    retry.backoffMax = std::max(retry.backoffMax, retry.backoffBase);
    assign(picker.pick(&RoutePolicyDef::retryNonIdempotent), retry.retryNonIdempotent);
    rule.retry = std::move(retry);
  }
  if (const FaultInjection* fault = picker.pick(&RoutePolicyDef::fault)) rule.fault = *fault;
  if (const LocalRateLimit* limit = picker.pick(&RoutePolicyDef::rateLimit)) {
    rule.rateLimit = *limit;
  }
}

std::string ruleLabel(const RuleDef& rule, size_t index) {
  return rule.name.empty() ? fmt::format("{}", index) : quote(rule.name);
}

}  // namespace

PolicyAttacher::PolicyAttacher(const Resources& resources, Diagnostics& diagnostics)
    : resources_(resources), diagnostics_(diagnostics) {
  std::set<std::string> services;
  for (const ServiceDef& service : resources.services) {
    services.insert(service.meta.qualifiedName());
  }
  for (size_t index = 0; index < resources.backendPolicies.size(); ++index) {
    const BackendPolicyDef& policy = resources.backendPolicies[index];
    for (const PolicyTargetRef& ref : policy.targetRefs) {
      std::string key = policy.meta.ns + "/" + ref.name;
      if (services.count(key) == 0) {
        diagnostics.warning(
            ref.at, fmt::format("Service {} not found; the policy does not apply to it", key));
        continue;
      }
      auto& ranked = byService_[key];
      // Two refs may name one Service (group "" and "trellis.dev"): it applies once.
      if (ranked.empty() || ranked.back().policy != &policy) {
        ranked.push_back({&policy, index, false});
      }
    }
  }
  for (auto& [service, ranked] : byService_) sortByPrecedence(ranked);

  for (const RoutePolicyDef& policy : resources.routePolicies) {
    for (const PolicyTargetRef& ref : policy.targetRefs) {
      auto route =
          std::find_if(resources.routes.begin(), resources.routes.end(), [&](const RouteDef& r) {
            return r.meta.kind == ref.kind && r.meta.ns == policy.meta.ns &&
                   r.meta.name == ref.name;
          });
      if (route == resources.routes.end()) {
        diagnostics.warning(ref.at, fmt::format("{} {}/{} not found; the policy does not apply "
                                                "to it",
                                                ref.kind, policy.meta.ns, ref.name));
        continue;
      }
      if (!ref.sectionName) continue;
      std::vector<std::string> names;
      for (const RuleDef& rule : route->rules) {
        if (!rule.name.empty()) names.push_back(rule.name);
      }
      if (std::find(names.begin(), names.end(), *ref.sectionName) == names.end()) {
        // As a missing target: the Gateway API leaves such a policy unattached rather than
        // refusing it, so a route's rules can be renamed before or after its policies.
        diagnostics.warning(
            ref.sectionNameAt,
            fmt::format("{} {} has no rule named {} ({}); the policy does not apply to it",
                        ref.kind, route->meta.qualifiedName(), quote(*ref.sectionName),
                        names.empty() ? "its rules have no names"
                                      : fmt::format("rule names: {}", fmt::join(names, ", "))));
      }
    }
  }
}

void PolicyAttacher::apply(const ServiceDef& service, Cluster& cluster) {
  auto it = byService_.find(service.meta.qualifiedName());
  if (it == byService_.end()) return;
  FieldPicker<BackendPolicyDef> picker(it->second, "Service " + service.meta.qualifiedName(), "",
                                       diagnostics_, reported_);
  using Def = BackendPolicyDef;
  CircuitBreaker& breaker = cluster.circuitBreaker;
  assign(picker.pick(&Def::maxConnections), breaker.maxConnections);
  assign(picker.pick(&Def::maxPendingRequests), breaker.maxPendingRequests);
  assign(picker.pick(&Def::maxRequests), breaker.maxRequests);
  assign(picker.pick(&Def::maxRetries), breaker.maxRetries);
  assign(picker.pick(&Def::retryBudgetPercent), cluster.retryBudget.percent);
  assign(picker.pick(&Def::retryBudgetMinRetriesPerSecond),
         cluster.retryBudget.minRetriesPerSecond);
  assign(picker.pick(&Def::retryBudgetWindow), cluster.retryBudget.window);
  if (const auto* detection = picker.pick(&Def::outlierDetection)) {
    cluster.outlierDetection = *detection;
  }
  if (const auto* check = picker.pick(&Def::healthCheck)) cluster.healthCheck = *check;
  assign(picker.pick(&Def::healthyPanicThreshold), cluster.healthyPanicThreshold);
  if (const auto* limit = picker.pick(&Def::rateLimit)) cluster.rateLimit = *limit;
}

void PolicyAttacher::apply(const RouteDef& route, std::vector<RouteRule>& rules) {
  // The policies naming this route, with the rule names each names (empty: the whole route).
  struct Targeting {
    size_t index;
    bool wholeRoute = false;
    std::set<std::string> sections;
  };
  std::vector<Targeting> targeting;
  for (size_t index = 0; index < resources_.routePolicies.size(); ++index) {
    const RoutePolicyDef& policy = resources_.routePolicies[index];
    if (policy.meta.ns != route.meta.ns) continue;
    Targeting entry{index, false, {}};
    for (const PolicyTargetRef& ref : policy.targetRefs) {
      if (ref.kind != route.meta.kind || ref.name != route.meta.name) continue;
      if (ref.sectionName) {
        entry.sections.insert(*ref.sectionName);
      } else {
        entry.wholeRoute = true;
      }
    }
    if (entry.wholeRoute || !entry.sections.empty()) targeting.push_back(std::move(entry));
  }
  if (targeting.empty()) return;

  const std::string target = route.meta.kind + " " + route.meta.qualifiedName();
  for (size_t ruleIndex = 0; ruleIndex < route.rules.size(); ++ruleIndex) {
    const RuleDef& ruleDef = route.rules[ruleIndex];
    std::vector<RankedPolicy<RoutePolicyDef>> ranked;
    bool retries = false;
    for (const Targeting& entry : targeting) {
      bool specific = !ruleDef.name.empty() && entry.sections.count(ruleDef.name) != 0;
      if (!specific && !entry.wholeRoute) continue;
      const RoutePolicyDef& policy = resources_.routePolicies[entry.index];
      ranked.push_back({&policy, entry.index, specific});
      retries = retries || policy.retryAt.has_value();
    }
    if (ranked.empty()) continue;
    sortByPrecedence(ranked);
    FieldPicker<RoutePolicyDef> picker(ranked, target, ruleLabel(ruleDef, ruleIndex), diagnostics_,
                                       reported_);
    // Every match of a rule carries the rule's settings: merge once, then copy.
    const RouteRule* merged = nullptr;
    for (RouteRule& rule : rules) {
      if (rule.ruleIndex != ruleIndex) continue;
      if (merged == nullptr) {
        applyRoutePolicies(picker, retries, rule);
        merged = &rule;
        continue;
      }
      rule.timeouts = merged->timeouts;
      rule.retry = merged->retry;
      rule.fault = merged->fault;
      rule.rateLimit = merged->rateLimit;
    }
  }
}

}  // namespace trellis::config
