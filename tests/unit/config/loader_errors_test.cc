// Each validation problem is reported with file:line:column, resource, field path and message;
// all problems are collected; no snapshot is produced.

#include <gtest/gtest.h>

#include "config/loader.h"
#include "test_util.h"

namespace trellis::config {
namespace {

using testing::at;
using testing::describe;
using testing::expectSingleError;
using testing::load;

// A listener and a service that routes in the tests below can use. 10 lines.
constexpr std::string_view kBase = R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: svc}
spec: {ports: [{port: 80}, {port: 81}]}
---
)";

std::string withBase(std::string_view yaml) {
  return std::string(kBase) + std::string(yaml);
}

// A route header (lines 11-15 after kBase) followed by `rules`.
std::string route(std::string_view rules) {
  return withBase(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
)") + std::string(rules);
}

constexpr const char* kShop = "HTTPRoute default/shop";

TEST(LoaderErrorsTest, YamlSyntaxErrorHasPosition) {
  expectSingleError("apiVersion: trellis.dev/v1alpha1\nkind: [Listener\n",
                    at(3, 1, "", "", "invalid YAML: end of sequence flow not found"));
  expectSingleError("a: b: c\n", at(1, 5, "", "", "invalid YAML: illegal map value"));
  expectSingleError("a: &x 1\nb: *y\n",
                    at(2, 4, "", "", "invalid YAML: the referenced anchor is not defined"));
}

// Found by fuzz_config_loader: yaml-cpp 0.7's LoadAll never returns (allocating documents until
// the process dies) on a flow indicator outside a flow collection.
TEST(LoaderErrorsTest, RegressionStrayCommaDoesNotHangYamlCpp) {
  expectSingleError(",",
                    at(1, 1, "", "", "invalid YAML: unexpected \",\" outside a flow collection"));
  expectSingleError("a: 1\n---\n,\n",
                    at(3, 1, "", "", "invalid YAML: unexpected \",\" outside a flow collection"));
  expectSingleError("a\n...\n,",
                    at(3, 1, "", "", "invalid YAML: unexpected \",\" outside a flow collection"));
}

TEST(LoaderErrorsTest, UnknownFieldSuggestsTheIntendedOne) {
  expectSingleError(route(R"(  rules:
  - backendRefs:
    - name: svc
      port: 80
      weigth: 3
)"),
                    at(20, 7, kShop, "spec.rules[0].backendRefs[0].weigth",
                       "unknown field \"weigth\" (did you mean \"weight\"?)"));
  expectSingleError(route("  hostname: [a.example.com]\n"),
                    at(16, 3, kShop, "spec.hostname",
                       "unknown field \"hostname\" (did you mean \"hostnames\"?)"));
  expectSingleError(route("  zzz: 1\n"), at(16, 3, kShop, "spec.zzz", "unknown field \"zzz\""));
}

TEST(LoaderErrorsTest, WrongTypes) {
  expectSingleError(withBase(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: other}
spec: {port: "8080"}
)"),
                    at(14, 14, "Listener default/other", "spec.port",
                       "expected an integer, got the string \"8080\""));
  expectSingleError(
      withBase(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: other}
spec: {port: 8080.5}
)"),
      at(14, 14, "Listener default/other", "spec.port", "expected an integer, got \"8080.5\""));
  expectSingleError(route("  hostnames: a.example.com\n"),
                    at(16, 14, kShop, "spec.hostnames", "expected a list, got a scalar"));
  expectSingleError(
      route("  rules: [{matches: [{path: /x}]}]\n"),
      at(16, 29, kShop, "spec.rules[0].matches[0].path", "expected a map, got a scalar"));
  expectSingleError(
      route("  rules: [{matches: [{method: [GET]}]}]\n"),
      at(16, 31, kShop, "spec.rules[0].matches[0].method", "expected a string, got a list"));
  expectSingleError(withBase(R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: hashed}
spec:
  ports: [{port: 80}]
  loadBalancer: {policy: RingHash, hashOn: {sourceIP: "true"}}
)"),
                    at(16, 55, "Service default/hashed", "spec.loadBalancer.hashOn.sourceIP",
                       "expected true or false, got \"true\""));
}

TEST(LoaderErrorsTest, MissingRequiredFields) {
  expectSingleError(withBase(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: other}
spec: {address: 127.0.0.1}
)"),
                    at(14, 7, "Listener default/other", "spec.port", "missing required field"));
  expectSingleError(
      withBase(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {namespace: x}
spec: {port: 81}
)"),
      at(13, 11, "Listener in document 3", "metadata.name", "missing required field"));
  expectSingleError(withBase(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: other}
)"),
                    at(11, 1, "Listener default/other", "spec", "missing required field"));
  expectSingleError(withBase("kind: Listener\nmetadata: {name: x}\nspec: {port: 81}\n"),
                    at(11, 1, "Listener default/x", "apiVersion", "missing required field"));
  expectSingleError(
      route("  rules: [{matches: [{headers: [{name: x-a}]}]}]\n"),
      at(16, 33, kShop, "spec.rules[0].matches[0].headers[0].value", "missing required field"));
}

TEST(LoaderErrorsTest, UnknownApiVersionAndKind) {
  expectSingleError("apiVersion: trellis.dev/v1\nkind: Listener\n",
                    at(1, 13, "Listener in document 1", "apiVersion",
                       "unknown value \"trellis.dev/v1\" (expected gateway.networking.k8s.io/v1 or "
                       "trellis.dev/v1alpha1)"));
  expectSingleError("apiVersion: trellis.dev/v1alpha1\nkind: Listner\n",
                    at(2, 7, "Listner in document 1", "kind",
                       "unknown kind \"Listner\" for apiVersion trellis.dev/v1alpha1 (expected "
                       "Listener or Service or Workload or BackendPolicy or RoutePolicy or "
                       "AuthorizationPolicy or PeerAuthentication)"));
  expectSingleError("apiVersion: trellis.dev/v1alpha1\nkind: HTTPRoute\n",
                    at(2, 7, "HTTPRoute in document 1", "kind",
                       "kind HTTPRoute belongs to apiVersion gateway.networking.k8s.io/v1, not "
                       "trellis.dev/v1alpha1"));
  expectSingleError("- a\n- b\n", at(1, 1, "document 1", "", "expected a map, got a list"));
  expectSingleError("just text\n", at(1, 1, "document 1", "", "expected a map, got a scalar"));
  expectSingleError(withBase("apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: "
                             "x}\nspec: {ports: [{port: 1}]}\nextra: 1\n"),
                    at(15, 1, "Service default/x", "extra", "unknown field \"extra\""));
}

TEST(LoaderErrorsTest, PathMatchValidation) {
  expectSingleError(route("  rules: [{matches: [{path: {type: Exact, value: foo}}]}]\n"),
                    at(16, 50, kShop, "spec.rules[0].matches[0].path.value",
                       "must be an absolute path starting with '/'"));
  expectSingleError(
      route("  rules: [{matches: [{path: {value: /a//b}}]}]\n"),
      at(16, 37, kShop, "spec.rules[0].matches[0].path.value", "must not contain '//'"));
  expectSingleError(
      route("  rules: [{matches: [{path: {type: Regex, value: /a}}]}]\n"),
      at(16, 36, kShop, "spec.rules[0].matches[0].path.type",
         "unknown value \"Regex\" (expected Exact, PathPrefix or RegularExpression)"));
  expectSingleError(
      route("  rules: [{matches: [{path: {type: RegularExpression, value: \"/a(\"}}]}]\n"),
      at(16, 62, kShop, "spec.rules[0].matches[0].path.value",
         "invalid regular expression: missing ): /a("));
}

TEST(LoaderErrorsTest, HeaderAndQueryMatchValidation) {
  expectSingleError(route("  rules: [{matches: [{headers: [{name: \"bad name\", value: x}]}]}]\n"),
                    at(16, 40, kShop, "spec.rules[0].matches[0].headers[0].name",
                       "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"));
  expectSingleError(
      route("  rules: [{matches: [{headers: [{name: X-A, value: a}, {name: x-a, value: b}]}]}]\n"),
      at(16, 63, kShop, "spec.rules[0].matches[0].headers[1].name",
         "duplicate header name \"x-a\""));
  expectSingleError(route("  rules: [{matches: [{headers: [{type: RegularExpression, name: x, "
                          "value: \"[\"}]}]}]\n"),
                    at(16, 75, kShop, "spec.rules[0].matches[0].headers[0].value",
                       "invalid regular expression: missing ]: ["));
  expectSingleError(
      route("  rules: [{matches: [{queryParams: [{name: q, value: \"\"}]}]}]\n"),
      at(16, 54, kShop, "spec.rules[0].matches[0].queryParams[0].value", "must not be empty"));
  expectSingleError(route("  rules: [{matches: [{method: get}]}]\n"),
                    at(16, 31, kShop, "spec.rules[0].matches[0].method",
                       "unknown value \"get\" (expected GET, HEAD, POST, PUT, DELETE, CONNECT, "
                       "OPTIONS, TRACE or PATCH)"));
}

TEST(LoaderErrorsTest, HostnameValidation) {
  expectSingleError(route("  hostnames: [Shop.example.com]\n"),
                    at(16, 15, kShop, "spec.hostnames[0]", "must be lower case"));
  expectSingleError(route("  hostnames: [\"a.*.example.com\"]\n"),
                    at(16, 15, kShop, "spec.hostnames[0]",
                       "a wildcard '*' is allowed only as the whole first label (\"*.\")"));
  expectSingleError(
      route("  hostnames: [10.0.0.1]\n"),
      at(16, 15, kShop, "spec.hostnames[0]", "must be a host name, not an IP address"));
}

TEST(LoaderErrorsTest, FilterCombinations) {
  expectSingleError(route(R"(  rules:
  - matches: [{path: {type: Exact, value: /a}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}
    backendRefs: [{name: svc, port: 80}]
)"),
                    at(20, 26, kShop, "spec.rules[0].filters[0].urlRewrite.path",
                       "ReplacePrefixMatch requires the rule to have exactly one match, with a "
                       "PathPrefix path"));
  expectSingleError(route(R"(  rules:
  - matches: [{path: {value: /a}}, {path: {value: /b}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}
)"),
                    at(20, 31, kShop, "spec.rules[0].filters[0].requestRedirect.path",
                       "ReplacePrefixMatch requires the rule to have exactly one match, with a "
                       "PathPrefix path"));
  expectSingleError(route(R"(  rules:
  - filters:
    - type: URLRewrite
      urlRewrite: {hostname: a.example.com}
    - type: RequestRedirect
      requestRedirect: {scheme: https}
)"),
                    at(20, 13, kShop, "spec.rules[0].filters[1].type",
                       "RequestRedirect and URLRewrite cannot be used in the same rule"));
  expectSingleError(route(R"(  rules:
  - filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https}
    backendRefs: [{name: svc, port: 80}]
)"),
                    at(20, 18, kShop, "spec.rules[0].backendRefs",
                       "a rule with a RequestRedirect filter must not have backendRefs"));
  expectSingleError(route(R"(  rules:
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {remove: [x-a]}
    - type: RequestHeaderModifier
      requestHeaderModifier: {remove: [x-b]}
    backendRefs: [{name: svc, port: 80}]
)"),
                    at(20, 13, kShop, "spec.rules[0].filters[1].type",
                       "filter RequestHeaderModifier cannot be repeated in a rule"));
}

TEST(LoaderErrorsTest, FilterFields) {
  expectSingleError(route("  rules: [{filters: [{type: CORS, cors: {}}]}]\n"),
                    at(16, 29, kShop, "spec.rules[0].filters[0].type",
                       "filter type CORS is not supported by trellis-proxy"));
  expectSingleError(route("  rules: [{filters: [{type: Rewrite}]}]\n"),
                    at(16, 29, kShop, "spec.rules[0].filters[0].type",
                       "unknown value \"Rewrite\" (expected RequestHeaderModifier, "
                       "ResponseHeaderModifier, RequestMirror, RequestRedirect, URLRewrite, "
                       "ExtensionRef, CORS or ExternalAuth)"));
  expectSingleError(
      route("  rules: [{filters: [{type: RequestRedirect}]}]\n"),
      at(16, 22, kShop, "spec.rules[0].filters[0].requestRedirect", "missing required field"));
  expectSingleError(
      route(
          "  rules: [{filters: [{type: RequestRedirect, requestRedirect: {}, urlRewrite: {}}]}]\n"),
      at(16, 79, kShop, "spec.rules[0].filters[0].urlRewrite",
         "must not be set when type is RequestRedirect"));
  expectSingleError(route(R"(  rules:
  - filters:
    - type: RequestRedirect
      requestRedirect: {statusCode: 304}
)"),
                    at(19, 37, kShop, "spec.rules[0].filters[0].requestRedirect.statusCode",
                       "unknown value 304 (expected 301, 302, 303, 307 or 308)"));
  LoadResult both = load(route(R"(  rules:
  - filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplaceFullPath, replacePrefixMatch: /x}}
)"));
  ASSERT_EQ(both.errors.size(), 2u) << describe(both);
  EXPECT_EQ(both.errors[0].toString(),
            "test.yaml:19:31: HTTPRoute default/shop: "
            "spec.rules[0].filters[0].requestRedirect.path.replaceFullPath: missing required field "
            "(type is ReplaceFullPath)");
  EXPECT_EQ(
      both.errors[1].toString(),
      "test.yaml:19:75: HTTPRoute default/shop: "
      "spec.rules[0].filters[0].requestRedirect.path.replacePrefixMatch: must not be set when "
      "type is ReplaceFullPath");
  expectSingleError(route(R"(  rules:
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-a, value: "1\r\nx-b: 2"}]}
    backendRefs: [{name: svc, port: 80}]
)"),
                    at(19, 56, kShop, "spec.rules[0].filters[0].requestHeaderModifier.set[0].value",
                       "must not contain control characters (CR, LF, NUL, ...)"));
  expectSingleError(route(R"(  rules:
  - filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-a, value: "1"}], remove: [X-A]}
    backendRefs: [{name: svc, port: 80}]
)"),
                    at(19, 73, kShop, "spec.rules[0].filters[0].responseHeaderModifier.remove[0]",
                       "header \"x-a\" already has an action in this filter"));
}

TEST(LoaderErrorsTest, PathModifierWithoutItsValue) {
  // Reported where the value was expected (the path modifier map).
  expectSingleError(route(R"(  rules:
  - filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplaceFullPath}}
    backendRefs: [{name: svc, port: 80}]
)"),
                    at(19, 26, kShop, "spec.rules[0].filters[0].urlRewrite.path.replaceFullPath",
                       "missing required field (type is ReplaceFullPath)"));
}

TEST(LoaderErrorsTest, BackendRefPorts) {
  expectSingleError(route("  rules: [{backendRefs: [{name: svc, port: 8080}]}]\n"),
                    at(16, 44, kShop, "spec.rules[0].backendRefs[0].port",
                       "Service default/svc has no port 8080 (ports: 80, 81)"));
  expectSingleError(route("  rules: [{backendRefs: [{name: svc}]}]\n"),
                    at(16, 26, kShop, "spec.rules[0].backendRefs[0].port",
                       "missing required field (Service default/svc has 2 ports: 80, 81)"));
  expectSingleError(route("  rules: [{backendRefs: [{name: svc, port: 80, weight: 1000001}]}]\n"),
                    at(16, 56, kShop, "spec.rules[0].backendRefs[0].weight",
                       "must be between 0 and 1000000, got 1000001"));
  expectSingleError(
      route("  rules: [{backendRefs: [{name: svc, port: 80, filters: [{type: URLRewrite}]}]}]\n"),
      at(16, 57, kShop, "spec.rules[0].backendRefs[0].filters",
         "per-backend filters are not supported; use the rule's filters"));
}

TEST(LoaderErrorsTest, RouteLimitsAndTimeouts) {
  std::string many = "  hostnames: [";
  for (int i = 0; i < 17; ++i) many += (i ? ", h" : "h") + std::to_string(i) + ".example.com";
  expectSingleError(route(many + "]\n"),
                    at(16, 14, kShop, "spec.hostnames", "must have at most 16 items, got 17"));
  expectSingleError(route("  rules: []\n"),
                    at(16, 10, kShop, "spec.rules",
                       "must have at least one rule (omit rules for the default rule)"));
  expectSingleError(
      route("  rules: [{backendRefs: [{name: svc, port: 80}], timeouts: {request: 1s, "
            "backendRequest: 2s}}]\n"),
      at(16, 90, kShop, "spec.rules[0].timeouts.backendRequest",
         "backendRequest timeout cannot be longer than request timeout"));
  expectSingleError(
      route("  rules: [{backendRefs: [{name: svc, port: 80}], timeouts: {request: 10}}]\n"),
      at(16, 70, kShop, "spec.rules[0].timeouts.request",
         "invalid duration \"10\" (expected e.g. \"10s\", \"250ms\", \"1h30m\")"));
  expectSingleError(
      route("  rules: [{name: a, backendRefs: [{name: svc, port: 80}]}, {name: a}]\n"),
      at(16, 67, kShop, "spec.rules[1].name", "rule name \"a\" must be unique within the route"));
  expectSingleError(route("  rules: [{sessionPersistence: {type: Cookie}}]\n"),
                    at(16, 32, kShop, "spec.rules[0].sessionPersistence",
                       "is not supported by trellis-proxy yet"));
  // 9 rules of 15 matches = 135 > 128.
  std::string rules = "  rules:\n";
  for (int r = 0; r < 9; ++r) {
    rules += "  - matches: [";
    for (int m = 0; m < 15; ++m)
      rules += (m ? ", {path: {value: /m" : "{path: {value: /m") + std::to_string(m) + "}}";
    rules += "]\n    backendRefs: [{name: svc, port: 80}]\n";
  }
  expectSingleError(route(rules), at(17, 3, kShop, "spec.rules",
                                     "a route may have at most 128 matches across all rules, got "
                                     "135"));
}

TEST(LoaderErrorsTest, ParentRefs) {
  expectSingleError(withBase(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop}
spec:
  parentRefs:
  - {group: trellis.dev, kind: Listener, name: web}
  - {group: trellis.dev, kind: Listener, name: web}
)"),
                    at(17, 5, kShop, "spec.parentRefs[1]",
                       "duplicate parentRef (same group, kind, namespace, name and sectionName)"));
  expectSingleError(
      withBase(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web, port: 0}]
)"),
      at(15, 70, kShop, "spec.parentRefs[0].port", "must be between 1 and 65535, got 0"));
}

TEST(LoaderErrorsTest, MetadataValidation) {
  expectSingleError(withBase("apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: "
                             "My_Svc}\nspec: {ports: [{port: 1}]}\n"),
                    at(13, 18, "Service default/My_Svc", "metadata.name", "must be lower case"));
  expectSingleError(withBase("apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: "
                             "a.b}\nspec: {ports: [{port: 1}]}\n"),
                    at(13, 18, "Service default/a.b", "metadata.name", "must not contain '.'"));
  expectSingleError(route("").replace(route("").find("{name: shop}"), 12,
                                      "{name: shop, creationTimestamp: yesterday}"),
                    at(13, 43, kShop, "metadata.creationTimestamp",
                       "invalid RFC 3339 timestamp \"yesterday\" (expected e.g. "
                       "\"2024-05-01T10:00:00Z\")"));
  expectSingleError(
      withBase("apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: "
               "s, labels: [a]}\nspec: {ports: [{port: 1}]}\n"),
      at(13, 29, "Service default/s", "metadata.labels", "expected a map of strings"));
}

TEST(LoaderErrorsTest, DuplicateResourcesAndAddresses) {
  expectSingleError(withBase("apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: "
                             "svc}\nspec: {ports: [{port: 1}]}\n"),
                    at(13, 18, "Service default/svc", "metadata.name",
                       "duplicate Service default/svc (first defined at line 6)"));
  // Same name in another namespace is a different resource; same address:port is not allowed.
  expectSingleError(withBase("apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: "
                             "web, namespace: other}\nspec: {port: 80, address: 0.0.0.0}\n"),
                    at(11, 1, "Listener other/web", "",
                       "address 0.0.0.0:80 is already used by Listener default/web (line 1)"));
  // IPv6 literals are compared in canonical form.
  expectSingleError(
      "apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: a}\n"
      "spec: {port: 80, address: \"::0\"}\n---\n"
      "apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: b}\n"
      "spec: {port: 80, address: \"0::0\"}\n",
      at(6, 1, "Listener default/b", "",
         "address :::80 is already used by Listener default/a (line 1)"));
}

TEST(LoaderErrorsTest, ListenerValidation) {
  expectSingleError(
      "apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: a}\n"
      "spec: {port: 80, address: localhost}\n",
      at(4, 27, "Listener default/a", "spec.address",
         "\"localhost\" is not an IPv4 or IPv6 address"));
  expectSingleError(
      "apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: a}\n"
      "spec: {port: 80, protocol: TCP}\n",
      at(4, 7, "Listener default/a", "spec.tcp",
         "missing required field (protocol TCP needs tcp.backendRef)"));
  expectSingleError(
      "apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: a}\n"
      "spec: {port: 80, protocol: TCP, tcp: {backendRef: {name: s}}, http: {}}\n",
      at(4, 69, "Listener default/a", "spec.http",
         "is only valid with protocol HTTP, HTTP2 or AUTO"));
  expectSingleError(
      "apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: a}\n"
      "spec: {port: 80, protocol: UDP}\n",
      at(4, 28, "Listener default/a", "spec.protocol",
         "unknown value \"UDP\" (expected HTTP, HTTP2, TCP or AUTO)"));
  expectSingleError(
      "apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: a}\n"
      "spec: {port: 80, http: {bufferBytes: 1024}}\n",
      at(4, 38, "Listener default/a", "spec.http.bufferBytes",
         "must be between 4096 and 67108864, got 1024"));
}

TEST(LoaderErrorsTest, ServiceValidation) {
  auto service = [](std::string_view spec) {
    return "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: s}\nspec:\n" +
           std::string(spec);
  };
  constexpr const char* kS = "Service default/s";
  expectSingleError(service("  ports: [{port: 80}, {port: 80}]\n"),
                    at(5, 30, kS, "spec.ports[1].port", "duplicate port 80"));
  expectSingleError(
      service("  ports: [{port: 80}]\n  endpoints: [{address: 10.0.0.300}]\n"),
      at(6, 25, kS, "spec.endpoints[0].address", "\"10.0.0.300\" is not an IPv4 or IPv6 address"));
  expectSingleError(
      service("  ports: [{port: 80}]\n  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.1}]\n"),
      at(6, 36, kS, "spec.endpoints[1]", "duplicate endpoint 10.0.0.1"));
  expectSingleError(service("  ports: [{port: 80}]\n  loadBalancer: {policy: RingHash}\n"),
                    at(6, 17, kS, "spec.loadBalancer.hashOn",
                       "missing required field (policy RingHash and Maglev hash on a header, a "
                       "cookie or the source IP)"));
  expectSingleError(
      service("  ports: [{port: 80}]\n  loadBalancer: {policy: Maglev, hashOn: {sourceIP: true}, "
              "maglevTableSize: 65536}\n"),
      at(6, 77, kS, "spec.loadBalancer.maglevTableSize",
         "must be a prime number (e.g. 65537), got 65536"));
  expectSingleError(
      service("  ports: [{port: 80}]\n  loadBalancer: {hashOn: {header: x}}\n"),
      at(6, 26, kS, "spec.loadBalancer.hashOn", "is only valid with policy RingHash or Maglev"));
  expectSingleError(
      service("  ports: [{port: 80}]\n  loadBalancer: {policy: RingHash, hashOn: {header: x, "
              "cookie: y}}\n"),
      at(6, 44, kS, "spec.loadBalancer.hashOn",
         "must set exactly one of header, cookie or sourceIP"));
  expectSingleError(service("  ports: [{port: 80}]\n  connectionPool: {connectTimeout: 0s}\n"),
                    at(6, 36, kS, "spec.connectionPool.connectTimeout", "must be at least 1ms"));
  expectSingleError(service("  ports: [{port: 80, name: HTTP}]\n"),
                    at(5, 28, kS, "spec.ports[0].name", "must be lower case"));
  // yaml-cpp marks a null list item at the token after it.
  expectSingleError(service("  ports:\n  -\n"),
                    at(7, 1, kS, "spec.ports[0]", "expected a value, got null"));
}

TEST(LoaderErrorsTest, DuplicateYamlKey) {
  expectSingleError(
      "apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: a}\n"
      "spec:\n  port: 80\n  port: 81\n",
      at(6, 3, "Listener default/a", "spec.port", "duplicate field \"port\""));
}

TEST(LoaderErrorsTest, AllErrorsAreCollectedInPositionOrder) {
  LoadResult result = load(route(R"(  hostnames: [UPPER.example.com]
  rules:
  - matches: [{path: {type: Exact, value: nope}}]
    backendRefs: [{name: svc, port: 99}, {name: missing, port: 1, weigth: 1}]
)") + R"(---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: broken}
spec: {port: 70000, protocol: tcp}
)");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.snapshot, nullptr);
  std::vector<std::string> rendered;
  for (const LoadError& error : result.errors) rendered.push_back(error.toString());
  std::vector<std::string> expected = {
      "test.yaml:16:15: HTTPRoute default/shop: spec.hostnames[0]: must be lower case",
      "test.yaml:18:43: HTTPRoute default/shop: spec.rules[0].matches[0].path.value: must be an "
      "absolute path starting with '/'",
      "test.yaml:19:37: HTTPRoute default/shop: spec.rules[0].backendRefs[0].port: Service "
      "default/svc has no port 99 (ports: 80, 81)",
      "test.yaml:19:67: HTTPRoute default/shop: spec.rules[0].backendRefs[1].weigth: unknown "
      "field \"weigth\" (did you mean \"weight\"?)",
      "test.yaml:24:14: Listener default/broken: spec.port: must be between 1 and 65535, got "
      "70000",
      "test.yaml:24:31: Listener default/broken: spec.protocol: unknown value \"tcp\" (expected "
      "HTTP, HTTP2, TCP or AUTO)",
  };
  EXPECT_EQ(rendered, expected) << describe(result);
  // The missing service is still reported, as a warning.
  ASSERT_EQ(result.warnings.size(), 1u) << describe(result);
  EXPECT_EQ(result.warnings[0].message,
            "Service default/missing not found; requests sent to this backend will get 500");
}

TEST(LoaderErrorsTest, ErrorCountIsBounded) {
  std::string yaml =
      "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: s}\nspec:\n"
      "  ports:\n";
  for (int i = 0; i < 64; ++i) yaml += "  - {port: 0, name: X, targetPort: -1, bogus: 1}\n";
  LoadResult result = load(yaml);
  ASSERT_EQ(result.errors.size(), 201u);
  EXPECT_EQ(result.errors.back().message, "too many errors; only the first 200 are shown");
}

TEST(LoaderErrorsTest, LoadFileReportsUnreadableFile) {
  LoadResult result = loadFile("/nonexistent/trellis.yaml");
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].toString(),
            "/nonexistent/trellis.yaml: cannot open file: No such file or directory");
}

TEST(LoaderErrorsTest, OversizedInputIsRejected) {
  std::string yaml(kMaxConfigBytes + 1, '#');
  LoadResult result = load(yaml);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].message.find("the limit is"), std::string::npos);
}

}  // namespace
}  // namespace trellis::config
