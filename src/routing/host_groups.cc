#include "routing/host_groups.h"

#include <algorithm>
#include <map>

#include "routing/host_match.h"
#include "routing/rule_match.h"

namespace trellis::routing {
namespace {

using RuleList = std::vector<const config::RouteRule*>;

// Lower case, one trailing dot off: "Shop.Example.COM." and "shop.example.com" are one host.
std::string normalizedHostname(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = asciiLower(c);
  if (out.size() > 1 && out.back() == '.') out.pop_back();
  return out;
}

HostGroup sortedGroup(HostGroup::Kind kind, std::string domain, const RuleList& rules) {
  std::vector<RuleMatcher> matchers;
  matchers.reserve(rules.size());
  for (const config::RouteRule* rule : rules) matchers.emplace_back(*rule);
  std::stable_sort(matchers.begin(), matchers.end(), RuleMatcher::precedes);
  HostGroup group{kind, std::move(domain), {}};
  for (const RuleMatcher& matcher : matchers) group.rules.push_back(matcher.rule());
  return group;
}

}  // namespace

std::vector<HostGroup> groupByHost(const config::RouteTableConfig& routes) {
  std::map<std::string, RuleList> exact;
  std::map<std::string, RuleList> wildcard;  // by the whole "*.example.com"
  RuleList catchAll;
  for (const config::RouteTableConfig::HostRules& route : routes.routes) {
    // A route without rules must not claim its hostnames (RouteTable skips it too).
    if (route.rules.empty()) continue;
    std::vector<std::string> names;
    for (const std::string& raw : route.hostnames) {
      std::string name = normalizedHostname(raw);
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    std::vector<RuleList*> targets;
    if (names.empty()) targets.push_back(&catchAll);
    for (const std::string& name : names) {
      RuleList* target = nullptr;
      if (name.empty() || name == "*") {
        target = &catchAll;
      } else if (name.size() > 2 && name[0] == '*' && name[1] == '.') {
        target = &wildcard[name];
      } else {
        target = &exact[name];
      }
      if (std::find(targets.begin(), targets.end(), target) == targets.end()) {
        targets.push_back(target);
      }
    }
    for (RuleList* target : targets) {
      for (const config::RouteRule& rule : route.rules) target->push_back(&rule);
    }
  }
  std::vector<HostGroup> groups;
  for (const auto& [name, rules] : exact) {
    groups.push_back(sortedGroup(HostGroup::Kind::Exact, name, rules));
  }
  for (const auto& [name, rules] : wildcard) {
    groups.push_back(sortedGroup(HostGroup::Kind::Wildcard, name, rules));
  }
  if (!catchAll.empty()) groups.push_back(sortedGroup(HostGroup::Kind::CatchAll, "*", catchAll));
  return groups;
}

}  // namespace trellis::routing
