#include "config/dump.h"

#include <gtest/gtest.h>

#include "config/loader.h"
#include "test_util.h"

namespace trellis::config {
namespace {

TEST(DumpTest, RendersListenersRoutesAndClusters) {
  LoadResult result = testing::load(R"(apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: web}
spec: {port: 80, http: {idleTimeout: 90s}}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: db}
spec: {port: 5432, protocol: TCP, tcp: {backendRef: {name: svc}}}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: svc}
spec:
  ports: [{port: 80, targetPort: 8080}]
  endpoints: [{address: 10.0.0.1, weight: 5}]
  loadBalancer: {policy: RingHash, hashOn: {sourceIP: true}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{group: trellis.dev, kind: Listener, name: web}]
  hostnames: [a.example.com]
  rules:
  - matches: [{path: {type: Exact, value: /x}, method: GET}]
    filters:
    - {type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /y}}}
    backendRefs: [{name: svc, port: 80, weight: 7}]
)");
  ASSERT_TRUE(result.ok()) << testing::describe(result);
  nlohmann::json dump = toJson(*result.snapshot);
  EXPECT_EQ(dump["source"], "test.yaml");
  ASSERT_EQ(dump["listeners"].size(), 2u);
  const auto& web = dump["listeners"][0];
  EXPECT_EQ(web["name"], "default/web");
  EXPECT_EQ(web["protocol"], "HTTP");
  EXPECT_EQ(web["http"]["idleTimeout"], "1m30s");
  EXPECT_EQ(web["http"]["maxHeaders"], 100);
  const auto& rule = web["routes"][0]["rules"][0];
  EXPECT_EQ(web["routes"][0]["hostnames"][0], "a.example.com");
  EXPECT_EQ(rule["route"], "default/r");
  EXPECT_EQ(rule["match"]["path"]["type"], "Exact");
  EXPECT_EQ(rule["match"]["path"]["value"], "/x");
  EXPECT_EQ(rule["match"]["method"], "GET");
  EXPECT_EQ(rule["urlRewrite"]["path"]["type"], "ReplaceFullPath");
  EXPECT_EQ(rule["urlRewrite"]["path"]["value"], "/y");
  EXPECT_EQ(rule["backends"][0]["cluster"], "default/svc:80");
  EXPECT_EQ(rule["backends"][0]["weight"], 7);
  const auto& db = dump["listeners"][1];
  EXPECT_EQ(db["protocol"], "TCP");
  EXPECT_EQ(db["tcp"]["cluster"], "default/svc:80");
  EXPECT_EQ(db["tcp"]["idleTimeout"], "1h");
  EXPECT_FALSE(db.contains("routes"));
  ASSERT_EQ(dump["clusters"].size(), 1u);
  const auto& cluster = dump["clusters"][0];
  EXPECT_EQ(cluster["name"], "default/svc:80");
  EXPECT_EQ(cluster["loadBalancer"]["policy"], "RingHash");
  EXPECT_EQ(cluster["loadBalancer"]["hashOn"]["sourceIP"], true);
  EXPECT_EQ(cluster["loadBalancer"]["ringHashMinSize"], 1024);
  EXPECT_EQ(cluster["connectionPool"]["connectTimeout"], "1s");
  EXPECT_EQ(cluster["endpoints"][0]["address"], "10.0.0.1");
  EXPECT_EQ(cluster["endpoints"][0]["port"], 8080);
  EXPECT_EQ(cluster["endpoints"][0]["weight"], 5);
}

TEST(DumpTest, EmptySnapshot) {
  Snapshot snapshot;
  snapshot.version = 7;
  nlohmann::json dump = toJson(snapshot);
  EXPECT_EQ(dump["version"], 7);
  EXPECT_TRUE(dump["listeners"].empty());
  EXPECT_TRUE(dump["clusters"].empty());
}

}  // namespace
}  // namespace trellis::config
