#include "routing/rule_match.h"

#include <re2/re2.h>

#include <string>
#include <tuple>

#include "routing/host_match.h"

namespace trellis::routing {

namespace {

const re2::RE2* usableRegex(const std::shared_ptr<const re2::RE2>& regex) {
  return (regex && regex->ok()) ? regex.get() : nullptr;
}

std::string lowerCopy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = asciiLower(c);
  return out;
}

// Exact match of `expected` against the values of every `name` header joined with ",", without
// building the joined string. `found` reports whether any such header exists.
bool joinedValuesEqual(std::span<const http::HeaderField> headers, std::string_view name,
                       std::string_view expected, bool& found) {
  size_t pos = 0;
  found = false;
  for (const http::HeaderField& h : headers) {
    if (!equalsFolded(h.name, name)) continue;
    if (found) {
      if (pos >= expected.size() || expected[pos] != ',') return false;
      ++pos;
    }
    found = true;
    if (expected.substr(pos, h.value.size()) != h.value) return false;
    pos += h.value.size();
  }
  return found && pos == expected.size();
}

int pathRank(config::PathMatchType type) {
  switch (type) {
    case config::PathMatchType::Exact:
      return 0;
    case config::PathMatchType::RegularExpression:
      return 1;
    case config::PathMatchType::PathPrefix:
      return 2;
  }
  return 3;
}

// Lexicographic key; smaller sorts first. Routes without a creation timestamp (0) compare by
// configuration order, routes with equal timestamps alphabetically, as the Gateway API asks.
auto precedenceKey(const config::RouteRule& r, size_t headerCount, size_t queryCount) {
  const auto& m = r.match;
  const bool hasMethod = m.method.has_value() && !m.method->empty();
  const uint32_t orderWithoutTimestamp = r.creationTimestamp == 0 ? r.routeOrder : 0;
  // GRPCRoute: longest matching service first, then longest method (Gateway API), whatever
  // path shape the translation produced.
  const int rank = m.grpc ? (m.grpc->regex ? 1 : 0) : pathRank(m.path.type);
  const int64_t length =
      m.grpc ? (static_cast<int64_t>(m.grpc->serviceChars) << 32) + m.grpc->methodChars
             : static_cast<int64_t>(m.path.value.size());
  return std::make_tuple(rank, -length, !hasMethod, -static_cast<int64_t>(headerCount),
                         -static_cast<int64_t>(queryCount), r.creationTimestamp,
                         orderWithoutTimestamp, std::string_view(r.routeName), r.routeOrder,
                         r.ruleIndex, r.matchIndex);
}

}  // namespace

std::string_view trimTrailingSlash(std::string_view prefix) {
  if (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return prefix;
}

bool findQueryParam(std::string_view query, std::string_view name, std::string_view& value) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    return true;
  }
  return false;
}

RuleMatcher::RuleMatcher(const config::RouteRule& rule)
    : pathType_(rule.match.path.type), rule_(&rule) {
  const config::RouteMatch& m = rule.match;
  switch (pathType_) {
    case config::PathMatchType::Exact:
      pathValue_ = m.path.value;
      break;
    case config::PathMatchType::PathPrefix:
      pathValue_ = trimTrailingSlash(m.path.value);
      break;
    case config::PathMatchType::RegularExpression:
      pathRegex_ = usableRegex(m.path.regex);
      if (pathRegex_ == nullptr)
        neverMatches_ = true;
      else
        hasRegexRange_ = pathRegex_->PossibleMatchRange(&regexMin_, &regexMax_, 64);
      break;
  }
  if (m.method) method_ = *m.method;

  // The Gateway API considers only the first of several matches on an equivalent name.
  for (const config::ValueMatch& h : m.headers) {
    std::string name = lowerCopy(h.name);
    bool duplicate = false;
    for (const ValueMatcher& seen : headers_) duplicate = duplicate || seen.name == name;
    if (duplicate) continue;
    ValueMatcher vm{std::move(name), h.value, nullptr};
    if (h.type == config::StringMatchType::RegularExpression) {
      vm.regex = usableRegex(h.regex);
      if (vm.regex == nullptr) neverMatches_ = true;
    }
    headers_.push_back(std::move(vm));
  }
  for (const config::ValueMatch& q : m.queryParams) {
    bool duplicate = false;
    for (const ValueMatcher& seen : queryParams_) duplicate = duplicate || seen.name == q.name;
    if (duplicate) continue;
    ValueMatcher vm{q.name, q.value, nullptr};
    if (q.type == config::StringMatchType::RegularExpression) {
      vm.regex = usableRegex(q.regex);
      if (vm.regex == nullptr) neverMatches_ = true;
    }
    queryParams_.push_back(std::move(vm));
  }
}

bool RuleMatcher::matchesBesidesPathFilter(const RequestView& request,
                                           std::string_view path) const {
  if (neverMatches_) return false;
  if (!method_.empty() && request.method != method_) return false;
  // Regexes last among the checks: they cost the most.
  if (!headersMatch(request) || !queryMatches(request.query)) return false;
  if (pathRegex_ == nullptr) return true;
  if (hasRegexRange_ && (path < regexMin_ || path > regexMax_)) return false;
  return re2::RE2::FullMatch(path, *pathRegex_);
}

bool headerMatches(std::span<const http::HeaderField> headers, std::string_view name,
                   std::string_view value, const re2::RE2* regex) {
  if (regex == nullptr) {
    bool found = false;
    return joinedValuesEqual(headers, name, value, found);
  }
  const http::HeaderField* first = nullptr;
  size_t count = 0;
  for (const http::HeaderField& h : headers) {
    if (!equalsFolded(h.name, name)) continue;
    if (first == nullptr) first = &h;
    ++count;
  }
  if (first == nullptr) return false;
  if (count == 1) return re2::RE2::FullMatch(first->value, *regex);
  // Rare: a repeated header matched by a regex. A per-thread buffer keeps this allocation-free
  // once warm.
  thread_local std::string joined;
  joined.clear();
  for (const http::HeaderField& h : headers) {
    if (!equalsFolded(h.name, name)) continue;
    if (&h != first) joined.push_back(',');
    joined.append(h.value);
  }
  return re2::RE2::FullMatch(joined, *regex);
}

bool RuleMatcher::headersMatch(const RequestView& request) const {
  for (const ValueMatcher& m : headers_) {
    if (!headerMatches(request.headers, m.name, m.value, m.regex)) return false;
  }
  return true;
}

bool RuleMatcher::queryMatches(std::string_view query) const {
  for (const ValueMatcher& m : queryParams_) {
    std::string_view value;
    if (!findQueryParam(query, m.name, value)) return false;
    if (m.regex == nullptr ? value != m.value : !re2::RE2::FullMatch(value, *m.regex)) {
      return false;
    }
  }
  return true;
}

bool RuleMatcher::precedes(const RuleMatcher& a, const RuleMatcher& b) {
  return precedenceKey(*a.rule_, a.headers_.size(), a.queryParams_.size()) <
         precedenceKey(*b.rule_, b.headers_.size(), b.queryParams_.size());
}

}  // namespace trellis::routing
