// A listener's metadata["trellis.dev"].authorization → model AuthorizationPolicies (the reverse
// of encode_authz.cc). Every value is checked as the loader checks it, so that a control plane
// that writes something the loader would refuse (an Istio-form principal without "spiffe://",
// a relative path, a port 0) is told so in the NACK instead of a policy that silently never
// matches.

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>

#include "config/syntax.h"
#include "xds/codec/authz_codec.h"

namespace trellis::xds::detail {
namespace {

using google::protobuf::ListValue;

constexpr std::string_view kSpiffeScheme = "spiffe://";
constexpr std::string_view kHeaderKey = "request.headers[";

// What a value of a field is: decides its checks.
enum class ValueKind { Principal, Namespace, Method, Path, HeaderValue };
enum class Form { Exact, Prefix, Suffix };

bool isTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool hasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

// The problem with `text` as a value of kind `kind` in form `form`, or "".
std::string checkValue(std::string_view text, ValueKind kind, Form form) {
  if (text.empty()) return "must not be empty";
  if (hasControlCharacter(text)) return "must not contain control characters";
  switch (kind) {
    case ValueKind::Principal:
      if (form != Form::Suffix && !text.starts_with(kSpiffeScheme)) {
        return fmt::format("{} does not start with \"spiffe://\" (principals are SPIFFE IDs)",
                           quote(text));
      }
      break;
    case ValueKind::Namespace:
      if (form == Form::Exact) return config::syntax::checkDnsLabel(text);
      break;
    case ValueKind::Method:
      if (!std::all_of(text.begin(), text.end(), isTokenChar)) {
        return fmt::format("invalid method {}", quote(text));
      }
      break;
    case ValueKind::Path:
      if (text.find('?') != std::string_view::npos) {
        return "must not contain '?' (paths are matched without the query string)";
      }
      if (form != Form::Suffix && !text.starts_with('/')) {
        return fmt::format("{} does not start with '/'", quote(text));
      }
      break;
    case ValueKind::HeaderValue:
      break;
  }
  return "";
}

class AuthzDecoder {
 public:
  explicit AuthzDecoder(Problems& problems) : problems_(problems) {}

  bool policies(FieldsReader& settings, std::vector<config::AuthorizationPolicy>& out);

 private:
  using ObjectReader = std::function<bool(FieldsReader& item, const std::string& path)>;
  /// The list of objects at `key`, when present: not empty, each read by `read` and finished.
  bool objects(FieldsReader& reader, std::string_view key, const ObjectReader& read);
  bool strings(FieldsReader& reader, std::string_view key, ValueKind kind, Form form,
               std::vector<std::string>& out);
  bool values(FieldsReader& reader, std::string_view key, ValueKind kind, config::AuthzValues& out);
  bool ports(FieldsReader& reader, std::string_view key, std::vector<uint16_t>& out);
  bool policy(FieldsReader& reader, config::AuthorizationPolicy& out);
  bool rule(FieldsReader& reader, config::AuthzRule& out);
  bool condition(FieldsReader& reader, const std::string& path, config::AuthzCondition& out);
  /// A required string key: fails with "missing" when absent.
  std::optional<std::string> required(FieldsReader& reader, std::string_view key);

  Problems& problems_;
};

bool AuthzDecoder::objects(FieldsReader& reader, std::string_view key, const ObjectReader& read) {
  const ListValue* list = reader.list(key);
  if (list == nullptr) return !problems_.failed();
  const std::string listPath = reader.pathOf(key);
  if (list->values_size() == 0) return problems_.fail(listPath, "must not be empty (omit it)");
  for (int i = 0; i < list->values_size(); ++i) {
    const std::string itemPath = fmt::format("{}[{}]", listPath, i);
    if (!list->values(i).has_struct_value()) {
      return problems_.fail(itemPath, "expected an object");
    }
    FieldsReader item(list->values(i).struct_value(), problems_, itemPath);
    if (!read(item, itemPath) || !item.finish()) return false;
  }
  return true;
}

bool AuthzDecoder::strings(FieldsReader& reader, std::string_view key, ValueKind kind, Form form,
                           std::vector<std::string>& out) {
  const ListValue* list = reader.list(key);
  if (list == nullptr) return !problems_.failed();
  const std::string listPath = reader.pathOf(key);
  if (list->values_size() == 0) return problems_.fail(listPath, "must not be empty (omit it)");
  for (int i = 0; i < list->values_size(); ++i) {
    const std::string itemPath = fmt::format("{}[{}]", listPath, i);
    if (!list->values(i).has_string_value()) return problems_.fail(itemPath, "expected a string");
    const std::string& text = list->values(i).string_value();
    std::string problem = checkValue(text, kind, form);
    if (!problem.empty()) return problems_.fail(itemPath, problem);
    out.push_back(text);
  }
  return true;
}

bool AuthzDecoder::values(FieldsReader& reader, std::string_view key, ValueKind kind,
                          config::AuthzValues& out) {
  const Struct* fields = reader.object(key);
  if (fields == nullptr) return !problems_.failed();
  const std::string path = reader.pathOf(key);
  FieldsReader forms(*fields, problems_, path);
  if (!strings(forms, "exact", kind, Form::Exact, out.exact) ||
      !strings(forms, "prefixes", kind, Form::Prefix, out.prefixes) ||
      !strings(forms, "suffixes", kind, Form::Suffix, out.suffixes)) {
    return false;
  }
  if (auto present = forms.boolean("present")) {
    if (!*present) return problems_.fail(forms.pathOf("present"), "must be true when set");
    out.present = true;
  }
  if (!forms.finish()) return false;
  if (out.empty()) return problems_.fail(path, "must set exact, prefixes, suffixes or present");
  return true;
}

bool AuthzDecoder::ports(FieldsReader& reader, std::string_view key, std::vector<uint16_t>& out) {
  const ListValue* list = reader.list(key);
  if (list == nullptr) return !problems_.failed();
  const std::string listPath = reader.pathOf(key);
  if (list->values_size() == 0) return problems_.fail(listPath, "must not be empty (omit it)");
  for (int i = 0; i < list->values_size(); ++i) {
    const auto& value = list->values(i);
    const double number = value.number_value();
    if (!value.has_number_value() || !(number >= 1 && number <= 65535) ||
        number != static_cast<double>(static_cast<uint16_t>(number))) {
      return problems_.fail(fmt::format("{}[{}]", listPath, i),
                            "expected a port number from 1 to 65535");
    }
    out.push_back(static_cast<uint16_t>(number));
  }
  return true;
}

std::optional<std::string> AuthzDecoder::required(FieldsReader& reader, std::string_view key) {
  auto text = reader.string(key);
  if (!text && !problems_.failed()) problems_.fail(reader.pathOf(key), "missing");
  return text;
}

bool AuthzDecoder::condition(FieldsReader& reader, const std::string& path,
                             config::AuthzCondition& out) {
  using Key = config::AuthzCondition::Key;
  auto key = required(reader, "key");
  if (!key) return false;
  const std::string keyPath = reader.pathOf("key");
  if (key->starts_with(kHeaderKey) && key->ends_with(']')) {
    std::string_view name =
        std::string_view(*key).substr(kHeaderKey.size(), key->size() - kHeaderKey.size() - 1);
    std::string problem = config::syntax::checkHeaderName(name);
    if (problem.empty() && config::syntax::toLower(name) != name) problem = "must be lower case";
    if (!problem.empty()) {
      return problems_.fail(keyPath, fmt::format("header name {} {}", quote(name), problem));
    }
    out.key = Key::RequestHeader;
    out.header = std::string(name);
  } else if (*key == "source.principal") {
    out.key = Key::SourcePrincipal;
  } else if (*key == "source.namespace") {
    out.key = Key::SourceNamespace;
  } else if (*key == "destination.port") {
    out.key = Key::DestinationPort;
  } else {
    return problems_.fail(keyPath, fmt::format("unsupported condition key {} (expected "
                                               "request.headers[<name>], source.principal, "
                                               "source.namespace or destination.port)",
                                               quote(*key)));
  }
  if (out.key == Key::DestinationPort) {
    for (std::string_view other : {"values", "notValues"}) {
      if (reader.has(other)) {
        return problems_.fail(reader.pathOf(other), "destination.port takes ports and notPorts");
      }
    }
    if (!ports(reader, "ports", out.ports) || !ports(reader, "notPorts", out.notPorts)) {
      return false;
    }
    if (out.ports.empty() && out.notPorts.empty()) {
      return problems_.fail(path, "must set ports, notPorts or both");
    }
    return true;
  }
  for (std::string_view other : {"ports", "notPorts"}) {
    if (reader.has(other)) {
      return problems_.fail(reader.pathOf(other), "only destination.port takes ports");
    }
  }
  const ValueKind kind = out.key == Key::SourcePrincipal   ? ValueKind::Principal
                         : out.key == Key::SourceNamespace ? ValueKind::Namespace
                                                           : ValueKind::HeaderValue;
  if (!values(reader, "values", kind, out.values) ||
      !values(reader, "notValues", kind, out.notValues)) {
    return false;
  }
  if (out.values.empty() && out.notValues.empty()) {
    return problems_.fail(path, "must set values, notValues or both");
  }
  return true;
}

bool AuthzDecoder::rule(FieldsReader& reader, config::AuthzRule& out) {
  bool ok = objects(reader, "from", [&](FieldsReader& item, const std::string&) {
    config::AuthzSource& source = out.from.emplace_back();
    return values(item, "principals", ValueKind::Principal, source.principals) &&
           values(item, "notPrincipals", ValueKind::Principal, source.notPrincipals) &&
           values(item, "namespaces", ValueKind::Namespace, source.namespaces) &&
           values(item, "notNamespaces", ValueKind::Namespace, source.notNamespaces);
  });
  ok = ok && objects(reader, "to", [&](FieldsReader& item, const std::string&) {
         config::AuthzOperation& operation = out.to.emplace_back();
         return values(item, "methods", ValueKind::Method, operation.methods) &&
                values(item, "notMethods", ValueKind::Method, operation.notMethods) &&
                values(item, "paths", ValueKind::Path, operation.paths) &&
                values(item, "notPaths", ValueKind::Path, operation.notPaths) &&
                ports(item, "ports", operation.ports) &&
                ports(item, "notPorts", operation.notPorts);
       });
  ok = ok && objects(reader, "when", [&](FieldsReader& item, const std::string& path) {
         return condition(item, path, out.when.emplace_back());
       });
  if (!ok) return false;
  // As the loader sets it: see the TCP rules in authz::evaluate.
  out.usesHttp = std::any_of(out.to.begin(), out.to.end(),
                             [](const config::AuthzOperation& o) {
                               return !o.methods.empty() || !o.notMethods.empty() ||
                                      !o.paths.empty() || !o.notPaths.empty();
                             }) ||
                 std::any_of(out.when.begin(), out.when.end(), [](const config::AuthzCondition& c) {
                   return c.key == config::AuthzCondition::Key::RequestHeader;
                 });
  return true;
}

bool AuthzDecoder::policy(FieldsReader& reader, config::AuthorizationPolicy& out) {
  auto name = required(reader, "name");
  if (!name) return false;
  if (std::string problem = config::syntax::checkDnsSubdomain(*name); !problem.empty()) {
    return problems_.fail(reader.pathOf("name"), problem);
  }
  auto ns = required(reader, "namespace");
  if (!ns) return false;
  if (std::string problem = config::syntax::checkDnsLabel(*ns); !problem.empty()) {
    return problems_.fail(reader.pathOf("namespace"), problem);
  }
  auto action = required(reader, "action");
  if (!action) return false;
  if (*action == "ALLOW") {
    out.action = config::AuthzAction::Allow;
  } else if (*action == "DENY") {
    out.action = config::AuthzAction::Deny;
  } else if (*action == "AUDIT") {
    out.action = config::AuthzAction::Audit;
  } else {
    return problems_.fail(
        reader.pathOf("action"),
        fmt::format("unknown action {} (expected ALLOW, DENY or AUDIT)", quote(*action)));
  }
  out.name = *name;
  out.ns = *ns;
  out.qualifiedName = *ns + "/" + *name;
  return objects(reader, "rules", [&](FieldsReader& item, const std::string&) {
    return rule(item, out.rules.emplace_back());
  });
}

bool AuthzDecoder::policies(FieldsReader& settings, std::vector<config::AuthorizationPolicy>& out) {
  std::set<std::string> names;
  return objects(settings, "authorization", [&](FieldsReader& item, const std::string& path) {
    config::AuthorizationPolicy& policy = out.emplace_back();
    if (!this->policy(item, policy)) return false;
    if (!names.insert(policy.qualifiedName).second) {
      return problems_.fail(path, fmt::format("duplicate policy {}", quote(policy.qualifiedName)));
    }
    return true;
  });
}

}  // namespace

bool decodeAuthorization(FieldsReader& settings, const std::string& service,
                         std::vector<config::AuthorizationPolicy>& out) {
  Problems& problems = settings.problems();
  if (settings.has("authorization") && service.empty()) {
    settings.list("authorization");  // read, so that finish() does not call it unknown
    return problems.fail(settings.pathOf("authorization"),
                         "needs service (the Service whose policies these are)");
  }
  std::vector<config::AuthorizationPolicy> policies;
  if (!AuthzDecoder(problems).policies(settings, policies)) return false;
  out = std::move(policies);
  return true;
}

}  // namespace trellis::xds::detail
