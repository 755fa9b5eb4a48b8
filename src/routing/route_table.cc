#include "routing/route_table.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "routing/host_groups.h"
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

RouteTable::RouteTable(const config::RouteTableConfig& config) {
  index_ = std::make_unique<HostIndex>();
  std::vector<std::string_view> exactNames;
  std::vector<std::string_view> suffixes;
  for (HostGroup& group : groupByHost(config)) {
    // Wildcards are looked up by suffix: "*.example.com" → ".example.com".
    std::string name = group.kind == HostGroup::Kind::Exact      ? std::move(group.domain)
                       : group.kind == HostGroup::Kind::Wildcard ? group.domain.substr(1)
                                                                 : std::string();
    HostEntry entry{std::move(name), {}, {}};
    entry.rules.reserve(group.rules.size());
    for (const config::RouteRule* rule : group.rules) entry.rules.emplace_back(*rule);
    for (const RuleMatcher& rule : entry.rules) entry.paths.push_back(rule.pathFilter());
    if (group.kind == HostGroup::Kind::Wildcard) {
      index_->minWildcardSize = std::min(index_->minWildcardSize, entry.name.size());
      index_->maxWildcardSize = std::max(index_->maxWildcardSize, entry.name.size());
    }
    hasCatchAll_ = hasCatchAll_ || group.kind == HostGroup::Kind::CatchAll;
    if (group.kind == HostGroup::Kind::Exact) index_->exactCount++;
    hosts_.push_back(std::move(entry));
  }
  // groupByHost orders exact names, then wildcards, then the catch-all: the layout findHost uses.
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (i < index_->exactCount) {
      exactNames.push_back(hosts_[i].name);
    } else if (!(hasCatchAll_ && i + 1 == hosts_.size())) {
      suffixes.push_back(hosts_[i].name);
    }
  }
  index_->exact.build(exactNames);
  index_->wildcard.build(suffixes);
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
