// AuthorizationPolicies over xDS (src/xds/codec/authz_codec.h): every field survives encode +
// decode, policies travel only with the listeners of their Service, and each malformed form is
// refused with the field's path.

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/loader.h"
#include "xds/codec/codec.h"

namespace trellis::xds {
namespace {

using config::AuthorizationPolicy;
using config::AuthzAction;
using config::AuthzCondition;
using config::AuthzOperation;
using config::AuthzRule;
using config::AuthzSource;
using config::AuthzValues;

AuthzValues values(std::vector<std::string> exact, std::vector<std::string> prefixes = {},
                   std::vector<std::string> suffixes = {}, bool present = false) {
  return AuthzValues{std::move(exact), std::move(prefixes), std::move(suffixes), present};
}

AuthzValues anyValue() {
  return values({}, {}, {}, true);
}

AuthorizationPolicy policy(std::string name, AuthzAction action, std::vector<AuthzRule> rules) {
  AuthorizationPolicy p;
  p.name = std::move(name);
  p.ns = "shop";
  p.qualifiedName = "shop/" + p.name;
  p.action = action;
  p.rules = std::move(rules);
  return p;
}

AuthzCondition condition(AuthzCondition::Key key, AuthzValues in, AuthzValues notIn,
                         std::string header = "") {
  AuthzCondition c;
  c.key = key;
  c.header = std::move(header);
  c.values = std::move(in);
  c.notValues = std::move(notIn);
  return c;
}

// Every field and every value form, away from its default.
std::vector<AuthorizationPolicy> everyField() {
  AuthzRule full;
  AuthzSource source;
  source.principals =
      values({"spiffe://td/ns/shop/sa/a"}, {"spiffe://td/ns/ops/"}, {"/sa/admin"}, true);
  source.notPrincipals = values({"spiffe://td/ns/shop/sa/b"});
  source.namespaces = values({"shop"}, {"team-"});
  source.notNamespaces = values({}, {}, {"-test"});
  full.from = {source, AuthzSource{}};
  AuthzOperation operation;
  operation.methods = values({"GET", "POST"});
  operation.notMethods = values({}, {"DEL"});
  operation.paths = values({"/admin"}, {"/admin/"});
  operation.notPaths = values({}, {}, {".json"});
  operation.ports = {8080, 15006};
  operation.notPorts = {9090};
  full.to = {operation, AuthzOperation{}};
  AuthzCondition port;
  port.key = AuthzCondition::Key::DestinationPort;
  port.ports = {15006};
  port.notPorts = {1, 65535};
  full.when = {
      condition(AuthzCondition::Key::RequestHeader, values({"prod"}), anyValue(), "x-env"),
      condition(AuthzCondition::Key::SourcePrincipal, values({}, {"spiffe://td/"}), {}),
      condition(AuthzCondition::Key::SourceNamespace, {}, values({"kube-system"})),
      port,
  };
  full.usesHttp = true;
  AuthzRule headerOnly;
  headerOnly.when = {condition(AuthzCondition::Key::RequestHeader, {}, anyValue(), "x-debug")};
  headerOnly.usesHttp = true;
  AuthzRule portsOnly;
  AuthzOperation ports;
  ports.ports = {5432};
  portsOnly.to = {ports};
  return {
      policy("deny-admin", AuthzAction::Deny, {full, AuthzRule{}, headerOnly, portsOnly}),
      policy("allow-nothing", AuthzAction::Allow, {}),
      policy("audit.everything", AuthzAction::Audit, {AuthzRule{}}),
  };
}

config::Listener listener(std::string name, uint16_t port, std::string service,
                          config::ListenerProtocol protocol = config::ListenerProtocol::Http) {
  config::Listener l;
  l.name = std::move(name);
  l.address = "127.0.0.1";
  l.port = port;
  l.protocol = protocol;
  l.service = std::move(service);
  return l;
}

config::Snapshot meshSnapshot() {
  config::Snapshot s;
  s.listeners.push_back(listener("shop/inbound", 15006, "shop/billing"));
  s.listeners.push_back(listener("shop/db", 5432, "shop/billing", config::ListenerProtocol::Tcp));
  s.listeners.push_back(listener("shop/web", 8080, ""));
  s.listeners.push_back(listener("shop/open", 8081, "shop/open"));
  s.authorization["shop/billing"] = everyField();
  s.authorization["shop/unserved"] = {policy("allow-nothing", AuthzAction::Allow, {})};
  return s;
}

// Every field of the model, written out independently of the codec.
std::string describe(const AuthzValues& v) {
  nlohmann::json j = {{"exact", v.exact},
                      {"prefixes", v.prefixes},
                      {"suffixes", v.suffixes},
                      {"present", v.present}};
  return j.dump();
}

std::string describe(const std::vector<AuthorizationPolicy>& policies) {
  std::string out;
  for (const AuthorizationPolicy& p : policies) {
    out += p.name + "|" + p.ns + "|" + p.qualifiedName + "|" +
           std::to_string(static_cast<int>(p.action)) + "\n";
    for (const AuthzRule& r : p.rules) {
      out += " rule http=" + std::to_string(r.usesHttp) + "\n";
      for (const AuthzSource& s : r.from) {
        out += "  from " + describe(s.principals) + describe(s.notPrincipals) +
               describe(s.namespaces) + describe(s.notNamespaces) + "\n";
      }
      for (const AuthzOperation& o : r.to) {
        out += "  to " + describe(o.methods) + describe(o.notMethods) + describe(o.paths) +
               describe(o.notPaths) + nlohmann::json(o.ports).dump() +
               nlohmann::json(o.notPorts).dump() + "\n";
      }
      for (const AuthzCondition& c : r.when) {
        out += "  when " + std::to_string(static_cast<int>(c.key)) + " " + c.header + " " +
               describe(c.values) + describe(c.notValues) + nlohmann::json(c.ports).dump() +
               nlohmann::json(c.notPorts).dump() + "\n";
      }
    }
  }
  return out;
}

const google::protobuf::Struct& trellisMetadata(const envoy::config::listener::v3::Listener& l) {
  return l.metadata().filter_metadata().at("trellis.dev");
}

TEST(AuthzCodec, EveryFieldSurvivesTheRoundTrip) {
  const config::Snapshot original = meshSnapshot();
  DecodeResult decoded = decode(encode(original));
  ASSERT_TRUE(decoded.snapshot) << decoded.error;
  // Only the policies of a Service some listener serves travel: the proxy needs no others.
  ASSERT_EQ(decoded.snapshot->authorization.size(), 1u);
  ASSERT_TRUE(decoded.snapshot->authorization.contains("shop/billing"));
  EXPECT_EQ(describe(decoded.snapshot->authorization.at("shop/billing")),
            describe(original.authorization.at("shop/billing")));
  EXPECT_EQ(decoded.snapshot->listeners[0].service, "shop/billing");
  EXPECT_EQ(decoded.snapshot->listeners[1].service, "shop/billing");
  EXPECT_EQ(decoded.snapshot->listeners[2].service, "");
  EXPECT_EQ(decoded.snapshot->listeners[3].service, "shop/open");
  // A second round trip changes nothing.
  DecodeResult again = decode(encode(*decoded.snapshot));
  ASSERT_TRUE(again.snapshot) << again.error;
  EXPECT_EQ(describe(again.snapshot->authorization.at("shop/billing")),
            describe(original.authorization.at("shop/billing")));
}

TEST(AuthzCodec, UsesHttpIsDerivedFromTheRule) {
  config::Snapshot s = meshSnapshot();
  for (AuthzRule& rule : s.authorization["shop/billing"][0].rules) rule.usesHttp = !rule.usesHttp;
  DecodeResult decoded = decode(encode(s));
  ASSERT_TRUE(decoded.snapshot) << decoded.error;
  const auto& rules = decoded.snapshot->authorization.at("shop/billing")[0].rules;
  ASSERT_EQ(rules.size(), 4u);
  EXPECT_TRUE(rules[0].usesHttp);   // methods and paths
  EXPECT_FALSE(rules[1].usesHttp);  // {}
  EXPECT_TRUE(rules[2].usesHttp);   // request.headers[...]
  EXPECT_FALSE(rules[3].usesHttp);  // ports only
}

TEST(AuthzCodec, EncodedForm) {
  AuthzRule rule;
  AuthzSource source;
  source.principals = values({"spiffe://td/ns/shop/sa/checkout"}, {}, {}, true);
  rule.from = {source};
  AuthzOperation operation;
  operation.paths = values({}, {"/pay/"});
  operation.notPorts = {9000};
  rule.to = {operation};
  AuthzCondition port;
  port.key = AuthzCondition::Key::DestinationPort;
  port.ports = {15006};
  rule.when = {condition(AuthzCondition::Key::RequestHeader, {}, values({}, {}, {"-x"}), "x-a"),
               port};
  config::Snapshot s;
  s.listeners.push_back(listener("shop/inbound", 15006, "shop/billing"));
  s.authorization["shop/billing"] = {policy("pay", AuthzAction::Deny, {rule}),
                                     policy("none", AuthzAction::Allow, {})};
  Resources resources = encode(s);
  ASSERT_EQ(resources.listeners.size(), 1u);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(
                  trellisMetadata(resources.listeners[0]).fields().at("authorization"), &json)
                  .ok());
  EXPECT_EQ(nlohmann::json::parse(json), nlohmann::json::parse(R"([
    {"name": "pay", "namespace": "shop", "action": "DENY", "rules": [{
      "from": [{"principals": {"exact": ["spiffe://td/ns/shop/sa/checkout"], "present": true}}],
      "to": [{"paths": {"prefixes": ["/pay/"]}, "notPorts": [9000]}],
      "when": [{"key": "request.headers[x-a]", "notValues": {"suffixes": ["-x"]}},
               {"key": "destination.port", "ports": [15006]}]}]},
    {"name": "none", "namespace": "shop", "action": "ALLOW"}])"));
}

TEST(AuthzCodec, NoPolicyNoKey) {
  Resources resources = encode(meshSnapshot());
  EXPECT_FALSE(trellisMetadata(resources.listeners[2]).fields().contains("authorization"));
  EXPECT_FALSE(trellisMetadata(resources.listeners[3]).fields().contains("authorization"));
  EXPECT_TRUE(trellisMetadata(resources.listeners[0]).fields().contains("authorization"));
  EXPECT_TRUE(trellisMetadata(resources.listeners[1]).fields().contains("authorization"));
}

// Loader → model → xDS → model, as static --config files go (xds::loadFileViaXds).
TEST(AuthzCodec, PoliciesFromYamlSurvive) {
  constexpr const char* kYaml = R"(
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: inbound, namespace: shop}
spec: {port: 15006, service: billing}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing, namespace: shop}
spec: {ports: [{port: 80}], endpoints: [{address: 127.0.0.1, port: 9000}]}
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: shop}
spec:
  action: DENY
  rules:
  - from: [{source: {notNamespaces: ["ops"], principals: ["td/ns/shop/*", "*"]}}]
    to: [{operation: {paths: ["/admin", "/admin/*", "*.bak"], notMethods: [GET], ports: ["15006"]}}]
    when:
    - {key: "request.headers[X-Env]", values: ["prod*"]}
    - {key: destination.port, notValues: ["9"]}
---
apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: only-checkout, namespace: shop}
spec:
  targetRefs: [{kind: Service, name: billing}]
  rules: [{from: [{source: {principals: ["spiffe://td/ns/shop/sa/checkout"]}}]}]
)";
  config::LoadResult loaded = config::loadString(kYaml, "authz.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front().toString();
  ASSERT_TRUE(loaded.snapshot->authorization.contains("shop/billing"));
  DecodeResult decoded = decode(encode(*loaded.snapshot));
  ASSERT_TRUE(decoded.snapshot) << decoded.error;
  ASSERT_TRUE(decoded.snapshot->authorization.contains("shop/billing"));
  EXPECT_EQ(describe(decoded.snapshot->authorization.at("shop/billing")),
            describe(loaded.snapshot->authorization.at("shop/billing")));
  EXPECT_EQ(decoded.snapshot->authorization.at("shop/billing").size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Decode errors: one listener serving shop/billing, whose "authorization" each case replaces.

constexpr const char* kPath =
    R"(Listener "shop/inbound": metadata.filter_metadata["trellis.dev"].)";

class AuthzDecodeErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    config::Snapshot s;
    s.listeners.push_back(listener("shop/inbound", 15006, "shop/billing"));
    s.authorization["shop/billing"] = everyField();
    resources_ = encode(s);
    ASSERT_TRUE(decode(resources_).snapshot) << decode(resources_).error;
  }

  google::protobuf::Struct& metadata() {
    return (*resources_.listeners[0].mutable_metadata()->mutable_filter_metadata())["trellis.dev"];
  }

  // The decode error with "authorization" set to `json`.
  std::string errorWith(const std::string& json) {
    google::protobuf::Value value;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &value).ok()) << json;
    (*metadata().mutable_fields())["authorization"] = value;
    DecodeResult result = decode(resources_);
    EXPECT_EQ(result.snapshot, nullptr);
    return result.error;
  }

  Resources resources_;
};

// A policy whose rules are `rules` (JSON).
std::string withRules(const std::string& rules) {
  return R"([{"name": "p", "namespace": "shop", "action": "DENY", "rules": )" + rules + "}]";
}

TEST_F(AuthzDecodeErrors, Accepted) {
  // The fixture's own form, and the smallest policies, decode.
  google::protobuf::Value value;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  withRules(R"([{}, {"from": [{}], "to": [{}]}])"), &value)
                  .ok());
  (*metadata().mutable_fields())["authorization"] = value;
  DecodeResult result = decode(resources_);
  ASSERT_TRUE(result.snapshot) << result.error;
  EXPECT_EQ(result.snapshot->authorization.at("shop/billing")[0].rules.size(), 2u);
}

struct ErrorCase {
  std::string json;
  const char* error;  // after kPath
};

TEST_F(AuthzDecodeErrors, EachMalformedFormIsNamed) {
  const ErrorCase cases[] = {
      {R"("x")", "authorization: expected a list"},
      {R"([])", "authorization: must not be empty (omit it)"},
      {R"([1])", "authorization[0]: expected an object"},
      {R"([{"namespace": "shop", "action": "ALLOW"}])", "authorization[0].name: missing"},
      {R"([{"name": 1, "namespace": "shop", "action": "ALLOW"}])",
       "authorization[0].name: expected a string"},
      {R"([{"name": "Bad_Name", "namespace": "shop", "action": "ALLOW"}])",
       "authorization[0].name: "},
      {R"([{"name": "p", "action": "ALLOW"}])", "authorization[0].namespace: missing"},
      {R"([{"name": "p", "namespace": "a.b", "action": "ALLOW"}])", "authorization[0].namespace: "},
      {R"([{"name": "p", "namespace": "shop"}])", "authorization[0].action: missing"},
      {R"([{"name": "p", "namespace": "shop", "action": "CUSTOM"}])",
       "authorization[0].action: unknown action \"CUSTOM\" (expected ALLOW, DENY or AUDIT)"},
      {R"([{"name": "p", "namespace": "shop", "action": "ALLOW", "selector": {}}])",
       "authorization[0]: unknown Trellis setting \"selector\""},
      {R"([{"name": "p", "namespace": "shop", "action": "ALLOW"},
           {"name": "p", "namespace": "shop", "action": "DENY"}])",
       "authorization[1]: duplicate policy \"shop/p\""},
      {R"([{"name": "p", "namespace": "shop", "action": "ALLOW", "rules": {}}])",
       "authorization[0].rules: expected a list"},
      {withRules("[]"), "authorization[0].rules: must not be empty (omit it)"},
      {withRules("[[]]"), "authorization[0].rules[0]: expected an object"},
      {withRules(R"([{"from": []}])"),
       "authorization[0].rules[0].from: must not be empty (omit it)"},
      {withRules(R"([{"from": ["x"]}])"), "authorization[0].rules[0].from[0]: expected an object"},
      {withRules(R"([{"unless": []}])"),
       "authorization[0].rules[0]: unknown Trellis setting \"unless\""},
      {withRules(R"([{"from": [{"ipBlocks": {}}]}])"),
       "authorization[0].rules[0].from[0]: unknown Trellis setting \"ipBlocks\""},
      {withRules(R"([{"from": [{"principals": ["spiffe://td/ns/a/sa/b"]}]}])"),
       "authorization[0].rules[0].from[0].principals: expected an object"},
      {withRules(R"([{"from": [{"principals": {}}]}])"),
       "authorization[0].rules[0].from[0].principals: must set exact, prefixes, suffixes or "
       "present"},
      {withRules(R"([{"from": [{"principals": {"present": false}}]}])"),
       "authorization[0].rules[0].from[0].principals.present: must be true when set"},
      {withRules(R"([{"from": [{"principals": {"present": "yes"}}]}])"),
       "authorization[0].rules[0].from[0].principals.present: expected a boolean"},
      {withRules(R"([{"from": [{"principals": {"exact": []}}]}])"),
       "authorization[0].rules[0].from[0].principals.exact: must not be empty (omit it)"},
      {withRules(R"([{"from": [{"principals": {"exact": [7]}}]}])"),
       "authorization[0].rules[0].from[0].principals.exact[0]: expected a string"},
      {withRules(R"([{"from": [{"principals": {"exact": [""]}}]}])"),
       "authorization[0].rules[0].from[0].principals.exact[0]: must not be empty"},
      {withRules(R"([{"from": [{"principals": {"regex": ["x"]}}]}])"),
       "authorization[0].rules[0].from[0].principals: unknown Trellis setting \"regex\""},
      {withRules(R"([{"from": [{"notPrincipals": {"exact": ["td/ns/a/sa/b"]}}]}])"),
       "authorization[0].rules[0].from[0].notPrincipals.exact[0]: \"td/ns/a/sa/b\" does not "
       "start with \"spiffe://\" (principals are SPIFFE IDs)"},
      {withRules(R"([{"from": [{"principals": {"prefixes": ["td/"]}}]}])"),
       "authorization[0].rules[0].from[0].principals.prefixes[0]: \"td/\" does not start with "
       "\"spiffe://\" (principals are SPIFFE IDs)"},
      {withRules(R"([{"from": [{"namespaces": {"exact": ["Shop"]}}]}])"),
       "authorization[0].rules[0].from[0].namespaces.exact[0]: "},
      {withRules(R"([{"from": [{"notNamespaces": {"suffixes": ["a\nb"]}}]}])"),
       "authorization[0].rules[0].from[0].notNamespaces.suffixes[0]: must not contain control "
       "characters"},
      {withRules(R"([{"to": [{"methods": {"exact": ["GE T"]}}]}])"),
       "authorization[0].rules[0].to[0].methods.exact[0]: invalid method \"GE T\""},
      {withRules(R"([{"to": [{"notMethods": {"prefixes": ["G:"]}}]}])"),
       "authorization[0].rules[0].to[0].notMethods.prefixes[0]: invalid method \"G:\""},
      {withRules(R"([{"to": [{"paths": {"exact": ["admin"]}}]}])"),
       "authorization[0].rules[0].to[0].paths.exact[0]: \"admin\" does not start with '/'"},
      {withRules(R"([{"to": [{"notPaths": {"suffixes": ["?x"]}}]}])"),
       "authorization[0].rules[0].to[0].notPaths.suffixes[0]: must not contain '?' (paths are "
       "matched without the query string)"},
      {withRules(R"([{"to": [{"ports": "80"}]}])"),
       "authorization[0].rules[0].to[0].ports: expected a list"},
      {withRules(R"([{"to": [{"ports": []}]}])"),
       "authorization[0].rules[0].to[0].ports: must not be empty (omit it)"},
      {withRules(R"([{"to": [{"ports": ["80"]}]}])"),
       "authorization[0].rules[0].to[0].ports[0]: expected a port number from 1 to 65535"},
      {withRules(R"([{"to": [{"ports": [0]}]}])"),
       "authorization[0].rules[0].to[0].ports[0]: expected a port number from 1 to 65535"},
      {withRules(R"([{"to": [{"notPorts": [80, 65536]}]}])"),
       "authorization[0].rules[0].to[0].notPorts[1]: expected a port number from 1 to 65535"},
      {withRules(R"([{"to": [{"ports": [80.5]}]}])"),
       "authorization[0].rules[0].to[0].ports[0]: expected a port number from 1 to 65535"},
      {withRules(R"([{"to": [{"hosts": {}}]}])"),
       "authorization[0].rules[0].to[0]: unknown Trellis setting \"hosts\""},
      {withRules(R"([{"when": [{"values": {"present": true}}]}])"),
       "authorization[0].rules[0].when[0].key: missing"},
      {withRules(R"([{"when": [{"key": "request.auth.claims[iss]", "values": {}}]}])"),
       "authorization[0].rules[0].when[0].key: unsupported condition key "
       "\"request.auth.claims[iss]\" (expected request.headers[<name>], source.principal, "
       "source.namespace or destination.port)"},
      {withRules(R"([{"when": [{"key": "request.headers[X-A]", "values": {"present": true}}]}])"),
       "authorization[0].rules[0].when[0].key: header name \"X-A\" must be lower case"},
      {withRules(R"([{"when": [{"key": "request.headers[a b]", "values": {"present": true}}]}])"),
       "authorization[0].rules[0].when[0].key: header name \"a b\" "},
      {withRules(R"([{"when": [{"key": "source.principal"}]}])"),
       "authorization[0].rules[0].when[0]: must set values, notValues or both"},
      {withRules(R"([{"when": [{"key": "destination.port"}]}])"),
       "authorization[0].rules[0].when[0]: must set ports, notPorts or both"},
      {withRules(R"([{"when": [{"key": "destination.port", "values": {"exact": ["80"]}}]}])"),
       "authorization[0].rules[0].when[0].values: destination.port takes ports and notPorts"},
      {withRules(R"([{"when": [{"key": "source.namespace", "ports": [80]}]}])"),
       "authorization[0].rules[0].when[0].ports: only destination.port takes ports"},
      {withRules(R"([{"when": [{"key": "destination.port", "notPorts": [-1]}]}])"),
       "authorization[0].rules[0].when[0].notPorts[0]: expected a port number from 1 to 65535"},
      {withRules(R"([{"when": [{"key": "source.principal", "values": {"exact": ["x"]}}]}])"),
       "authorization[0].rules[0].when[0].values.exact[0]: \"x\" does not start with "
       "\"spiffe://\" (principals are SPIFFE IDs)"},
      {withRules(R"([{"when": [{"key": "source.namespace", "notValues": {"exact": ["A"]}}]}])"),
       "authorization[0].rules[0].when[0].notValues.exact[0]: "},
      {withRules(R"([{"when": [{"key": "request.headers[x]", "values": {"exact": ["\u0000"]}}]}])"),
       "authorization[0].rules[0].when[0].values.exact[0]: must not contain control characters"},
  };
  for (const ErrorCase& c : cases) {
    std::string error = errorWith(c.json);
    std::string expected = std::string(kPath) + c.error;
    // A few messages end with a syntax checker's own wording: their prefix is compared.
    if (expected.ends_with(": ") || expected.ends_with("\" ")) {
      EXPECT_TRUE(error.starts_with(expected) && error.size() > expected.size())
          << c.json << "\n  got:      " << error << "\n  expected: " << expected << "...";
    } else {
      EXPECT_EQ(error, expected) << c.json;
    }
  }
}

TEST_F(AuthzDecodeErrors, PoliciesNeedAService) {
  metadata().mutable_fields()->erase("service");
  DecodeResult result = decode(resources_);
  EXPECT_EQ(result.snapshot, nullptr);
  EXPECT_EQ(
      result.error,
      std::string(kPath) + "authorization: needs service (the Service whose policies these are)");
}

TEST_F(AuthzDecodeErrors, ListenersOfOneServiceMustAgree) {
  config::Snapshot s;
  s.listeners.push_back(listener("shop/inbound", 15006, "shop/billing"));
  s.listeners.push_back(listener("shop/db", 5432, "shop/billing", config::ListenerProtocol::Tcp));
  s.authorization["shop/billing"] = everyField();
  resources_ = encode(s);
  ASSERT_TRUE(decode(resources_).snapshot);
  // The second listener carries one policy fewer.
  auto* list =
      (*resources_.listeners[1].mutable_metadata()->mutable_filter_metadata())["trellis.dev"]
          .mutable_fields()
          ->at("authorization")
          .mutable_list_value();
  list->mutable_values()->RemoveLast();
  DecodeResult result = decode(resources_);
  EXPECT_EQ(result.snapshot, nullptr);
  EXPECT_EQ(result.error,
            "Listener \"shop/db\": metadata.filter_metadata[\"trellis.dev\"].authorization: the "
            "policies of Service \"shop/billing\" differ from those on Listener \"shop/inbound\"");
  // None at all on the second listener differs too.
  (*resources_.listeners[1].mutable_metadata()->mutable_filter_metadata())["trellis.dev"]
      .mutable_fields()
      ->erase("authorization");
  EXPECT_EQ(decode(resources_).snapshot, nullptr);
}

}  // namespace
}  // namespace trellis::xds
