// RouteMatch → model RouteMatch: path specifier (with its metadata override), headers, the
// ":method" header, query parameters, and GRPCRoute precedence from metadata.

#include <fmt/format.h>
#include <re2/re2.h>

#include "config/syntax.h"
#include "xds/codec/decode_route_parts.h"
#include "xds/codec/path_forms.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::route::v3::HeaderMatcher;
using envoy::config::route::v3::RouteMatch;
using envoy::type::matcher::v3::RegexMatcher;
using envoy::type::matcher::v3::StringMatcher;

// As the loader: bounds the compiled program and the DFA built while matching.
constexpr int64_t kMaxRegexMemory = 1 << 20;

bool decodeRegex(const RegexMatcher& regex, Problems& problems, const std::string& path,
                 config::ValueMatch& out) {
  if (!onlyFields(regex, {"regex"}, problems, path)) return false;
  out.type = config::StringMatchType::RegularExpression;
  out.value = regex.regex();
  out.regex = compileRegex(out.value, problems, fieldPath(path, "regex"));
  return out.regex != nullptr;
}

bool decodeStringMatch(const StringMatcher& match, Problems& problems, const std::string& path,
                       config::ValueMatch& out) {
  switch (match.match_pattern_case()) {
    case StringMatcher::kExact:
      out.type = config::StringMatchType::Exact;
      out.value = match.exact();
      break;
    case StringMatcher::kSafeRegex:
      if (!decodeRegex(match.safe_regex(), problems, fieldPath(path, "safe_regex"), out)) {
        return false;
      }
      break;
    default:
      return problems.fail(path, "unsupported string match (expected exact or safe_regex)");
  }
  return onlyFields(match, {"exact", "safe_regex"}, problems, path);
}

bool checkText(const std::string& error, Problems& problems, const std::string& path) {
  return error.empty() || problems.fail(path, error);
}

}  // namespace

bool decodeHeaderMatcher(const HeaderMatcher& header, Problems& problems, const std::string& path,
                         config::RouteMatch& out) {
  if (!onlyFields(header, {"name", "string_match", "exact_match", "safe_regex_match"}, problems,
                  path)) {
    return false;
  }
  config::ValueMatch value;
  switch (header.header_match_specifier_case()) {
    case HeaderMatcher::kStringMatch:
      if (!decodeStringMatch(header.string_match(), problems, fieldPath(path, "string_match"),
                             value)) {
        return false;
      }
      break;
// The legacy fields are deprecated in Envoy but the only ones gRPC 1.51 reads.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    case HeaderMatcher::kExactMatch:
      value.type = config::StringMatchType::Exact;
      value.value = header.exact_match();
      break;
    case HeaderMatcher::kSafeRegexMatch:
      if (!decodeRegex(header.safe_regex_match(), problems, fieldPath(path, "safe_regex_match"),
                       value)) {
        return false;
      }
      break;
#pragma GCC diagnostic pop
    default:
      return problems.fail(path, "missing string_match");
  }
  const std::string& name = header.name();
  if (name == ":method") {
    if (value.type != config::StringMatchType::Exact) {
      return problems.fail(path, ":method can only be matched exactly");
    }
    if (out.method) return problems.fail(path, "duplicate :method match");
    if (!checkText(config::syntax::checkHeaderName(value.value), problems,
                   fieldPath(path, "string_match.exact"))) {
      return false;
    }
    out.method = value.value;
    return true;
  }
  if (!name.empty() && name[0] == ':') {
    return problems.fail(fieldPath(path, "name"),
                         "pseudo-header " + quote(name) + " cannot be matched (only :method)");
  }
  if (!checkText(config::syntax::checkHeaderName(name), problems, fieldPath(path, "name"))) {
    return false;
  }
  value.name = config::syntax::toLower(name);
  if (value.type == config::StringMatchType::Exact &&
      !checkText(config::syntax::checkHeaderValue(value.value), problems, path)) {
    return false;
  }
  out.headers.push_back(std::move(value));
  return true;
}

namespace {

bool decodeQuery(const envoy::config::route::v3::QueryParameterMatcher& query, Problems& problems,
                 const std::string& path, config::RouteMatch& out) {
  if (!onlyFields(query, {"name", "string_match"}, problems, path)) return false;
  if (!checkText(config::syntax::checkHeaderName(query.name()), problems,
                 fieldPath(path, "name"))) {
    return false;
  }
  if (!query.has_string_match()) return problems.fail(path, "missing string_match");
  config::ValueMatch value;
  if (!decodeStringMatch(query.string_match(), problems, fieldPath(path, "string_match"), value)) {
    return false;
  }
  if (value.type == config::StringMatchType::Exact && value.value.empty()) {
    return problems.fail(fieldPath(path, "string_match.exact"), "must not be empty");
  }
  value.name = query.name();
  out.queryParams.push_back(std::move(value));
  return true;
}

bool decodePath(const RouteMatch& match, FieldsReader& settings, Problems& problems,
                const std::string& path, config::PathMatch& out) {
  if (const Struct* override = settings.object("pathMatch")) {
    FieldsReader fields(*override, problems, settings.pathOf("pathMatch"));
    auto typeName = fields.string("type");
    auto value = fields.string("value");
    if (!fields.finish()) return false;
    auto type = typeName ? pathMatchTypeOf(*typeName) : std::nullopt;
    if (!type || !value) {
      return problems.fail(settings.pathOf("pathMatch"),
                           "expected {type: Exact|PathPrefix|RegularExpression, value}");
    }
    out.type = *type;
    out.value = *value;
    // The override may only spell out what the standard field says.
    RouteMatch envoy, grpc;
    encodePathMatch(out, RouteDialect::Envoy, envoy);
    encodePathMatch(out, RouteDialect::Grpc, grpc);
    if (!samePathSpecifier(envoy, match) && !samePathSpecifier(grpc, match)) {
      return problems.fail(settings.pathOf("pathMatch"),
                           "does not agree with the route's path specifier");
    }
  } else if (auto canonical = canonicalPathMatch(match)) {
    out.type = canonical->first;
    out.value = canonical->second;
  } else if (problems.failed()) {
    return false;
  } else if (match.path_specifier_case() == RouteMatch::kPrefix) {
    return problems.fail(fieldPath(path, "prefix"),
                         quote(match.prefix()) +
                             " is unsupported: Gateway API prefixes match whole path segments "
                             "(use path_separated_prefix, or prefix \"/\")");
  } else {
    return problems.fail(path,
                         "missing path specifier (path, prefix \"/\", "
                         "path_separated_prefix or safe_regex)");
  }
  if (out.type == config::PathMatchType::RegularExpression) {
    if (match.has_safe_regex() &&
        !onlyFields(match.safe_regex(), {"regex"}, problems, fieldPath(path, "safe_regex"))) {
      return false;
    }
    out.regex = compileRegex(out.value, problems, fieldPath(path, "safe_regex.regex"));
    return out.regex != nullptr;
  }
  return checkText(config::syntax::checkMatchPath(out.value), problems, path);
}

}  // namespace

std::shared_ptr<const re2::RE2> compileRegex(const std::string& pattern, Problems& problems,
                                             const std::string& path) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(kMaxRegexMemory);
  auto regex = std::make_shared<const re2::RE2>(pattern, options);
  if (!regex->ok()) {
    problems.fail(path, "invalid regular expression: " + printable(regex->error()));
    return nullptr;
  }
  return regex;
}

bool decodeMatch(const RouteMatch& match, FieldsReader& settings, Problems& problems,
                 const std::string& path, config::RouteMatch& out) {
  if (!onlyFields(match,
                  {"prefix", "path", "safe_regex", "path_separated_prefix", "headers",
                   "query_parameters", "case_sensitive"},
                  problems, path)) {
    return false;
  }
  if (match.has_case_sensitive() && !match.case_sensitive().value()) {
    return problems.fail(fieldPath(path, "case_sensitive"),
                         "must be true (Gateway API paths are case-sensitive)");
  }
  if (!decodePath(match, settings, problems, path, out.path)) return false;
  for (int i = 0; i < match.headers_size(); ++i) {
    if (!decodeHeaderMatcher(match.headers(i), problems, fieldPath(path, "headers", i), out)) {
      return false;
    }
  }
  for (int i = 0; i < match.query_parameters_size(); ++i) {
    if (!decodeQuery(match.query_parameters(i), problems, fieldPath(path, "query_parameters", i),
                     out)) {
      return false;
    }
  }
  if (const Struct* grpc = settings.object("grpc")) {
    FieldsReader fields(*grpc, problems, settings.pathOf("grpc"));
    config::GrpcMethodRank rank;
    rank.regex = fields.boolean("regex").value_or(false);
    rank.serviceChars =
        static_cast<uint32_t>(fields.integer("serviceChars", 0, UINT32_MAX).value_or(0));
    rank.methodChars =
        static_cast<uint32_t>(fields.integer("methodChars", 0, UINT32_MAX).value_or(0));
    if (!fields.finish()) return false;
    out.grpc = rank;
  }
  return !problems.failed();
}

}  // namespace trellis::xds::detail
