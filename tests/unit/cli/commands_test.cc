// apply, diff, get, delete, status, history and rollback against a scripted API: the requests
// they send, what they print, and the errors that say what to do next.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/apply_diff.h"
#include "cli/cli_error.h"
#include "cli/get_delete.h"
#include "cli/history_rollback.h"
#include "cli/status_proxy_config.h"
#include "fake_api.h"

namespace trellis::cli {
namespace {

using nlohmann::json;
using testing::FakeApi;
using testing::FakeReply;
using testing::FakeRequest;

constexpr const char* kService =
    "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata:\n  name: billing\n  namespace: "
    "shop\nspec:\n  ports:\n  - port: 80\n";

struct Captured {
  std::ostringstream out;
  std::ostringstream err;
  std::istringstream in;
  Io io(OutputFormat format = OutputFormat::Table) { return Io{format, out, err, in}; }
};

std::string errorOf(const std::function<void()>& run) {
  try {
    run();
  } catch (const CliError& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(Apply, SendsEveryFileInOneBatchAndPrintsKubectlWords) {
  FakeApi fake([](const FakeRequest&) {
    return FakeReply{200, json{{"revision", 4},
                               {"results",
                                {{{"kind", "Service"},
                                  {"namespace", "shop"},
                                  {"name", "billing"},
                                  {"outcome", "created"},
                                  {"resourceVersion", 4}},
                                 {{"kind", "HTTPRoute"},
                                  {"namespace", "shop"},
                                  {"name", "billing"},
                                  {"outcome", "updated"},
                                  {"resourceVersion", 4}},
                                 {{"kind", "Service"},
                                  {"namespace", "shop"},
                                  {"name", "auth"},
                                  {"outcome", "unchanged"},
                                  {"resourceVersion", 2}}}},
                               {"warnings",
                                {{{"file", "<stdin>"},
                                  {"line", 3},
                                  {"column", 1},
                                  {"resource", "HTTPRoute shop/billing"},
                                  {"field", "spec.rules[0].backendRefs[0]"},
                                  {"message", "Service shop/gone does not exist"}}}}}
                              .dump()};
  });
  ApiClient api(fake.url(), "secret");
  Captured c;
  c.in.str(kService);
  EXPECT_EQ(runApply(api, c.io(), ApplyOptions{{"-"}, true}), 0);
  EXPECT_EQ(c.out.str(),
            "Service shop/billing created (dry run)\n"
            "HTTPRoute shop/billing configured (dry run)\n"
            "Service shop/auth unchanged (dry run)\n");
  EXPECT_EQ(c.err.str(),
            "warning: <stdin>:3:1: HTTPRoute shop/billing: spec.rules[0].backendRefs[0]: Service "
            "shop/gone does not exist\n");
  auto requests = fake.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/api/v1/apply");
  EXPECT_EQ(requests[0].authorization, "Bearer secret");
  json body = json::parse(requests[0].body);
  EXPECT_EQ(body["dryRun"], true);
  ASSERT_EQ(body["files"].size(), 1u);
  EXPECT_EQ(body["files"][0]["name"], "<stdin>");
  EXPECT_EQ(body["files"][0]["content"], kService);
}

TEST(Apply, ValidationErrorsArePrintedAsFileLineColumn) {
  FakeApi fake([](const FakeRequest&) {
    return FakeReply{400, json{{"errors",
                                {{{"file", "<stdin>"},
                                  {"line", 8},
                                  {"column", 7},
                                  {"resource", "Service shop/billing"},
                                  {"field", "spec.ports[0].port"},
                                  {"message", "must be 1-65535"}}}}}
                              .dump()};
  });
  ApiClient api(fake.url(), "t");
  Captured c;
  c.in.str(kService);
  std::string error = errorOf([&] { runApply(api, c.io(), ApplyOptions{{"-"}, false}); });
  EXPECT_EQ(c.err.str(),
            "<stdin>:8:7: Service shop/billing: spec.ports[0].port: must be 1-65535\n");
  EXPECT_NE(error.find("nothing was changed"), std::string::npos) << error;
}

TEST(Apply, ConflictSaysWhatToDo) {
  FakeApi fake([](const FakeRequest&) {
    return FakeReply{409, json{{"error",
                                "HTTPRoute shop/billing: resourceVersion 3 is stale "
                                "(now 5)"}}
                              .dump()};
  });
  ApiClient api(fake.url(), "t");
  Captured c;
  c.in.str(kService);
  std::string error = errorOf([&] { runApply(api, c.io(), ApplyOptions{{"-"}, false}); });
  EXPECT_NE(error.find("resourceVersion 3 is stale"), std::string::npos) << error;
  EXPECT_NE(error.find("someone changed it since you read it"), std::string::npos) << error;
}

TEST(ApiClientErrors, MissingOrRefusedTokenAndUnreachableServer) {
  FakeApi fake([](const FakeRequest&) { return FakeReply{401, R"({"error":"unauthorized"})"}; });
  Captured c;
  c.in.str(kService);
  ApiClient anonymous(fake.url(), "");
  std::string error = errorOf([&] { runApply(anonymous, c.io(), ApplyOptions{{"-"}, false}); });
  EXPECT_NE(error.find("set --token or TRELLIS_TOKEN"), std::string::npos) << error;
  EXPECT_NE(error.find("<data-dir>/api-token"), std::string::npos) << error;
  EXPECT_TRUE(fake.requests()[0].authorization.empty());

  ApiClient wrong(fake.url(), "wrong");
  error = errorOf([&] { wrong.get("/api/v1/proxies"); });
  EXPECT_NE(error.find("refused the token"), std::string::npos) << error;

  testing::RefusingPort refusing;
  ApiClient unreachable(refusing.url(), "");
  error = errorOf([&] { unreachable.get("/api/v1/proxies"); });
  EXPECT_NE(error.find("cannot reach trellisd at " + refusing.url()), std::string::npos) << error;
  EXPECT_NE(error.find("is it running? (trellisd --data-dir DIR) or set --server/TRELLIS_SERVER"),
            std::string::npos)
      << error;
}

TEST(ApiClientErrors, ServerThatIsNotTrellisd) {
  FakeApi fake([](const FakeRequest&) { return FakeReply{404, "<html>not found</html>"}; });
  ApiClient api(fake.url(), "");
  std::string error = errorOf([&] { api.get("/api/v1/resources"); });
  EXPECT_NE(error.find("is --server pointing at trellisd's API address"), std::string::npos)
      << error;
}

TEST(ApiClientErrors, ServerUrlWithoutSchemeOrWithSlash) {
  FakeApi fake([](const FakeRequest&) { return FakeReply{200, R"({"items":[]})"}; });
  std::string hostPort = fake.url().substr(std::string("http://").size());
  ApiClient bare(hostPort + "/", "");
  EXPECT_EQ(bare.server(), fake.url());
  EXPECT_EQ(bare.get("/api/v1/proxies").status, 200);
  EXPECT_EQ(fake.requests()[0].target, "/api/v1/proxies");
}

TEST(Get, ListsOneKindInANamespace) {
  FakeApi fake([](const FakeRequest&) {
    return FakeReply{200, json{{"revision", 5},
                               {"items",
                                {{{"kind", "Service"},
                                  {"namespace", "shop"},
                                  {"name", "billing"},
                                  {"resourceVersion", 5},
                                  {"document", kService}}}}}
                              .dump()};
  });
  ApiClient api(fake.url(), "");
  Captured c;
  GetOptions options;
  options.kind = "svc";
  options.ns = "shop";
  EXPECT_EQ(runGet(api, c.io(), options), 0);
  EXPECT_EQ(fake.requests()[0].target, "/api/v1/resources?kind=Service&namespace=shop");
  EXPECT_EQ(c.out.str(),
            "NAMESPACE   NAME      VERSION   PORTS   ENDPOINTS   LB\n"
            "shop        billing   5         80      0           RoundRobin\n");

  Captured all;
  options.allNamespaces = true;
  runGet(api, all.io(OutputFormat::Yaml), options);
  EXPECT_EQ(fake.requests()[1].target, "/api/v1/resources?kind=Service");
  EXPECT_NE(all.out.str().find("resourceVersion: \"5\""), std::string::npos) << all.out.str();
}

TEST(Get, MissingResourceSaysHowToList) {
  FakeApi fake([](const FakeRequest&) { return FakeReply{404, R"({"error":"not found"})"}; });
  ApiClient api(fake.url(), "");
  Captured c;
  GetOptions options;
  options.kind = "hr/billing";
  options.ns = "shop";
  std::string error = errorOf([&] { runGet(api, c.io(), options); });
  EXPECT_EQ(fake.requests()[0].target, "/api/v1/resources/HTTPRoute/shop/billing");
  EXPECT_EQ(error,
            "HTTPRoute shop/billing not found (list them with: trellisctl get httproutes "
            "-n shop)");
}

TEST(Get, EmptyListSaysSoOnStderr) {
  FakeApi fake([](const FakeRequest&) { return FakeReply{200, R"({"revision":0,"items":[]})"}; });
  ApiClient api(fake.url(), "");
  Captured c;
  GetOptions options;
  options.kind = "wl";
  EXPECT_EQ(runGet(api, c.io(), options), 0);
  EXPECT_EQ(c.out.str(), "");
  EXPECT_EQ(c.err.str(), "No workloads found in namespace default.\n");
}

TEST(Delete, FilesAreDeletedInReverseOrder) {
  FakeApi fake([](const FakeRequest& request) {
    if (request.target.find("/gone") != std::string::npos) {
      return FakeReply{404, R"({"error":"not found"})"};
    }
    return FakeReply{200, R"({"revision":9,"outcome":"deleted"})"};
  });
  ApiClient api(fake.url(), "t");
  Captured c;
  c.in.str(std::string(kService) +
           "---\nkind: HTTPRoute\nmetadata: {name: billing, namespace: shop}\n"
           "---\nkind: Service\nmetadata: {name: gone, namespace: shop}\n");
  DeleteOptions options;
  options.paths = {"-"};
  std::string error = errorOf([&] { runDelete(api, c.io(), options); });
  EXPECT_EQ(error, "Service shop/gone not found (list them with: trellisctl get services -n shop)");
  auto requests = fake.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].target, "/api/v1/resources/Service/shop/gone");
  EXPECT_EQ(requests[1].target, "/api/v1/resources/HTTPRoute/shop/billing");
  EXPECT_EQ(requests[2].target, "/api/v1/resources/Service/shop/billing");
  EXPECT_EQ(requests[2].method, "DELETE");
  EXPECT_EQ(c.out.str(), "HTTPRoute shop/billing deleted\nService shop/billing deleted\n");

  Captured quiet;
  quiet.in.str("kind: Service\nmetadata: {name: gone, namespace: shop}\n");
  options.ignoreNotFound = true;
  EXPECT_EQ(runDelete(api, quiet.io(), options), 0);
}

TEST(Delete, RefusedBecauseARouteRefersToIt) {
  FakeApi fake([](const FakeRequest&) {
    return FakeReply{400, json{{"errors",
                                {{{"resource", "HTTPRoute shop/billing"},
                                  {"field", "spec.rules[0].backendRefs[0]"},
                                  {"message", "Service shop/billing does not exist"}}}}}
                              .dump()};
  });
  ApiClient api(fake.url(), "t");
  Captured c;
  DeleteOptions options;
  options.kind = "svc";
  options.name = "billing";
  options.ns = "shop";
  std::string error = errorOf([&] { runDelete(api, c.io(), options); });
  EXPECT_EQ(error,
            "cannot delete Service shop/billing (delete or change what refers to it first):\n"
            "HTTPRoute shop/billing: spec.rules[0].backendRefs[0]: Service shop/billing does not "
            "exist");
}

TEST(Delete, WarningsAboutWhatStillRefersToItArePrinted) {
  FakeApi fake([](const FakeRequest&) {
    return FakeReply{200, json{{"revision", 9},
                               {"results",
                                {{{"kind", "Service"},
                                  {"namespace", "shop"},
                                  {"name", "billing-v2"},
                                  {"outcome", "deleted"}}}},
                               {"warnings",
                                {{{"resource", "HTTPRoute shop/billing"},
                                  {"field", "spec.rules[0].backendRefs[1]"},
                                  {"message", "Service shop/billing-v2 not found"}}}}}
                              .dump()};
  });
  ApiClient api(fake.url(), "t");
  Captured c;
  DeleteOptions options;
  options.kind = "svc";
  options.name = "billing-v2";
  options.ns = "shop";
  EXPECT_EQ(runDelete(api, c.io(), options), 0);
  EXPECT_EQ(c.out.str(), "Service shop/billing-v2 deleted\n");
  EXPECT_EQ(c.err.str(),
            "warning: HTTPRoute shop/billing: spec.rules[0].backendRefs[1]: Service "
            "shop/billing-v2 not found\n");
}

TEST(Diff, ExitCodesFollowKubectl) {
  FakeApi fake([](const FakeRequest& request) {
    if (request.target == "/api/v1/resources/Service/shop/billing") {
      return FakeReply{200, json{{"kind", "Service"},
                                 {"namespace", "shop"},
                                 {"name", "billing"},
                                 {"resourceVersion", 3},
                                 {"document", kService}}
                                .dump()};
    }
    return FakeReply{404, R"({"error":"not found"})"};
  });
  ApiClient api(fake.url(), "");
  Captured same;
  same.in.str(kService);
  EXPECT_EQ(runDiff(api, same.io(), DiffOptions{{"-"}}), 0);
  EXPECT_EQ(same.out.str(), "");

  Captured changed;
  changed.in.str(std::string(kService) + "  - port: 81\n");
  EXPECT_EQ(runDiff(api, changed.io(), DiffOptions{{"-"}}), 1);
  EXPECT_EQ(changed.out.str(),
            "--- Service shop/billing (live, resourceVersion 3)\n"
            "+++ Service shop/billing (<stdin>:1)\n"
            "@@ -6,3 +6,4 @@\n spec:\n   ports:\n     - port: 80\n+    - port: 81\n");

  Captured invalid;
  invalid.in.str("kind: Service\nmetadata: {}\n");
  try {
    runDiff(api, invalid.io(), DiffOptions{{"-"}});
    FAIL();
  } catch (const CliError& error) {
    EXPECT_EQ(error.exitCode(), 2);  // 1 would read as "differences"
  }
}

TEST(Status, EmptyMeshSaysHowToStartAProxy) {
  FakeApi fake([](const FakeRequest&) { return FakeReply{200, R"({"items":[]})"}; });
  ApiClient api(fake.url(), "");
  Captured c;
  EXPECT_EQ(runStatus(api, c.io()), 0);
  EXPECT_NE(c.err.str().find("No proxies have connected"), std::string::npos);
  Captured structured;
  EXPECT_EQ(runStatus(api, structured.io(OutputFormat::Json)), 0);
  EXPECT_EQ(json::parse(structured.out.str()), json::parse(R"({"items":[]})"));
}

TEST(ProxyConfig, UnknownProxyPointsAtStatus) {
  FakeApi fake([](const FakeRequest&) { return FakeReply{404, R"({"error":"no such proxy"})"}; });
  ApiClient api(fake.url(), "");
  Captured c;
  std::string error = errorOf([&] {
    runProxyConfig(api, c.io(), ProxyConfigOptions{"routes", "billing-1.shop"});
  });
  EXPECT_EQ(fake.requests()[0].target, "/api/v1/proxies/billing-1.shop/config");
  EXPECT_NE(error.find("trellisctl status"), std::string::npos) << error;
}

TEST(HistoryAndRollback, RequestsAndOutput) {
  FakeApi fake([](const FakeRequest& request) {
    if (request.method == "GET") {
      return FakeReply{200, R"({"items":[{"revision":3,"deleted":false,"document":"a: 1\n"},
                                         {"revision":5,"deleted":false,"document":"a: 2\n"}]})"};
    }
    return FakeReply{200, R"({"revision":6})"};
  });
  ApiClient api(fake.url(), "t");
  Captured history;
  HistoryOptions options{"hr", "billing", "shop", std::nullopt};
  EXPECT_EQ(runHistory(api, history.io(), options), 0);
  EXPECT_EQ(history.out.str(),
            "REVISION   CHANGE    LINES\n3          created   +1\n5          "
            "updated   +1 -1\n");
  Captured one;
  options.revision = 3;
  EXPECT_EQ(runHistory(api, one.io(), options), 0);
  EXPECT_EQ(one.out.str(), "a: 1\n");
  options.revision = 4;
  EXPECT_NE(errorOf([&] { runHistory(api, one.io(), options); }).find("revision 4 is not in"),
            std::string::npos);

  Captured rollback;
  EXPECT_EQ(runRollback(api, rollback.io(), RollbackOptions{"hr", "billing", "shop", 3}), 0);
  EXPECT_EQ(rollback.out.str(),
            "HTTPRoute shop/billing rolled back to revision 3 (now at revision 6)\n");
  auto requests = fake.requests();
  EXPECT_EQ(requests[0].target, "/api/v1/history/HTTPRoute/shop/billing");
  EXPECT_EQ(requests.back().method, "POST");
  EXPECT_EQ(requests.back().target, "/api/v1/rollback/HTTPRoute/shop/billing?to=3");
}

}  // namespace
}  // namespace trellis::cli
