// decode(encode(s)) over a corpus of configurations: the config dump is the original's (with its
// route tables grouped per host, as routing::RouteTable compiles them, and weight-0 endpoints
// left out), a second round trip changes nothing, and every request routes as before.

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/dump.h"
#include "config/loader.h"
#include "routing/route_table.h"
#include "routing/rule_match.h"
#include "xds/codec/codec.h"

namespace trellis::xds {
namespace {

std::vector<std::string> corpus() {
  std::vector<std::string> files;
  for (const char* dir : {TRELLIS_XDS_CORPUS_DIR, TRELLIS_EXAMPLES_DIR "/proxy"}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
    }
  }
  // Every resilience kind in one file (BackendPolicy, RoutePolicy, the listeners' limits).
  if (std::filesystem::exists(TRELLIS_EXAMPLES_DIR "/resilience.yaml")) {
    files.push_back(TRELLIS_EXAMPLES_DIR "/resilience.yaml");
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string dump(const config::Snapshot& snapshot) {
  return config::toJson(snapshot).dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The per-host grouping written out independently of the codec: each distinct hostname (lower
// case; "*.x" wildcards; "*" for routes without hostnames) gets the rules of every route naming
// it, in precedence order. Exact names sort before wildcards, the catch-all comes last.
config::RouteTableConfig groupedPerHost(const config::RouteTableConfig& routes) {
  std::map<std::pair<int, std::string>, std::vector<const config::RouteRule*>> groups;
  for (const auto& route : routes.routes) {
    std::set<std::pair<int, std::string>> keys;
    if (route.hostnames.empty()) keys.insert({2, "*"});
    for (const std::string& name : route.hostnames) {
      keys.insert({name == "*" ? 2 : name.starts_with("*.") ? 1 : 0, name});
    }
    for (const auto& key : keys) {
      for (const auto& rule : route.rules) groups[key].push_back(&rule);
    }
  }
  config::RouteTableConfig out;
  for (auto& [key, rules] : groups) {
    std::vector<routing::RuleMatcher> sorted;
    for (const config::RouteRule* rule : rules) sorted.emplace_back(*rule);
    std::stable_sort(sorted.begin(), sorted.end(), routing::RuleMatcher::precedes);
    config::RouteTableConfig::HostRules host;
    if (key.first != 2) host.hostnames = {key.second};
    for (const auto& matcher : sorted) host.rules.push_back(*matcher.rule());
    out.routes.push_back(std::move(host));
  }
  return out;
}

config::Snapshot expectedAfterRoundTrip(const config::Snapshot& original) {
  config::Snapshot expected = original;
  for (config::Listener& listener : expected.listeners) {
    listener.routes = groupedPerHost(listener.routes);
  }
  for (auto& [name, cluster] : expected.clusters) {
    std::erase_if(cluster.endpoints, [](const config::Endpoint& e) { return e.weight == 0; });
  }
  return expected;
}

class RoundTrip : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    loaded_ = config::loadFile(GetParam());
    ASSERT_TRUE(loaded_.ok()) << GetParam() << ": " << loaded_.errors.front().toString();
    encoded_ = encode(*loaded_.snapshot);
    DecodeResult decoded = decode(encoded_);
    ASSERT_TRUE(decoded.snapshot) << decoded.error;
    decoded.snapshot->source = loaded_.snapshot->source;
    decoded_ = decoded.snapshot;
  }

  config::LoadResult loaded_;
  Resources encoded_;
  std::shared_ptr<const config::Snapshot> decoded_;
};

TEST_P(RoundTrip, ConfigDumpIsTheOriginals) {
  EXPECT_EQ(dump(*decoded_), dump(expectedAfterRoundTrip(*loaded_.snapshot)));
}

template <typename T>
void expectSameMessages(const std::vector<T>& a, const std::vector<T>& b) {
  ASSERT_EQ(a.size(), b.size());
  // The differencer logs each Any whose type is not linked in (HttpInspector); it then compares
  // the bytes, which is what we want.
  google::protobuf::LogSilencer silencer;
  for (size_t i = 0; i < a.size(); ++i) {
    std::string difference;
    google::protobuf::util::MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&difference);
    EXPECT_TRUE(differencer.Compare(a[i], b[i])) << a[i].GetTypeName() << " " << i << ":\n"
                                                 << difference;
  }
}

TEST_P(RoundTrip, EncodingTheDecodedSnapshotGivesTheSameResources) {
  Resources again = encode(*decoded_);
  expectSameMessages(again.listeners, encoded_.listeners);
  expectSameMessages(again.routes, encoded_.routes);
  expectSameMessages(again.clusters, encoded_.clusters);
  expectSameMessages(again.endpoints, encoded_.endpoints);
}

// Requests built from what the routes look at, so that most rules are hit, plus ones that
// match nothing.
struct Probe {
  std::string method, host, path, query;
  std::vector<std::pair<std::string, std::string>> headers;
};

std::vector<Probe> probesFor(const config::RouteTableConfig& routes) {
  std::set<std::string> hosts = {"", "unknown.test", "UNKNOWN.test:8080"};
  std::set<std::string> paths = {"/",
                                 "/nothing/here",
                                 "/items/42",
                                 "/items/abc",
                                 "/old/x",
                                 "/full/abc",
                                 "/e/abc",
                                 "/a.json",
                                 "/c\\d",
                                 "/helloworld.Greeter/SayHello",
                                 "/helloworld.Greeter/Other",
                                 "/x.Y/SayGoodbye",
                                 "/grpc.health.v1.Health/Check",
                                 "/s.T/Watch"};
  std::vector<std::vector<std::pair<std::string, std::string>>> headerSets = {{}};
  std::set<std::string> queries = {"", "q=trellis", "q=other", "sort=asc&page=2"};
  for (const auto& route : routes.routes) {
    for (const std::string& name : route.hostnames) {
      if (name.starts_with("*.")) {
        hosts.insert("a" + name.substr(1));
        hosts.insert("A.b" + name.substr(1) + ":443");
        hosts.insert(name.substr(2));
      } else {
        hosts.insert(name);
        hosts.insert(name + ".");
      }
    }
    for (const config::RouteRule& rule : route.rules) {
      const std::string& value = rule.match.path.value;
      if (rule.match.path.type != config::PathMatchType::RegularExpression) {
        paths.insert(value);
        paths.insert(value + "/sub");
        paths.insert(value + "x");
      }
      std::vector<std::pair<std::string, std::string>> headers;
      for (const config::ValueMatch& header : rule.match.headers) {
        headers.emplace_back(header.name, header.type == config::StringMatchType::Exact
                                              ? header.value
                                              : std::string("v7"));
      }
      if (!headers.empty()) headerSets.push_back(headers);
      std::string query;
      for (const config::ValueMatch& param : rule.match.queryParams) {
        if (param.type != config::StringMatchType::Exact) continue;
        query += (query.empty() ? "" : "&") + param.name + "=" + param.value;
      }
      queries.insert(query);
    }
  }
  std::vector<Probe> probes;
  for (const std::string& host : hosts) {
    for (const std::string& path : paths) {
      for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
        for (const auto& headers : headerSets) {
          for (const std::string& query : queries) {
            probes.push_back(Probe{method, host, path, query, headers});
          }
        }
      }
    }
  }
  return probes;
}

std::string describeRule(const config::RouteRule* rule) {
  if (rule == nullptr) return "404";
  std::string out = rule->routeName + " #" + std::to_string(rule->routeOrder) + "." +
                    std::to_string(rule->ruleIndex) + "." + std::to_string(rule->matchIndex);
  for (const auto& backend : rule->backends) {
    out += " " + backend.cluster + "=" + std::to_string(backend.weight);
  }
  return out;
}

TEST_P(RoundTrip, EveryRequestRoutesAsBefore) {
  ASSERT_EQ(decoded_->listeners.size(), loaded_.snapshot->listeners.size());
  for (size_t i = 0; i < decoded_->listeners.size(); ++i) {
    const config::Listener& original = loaded_.snapshot->listeners[i];
    if (!original.servesHttp()) continue;
    routing::RouteTable before(original.routes);
    routing::RouteTable after(decoded_->listeners[i].routes);
    size_t routed = 0;
    for (const Probe& probe : probesFor(original.routes)) {
      std::vector<http::HeaderField> headers;
      for (const auto& [name, value] : probe.headers) headers.push_back({name, value});
      routing::RequestView request{probe.method, probe.host, probe.path, probe.query, headers};
      const config::RouteRule* expected = before.match(request);
      const config::RouteRule* actual = after.match(request);
      routed += expected != nullptr;
      ASSERT_EQ(describeRule(actual), describeRule(expected))
          << probe.method << " " << probe.host << probe.path << "?" << probe.query;
    }
    if (!original.routes.routes.empty()) {
      EXPECT_GT(routed, 0u) << original.name;
    }
  }
}

TEST_P(RoundTrip, StaticModeGivesTheDecodedSnapshot) {
  config::LoadResult viaXds = loadFileViaXds(GetParam());
  ASSERT_TRUE(viaXds.ok()) << viaXds.errors.front().toString();
  EXPECT_EQ(viaXds.snapshot->source, GetParam());
  EXPECT_EQ(dump(*viaXds.snapshot), dump(*decoded_));
  ASSERT_EQ(viaXds.warnings.size(), loaded_.warnings.size());
  for (size_t i = 0; i < viaXds.warnings.size(); ++i) {
    EXPECT_EQ(viaXds.warnings[i].toString(), loaded_.warnings[i].toString());
  }
}

std::string testName(const ::testing::TestParamInfo<std::string>& info) {
  std::filesystem::path path(info.param);
  std::string name = path.parent_path().filename().string() + "_" + path.stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, RoundTrip, ::testing::ValuesIn(corpus()), testName);

TEST(RoundTripCorpus, CoversAtLeastFifteenConfigurations) {
  EXPECT_GE(corpus().size(), 15u);
}

TEST(StaticMode, LoadErrorsAreTheLoadersOwn) {
  config::LoadResult result = loadFileViaXds(TRELLIS_XDS_CORPUS_DIR "/does-not-exist.yaml");
  EXPECT_FALSE(result.ok());
  config::LoadResult direct = config::loadFile(TRELLIS_XDS_CORPUS_DIR "/does-not-exist.yaml");
  ASSERT_EQ(result.errors.size(), direct.errors.size());
  EXPECT_EQ(result.errors.front().toString(), direct.errors.front().toString());
}

}  // namespace
}  // namespace trellis::xds
