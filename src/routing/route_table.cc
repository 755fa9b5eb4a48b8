#include "routing/route_table.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "routing/host_match.h"
#include "routing/rule_match.h"

namespace trellis::routing {

/// The rules that compete for requests whose host selects this entry (an Envoy virtual host),
/// sorted by precedence.
struct RouteTable::HostEntry {
  std::string name;  // exact host, or wildcard suffix ".example.com"; empty for the catch-all
  std::vector<PathFilter> paths;  // paths[i] is rules[i].pathFilter(), scanned first
  std::vector<RuleMatcher> rules;
};

struct RouteTable::HostIndex {
  FoldedNameIndex exact;     // → hosts_[i]
  FoldedNameIndex wildcard;  // → hosts_[exactCount + i]
  size_t exactCount = 0;
  // Suffixes outside these lengths cannot be wildcards; skipping them saves most probes.
  size_t minWildcardSize = SIZE_MAX;
  size_t maxWildcardSize = 0;
};

namespace {

using RuleList = std::vector<const config::RouteRule*>;

std::string normalizedHostname(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = asciiLower(c);
  if (out.size() > 1 && out.back() == '.') out.pop_back();
  return out;
}

}  // namespace

RouteTable::RouteTable(const config::RouteTableConfig& config) {
  std::map<std::string, RuleList> exact;
  std::map<std::string, RuleList> wildcard;  // keyed by suffix ".example.com"
  RuleList catchAll;

  for (const config::RouteTableConfig::HostRules& route : config.routes) {
    // A route without rules adds nothing; it must not claim its hostnames and shadow others.
    if (route.rules.empty()) continue;
    std::vector<std::string> names;
    for (const std::string& raw : route.hostnames) {
      std::string name = normalizedHostname(raw);
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    std::vector<RuleList*> targets;
    if (names.empty()) targets.push_back(&catchAll);
    for (const std::string& name : names) {
      if (name.empty() || name == "*") {
        if (std::find(targets.begin(), targets.end(), &catchAll) == targets.end()) {
          targets.push_back(&catchAll);
        }
      } else if (name.size() > 2 && name[0] == '*' && name[1] == '.') {
        targets.push_back(&wildcard[name.substr(1)]);
      } else {
        targets.push_back(&exact[name]);
      }
    }
    for (RuleList* target : targets) {
      for (const config::RouteRule& rule : route.rules) target->push_back(&rule);
    }
  }

  auto addEntry = [this](std::string name, const RuleList& rules) {
    HostEntry entry{std::move(name), {}, {}};
    entry.rules.reserve(rules.size());
    for (const config::RouteRule* rule : rules) entry.rules.emplace_back(*rule);
    std::stable_sort(entry.rules.begin(), entry.rules.end(), RuleMatcher::precedes);
    for (const RuleMatcher& rule : entry.rules) entry.paths.push_back(rule.pathFilter());
    hosts_.push_back(std::move(entry));
  };
  hosts_.reserve(exact.size() + wildcard.size() + 1);
  for (const auto& [name, rules] : exact) addEntry(name, rules);
  for (const auto& [suffix, rules] : wildcard) addEntry(suffix, rules);
  index_ = std::make_unique<HostIndex>();
  std::vector<std::string_view> names;
  for (const auto& [name, rules] : exact) names.push_back(name);
  index_->exact.build(names);
  names.clear();
  for (const auto& [suffix, rules] : wildcard) {
    names.push_back(suffix);
    index_->minWildcardSize = std::min(index_->minWildcardSize, suffix.size());
    index_->maxWildcardSize = std::max(index_->maxWildcardSize, suffix.size());
  }
  index_->wildcard.build(names);
  index_->exactCount = exact.size();
  hasCatchAll_ = !catchAll.empty();
  if (hasCatchAll_) addEntry(std::string(), catchAll);
}

RouteTable::~RouteTable() = default;
RouteTable::RouteTable(RouteTable&&) noexcept = default;
RouteTable& RouteTable::operator=(RouteTable&&) noexcept = default;

const RouteTable::HostEntry* RouteTable::findHost(std::string_view authority) const {
  const std::string_view host = routingHost(authority);
  // One right-to-left pass hashes every suffix; the leftmost wildcard hit is the longest, the
  // most specific. The first label must be non-empty, so a dot at index 0 never counts.
  ReverseFoldedHash hash;
  int wildcard = -1;
  for (size_t i = host.size(); i > 0; --i) {
    const char c = host[i - 1];
    hash.add(c);
    const size_t suffixSize = host.size() - (i - 1);
    if (c == '.' && i > 1 && suffixSize >= index_->minWildcardSize &&
        suffixSize <= index_->maxWildcardSize) {
      const int found = index_->wildcard.find(host.substr(i - 1), hash.value());
      if (found >= 0) wildcard = found;
    }
  }
  if (!host.empty()) {
    const int found = index_->exact.find(host, hash.value());
    if (found >= 0) return &hosts_[static_cast<size_t>(found)];
  }
  if (wildcard >= 0) return &hosts_[index_->exactCount + static_cast<size_t>(wildcard)];
  return hasCatchAll_ ? &hosts_.back() : nullptr;
}

const config::RouteRule* RouteTable::match(const RequestView& request) const {
  const HostEntry* entry = findHost(request.host);
  if (entry == nullptr) return nullptr;
  const std::string_view path = routingPath(request.path);
  const size_t n = entry->paths.size();
  for (size_t i = 0; i < n; ++i) {
    if (!entry->paths[i].matches(path)) continue;
    const RuleMatcher& rule = entry->rules[i];
    if (rule.matchesBesidesPathFilter(request, path)) return rule.rule();
  }
  return nullptr;
}

}  // namespace trellis::routing
