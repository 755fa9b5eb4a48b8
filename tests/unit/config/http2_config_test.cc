// The configuration of HTTP/2 (docs/design/http2-plan.md, "Configuration"): Listener
// spec.protocol and spec.detectTimeout, the spec.http.http2 settings, Service port appProtocol,
// and how /config_dump shows them.

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/dump.h"
#include "config/loader.h"
#include "test_util.h"

namespace trellis::config {
namespace {

using testing::at;
using testing::describe;
using testing::expectSingleError;
using testing::load;

constexpr const char* kListenerA = "Listener default/a";
constexpr const char* kServiceS = "Service default/s";

// A Listener "a" whose spec is the single line 4 (`spec: {...}`).
std::string listener(std::string_view specLine) {
  return "apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: a}\n" +
         std::string(specLine) + "\n";
}

// A listener as above plus, from line 6, a Service "s" with one port 80 that tcp.backendRef can
// name.
std::string listenerWithService(std::string_view specLine) {
  return listener(specLine) +
         "---\napiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: s}\n"
         "spec: {ports: [{port: 80}], endpoints: [{address: 10.0.0.1}]}\n";
}

// A Service "s" whose spec starts on line 5 with `ports:` given as `portsLine`.
std::string service(std::string_view portsLine) {
  return "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: s}\nspec:\n" +
         std::string(portsLine) + "\n";
}

// 1-based column at which `needle` starts in `line` (the test fails when it is absent).
int columnOf(std::string_view line, std::string_view needle) {
  size_t index = line.find(needle);
  EXPECT_NE(index, std::string_view::npos) << needle << " not in " << line;
  return static_cast<int>(index) + 1;
}

const Listener& onlyListener(const LoadResult& result) {
  EXPECT_EQ(result.snapshot->listeners.size(), 1u);
  return result.snapshot->listeners.at(0);
}

// ---------------------------------------------------------------------------------------------
// Listener spec.protocol and spec.detectTimeout

TEST(ListenerProtocolTest, DefaultsToHttpWithDefaultHttp2Settings) {
  LoadResult result = load(listener("spec: {port: 80}"));
  ASSERT_TRUE(result.ok()) << describe(result);
  const Listener& web = onlyListener(result);
  EXPECT_EQ(web.protocol, ListenerProtocol::Http);
  EXPECT_TRUE(web.servesHttp());
  EXPECT_FALSE(web.servesTcp());
  const Http2Limits& http2 = web.http.http2;
  EXPECT_EQ(http2.maxConcurrentStreams, 100u);
  EXPECT_EQ(http2.initialStreamWindowSize, 65536u);
  EXPECT_EQ(http2.connectionWindowSize, 1048576u);
  EXPECT_EQ(http2.maxFrameSize, 16384u);
  EXPECT_EQ(http2.maxHeaderListSize, 61440u);
  EXPECT_EQ(http2.maxResetsPerSecond, 200u);
  EXPECT_EQ(http2.windowStallTimeout, Duration(30000));
  // An empty http2 block is the same as none.
  result = load(listener("spec: {port: 80, http: {http2: {}}}"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(onlyListener(result).http.http2.maxConcurrentStreams, 100u);
  EXPECT_EQ(onlyListener(result).http.http2.windowStallTimeout, Duration(30000));
}

TEST(ListenerProtocolTest, EachProtocolLoads) {
  LoadResult result = load(listener("spec: {port: 80, protocol: HTTP}"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(onlyListener(result).protocol, ListenerProtocol::Http);

  result = load(listener("spec: {port: 80, protocol: HTTP2, http: {maxHeaders: 50}}"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(onlyListener(result).protocol, ListenerProtocol::Http2);
  EXPECT_TRUE(onlyListener(result).servesHttp());
  EXPECT_FALSE(onlyListener(result).servesTcp());
  EXPECT_EQ(onlyListener(result).http.maxHeaders, 50u);

  result =
      load(listenerWithService("spec: {port: 80, protocol: TCP, tcp: {backendRef: {name: s}}}"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(onlyListener(result).protocol, ListenerProtocol::Tcp);
  EXPECT_FALSE(onlyListener(result).servesHttp());
  EXPECT_TRUE(onlyListener(result).servesTcp());
  EXPECT_EQ(onlyListener(result).tcpCluster, "default/s:80");
}

TEST(ListenerProtocolTest, AutoServesHttpAndTcp) {
  LoadResult result = load(listenerWithService(
      "spec: {port: 80, protocol: AUTO, tcp: {backendRef: {name: s}, idleTimeout: 5m}, "
      "http: {maxHeaders: 20, http2: {maxConcurrentStreams: 10}}}"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  const Listener& mixed = onlyListener(result);
  EXPECT_EQ(mixed.protocol, ListenerProtocol::Auto);
  EXPECT_TRUE(mixed.servesHttp());
  EXPECT_TRUE(mixed.servesTcp());
  EXPECT_EQ(mixed.detectTimeout, Duration(100));  // the default
  EXPECT_EQ(mixed.tcpCluster, "default/s:80");
  EXPECT_EQ(mixed.tcpIdleTimeout, Duration(300000));
  EXPECT_EQ(mixed.http.maxHeaders, 20u);
  EXPECT_EQ(mixed.http.http2.maxConcurrentStreams, 10u);

  // `http` is optional with AUTO; detectTimeout takes any duration of at least 1ms.
  for (auto [text, expected] : {std::pair{"1ms", Duration(1)}, std::pair{"250ms", Duration(250)},
                                std::pair{"2s", Duration(2000)}}) {
    result = load(listenerWithService("spec: {port: 80, protocol: AUTO, detectTimeout: " +
                                      std::string(text) + ", tcp: {backendRef: {name: s}}}"));
    ASSERT_TRUE(result.ok()) << text << "\n" << describe(result);
    EXPECT_EQ(onlyListener(result).detectTimeout, expected) << text;
  }
}

TEST(ListenerProtocolTest, AutoNeedsTcpBackendRef) {
  expectSingleError(listener("spec: {port: 80, protocol: AUTO}"),
                    at(4, 7, kListenerA, "spec.tcp",
                       "missing required field (protocol AUTO needs tcp.backendRef)"));
  // An http block does not stand in for the TCP fallback.
  expectSingleError(listener("spec: {port: 80, protocol: AUTO, http: {maxHeaders: 10}}"),
                    at(4, 7, kListenerA, "spec.tcp",
                       "missing required field (protocol AUTO needs tcp.backendRef)"));
  expectSingleError(listener("spec: {port: 80, protocol: AUTO, tcp: {idleTimeout: 1s}}"),
                    at(4, 39, kListenerA, "spec.tcp.backendRef", "missing required field"));
}

TEST(ListenerProtocolTest, DetectTimeoutIsOnlyValidWithAuto) {
  expectSingleError(
      listener("spec: {port: 80, detectTimeout: 1s}"),
      at(4, 33, kListenerA, "spec.detectTimeout", "is only valid with protocol AUTO"));
  expectSingleError(
      listener("spec: {port: 80, protocol: HTTP, detectTimeout: 1s}"),
      at(4, 49, kListenerA, "spec.detectTimeout", "is only valid with protocol AUTO"));
  expectSingleError(
      listener("spec: {port: 80, protocol: HTTP2, detectTimeout: 1s}"),
      at(4, 50, kListenerA, "spec.detectTimeout", "is only valid with protocol AUTO"));
  expectSingleError(
      listenerWithService(
          "spec: {port: 80, protocol: TCP, tcp: {backendRef: {name: s}}, detectTimeout: 1s}"),
      at(4, 78, kListenerA, "spec.detectTimeout", "is only valid with protocol AUTO"));
}

TEST(ListenerProtocolTest, DetectTimeoutMustBeAValidDurationOfAtLeastOneMillisecond) {
  const std::string zero =
      "spec: {port: 80, protocol: AUTO, detectTimeout: 0s, tcp: {backendRef: {name: s}}}";
  expectSingleError(listenerWithService(zero),
                    at(4, 49, kListenerA, "spec.detectTimeout", "must be at least 1ms"));
  expectSingleError(
      listenerWithService(
          "spec: {port: 80, protocol: AUTO, detectTimeout: 100, tcp: {backendRef: {name: s}}}"),
      at(4, 49, kListenerA, "spec.detectTimeout",
         "invalid duration \"100\" (expected e.g. \"10s\", \"250ms\", \"1h30m\")"));
}

TEST(ListenerProtocolTest, HttpBlockIsInvalidOnTcp) {
  const std::string spec =
      "spec: {port: 80, protocol: TCP, tcp: {backendRef: {name: s}}, http: {http2: "
      "{maxConcurrentStreams: 10}}}";
  expectSingleError(listenerWithService(spec),
                    at(4, columnOf(spec, "{http2"), kListenerA, "spec.http",
                       "is only valid with protocol HTTP, HTTP2 or AUTO"));
}

TEST(ListenerProtocolTest, TcpBlockIsInvalidOnHttpAndHttp2) {
  for (std::string_view protocol : {"", "protocol: HTTP, ", "protocol: HTTP2, "}) {
    const std::string spec =
        "spec: {port: 80, " + std::string(protocol) + "tcp: {backendRef: {name: s}}}";
    expectSingleError(listenerWithService(spec),
                      at(4, columnOf(spec, "{backendRef"), kListenerA, "spec.tcp",
                         "is only valid with protocol TCP or AUTO"));
  }
}

TEST(ListenerProtocolTest, ProtocolNamesAreUpperCase) {
  expectSingleError(listener("spec: {port: 80, protocol: http2}"),
                    at(4, 28, kListenerA, "spec.protocol",
                       "unknown value \"http2\" (expected HTTP, HTTP2, TCP or AUTO)"));
  expectSingleError(listener("spec: {port: 80, protocol: H2C}"),
                    at(4, 28, kListenerA, "spec.protocol",
                       "unknown value \"H2C\" (expected HTTP, HTTP2, TCP or AUTO)"));
}

TEST(ListenerProtocolTest, RoutesAttachToHttp2AndAutoListenersNotToTcp) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: h2}
spec: {port: 80, protocol: HTTP2}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: auto}
spec: {port: 81, protocol: AUTO, tcp: {backendRef: {name: s}}}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: tcp}
spec: {port: 82, protocol: TCP, tcp: {backendRef: {name: s}}}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: s}
spec: {ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs:
  - {group: trellis.dev, kind: Listener, name: h2}
  - {group: trellis.dev, kind: Listener, name: auto}
  - {group: trellis.dev, kind: Listener, name: tcp}
  rules: [{backendRefs: [{name: s}]}]
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  ASSERT_EQ(result.warnings.size(), 1u) << describe(result);
  EXPECT_EQ(result.warnings[0].toString(),
            "test.yaml:28:5: HTTPRoute default/r: spec.parentRefs[2]: route not attached to "
            "Listener default/tcp: it has protocol TCP");
  const auto& listeners = result.snapshot->listeners;
  ASSERT_EQ(listeners.size(), 3u);
  EXPECT_EQ(listeners[0].routes.routes.size(), 1u);
  EXPECT_EQ(listeners[1].routes.routes.size(), 1u);
  EXPECT_TRUE(listeners[2].routes.routes.empty());
}

// ---------------------------------------------------------------------------------------------
// Listener spec.http.http2

TEST(Http2LimitsTest, EveryFieldIsRead) {
  LoadResult result = load(listener(
      "spec: {port: 80, protocol: HTTP2, http: {http2: {maxConcurrentStreams: 250, "
      "initialStreamWindowSize: 1048576, connectionWindowSize: 16777216, maxFrameSize: 32768, "
      "maxHeaderListSize: 32768, maxResetsPerSecond: 50, windowStallTimeout: 1m30s}}}"));
  ASSERT_TRUE(result.ok()) << describe(result);
  const Http2Limits& http2 = onlyListener(result).http.http2;
  EXPECT_EQ(http2.maxConcurrentStreams, 250u);
  EXPECT_EQ(http2.initialStreamWindowSize, 1048576u);
  EXPECT_EQ(http2.connectionWindowSize, 16777216u);
  EXPECT_EQ(http2.maxFrameSize, 32768u);
  EXPECT_EQ(http2.maxHeaderListSize, 32768u);
  EXPECT_EQ(http2.maxResetsPerSecond, 50u);
  EXPECT_EQ(http2.windowStallTimeout, Duration(90000));
}

TEST(Http2LimitsTest, UnsetFieldsKeepTheirDefaults) {
  LoadResult result =
      load(listener("spec: {port: 80, http: {http2: {maxFrameSize: 65536}, maxHeaders: 7}}"));
  ASSERT_TRUE(result.ok()) << describe(result);
  const HttpLimits& http = onlyListener(result).http;
  EXPECT_EQ(http.maxHeaders, 7u);
  EXPECT_EQ(http.http2.maxFrameSize, 65536u);
  EXPECT_EQ(http.http2.maxConcurrentStreams, 100u);
  EXPECT_EQ(http.http2.initialStreamWindowSize, 65536u);
  EXPECT_EQ(http.http2.connectionWindowSize, 1048576u);
  EXPECT_EQ(http.http2.maxHeaderListSize, 61440u);
  EXPECT_EQ(http.http2.maxResetsPerSecond, 200u);
  EXPECT_EQ(http.http2.windowStallTimeout, Duration(30000));
}

struct IntegerBound {
  const char* field;
  int64_t min;
  int64_t max;
  uint32_t Http2Limits::*member;
};

// The documented ranges (docs/configuration.md): RFC 9113 §6.5.2 and §6.9.1 for the protocol
// limits, sanity for the rest.
constexpr IntegerBound kBounds[] = {
    {"maxConcurrentStreams", 1, 100000, &Http2Limits::maxConcurrentStreams},
    {"initialStreamWindowSize", 1024, 2147483647, &Http2Limits::initialStreamWindowSize},
    {"connectionWindowSize", 65535, 2147483647, &Http2Limits::connectionWindowSize},
    {"maxFrameSize", 16384, 16777215, &Http2Limits::maxFrameSize},
    {"maxHeaderListSize", 1024, 16777216, &Http2Limits::maxHeaderListSize},
    {"maxResetsPerSecond", 1, 1000000, &Http2Limits::maxResetsPerSecond},
};

std::string http2Spec(std::string_view field, int64_t value) {
  return "spec: {port: 80, http: {http2: {" + std::string(field) + ": " + std::to_string(value) +
         "}}}";
}

TEST(Http2LimitsTest, IntegerBoundsAreInclusive) {
  for (const IntegerBound& bound : kBounds) {
    for (int64_t value : {bound.min, bound.max}) {
      LoadResult result = load(listener(http2Spec(bound.field, value)));
      ASSERT_TRUE(result.ok()) << bound.field << " = " << value << "\n" << describe(result);
      EXPECT_EQ(onlyListener(result).http.http2.*bound.member, static_cast<uint32_t>(value))
          << bound.field;
    }
  }
}

TEST(Http2LimitsTest, IntegersOutsideTheirBoundsAreErrorsNamingTheField) {
  for (const IntegerBound& bound : kBounds) {
    for (int64_t value : {bound.min - 1, bound.max + 1}) {
      SCOPED_TRACE(std::string(bound.field) + " = " + std::to_string(value));
      const std::string spec = http2Spec(bound.field, value);
      expectSingleError(listener(spec),
                        at(4, columnOf(spec, ": " + std::to_string(value)) + 2, kListenerA,
                           "spec.http.http2." + std::string(bound.field),
                           "must be between " + std::to_string(bound.min) + " and " +
                               std::to_string(bound.max) + ", got " + std::to_string(value)));
    }
  }
  // The position is the value's, here spelled out once.
  expectSingleError(listener("spec: {port: 80, http: {http2: {maxFrameSize: 16383}}}"),
                    at(4, 47, kListenerA, "spec.http.http2.maxFrameSize",
                       "must be between 16384 and 16777215, got 16383"));
}

TEST(Http2LimitsTest, WindowStallTimeoutIsAtLeastOneMillisecond) {
  LoadResult result = load(listener("spec: {port: 80, http: {http2: {windowStallTimeout: 1ms}}}"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(onlyListener(result).http.http2.windowStallTimeout, Duration(1));
  expectSingleError(
      listener("spec: {port: 80, http: {http2: {windowStallTimeout: 0s}}}"),
      at(4, 53, kListenerA, "spec.http.http2.windowStallTimeout", "must be at least 1ms"));
  expectSingleError(listener("spec: {port: 80, http: {http2: {windowStallTimeout: 1.5s}}}"),
                    at(4, 53, kListenerA, "spec.http.http2.windowStallTimeout",
                       "invalid duration \"1.5s\" (expected e.g. \"10s\", \"250ms\", \"1h30m\")"));
}

TEST(Http2LimitsTest, SchemaIsStrict) {
  expectSingleError(listener("spec: {port: 80, http: {http2: {maxConcurrentStream: 10}}}"),
                    at(4, 33, kListenerA, "spec.http.http2.maxConcurrentStream",
                       "unknown field \"maxConcurrentStream\" (did you mean "
                       "\"maxConcurrentStreams\"?)"));
  expectSingleError(listener("spec: {port: 80, http: {http2: {maxFrameSize: \"16384\"}}}"),
                    at(4, 47, kListenerA, "spec.http.http2.maxFrameSize",
                       "expected an integer, got the string \"16384\""));
  expectSingleError(listener("spec: {port: 80, http: {http2: true}}"),
                    at(4, 32, kListenerA, "spec.http.http2", "expected a map, got a scalar"));
  // http2 lives under http, not beside it.
  expectSingleError(
      listener("spec: {port: 80, http2: {maxFrameSize: 16384}}"),
      at(4, 18, kListenerA, "spec.http2", "unknown field \"http2\" (did you mean \"http\"?)"));
}

TEST(Http2LimitsTest, AllBadFieldsAreReported) {
  LoadResult result =
      load(listener("spec: {port: 80, http: {http2: {maxConcurrentStreams: 0, maxFrameSize: 1, "
                    "windowStallTimeout: 0s}}}"));
  EXPECT_FALSE(result.ok());
  std::vector<std::string> fields;
  for (const LoadError& error : result.errors) fields.push_back(error.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"spec.http.http2.maxConcurrentStreams",
                                              "spec.http.http2.maxFrameSize",
                                              "spec.http.http2.windowStallTimeout"}))
      << describe(result);
}

// ---------------------------------------------------------------------------------------------
// Service spec.ports[].appProtocol

UpstreamProtocol clusterProtocol(const LoadResult& result, const std::string& cluster) {
  return result.snapshot->clusters.at(cluster).protocol;
}

TEST(AppProtocolTest, DefaultIsHttp1) {
  LoadResult result = load(service("  ports: [{port: 80}]"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(clusterProtocol(result, "default/s:80"), UpstreamProtocol::Http1);
}

TEST(AppProtocolTest, KnownNamesMapToUpstreamProtocols) {
  const std::pair<const char*, UpstreamProtocol> cases[] = {
      {"http", UpstreamProtocol::Http1},
      {"http/1.1", UpstreamProtocol::Http1},
      {"http2", UpstreamProtocol::Http2},
      {"h2c", UpstreamProtocol::Http2},
      {"kubernetes.io/h2c", UpstreamProtocol::Http2},
      {"grpc", UpstreamProtocol::Http2},
      {"tcp", UpstreamProtocol::Tcp},
  };
  for (const auto& [name, expected] : cases) {
    LoadResult result =
        load(service("  ports: [{port: 80, appProtocol: \"" + std::string(name) + "\"}]"));
    ASSERT_TRUE(result.ok()) << name << "\n" << describe(result);
    EXPECT_EQ(clusterProtocol(result, "default/s:80"), expected) << name;
  }
}

TEST(AppProtocolTest, EachPortHasItsOwnProtocol) {
  LoadResult result =
      load(service("  ports: [{port: 80, appProtocol: http}, {port: 50051, appProtocol: grpc}, "
                   "{port: 5432, appProtocol: tcp}, {port: 81}]"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(clusterProtocol(result, "default/s:80"), UpstreamProtocol::Http1);
  EXPECT_EQ(clusterProtocol(result, "default/s:50051"), UpstreamProtocol::Http2);
  EXPECT_EQ(clusterProtocol(result, "default/s:5432"), UpstreamProtocol::Tcp);
  EXPECT_EQ(clusterProtocol(result, "default/s:81"), UpstreamProtocol::Http1);
}

TEST(AppProtocolTest, UnknownNamesAreErrorsNamingTheField) {
  constexpr const char* kExpected = " (expected http, http2, h2c, kubernetes.io/h2c, grpc or tcp)";
  // Other real-world names, and the right names in the wrong case.
  for (std::string_view name :
       {"https", "HTTP2", "GRPC", "h2", "kubernetes.io/ws", "example.com/x"}) {
    expectSingleError(
        service("  ports: [{port: 80}, {port: 81, appProtocol: " + std::string(name) + "}]"),
        at(5, 47, kServiceS, "spec.ports[1].appProtocol",
           "unknown appProtocol \"" + std::string(name) + "\"" + kExpected));
  }
  expectSingleError(service("  ports: [{port: 80, appProtocol: \"\"}]"),
                    at(5, 35, kServiceS, "spec.ports[0].appProtocol",
                       std::string("unknown appProtocol \"\"") + kExpected));
}

TEST(AppProtocolTest, MustBeAShortString) {
  expectSingleError(
      service("  ports: [{port: 80, appProtocol: [grpc]}]"),
      at(5, 35, kServiceS, "spec.ports[0].appProtocol", "expected a string, got a list"));
  expectSingleError(
      service("  ports: [{port: 80, appProtocol: " + std::string(254, 'a') + "}]"),
      at(5, 35, kServiceS, "spec.ports[0].appProtocol", "must be at most 253 characters"));
}

// ---------------------------------------------------------------------------------------------
// /config_dump

TEST(ProtocolDumpTest, ListenersShowProtocolDetectTimeoutAndHttp2) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: plain}
spec: {port: 80}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: h2}
spec:
  port: 81
  protocol: HTTP2
  http:
    http2: {maxConcurrentStreams: 500, initialStreamWindowSize: 131072,
            connectionWindowSize: 4194304, maxFrameSize: 65536, maxHeaderListSize: 8192,
            maxResetsPerSecond: 20, windowStallTimeout: 45s}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: db}
spec: {port: 82, protocol: TCP, tcp: {backendRef: {name: s, port: 5432}}}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: mixed}
spec: {port: 83, protocol: AUTO, detectTimeout: 250ms, tcp: {backendRef: {name: s, port: 5432}}}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: mixed-default}
spec: {port: 84, protocol: AUTO, tcp: {backendRef: {name: s, port: 5432}}}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: s}
spec: {ports: [{port: 80}, {port: 5432, appProtocol: tcp}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: mixed}]
  rules: [{backendRefs: [{name: s, port: 80}]}]
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  nlohmann::json dump = toJson(*result.snapshot);
  ASSERT_EQ(dump["listeners"].size(), 5u);

  const auto& plain = dump["listeners"][0];
  EXPECT_EQ(plain["protocol"], "HTTP");
  EXPECT_FALSE(plain.contains("detectTimeout"));
  EXPECT_FALSE(plain.contains("tcp"));
  EXPECT_EQ(plain["http"]["http2"], (nlohmann::json{{"maxConcurrentStreams", 100},
                                                    {"initialStreamWindowSize", 65536},
                                                    {"connectionWindowSize", 1048576},
                                                    {"maxFrameSize", 16384},
                                                    {"maxHeaderListSize", 61440},
                                                    {"maxResetsPerSecond", 200},
                                                    {"windowStallTimeout", "30s"}}));

  const auto& h2 = dump["listeners"][1];
  EXPECT_EQ(h2["protocol"], "HTTP2");
  EXPECT_FALSE(h2.contains("detectTimeout"));
  EXPECT_FALSE(h2.contains("tcp"));
  EXPECT_EQ(h2["http"]["http2"], (nlohmann::json{{"maxConcurrentStreams", 500},
                                                 {"initialStreamWindowSize", 131072},
                                                 {"connectionWindowSize", 4194304},
                                                 {"maxFrameSize", 65536},
                                                 {"maxHeaderListSize", 8192},
                                                 {"maxResetsPerSecond", 20},
                                                 {"windowStallTimeout", "45s"}}));
  EXPECT_TRUE(h2.contains("routes"));

  const auto& db = dump["listeners"][2];
  EXPECT_EQ(db["protocol"], "TCP");
  EXPECT_FALSE(db.contains("detectTimeout"));
  EXPECT_FALSE(db.contains("http"));
  EXPECT_FALSE(db.contains("routes"));
  EXPECT_EQ(db["tcp"]["cluster"], "default/s:5432");

  const auto& mixed = dump["listeners"][3];
  EXPECT_EQ(mixed["protocol"], "AUTO");
  EXPECT_EQ(mixed["detectTimeout"], "250ms");
  EXPECT_EQ(mixed["tcp"]["cluster"], "default/s:5432");
  EXPECT_EQ(mixed["tcp"]["idleTimeout"], "1h");
  EXPECT_EQ(mixed["http"]["http2"]["maxConcurrentStreams"], 100);
  ASSERT_EQ(mixed["routes"].size(), 1u);
  EXPECT_EQ(mixed["routes"][0]["rules"][0]["backends"][0]["cluster"], "default/s:80");

  EXPECT_EQ(dump["listeners"][4]["protocol"], "AUTO");
  EXPECT_EQ(dump["listeners"][4]["detectTimeout"], "100ms");
}

TEST(ProtocolDumpTest, ClustersShowTheirProtocol) {
  LoadResult result = load(
      service("  ports: [{port: 80}, {port: 81, appProtocol: h2c}, {port: 82, appProtocol: tcp}, "
              "{port: 83, appProtocol: grpc}, {port: 84, appProtocol: http/1.1}]"));
  ASSERT_TRUE(result.ok()) << describe(result);
  nlohmann::json dump = toJson(*result.snapshot);
  std::map<std::string, std::string> protocols;
  for (const auto& cluster : dump["clusters"]) protocols[cluster["name"]] = cluster["protocol"];
  EXPECT_EQ(protocols, (std::map<std::string, std::string>{{"default/s:80", "HTTP/1.1"},
                                                           {"default/s:81", "HTTP/2"},
                                                           {"default/s:82", "TCP"},
                                                           {"default/s:83", "HTTP/2"},
                                                           {"default/s:84", "HTTP/1.1"}}));
}

// ---------------------------------------------------------------------------------------------
// examples/proxy/grpc.yaml: the gRPC backends are spoken to over HTTP/2.

TEST(AppProtocolTest, GrpcExampleUsesHttp2Upstreams) {
  LoadResult result = loadFile(TRELLIS_EXAMPLES_DIR "/proxy/grpc.yaml");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(clusterProtocol(result, "default/greeter:50051"), UpstreamProtocol::Http2);
  EXPECT_EQ(clusterProtocol(result, "default/greeter-canary:50051"), UpstreamProtocol::Http2);
  EXPECT_EQ(clusterProtocol(result, "default/web:80"), UpstreamProtocol::Http1);
}

}  // namespace
}  // namespace trellis::config

namespace trellis::config {
namespace {

TEST(ServiceHttp2PoolTest, WindowsDefaultAndOverride) {
  const char* yaml = R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: a}
spec:
  ports: [{port: 80, appProtocol: grpc}]
  connectionPool:
    http2: {initialStreamWindowSize: 65535, connectionWindowSize: 1048576}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: b}
spec:
  ports: [{port: 80, appProtocol: grpc}]
)";
  LoadResult result = testing::load(yaml);
  ASSERT_TRUE(result.errors.empty()) << result.errors.front().toString();
  const Cluster& a = result.snapshot->clusters.at("default/a:80");
  EXPECT_EQ(a.http2InitialStreamWindowSize, 65535u);
  EXPECT_EQ(a.http2ConnectionWindowSize, 1048576u);
  const Cluster& b = result.snapshot->clusters.at("default/b:80");
  EXPECT_EQ(b.http2InitialStreamWindowSize, 256u * 1024);
  EXPECT_EQ(b.http2ConnectionWindowSize, 4u * 1024 * 1024);
}

TEST(ServiceHttp2PoolTest, WindowBelowTheProtocolMinimumIsRejected) {
  const char* yaml = R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: a}
spec:
  ports: [{port: 80}]
  connectionPool: {http2: {initialStreamWindowSize: 100}}
)";
  LoadResult result = testing::load(yaml);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_NE(result.errors[0].toString().find("spec.connectionPool.http2.initialStreamWindowSize"),
            std::string::npos)
      << result.errors[0].toString();
}

}  // namespace
}  // namespace trellis::config
