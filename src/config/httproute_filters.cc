// Gateway API HTTPRoute filters: header modifiers, URLRewrite, RequestRedirect, RequestMirror.

#include "config/httproute_filters.h"

#include <fmt/format.h>

#include <set>

#include "config/syntax.h"

namespace trellis::config {
namespace {

constexpr size_t kMaxFilters = 16;
constexpr size_t kMaxHeaderActions = 16;

std::vector<std::pair<std::string, std::string>> parseHeaderList(
    Scope& scope, const Value& value, std::set<std::string>& namesInFilter) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const Value& item : scope.list(value, kMaxHeaderActions)) {
    auto header = scope.object(item, {"name", "value"});
    if (!header) continue;
    Value nameValue = scope.require(*header, "name");
    Value valueValue = scope.require(*header, "value");
    auto name = scope.string(nameValue, 256);
    auto text = scope.string(valueValue, 4096);
    bool valid = name && text && scope.check(nameValue, syntax::checkHeaderName(*name)) &&
                 scope.check(valueValue, syntax::checkHeaderValue(*text));
    if (!valid) continue;
    std::string lower = syntax::toLower(*name);
    if (!namesInFilter.insert(lower).second) {
      scope.error(nameValue, fmt::format("header {} already has an action in this filter (only "
                                         "one of set, add or remove per header name)",
                                         quote(lower)));
      continue;
    }
    headers.emplace_back(std::move(lower), *text);
  }
  return headers;
}

HeaderModifier parseHeaderModifier(Scope& scope, const Value& value) {
  HeaderModifier modifier;
  auto object = scope.object(value, {"set", "add", "remove"});
  if (!object) return modifier;
  std::set<std::string> names;
  modifier.set = parseHeaderList(scope, object->get("set"), names);
  modifier.add = parseHeaderList(scope, object->get("add"), names);
  for (const Value& item : scope.list(object->get("remove"), kMaxHeaderActions)) {
    auto name = scope.string(item, 256);
    if (!name || !scope.check(item, syntax::checkHeaderName(*name))) continue;
    std::string lower = syntax::toLower(*name);
    if (!names.insert(lower).second) {
      scope.error(item,
                  fmt::format("header {} already has an action in this filter", quote(lower)));
      continue;
    }
    modifier.remove.push_back(std::move(lower));
  }
  return modifier;
}

// HTTPPathModifier; records where a ReplacePrefixMatch was configured.
void parsePathModifier(Scope& scope, const Value& value, PathRewriteType& type, std::string& path,
                       RuleFilterInfo& info) {
  auto modifier = scope.object(value, {"type", "replaceFullPath", "replacePrefixMatch"});
  if (!modifier) return;
  auto kind =
      scope.choice<PathRewriteType>(scope.require(*modifier, "type"),
                                    {{"ReplaceFullPath", PathRewriteType::ReplaceFullPath},
                                     {"ReplacePrefixMatch", PathRewriteType::ReplacePrefixMatch}});
  Value fullPath = modifier->get("replaceFullPath");
  Value prefix = modifier->get("replacePrefixMatch");
  if (!kind) return;
  type = *kind;
  bool full = *kind == PathRewriteType::ReplaceFullPath;
  const Value& wanted = full ? fullPath : prefix;
  const Value& other = full ? prefix : fullPath;
  if (other.present) {
    scope.error(other, fmt::format("must not be set when type is {}",
                                   full ? "ReplaceFullPath" : "ReplacePrefixMatch"));
  }
  if (!wanted.present) {
    scope.error(wanted, fmt::format("missing required field (type is {})",
                                    full ? "ReplaceFullPath" : "ReplacePrefixMatch"));
    return;
  }
  if (auto text = scope.string(wanted, 1024)) {
    if (scope.check(wanted, syntax::checkReplacementPath(*text, !full))) path = *text;
  }
  if (!full) info.replacePrefixMatchAt = scope.at(value);
}

UrlRewrite parseUrlRewrite(Scope& scope, const Value& value, RuleFilterInfo& info) {
  UrlRewrite rewrite;
  auto object = scope.object(value, {"hostname", "path"});
  if (!object) return rewrite;
  Value hostname = object->get("hostname");
  if (auto text = scope.string(hostname, 253)) {
    if (scope.check(hostname, syntax::checkHostname(*text, false))) rewrite.hostname = *text;
  }
  parsePathModifier(scope, object->get("path"), rewrite.pathType, rewrite.path, info);
  return rewrite;
}

RequestRedirect parseRedirect(Scope& scope, const Value& value, RuleFilterInfo& info) {
  RequestRedirect redirect;
  auto object = scope.object(value, {"scheme", "hostname", "path", "port", "statusCode"});
  if (!object) return redirect;
  if (auto scheme = scope.choice<std::string>(object->get("scheme"),
                                              {{"http", "http"}, {"https", "https"}})) {
    redirect.scheme = *scheme;
  }
  Value hostname = object->get("hostname");
  if (auto text = scope.string(hostname, 253)) {
    if (scope.check(hostname, syntax::checkHostname(*text, false))) redirect.hostname = *text;
  }
  parsePathModifier(scope, object->get("path"), redirect.pathType, redirect.path, info);
  if (auto port = scope.integer(object->get("port"), 1, 65535)) {
    redirect.port = static_cast<uint16_t>(*port);
  }
  Value status = object->get("statusCode");
  if (auto code = scope.integer(status, 100, 599)) {
    if (*code == 301 || *code == 302 || *code == 303 || *code == 307 || *code == 308) {
      redirect.statusCode = static_cast<uint16_t>(*code);
    } else {
      scope.error(status,
                  fmt::format("unknown value {} (expected 301, 302, 303, 307 or 308)", *code));
    }
  }
  return redirect;
}

struct FilterType {
  std::string_view name;
  std::string_view field;  // the member holding its configuration
  bool supported;
  bool grpc;  // a GRPCRouteFilter type too
};

constexpr FilterType kFilterTypes[] = {
    {"RequestHeaderModifier", "requestHeaderModifier", true, true},
    {"ResponseHeaderModifier", "responseHeaderModifier", true, true},
    {"RequestMirror", "requestMirror", true, true},
    {"RequestRedirect", "requestRedirect", true, false},
    {"URLRewrite", "urlRewrite", true, false},
    {"ExtensionRef", "extensionRef", false, true},
    {"CORS", "cors", false, false},
    {"ExternalAuth", "externalAuth", false, false},
};

}  // namespace

RuleFilterInfo parseRuleFilters(Scope& scope, const Value& value, const std::string& routeNamespace,
                                RuleDef& rule, std::string_view routeKind) {
  const bool grpc = routeKind == "GRPCRoute";
  RuleFilterInfo info;
  std::set<std::string_view> seenTypes;
  for (const Value& item : scope.list(value, kMaxFilters)) {
    auto filter = scope.object(
        item, {"type", "requestHeaderModifier", "responseHeaderModifier", "requestMirror",
               "requestRedirect", "urlRewrite", "extensionRef", "cors", "externalAuth"});
    if (!filter) continue;
    Value typeValue = scope.require(*filter, "type");
    auto typeName = scope.string(typeValue, 64);
    if (!typeName) continue;
    const FilterType* type = nullptr;
    for (const FilterType& candidate : kFilterTypes) {
      if (candidate.name == *typeName) type = &candidate;
    }
    if (type == nullptr) {
      std::vector<std::string_view> names;
      for (const FilterType& candidate : kFilterTypes) {
        if (candidate.grpc || !grpc) names.push_back(candidate.name);
      }
      scope.error(typeValue, Scope::unknownValueMessage(*typeName, names));
      continue;
    }
    if (grpc && !type->grpc) {
      scope.error(typeValue,
                  fmt::format("filter type {} is not supported for GRPCRoute", type->name));
      continue;
    }
    if (!type->supported) {
      scope.error(typeValue,
                  fmt::format("filter type {} is not supported by trellis-proxy", type->name));
      continue;
    }
    bool misplaced = false;
    for (const FilterType& candidate : kFilterTypes) {
      Value member = filter->get(candidate.field);
      if (candidate.name != type->name && member.present) {
        scope.error(member, fmt::format("must not be set when type is {}", type->name));
        misplaced = true;
      }
    }
    Value config = scope.require(*filter, type->field);
    if (misplaced || !config.present) continue;
    if (type->name != "RequestMirror" && !seenTypes.insert(type->name).second) {
      scope.error(typeValue, fmt::format("filter {} cannot be repeated in a rule", type->name));
      continue;
    }

    if (type->name == "RequestHeaderModifier") {
      rule.actions.requestHeaders = parseHeaderModifier(scope, config);
    } else if (type->name == "ResponseHeaderModifier") {
      rule.actions.responseHeaders = parseHeaderModifier(scope, config);
    } else if (type->name == "RequestMirror") {
      auto mirror = scope.object(config, {"backendRef", "percent", "fraction"});
      if (!mirror) continue;
      for (std::string_view unsupported : {"percent", "fraction"}) {
        Value field = mirror->get(unsupported);
        if (field.present) scope.error(field, "is not supported yet (every request is mirrored)");
      }
      if (auto ref = parseServiceRef(scope, scope.require(*mirror, "backendRef"), RefForm::Mirror,
                                     routeNamespace)) {
        rule.mirrors.push_back(std::move(*ref));
      }
    } else if (type->name == "RequestRedirect" || type->name == "URLRewrite") {
      bool redirect = type->name == "RequestRedirect";
      if (seenTypes.count(redirect ? "URLRewrite" : "RequestRedirect") != 0) {
        scope.error(typeValue, "RequestRedirect and URLRewrite cannot be used in the same rule");
        continue;
      }
      if (redirect) {
        rule.actions.redirect = parseRedirect(scope, config, info);
        info.redirectAt = scope.at(item);
      } else {
        rule.actions.rewrite = parseUrlRewrite(scope, config, info);
      }
    }
  }
  return info;
}

}  // namespace trellis::config
