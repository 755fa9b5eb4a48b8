// `RouteTable::match` must not allocate on the common path.

#include <gtest/gtest.h>

#include <new>

#include "alloc_counter.h"
#include "routing_test_util.h"

namespace trellis::routing {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): test builders

TEST(NoAllocation, CounterSeesAllocations) {
  const long before = trellis::testing::allocationCount();
  // A direct call: new-expressions may be elided by the optimiser, this may not.
  void* p = ::operator new(16);
  ::operator delete(p);
  EXPECT_EQ(trellis::testing::allocationCount() - before, 1);
}

TEST(NoAllocation, MatchOnTheCommonPath) {
  Table table({
      {"ns/exact", {"api.example.com"}, {{exact("/health")}, {prefix("/v1")}}},
      {"ns/wild",
       {"*.example.com"},
       {{withHeader(withHeader(prefix("/"), exactValue("x-a", "1,2")), exactValue("x-b", "z"))},
        {withQuery(withMethod(prefix("/q"), "POST"), exactValue("id", "7"))},
        {prefix("/")}}},
      {"ns/any", {}, {{prefix("/")}}},
  });
  std::vector<Request> requests(5);
  requests[0].host = "API.example.com:443";
  requests[0].path = "/v1/users";
  requests[1].host = "a.b.example.com";
  requests[1].headers = {{"x-a", "1"}, {"x-b", "z"}, {"x-a", "2"}};
  requests[2].host = "a.example.com";
  requests[2].path = "/q/x";
  requests[2].method = "POST";
  requests[2].query = "a=1&id=7";
  requests[3].host = "other.test";
  requests[4].host = "api.example.com";
  requests[4].path = "/nothing";
  const char* expected[] = {"ns/exact/1/0", "ns/wild/0/0", "ns/wild/1/0", "ns/any/0/0", "404"};

  for (size_t i = 0; i < requests.size(); ++i) {
    const Request& r = requests[i];
    std::vector<http::HeaderField> fields;
    for (const auto& [name, value] : r.headers) fields.push_back({name, value});
    const RequestView view{r.method, r.host, r.path, r.query, fields};
    const long before = trellis::testing::allocationCount();
    const config::RouteRule* rule = table.table().match(view);
    const long made = trellis::testing::allocationCount() - before;
    EXPECT_EQ(made, 0) << "request " << i;
    EXPECT_EQ(rule == nullptr ? std::string("404") : rule->backends.front().cluster, expected[i]);
  }
}

}  // namespace
}  // namespace trellis::routing
