// ns per RouteTable::match on a 50-route table mixing exact hosts, wildcards and catch-all
// routes with exact/prefix/regex paths, methods, headers and query parameters.

#include <benchmark/benchmark.h>
#include <re2/re2.h>

#include <memory>
#include <string>
#include <vector>

#include "routing/route_table.h"

namespace trellis::routing {
namespace {

config::RouteRule makeRule(std::string route, uint32_t order, uint32_t index,
                           config::PathMatchType type, std::string path) {
  config::RouteRule rule;
  rule.match.path.type = type;
  if (type == config::PathMatchType::RegularExpression) {
    rule.match.path.regex = std::make_shared<const re2::RE2>(path);
  }
  rule.match.path.value = std::move(path);
  rule.routeName = std::move(route);
  rule.routeOrder = order;
  rule.ruleIndex = index;
  rule.backends.push_back({"backend", 1});
  return rule;
}

config::ValueMatch value(std::string name, std::string v) {
  config::ValueMatch m;
  m.name = std::move(name);
  m.value = std::move(v);
  return m;
}

// 20 exact-host routes (3 rules each), 10 wildcard routes (2 rules), 20 catch-all routes
// (2 rules, two of them regexes): 50 HTTPRoutes, 120 flattened rules.
config::RouteTableConfig makeConfig() {
  using T = config::PathMatchType;
  config::RouteTableConfig cfg;
  uint32_t order = 0;
  for (int i = 0; i < 20; ++i, ++order) {
    const std::string name = "ns/svc" + std::to_string(i);
    config::RouteTableConfig::HostRules r;
    r.hostnames = {"svc" + std::to_string(i) + ".example.com"};
    r.rules.push_back(makeRule(name, order, 0, T::Exact, "/health"));
    r.rules.push_back(makeRule(name, order, 1, T::PathPrefix, "/api/v" + std::to_string(i % 3)));
    auto withHeader = makeRule(name, order, 2, T::PathPrefix, "/");
    withHeader.match.headers.push_back(value("x-canary", "true"));
    r.rules.push_back(std::move(withHeader));
    cfg.routes.push_back(std::move(r));
  }
  for (int i = 0; i < 10; ++i, ++order) {
    const std::string name = "ns/team" + std::to_string(i);
    config::RouteTableConfig::HostRules r;
    r.hostnames = {"*.team" + std::to_string(i) + ".example.com"};
    auto post = makeRule(name, order, 0, T::PathPrefix, "/orders");
    post.match.method = "POST";
    post.match.queryParams.push_back(value("version", "2"));
    r.rules.push_back(std::move(post));
    r.rules.push_back(makeRule(name, order, 1, T::PathPrefix, "/"));
    cfg.routes.push_back(std::move(r));
  }
  for (int i = 0; i < 20; ++i, ++order) {
    const std::string name = "mesh/route" + std::to_string(i);
    config::RouteTableConfig::HostRules r;
    const std::string base = "/svc" + std::to_string(i);
    if (i % 10 == 0) {
      r.rules.push_back(makeRule(name, order, 0, T::RegularExpression, base + "/items/[0-9]+"));
    } else {
      auto tenant = makeRule(name, order, 0, T::PathPrefix, base);
      tenant.match.headers.push_back(value("x-tenant", "t" + std::to_string(i)));
      r.rules.push_back(std::move(tenant));
    }
    r.rules.push_back(makeRule(name, order, 1, T::PathPrefix, base));
    cfg.routes.push_back(std::move(r));
  }
  return cfg;
}

struct Fixture {
  config::RouteTableConfig config = makeConfig();
  RouteTable table{config};
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

struct BenchRequest {
  std::string method, host, path, query;
  std::vector<http::HeaderField> headers;
  RequestView view() const { return {method, host, path, query, headers}; }
};

std::vector<BenchRequest> mixedRequests() {
  const std::vector<http::HeaderField> common = {
      {"user-agent", "bench/1.0"}, {"accept", "*/*"}, {"x-request-id", "abc123"}};
  std::vector<BenchRequest> out = {
      {"GET", "svc7.example.com", "/health", "", common},
      {"GET", "svc12.example.com:8080", "/api/v0/users/42", "", common},
      {"GET", "SVC3.example.com", "/other", "", common},
      {"POST", "a.team4.example.com", "/orders/9", "version=2", common},
      {"GET", "x.y.team9.example.com", "/index.html", "", common},
      {"GET", "backend.mesh.svc", "/svc15/path", "", common},
      {"GET", "10.0.0.7:80", "/svc10/items/123", "", common},
      {"GET", "backend.mesh.svc", "/svc19/x", "", common},
  };
  out[2].headers.push_back({"x-canary", "true"});
  out[7].headers.push_back({"x-tenant", "t19"});
  return out;
}

void BM_MatchMixed(benchmark::State& state) {
  const Fixture& f = fixture();
  const std::vector<BenchRequest> requests = mixedRequests();
  std::vector<RequestView> views;
  for (const BenchRequest& r : requests) views.push_back(r.view());
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.table.match(views[i]));
    i = (i + 1) % views.size();
  }
}
BENCHMARK(BM_MatchMixed);

void runOne(benchmark::State& state, BenchRequest request, bool expectMatch) {
  const Fixture& f = fixture();
  const RequestView view = request.view();
  if ((f.table.match(view) != nullptr) != expectMatch) {
    state.SkipWithError("unexpected routing result");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(f.table.match(view));
}

void BM_MatchExactHost(benchmark::State& state) {
  runOne(state, {"GET", "svc7.example.com", "/api/v1/users", "", {}}, true);
}
BENCHMARK(BM_MatchExactHost);

void BM_MatchWildcardHost(benchmark::State& state) {
  runOne(state, {"GET", "a.b.team4.example.com", "/x", "", {}}, true);
}
BENCHMARK(BM_MatchWildcardHost);

// Catch-all group of 40 rules; the request matches none until the last prefix rule.
void BM_MatchCatchAllLast(benchmark::State& state) {
  runOne(state, {"GET", "backend.mesh.svc", "/svc1/x", "", {{"accept", "*/*"}}}, true);
}
BENCHMARK(BM_MatchCatchAllLast);

void BM_MatchRegex(benchmark::State& state) {
  runOne(state, {"GET", "backend", "/svc10/items/123", "", {}}, true);
}
BENCHMARK(BM_MatchRegex);

void BM_Match404(benchmark::State& state) {
  runOne(state, {"GET", "backend.mesh.svc", "/nothing/here", "", {}}, false);
}
BENCHMARK(BM_Match404);

void BM_PickWeightedBackend(benchmark::State& state) {
  const std::vector<config::WeightedBackend> backends{{"a", 10}, {"b", 30}, {"c", 60}};
  uint64_t x = 88172645463325252ull;
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    benchmark::DoNotOptimize(pickWeightedBackend(backends, x));
  }
}
BENCHMARK(BM_PickWeightedBackend);

}  // namespace
}  // namespace trellis::routing
