#pragma once
// Builders for routing tests: route tables described compactly, requests from owned strings,
// and the matched rule reported as "<route>/<rule>/<match>" (or "404").

#include <re2/re2.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/model.h"
#include "routing/route_table.h"

namespace trellis::routing::testing {

inline config::RouteMatch prefix(std::string value) {
  config::RouteMatch m;
  m.path.type = config::PathMatchType::PathPrefix;
  m.path.value = std::move(value);
  return m;
}

inline config::RouteMatch exact(std::string value) {
  config::RouteMatch m;
  m.path.type = config::PathMatchType::Exact;
  m.path.value = std::move(value);
  return m;
}

inline config::RouteMatch regex(std::string pattern) {
  config::RouteMatch m;
  m.path.type = config::PathMatchType::RegularExpression;
  m.path.regex = std::make_shared<const re2::RE2>(pattern, re2::RE2::Quiet);
  m.path.value = std::move(pattern);
  return m;
}

inline config::ValueMatch exactValue(std::string name, std::string value) {
  config::ValueMatch v;
  v.name = std::move(name);
  v.value = std::move(value);
  return v;
}

inline config::ValueMatch regexValue(std::string name, std::string pattern) {
  config::ValueMatch v;
  v.type = config::StringMatchType::RegularExpression;
  v.name = std::move(name);
  v.regex = std::make_shared<const re2::RE2>(pattern, re2::RE2::Quiet);
  v.value = std::move(pattern);
  return v;
}

inline config::RouteMatch withMethod(config::RouteMatch m, std::string method) {
  m.method = std::move(method);
  return m;
}

inline config::RouteMatch withHeader(config::RouteMatch m, config::ValueMatch v) {
  m.headers.push_back(std::move(v));
  return m;
}

inline config::RouteMatch withQuery(config::RouteMatch m, config::ValueMatch v) {
  m.queryParams.push_back(std::move(v));
  return m;
}

/// One HTTPRoute: each inner vector is a rule with its matches.
struct RouteSpec {
  std::string name;  // "<namespace>/<name>"
  std::vector<std::string> hostnames;
  std::vector<std::vector<config::RouteMatch>> rules;
  int64_t creationTimestamp = 0;
};

/// Flattens routes as the config loader does; every flattened rule's single backend is named
/// after its origin so tests can tell which rule won.
inline config::RouteTableConfig buildConfig(const std::vector<RouteSpec>& routes) {
  config::RouteTableConfig out;
  uint32_t routeOrder = 0;
  for (const RouteSpec& spec : routes) {
    config::RouteTableConfig::HostRules host;
    host.hostnames = spec.hostnames;
    for (uint32_t r = 0; r < spec.rules.size(); ++r) {
      for (uint32_t m = 0; m < spec.rules[r].size(); ++m) {
        config::RouteRule rule;
        rule.match = spec.rules[r][m];
        rule.routeName = spec.name;
        rule.creationTimestamp = spec.creationTimestamp;
        rule.routeOrder = routeOrder;
        rule.ruleIndex = r;
        rule.matchIndex = m;
        rule.backends.push_back({spec.name + "/" + std::to_string(r) + "/" + std::to_string(m), 1});
        host.rules.push_back(std::move(rule));
      }
    }
    out.routes.push_back(std::move(host));
    ++routeOrder;
  }
  return out;
}

struct Request {
  std::string path = "/";
  std::string host = "example.com";
  std::string method = "GET";
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;  // names as given (lower case)
};

/// Owns a config and the table compiled from it (the table references the config).
class Table {
 public:
  explicit Table(const std::vector<RouteSpec>& routes)
      : config_(std::make_unique<config::RouteTableConfig>(buildConfig(routes))),
        table_(*config_) {}

  const config::RouteRule* match(const Request& r) const {
    std::vector<http::HeaderField> fields;
    for (const auto& [name, value] : r.headers) fields.push_back({name, value});
    RequestView view{r.method, r.host, r.path, r.query, fields};
    return table_.match(view);
  }

  /// "<route>/<rule>/<match>" of the winner, or "404".
  std::string route(const Request& r) const {
    const config::RouteRule* rule = match(r);
    return rule == nullptr ? std::string("404") : rule->backends.front().cluster;
  }
  std::string route(std::string path) const {
    Request r;
    r.path = std::move(path);
    return route(r);
  }
  std::string routeHost(std::string host, std::string path = "/") const {
    Request r;
    r.host = std::move(host);
    r.path = std::move(path);
    return route(r);
  }

  const RouteTable& table() const { return table_; }

 private:
  std::unique_ptr<config::RouteTableConfig> config_;
  RouteTable table_;
};

}  // namespace trellis::routing::testing
