// RDS → model routes (the reverse of encode_route.cc): one HostRules per VirtualHost, one
// RouteRule per Route, with the loader's validation of names, values and paths.

#include <fmt/format.h>

#include <set>

#include "config/syntax.h"
#include "envoy/config/route/v3/route.pb.h"
#include "xds/codec/decode_route_parts.h"
#include "xds/codec/internal.h"
#include "xds/codec/policy.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::core::v3::HeaderValueOption;
using envoy::config::route::v3::RedirectAction;
using envoy::config::route::v3::Route;
using envoy::config::route::v3::RouteAction;

constexpr uint64_t kMaxWeight = 1000000;

bool checkText(const std::string& error, Problems& problems, const std::string& path) {
  return error.empty() || problems.fail(path, error);
}

class RouteDecoder {
 public:
  RouteDecoder(const ClusterMap& clusters, Problems& problems)
      : clusters_(clusters), problems_(problems) {}

  bool decode(const Route& route, const std::string& path, config::RouteRule& out);

 private:
  bool decodeModifier(const google::protobuf::RepeatedPtrField<HeaderValueOption>& toAdd,
                      const google::protobuf::RepeatedPtrField<std::string>& toRemove, bool present,
                      const std::string& addPath, const std::string& removePath,
                      std::optional<config::HeaderModifier>& out);
  bool decodeRouteAction(const RouteAction& action, const std::string& path,
                         config::RouteRule& out);
  bool decodeBackends(const RouteAction& action, const std::string& path, config::RouteRule& out);
  bool decodeRedirect(const RedirectAction& action, const std::string& path,
                      config::RouteRule& out);
  bool decodePathRewrite(const PathRewriteFields& fields, const Struct* override,
                         const std::string& overridePath, const config::PathMatch& match,
                         bool redirect, const std::string& path, config::PathRewriteType& type,
                         std::string& value);
  bool checkRewrite(config::PathRewriteType type, const std::string& value,
                    const config::PathMatch& match, const std::string& path);
  bool decodeNonForwarding(bool directResponse, config::RouteRule& out);
  bool decodeTieBreakers(config::RouteRule& out);

  const ClusterMap& clusters_;
  Problems& problems_;
  std::optional<FieldsReader> settings_;
};

bool RouteDecoder::decodeModifier(
    const google::protobuf::RepeatedPtrField<HeaderValueOption>& toAdd,
    const google::protobuf::RepeatedPtrField<std::string>& toRemove, bool present,
    const std::string& addPath, const std::string& removePath,
    std::optional<config::HeaderModifier>& out) {
  if (toAdd.empty() && toRemove.empty() && !present) return true;
  config::HeaderModifier modifier;
  std::set<std::string> names;  // one action per header name, as the loader requires
  for (int i = 0; i < toAdd.size(); ++i) {
    const HeaderValueOption& option = toAdd[i];
    const std::string optionPath = fmt::format("{}[{}]", addPath, i);
    if (!onlyFields(option, {"header", "append_action", "append"}, problems_, optionPath) ||
        !onlyFields(option.header(), {"key", "value"}, problems_, optionPath + ".header")) {
      return false;
    }
    bool append = false;
    // The deprecated `append` still comes from older control planes.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const bool hasAppend = option.has_append();
    const bool appendValue = hasAppend && option.append().value();
#pragma GCC diagnostic pop
    if (hasAppend) {
      if (option.append_action() != HeaderValueOption::APPEND_IF_EXISTS_OR_ADD) {
        return problems_.fail(optionPath, "append and append_action cannot both be set");
      }
      append = appendValue;
    } else if (option.append_action() == HeaderValueOption::APPEND_IF_EXISTS_OR_ADD) {
      append = true;
    } else if (option.append_action() != HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD) {
      return problems_.fail(
          optionPath + ".append_action",
          "unsupported append_action " +
              quote(HeaderValueOption::HeaderAppendAction_Name(option.append_action())) +
              " (expected APPEND_IF_EXISTS_OR_ADD or OVERWRITE_IF_EXISTS_OR_ADD)");
    }
    const std::string& key = option.header().key();
    const std::string& value = option.header().value();
    if (!checkText(config::syntax::checkHeaderName(key), problems_, optionPath + ".header.key") ||
        !checkText(config::syntax::checkHeaderValue(value), problems_,
                   optionPath + ".header.value")) {
      return false;
    }
    std::string name = config::syntax::toLower(key);
    if (!names.insert(name).second) {
      return problems_.fail(optionPath, "header " + quote(name) + " already has an action");
    }
    (append ? modifier.add : modifier.set).emplace_back(std::move(name), value);
  }
  for (int i = 0; i < toRemove.size(); ++i) {
    const std::string path = fmt::format("{}[{}]", removePath, i);
    if (!checkText(config::syntax::checkHeaderName(toRemove[i]), problems_, path)) return false;
    std::string name = config::syntax::toLower(toRemove[i]);
    if (!names.insert(name).second) {
      return problems_.fail(path, "header " + quote(name) + " already has an action");
    }
    modifier.remove.push_back(std::move(name));
  }
  out = std::move(modifier);
  return true;
}

bool RouteDecoder::decodeBackends(const RouteAction& action, const std::string& path,
                                  config::RouteRule& out) {
  switch (action.cluster_specifier_case()) {
    case RouteAction::kCluster:
      if (action.cluster().empty()) return problems_.fail(path + ".cluster", "must not be empty");
      out.backends.push_back({resolveCluster(action.cluster(), clusters_), 1});
      return true;
    case RouteAction::kWeightedClusters:
      break;
    default:
      return problems_.fail(path, "missing cluster or weighted_clusters");
  }
  const auto& weighted = action.weighted_clusters();
  const std::string weightedPath = path + ".weighted_clusters";
  if (!onlyFields(weighted, {"clusters", "total_weight"}, problems_, weightedPath)) return false;
  if (weighted.clusters().empty()) {
    return problems_.fail(weightedPath + ".clusters", "must not be empty");
  }
  uint64_t sum = 0;
  for (int i = 0; i < weighted.clusters_size(); ++i) {
    const auto& cluster = weighted.clusters(i);
    const std::string clusterPath = fmt::format("{}.clusters[{}]", weightedPath, i);
    if (!onlyFields(cluster, {"name", "weight"}, problems_, clusterPath)) return false;
    if (cluster.name().empty()) return problems_.fail(clusterPath + ".name", "must not be empty");
    if (!cluster.has_weight()) return problems_.fail(clusterPath + ".weight", "missing");
    auto weight =
        inRange(cluster.weight().value(), 0, kMaxWeight, problems_, clusterPath + ".weight");
    if (!weight) return false;
    sum += *weight;
    out.backends.push_back(
        {resolveCluster(cluster.name(), clusters_), static_cast<uint32_t>(*weight)});
  }
  if (sum == 0) {
    return problems_.fail(weightedPath, "weights sum to 0 (at least one must be positive)");
  }
  if (sum > UINT32_MAX) {
    return problems_.fail(weightedPath,
                          fmt::format("weights sum to {}, beyond {}", sum, uint64_t{UINT32_MAX}));
  }
  // Deprecated in Envoy, but gRPC 1.51 checks the weights against it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const bool hasTotal = weighted.has_total_weight();
  const uint64_t total = weighted.total_weight().value();
#pragma GCC diagnostic pop
  if (hasTotal && total != sum) {
    return problems_.fail(weightedPath + ".total_weight",
                          fmt::format("{} is not the sum of the weights ({})", total, sum));
  }
  return true;
}

bool RouteDecoder::decodePathRewrite(const PathRewriteFields& fields, const Struct* override,
                                     const std::string& overridePath,
                                     const config::PathMatch& match, bool redirect,
                                     const std::string& path, config::PathRewriteType& type,
                                     std::string& value) {
  if (override != nullptr && override->fields().count("pathType") != 0) {
    FieldsReader reader(*override, problems_, overridePath);
    auto typeName = reader.string("pathType");
    auto text = reader.string("path");
    auto parsed = typeName ? rewriteTypeOf(*typeName) : std::nullopt;
    if (problems_.failed()) return false;
    if (!parsed || !text) {
      return problems_.fail(overridePath,
                            "expected {pathType: ReplaceFullPath|ReplacePrefixMatch, path}");
    }
    if (encodePathRewrite(*parsed, *text, match, redirect) != fields) {
      return problems_.fail(overridePath, "does not agree with the path rewrite fields");
    }
    type = *parsed;
    value = *text;
  } else if (auto canonical = canonicalPathRewrite(fields, match)) {
    type = canonical->first;
    value = canonical->second;
  } else {
    return problems_.fail(path,
                          "unsupported path rewrite for this match (expected the forms "
                          "of a Gateway API path modifier)");
  }
  return checkRewrite(type, value, match, path);
}

bool RouteDecoder::checkRewrite(config::PathRewriteType type, const std::string& value,
                                const config::PathMatch& match, const std::string& path) {
  switch (type) {
    case config::PathRewriteType::None:
      return true;
    case config::PathRewriteType::ReplaceFullPath:
      return checkText(config::syntax::checkReplacementPath(value, false), problems_, path);
    case config::PathRewriteType::ReplacePrefixMatch:
      if (match.type != config::PathMatchType::PathPrefix) {
        return problems_.fail(path, "a prefix rewrite needs a PathPrefix match");
      }
      return checkText(config::syntax::checkReplacementPath(value, true), problems_, path);
  }
  return true;
}

// A regex_rewrite (full-path rewrites use it): only the fields the encoder writes.
template <typename Rewrite>
bool checkRegexRewriteFields(const Rewrite& rewrite, Problems& problems, const std::string& path) {
  return onlyFields(rewrite, {"pattern", "substitution"}, problems, path + ".regex_rewrite") &&
         onlyFields(rewrite.pattern(), {"regex"}, problems, path + ".regex_rewrite.pattern");
}

bool RouteDecoder::decodeRouteAction(const RouteAction& action, const std::string& path,
                                     config::RouteRule& out) {
  if (!onlyFields(action,
                  {"cluster", "weighted_clusters", "cluster_not_found_response_code", "timeout",
                   "idle_timeout", "retry_policy", "host_rewrite_literal", "prefix_rewrite",
                   "regex_rewrite", "request_mirror_policies"},
                  problems_, path)) {
    return false;
  }
  if (!decodeBackends(action, path, out)) return false;
  // Absent (SERVICE_UNAVAILABLE is the default value) or 500: Trellis answers 500.
  if (action.cluster_not_found_response_code() != RouteAction::SERVICE_UNAVAILABLE &&
      action.cluster_not_found_response_code() != RouteAction::INTERNAL_SERVER_ERROR) {
    return problems_.fail(path + ".cluster_not_found_response_code",
                          "only INTERNAL_SERVER_ERROR is supported (Trellis answers 500)");
  }
  if (!decodeRouteTimeouts(action, *settings_, path, out)) return false;
  for (int i = 0; i < action.request_mirror_policies_size(); ++i) {
    const auto& mirror = action.request_mirror_policies(i);
    const std::string mirrorPath = fmt::format("{}.request_mirror_policies[{}]", path, i);
    if (!onlyFields(mirror, {"cluster"}, problems_, mirrorPath)) return false;
    if (mirror.cluster().empty()) return problems_.fail(mirrorPath + ".cluster", "missing");
    // As the loader: a mirror to a cluster that does not exist is dropped.
    std::string cluster = resolveCluster(mirror.cluster(), clusters_);
    if (!cluster.empty()) out.mirrors.push_back({std::move(cluster)});
  }
  for (const char* key : {"backends", "mirrors", "routeAction"}) {
    if (settings_->has(key)) {
      return problems_.fail(settings_->pathOf(key),
                            "only for redirect and direct_response routes (use the route action)");
    }
  }
  if (action.has_regex_rewrite() &&
      !checkRegexRewriteFields(action.regex_rewrite(), problems_, path))
    return false;
  const Struct* override = settings_->object("urlRewrite");
  if (problems_.failed()) return false;
  const PathRewriteFields fields = rewriteFieldsOf(action);
  if (action.host_rewrite_literal().empty() && fields == PathRewriteFields{} &&
      override == nullptr) {
    return true;
  }
  config::UrlRewrite rewrite;
  if (!action.host_rewrite_literal().empty()) {
    if (!checkText(config::syntax::checkHostname(action.host_rewrite_literal(), false), problems_,
                   path + ".host_rewrite_literal")) {
      return false;
    }
    rewrite.hostname = action.host_rewrite_literal();
  }
  const std::string overridePath = settings_->pathOf("urlRewrite");
  if (override != nullptr) {
    for (const auto& [key, value] : override->fields()) {
      if (key != "pathType" && key != "path") {
        return problems_.fail(overridePath,
                              "unexpected key " + quote(key) + " (expected pathType, path)");
      }
    }
  }
  if (!decodePathRewrite(fields, override, overridePath, out.match.path, false, path,
                         rewrite.pathType, rewrite.path)) {
    return false;
  }
  out.rewrite = std::move(rewrite);
  return true;
}

bool RouteDecoder::decodeRedirect(const RedirectAction& action, const std::string& path,
                                  config::RouteRule& out) {
  if (!onlyFields(action,
                  {"scheme_redirect", "https_redirect", "host_redirect", "port_redirect",
                   "path_redirect", "prefix_rewrite", "regex_rewrite", "response_code"},
                  problems_, path)) {
    return false;
  }
  config::RequestRedirect redirect;
  if (action.https_redirect()) {
    redirect.scheme = "https";
  } else if (action.has_scheme_redirect()) {
    const std::string scheme = config::syntax::toLower(action.scheme_redirect());
    if (scheme != "http" && scheme != "https") {
      return problems_.fail(
          path + ".scheme_redirect",
          "unsupported scheme " + quote(action.scheme_redirect()) + " (expected http or https)");
    }
    redirect.scheme = scheme;
  }
  if (!action.host_redirect().empty()) {
    if (!checkText(config::syntax::checkHostname(action.host_redirect(), false), problems_,
                   path + ".host_redirect")) {
      return false;
    }
    redirect.hostname = action.host_redirect();
  }
  if (action.port_redirect() != 0) {
    auto port = inRange(action.port_redirect(), 1, 65535, problems_, path + ".port_redirect");
    if (!port) return false;
    redirect.port = static_cast<uint16_t>(*port);
  }
  switch (action.response_code()) {
    case RedirectAction::MOVED_PERMANENTLY:
      redirect.statusCode = 301;
      break;
    case RedirectAction::FOUND:
      redirect.statusCode = 302;
      break;
    case RedirectAction::SEE_OTHER:
      redirect.statusCode = 303;
      break;
    case RedirectAction::TEMPORARY_REDIRECT:
      redirect.statusCode = 307;
      break;
    case RedirectAction::PERMANENT_REDIRECT:
      redirect.statusCode = 308;
      break;
    default:
      return problems_.fail(path + ".response_code", "unknown redirect response code");
  }
  if (action.has_regex_rewrite() &&
      !checkRegexRewriteFields(action.regex_rewrite(), problems_, path))
    return false;
  const Struct* override = settings_->object("requestRedirect");
  if (problems_.failed()) return false;
  const std::string overridePath = settings_->pathOf("requestRedirect");
  if (override != nullptr) {
    for (const auto& [key, value] : override->fields()) {
      if (key != "pathType" && key != "path") {
        return problems_.fail(overridePath,
                              "unexpected key " + quote(key) + " (expected pathType, path)");
      }
    }
  }
  if (!decodePathRewrite(rewriteFieldsOf(action), override, overridePath, out.match.path, true,
                         path, redirect.pathType, redirect.path)) {
    return false;
  }
  out.redirect = std::move(redirect);
  return true;
}

// Backends, mirrors and a URL rewrite of a rule whose action is not a RouteAction.
bool RouteDecoder::decodeNonForwarding(bool directResponse, config::RouteRule& out) {
  if (const auto* backends = settings_->list("backends")) {
    const std::string listPath = settings_->pathOf("backends");
    for (int i = 0; i < backends->values_size(); ++i) {
      const std::string itemPath = fmt::format("{}[{}]", listPath, i);
      if (!backends->values(i).has_struct_value()) {
        return problems_.fail(itemPath, "expected {cluster, weight}");
      }
      FieldsReader item(backends->values(i).struct_value(), problems_, itemPath);
      auto cluster = item.string("cluster");
      auto weight = item.integer("weight", 0, kMaxWeight);
      if (!item.finish()) return false;
      if (!cluster || !weight) return problems_.fail(itemPath, "expected {cluster, weight}");
      // A direct response answers 500: only backends that are never chosen agree with it.
      if (directResponse && *weight != 0) {
        return problems_.fail(fmt::format("{}.weight", itemPath),
                              "must be 0 on a direct_response route");
      }
      out.backends.push_back({resolveCluster(*cluster, clusters_), static_cast<uint32_t>(*weight)});
    }
  }
  if (const auto* mirrors = settings_->list("mirrors")) {
    const std::string listPath = settings_->pathOf("mirrors");
    for (int i = 0; i < mirrors->values_size(); ++i) {
      if (!mirrors->values(i).has_string_value()) {
        return problems_.fail(fmt::format("{}[{}]", listPath, i), "expected a cluster name");
      }
      std::string cluster = resolveCluster(mirrors->values(i).string_value(), clusters_);
      if (!cluster.empty()) out.mirrors.push_back({std::move(cluster)});
    }
  }
  if (const Struct* rewriteFields = settings_->object("urlRewrite")) {
    const std::string rewritePath = settings_->pathOf("urlRewrite");
    FieldsReader reader(*rewriteFields, problems_, rewritePath);
    config::UrlRewrite rewrite;
    auto hostname = reader.string("hostname");
    auto typeName = reader.string("pathType");
    auto text = reader.string("path");
    if (!reader.finish()) return false;
    if (hostname) {
      if (!checkText(config::syntax::checkHostname(*hostname, false), problems_,
                     reader.pathOf("hostname"))) {
        return false;
      }
      rewrite.hostname = *hostname;
    }
    if (typeName || text) {
      auto type = typeName ? rewriteTypeOf(*typeName) : std::nullopt;
      if (!type || !text) {
        return problems_.fail(rewritePath,
                              "expected pathType (ReplaceFullPath|ReplacePrefixMatch) and path");
      }
      // No Envoy field to agree with: the value is checked on its own.
      if (!checkRewrite(*type, *text, out.match.path, rewritePath)) return false;
      rewrite.pathType = *type;
      rewrite.path = *text;
    }
    out.rewrite = std::move(rewrite);
  }
  return !problems_.failed();
}

bool RouteDecoder::decodeTieBreakers(config::RouteRule& out) {
  FieldsReader& settings = *settings_;
  if (auto created = settings.bigInteger("creationTimestamp", INT64_MIN, INT64_MAX)) {
    out.creationTimestamp = *created;
  }
  if (auto order = settings.integer("routeOrder", 0, UINT32_MAX)) {
    out.routeOrder = static_cast<uint32_t>(*order);
  }
  if (auto index = settings.integer("ruleIndex", 0, UINT32_MAX)) {
    out.ruleIndex = static_cast<uint32_t>(*index);
  }
  if (auto index = settings.integer("matchIndex", 0, UINT32_MAX)) {
    out.matchIndex = static_cast<uint32_t>(*index);
  }
  if (auto limit = settings.bigInteger("maxRequestBodyBytes", 0, INT64_MAX)) {
    out.maxRequestBodyBytes = static_cast<uint64_t>(*limit);
  }
  return !problems_.failed();
}

bool RouteDecoder::decode(const Route& route, const std::string& path, config::RouteRule& out) {
  if (!onlyFields(route,
                  {"name", "match", "route", "redirect", "direct_response", "metadata",
                   "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
                   "response_headers_to_remove", "typed_per_filter_config"},
                  problems_, path)) {
    return false;
  }
  settings_.emplace(route.has_metadata() ? &route.metadata() : nullptr, problems_,
                    path + ".metadata");
  out.routeName = route.name();
  if (!route.has_match()) return problems_.fail(path + ".match", "missing");
  if (!decodeMatch(route.match(), *settings_, problems_, path + ".match", out.match)) return false;
  switch (route.action_case()) {
    case Route::kRoute:
      if (!decodeRouteAction(route.route(), path + ".route", out)) return false;
      break;
    case Route::kRedirect:
      if (!decodeRedirect(route.redirect(), path + ".redirect", out) ||
          !decodeNonForwarding(false, out)) {
        return false;
      }
      break;
    case Route::kDirectResponse: {
      const auto& direct = route.direct_response();
      if (!onlyFields(direct, {"status"}, problems_, path + ".direct_response")) return false;
      if (direct.status() != 500) {
        return problems_.fail(path + ".direct_response.status",
                              "only 500 is supported (the answer for a rule without backends)");
      }
      if (!decodeNonForwarding(true, out)) return false;
      break;
    }
    default:
      return problems_.fail(path, "missing action (route, redirect or direct_response)");
  }
  if (!route.has_route()) {
    // Timeouts and retries of a rule that does not forward: kept, with no RouteAction to hold them.
    RouteAction settings;
    std::string settingsPath;
    if (!routeActionSettings(*settings_, settings, settingsPath) ||
        !decodeRouteTimeouts(settings, *settings_, settingsPath, out)) {
      return false;
    }
  }
  if (!decodeRouteFilters(route, *settings_, path, out)) return false;
  const bool requestFlag = settings_->boolean("requestHeaderModifier").value_or(false);
  const bool responseFlag = settings_->boolean("responseHeaderModifier").value_or(false);
  if (!decodeModifier(route.request_headers_to_add(), route.request_headers_to_remove(),
                      requestFlag, path + ".request_headers_to_add",
                      path + ".request_headers_to_remove", out.requestHeaders) ||
      !decodeModifier(route.response_headers_to_add(), route.response_headers_to_remove(),
                      responseFlag, path + ".response_headers_to_add",
                      path + ".response_headers_to_remove", out.responseHeaders) ||
      !decodeTieBreakers(out)) {
    return false;
  }
  return settings_->finish();
}

// Envoy domain forms that mean the same in routing::RouteTable: "*", a host name, "*." + one.
bool validDomain(std::string_view domain) {
  if (domain == "*") return true;
  if (domain.starts_with("*.")) domain.remove_prefix(2);
  if (domain.empty() || domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos) {
    return false;
  }
  for (char c : domain) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return true;
}

}  // namespace

bool decodeRouteConfiguration(const envoy::config::route::v3::RouteConfiguration& config,
                              const ClusterMap& clusters, Problems& problems,
                              const std::string& path, config::RouteTableConfig& out) {
  if (!onlyFields(config, {"name", "virtual_hosts"}, problems, path)) return false;
  std::map<std::string, size_t> domains;  // → the virtual host that has it
  RouteDecoder decoder(clusters, problems);
  for (int i = 0; i < config.virtual_hosts_size(); ++i) {
    const auto& host = config.virtual_hosts(i);
    const std::string hostPath = fieldPath(path, "virtual_hosts", static_cast<size_t>(i));
    if (!onlyFields(host, {"name", "domains", "routes"}, problems, hostPath)) return false;
    if (host.domains().empty()) return problems.fail(hostPath + ".domains", "must not be empty");
    config::RouteTableConfig::HostRules rules;
    for (int j = 0; j < host.domains_size(); ++j) {
      const std::string domainPath = fmt::format("{}.domains[{}]", hostPath, j);
      std::string domain = config::syntax::toLower(host.domains(j));
      if (!validDomain(domain)) {
        return problems.fail(domainPath, "unsupported domain " + quote(host.domains(j)) +
                                             " (expected a host name, \"*.\" and a host name, "
                                             "or \"*\")");
      }
      auto [it, inserted] = domains.emplace(domain, static_cast<size_t>(i));
      if (!inserted) {
        return problems.fail(domainPath, fmt::format("duplicate domain {} (also in "
                                                     "virtual_hosts[{}])",
                                                     quote(domain), it->second));
      }
      rules.hostnames.push_back(std::move(domain));
    }
    // The catch-all alone is a route without hostnames.
    if (rules.hostnames.size() == 1 && rules.hostnames[0] == "*") rules.hostnames.clear();
    for (int j = 0; j < host.routes_size(); ++j) {
      config::RouteRule rule;
      if (!decoder.decode(host.routes(j), fmt::format("{}.routes[{}]", hostPath, j), rule)) {
        return false;
      }
      rules.rules.push_back(std::move(rule));
    }
    out.routes.push_back(std::move(rules));
  }
  return true;
}

}  // namespace trellis::xds::detail
