// Model → RDS. One VirtualHost per distinct hostname (host_groups.h), one Route per RouteRule in
// precedence order, each in standard Envoy fields:
//   match: path / prefix "/" / path_separated_prefix / safe_regex (path_forms.h), headers as
//     HeaderMatcher string_match (gRPC: the legacy exact_match / safe_regex_match, which gRPC
//     1.51 reads), the method as a ":method" header, query_parameters;
//   action: route {cluster | weighted_clusters with total_weight}, host_rewrite_literal,
//     prefix_rewrite / regex_rewrite, request_mirror_policies, cluster_not_found_response_code
//     500 | redirect | direct_response 500 (no backend, or only weight-0 ones);
//   timeouts, retries, fault injection and rate limits: encode_route_policy.cc;
//   request_headers_to_add (set: OVERWRITE_IF_EXISTS_OR_ADD, add: APPEND_IF_EXISTS_OR_ADD),
//     request_headers_to_remove, and the same for responses; name: the route's namespace/name.
// metadata["trellis.dev"] keeps what Envoy has no field for: GRPCRoute precedence ("grpc"),
// the tie-breakers (creationTimestamp, routeOrder, ruleIndex, matchIndex), maxRequestBodyBytes,
// exact path values the standard form cannot spell (pathMatch, urlRewrite, requestRedirect),
// header modifiers that are present but empty, and the backends / mirrors / URL rewrite of a
// rule whose action is a redirect or a direct response.

#include "envoy/config/route/v3/route.pb.h"
#include "routing/host_groups.h"
#include "xds/codec/codec.h"
#include "xds/codec/internal.h"
#include "xds/codec/policy.h"
#include "xds/codec/trellis_metadata.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::core::v3::HeaderValueOption;
using envoy::config::route::v3::HeaderMatcher;
using envoy::config::route::v3::RedirectAction;
using envoy::config::route::v3::Route;
using envoy::config::route::v3::RouteAction;

void encodeStringMatch(const config::ValueMatch& match,
                       envoy::type::matcher::v3::StringMatcher& out) {
  if (match.type == config::StringMatchType::Exact) {
    out.set_exact(match.value);
  } else {
    out.mutable_safe_regex()->set_regex(match.value);
  }
}

}  // namespace

void encodeHeaderMatch(const config::ValueMatch& match, RouteDialect dialect, HeaderMatcher& out) {
  out.set_name(match.name);
  if (dialect == RouteDialect::Envoy) {
    encodeStringMatch(match, *out.mutable_string_match());
    return;
  }
  // Deprecated in Envoy, but gRPC 1.51 reads only these (not string_match).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  if (match.type == config::StringMatchType::Exact) {
    out.set_exact_match(match.value);
  } else {
    out.mutable_safe_regex_match()->set_regex(match.value);
  }
#pragma GCC diagnostic pop
}

namespace {

void encodeHeaderModifier(const config::HeaderModifier& modifier,
                          google::protobuf::RepeatedPtrField<HeaderValueOption>& toAdd,
                          google::protobuf::RepeatedPtrField<std::string>& toRemove) {
  for (const auto& [name, value] : modifier.set) {
    HeaderValueOption* option = toAdd.Add();
    option->mutable_header()->set_key(name);
    option->mutable_header()->set_value(value);
    option->set_append_action(HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
  }
  for (const auto& [name, value] : modifier.add) {
    HeaderValueOption* option = toAdd.Add();
    option->mutable_header()->set_key(name);
    option->mutable_header()->set_value(value);
    option->set_append_action(HeaderValueOption::APPEND_IF_EXISTS_OR_ADD);
  }
  for (const std::string& name : modifier.remove) *toRemove.Add() = name;
}

bool isEmpty(const config::HeaderModifier& modifier) {
  return modifier.set.empty() && modifier.add.empty() && modifier.remove.empty();
}

std::string clusterOrSentinel(const std::string& cluster) {
  return cluster.empty() ? std::string(kUnresolvedCluster) : cluster;
}

// An override {pathType, path} when the standard fields' canonical reading is not the model's.
void maybeRewriteOverride(config::PathRewriteType type, const std::string& value,
                          const PathRewriteFields& fields, const config::PathMatch& match,
                          Struct& metadata, std::string_view key) {
  auto canonical = canonicalPathRewrite(fields, match);
  if (canonical && canonical->first == type && canonical->second == value) return;
  Struct& override = setObject(metadata, key);
  setString(override, "pathType", rewriteTypeName(type));
  setString(override, "path", value);
}

void encodeRouteAction(const config::RouteRule& rule, RouteAction& action, Struct& metadata) {
  if (rule.backends.size() == 1 && rule.backends[0].weight == 1) {
    action.set_cluster(clusterOrSentinel(rule.backends[0].cluster));
  } else {
    auto* weighted = action.mutable_weighted_clusters();
    uint32_t total = 0;
    for (const config::WeightedBackend& backend : rule.backends) {
      auto* cluster = weighted->add_clusters();
      cluster->set_name(clusterOrSentinel(backend.cluster));
      cluster->mutable_weight()->set_value(backend.weight);
      total += backend.weight;
    }
    // Deprecated in Envoy, but gRPC 1.51 requires the weights to sum to it (default 100).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    weighted->mutable_total_weight()->set_value(total);
#pragma GCC diagnostic pop
  }
  // Trellis answers 500 for an unresolved backend (Gateway API); Envoy's default is 503.
  action.set_cluster_not_found_response_code(RouteAction::INTERNAL_SERVER_ERROR);
  for (const config::RequestMirror& mirror : rule.mirrors) {
    action.add_request_mirror_policies()->set_cluster(mirror.cluster);
  }
  if (!rule.rewrite) return;
  const config::UrlRewrite& rewrite = *rule.rewrite;
  if (rewrite.hostname) action.set_host_rewrite_literal(*rewrite.hostname);
  PathRewriteFields fields =
      encodePathRewrite(rewrite.pathType, rewrite.path, rule.match.path, false);
  applyRewriteFields(fields, action);
  maybeRewriteOverride(rewrite.pathType, rewrite.path, fields, rule.match.path, metadata,
                       "urlRewrite");
  // A rewrite that shows in no field (no hostname, no path) still exists in the model.
  if (!rewrite.hostname && fields == PathRewriteFields{} &&
      !metadata.fields().count("urlRewrite")) {
    setObject(metadata, "urlRewrite");
  }
}

RedirectAction::RedirectResponseCode redirectCode(uint16_t status) {
  switch (status) {
    case 301:
      return RedirectAction::MOVED_PERMANENTLY;
    case 303:
      return RedirectAction::SEE_OTHER;
    case 307:
      return RedirectAction::TEMPORARY_REDIRECT;
    case 308:
      return RedirectAction::PERMANENT_REDIRECT;
    default:
      return RedirectAction::FOUND;
  }
}

void encodeRedirect(const config::RouteRule& rule, RedirectAction& action, Struct& metadata) {
  const config::RequestRedirect& redirect = *rule.redirect;
  if (redirect.scheme) action.set_scheme_redirect(*redirect.scheme);
  if (redirect.hostname) action.set_host_redirect(*redirect.hostname);
  if (redirect.port) action.set_port_redirect(*redirect.port);
  action.set_response_code(redirectCode(redirect.statusCode));
  PathRewriteFields fields =
      encodePathRewrite(redirect.pathType, redirect.path, rule.match.path, true);
  applyRewriteFields(fields, action);
  maybeRewriteOverride(redirect.pathType, redirect.path, fields, rule.match.path, metadata,
                       "requestRedirect");
}

// What a redirect or direct response cannot carry in Envoy fields.
void encodeNonForwardingExtras(const config::RouteRule& rule, Struct& metadata) {
  if (!rule.backends.empty()) {
    auto& list = setList(metadata, "backends");
    for (const config::WeightedBackend& backend : rule.backends) {
      Struct& item = *list.add_values()->mutable_struct_value();
      setString(item, "cluster", backend.cluster);
      setNumber(item, "weight", backend.weight);
    }
  }
  if (!rule.mirrors.empty()) {
    auto& list = setList(metadata, "mirrors");
    for (const config::RequestMirror& mirror : rule.mirrors) {
      list.add_values()->set_string_value(mirror.cluster);
    }
  }
  if (rule.rewrite) {
    Struct& rewrite = setObject(metadata, "urlRewrite");
    if (rule.rewrite->hostname) setString(rewrite, "hostname", *rule.rewrite->hostname);
    if (rule.rewrite->pathType != config::PathRewriteType::None) {
      setString(rewrite, "pathType", rewriteTypeName(rule.rewrite->pathType));
      setString(rewrite, "path", rule.rewrite->path);
    }
  }
}

void encodeRuleMetadata(const config::RouteRule& rule, Struct& metadata) {
  if (rule.match.grpc) {
    Struct& grpc = setObject(metadata, "grpc");
    setBool(grpc, "regex", rule.match.grpc->regex);
    setNumber(grpc, "serviceChars", rule.match.grpc->serviceChars);
    setNumber(grpc, "methodChars", rule.match.grpc->methodChars);
  }
  if (rule.creationTimestamp != 0) {
    setString(metadata, "creationTimestamp", std::to_string(rule.creationTimestamp));
  }
  if (rule.routeOrder != 0) setNumber(metadata, "routeOrder", rule.routeOrder);
  if (rule.ruleIndex != 0) setNumber(metadata, "ruleIndex", rule.ruleIndex);
  if (rule.matchIndex != 0) setNumber(metadata, "matchIndex", rule.matchIndex);
  if (rule.maxRequestBodyBytes) {
    setString(metadata, "maxRequestBodyBytes", std::to_string(*rule.maxRequestBodyBytes));
  }
  if (rule.requestHeaders && isEmpty(*rule.requestHeaders)) {
    setBool(metadata, "requestHeaderModifier", true);
  }
  if (rule.responseHeaders && isEmpty(*rule.responseHeaders)) {
    setBool(metadata, "responseHeaderModifier", true);
  }
}

Route encodeRule(const config::RouteRule& rule, RouteDialect dialect) {
  Route out;
  Struct metadata;
  out.set_name(rule.routeName);
  auto* match = out.mutable_match();
  encodePathMatch(rule.match.path, dialect, *match);
  auto canonical = canonicalPathMatch(*match);
  if (!canonical || canonical->first != rule.match.path.type ||
      canonical->second != rule.match.path.value) {
    Struct& override = setObject(metadata, "pathMatch");
    setString(override, "type", pathMatchTypeName(rule.match.path.type));
    setString(override, "value", rule.match.path.value);
  }
  for (const config::ValueMatch& header : rule.match.headers) {
    encodeHeaderMatch(header, dialect, *match->add_headers());
  }
  if (rule.match.method) {
    encodeHeaderMatch(
        config::ValueMatch{config::StringMatchType::Exact, ":method", *rule.match.method, nullptr},
        dialect, *match->add_headers());
  }
  for (const config::ValueMatch& query : rule.match.queryParams) {
    auto* matcher = match->add_query_parameters();
    matcher->set_name(query.name);
    encodeStringMatch(query, *matcher->mutable_string_match());
  }

  bool forwards = false;
  for (const config::WeightedBackend& backend : rule.backends) forwards |= backend.weight > 0;
  if (rule.redirect) {
    encodeRedirect(rule, *out.mutable_redirect(), metadata);
    encodeNonForwardingExtras(rule, metadata);
  } else if (forwards) {
    encodeRouteAction(rule, *out.mutable_route(), metadata);
  } else {
    // No backend, or only weight-0 ones: Trellis answers 500.
    out.mutable_direct_response()->set_status(500);
    encodeNonForwardingExtras(rule, metadata);
  }
  if (out.has_route()) {
    encodeRouteTimeouts(rule, dialect, true, *out.mutable_route(), metadata);
  } else {
    RouteAction settings;
    encodeRouteTimeouts(rule, dialect, false, settings, metadata);
    attachRouteAction(settings, metadata);
  }
  encodeRouteFilters(rule, dialect, out, metadata);
  if (rule.requestHeaders) {
    encodeHeaderModifier(*rule.requestHeaders, *out.mutable_request_headers_to_add(),
                         *out.mutable_request_headers_to_remove());
  }
  if (rule.responseHeaders) {
    encodeHeaderModifier(*rule.responseHeaders, *out.mutable_response_headers_to_add(),
                         *out.mutable_response_headers_to_remove());
  }
  encodeRuleMetadata(rule, metadata);
  attach(std::move(metadata), out);
  return out;
}

}  // namespace

envoy::config::route::v3::RouteConfiguration encodeRouteTable(
    const std::string& name, const config::RouteTableConfig& routes, RouteDialect dialect) {
  envoy::config::route::v3::RouteConfiguration out;
  out.set_name(name);
  for (const routing::HostGroup& group : routing::groupByHost(routes)) {
    auto* host = out.add_virtual_hosts();
    host->set_name(group.domain);
    host->add_domains(group.domain);
    for (const config::RouteRule* rule : group.rules) {
      *host->add_routes() = encodeRule(*rule, dialect);
    }
  }
  return out;
}

}  // namespace trellis::xds::detail
