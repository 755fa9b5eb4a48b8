#include "resilience/outlier_detector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace trellis::resilience {
namespace {

struct Cluster {
  explicit Cluster(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      owned.push_back(std::make_unique<EndpointHealth>());
      endpoints.push_back(owned.back().get());
    }
  }
  bool report(size_t i, Outcome outcome, int status, int64_t now) {
    return OutlierDetector::report(config, shared, endpoints, i, outcome, status, now);
  }
  config::OutlierDetection config;
  ClusterShared shared;
  std::vector<std::unique_ptr<EndpointHealth>> owned;
  std::vector<EndpointHealth*> endpoints;
};

TEST(OutlierDetector, ConsecutiveFiveXxEjects) {
  Cluster c(3);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(c.report(0, Outcome::ServerError, 500, 1000));
  EXPECT_TRUE(c.report(0, Outcome::ServerError, 500, 1000));
  EXPECT_TRUE(c.endpoints[0]->ejected(1000));
  EXPECT_TRUE(c.endpoints[0]->ejected(1000 + 29'999));
  EXPECT_FALSE(c.endpoints[0]->ejected(1000 + 30'000));
  EXPECT_EQ(c.shared.healthVersion.load(), 1u);
}

TEST(OutlierDetector, SuccessResetsTheCount) {
  Cluster c(3);
  for (int i = 0; i < 4; ++i) c.report(0, Outcome::ServerError, 503, 1000);
  c.report(0, Outcome::Success, 200, 1000);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(c.report(0, Outcome::ServerError, 503, 1000));
}

TEST(OutlierDetector, EjectionTimeGrowsWithRepeatsAndIsCapped) {
  Cluster c(3);
  c.config.maxEjectionTime = config::Duration(70'000);
  int64_t now = 1000;
  for (int round = 1; round <= 4; ++round) {
    for (int i = 0; i < 5; ++i) c.report(0, Outcome::LocalOriginFailure, 0, now);
    int64_t until = c.endpoints[0]->ejectedUntilMs.load();
    EXPECT_EQ(until - now, std::min<int64_t>(30'000 * round, 70'000)) << round;
    now = until;
  }
}

TEST(OutlierDetector, MaxEjectionPercentButAtLeastOne) {
  Cluster c(3);  // 10 % of 3 rounds to 0: one endpoint may still be ejected
  for (int i = 0; i < 5; ++i) c.report(0, Outcome::ServerError, 500, 1000);
  for (int i = 0; i < 5; ++i) c.report(1, Outcome::ServerError, 500, 1000);
  EXPECT_TRUE(c.endpoints[0]->ejected(1000));
  EXPECT_FALSE(c.endpoints[1]->ejected(1000));
  c.config.maxEjectionPercent = 100;
  EXPECT_TRUE(c.report(1, Outcome::ServerError, 500, 1000));
}

TEST(OutlierDetector, ConcurrentEjectionsNeverPassMaxEjectionPercent) {
  // Workers report failures of different endpoints at the same moment; each round must end
  // with at most the allowed share ejected (8 endpoints, 25 %: 2).
  for (int round = 0; round < 100; ++round) {
    Cluster c(8);
    c.config.maxEjectionPercent = 25;
    c.config.consecutive5xx = 1;
    std::atomic<int> ready{0};
    std::vector<std::thread> workers;
    for (size_t w = 0; w < 4; ++w) {
      workers.emplace_back([&c, &ready, w] {
        ready.fetch_add(1);
        while (ready.load() < 4) {
        }
        for (int repeat = 0; repeat < 10; ++repeat) {
          c.report(2 * w, Outcome::ServerError, 503, 1000);
          c.report(2 * w + 1, Outcome::ServerError, 503, 1000);
        }
      });
    }
    for (auto& worker : workers) worker.join();
    size_t ejected = 0;
    for (const EndpointHealth* e : c.endpoints) ejected += e->ejected(1000) ? 1 : 0;
    ASSERT_EQ(ejected, 2u) << "round " << round;
    EXPECT_FALSE(c.shared.ejecting.load());
  }
}

TEST(OutlierDetector, GatewayErrorsAloneWhenConfigured) {
  Cluster c(3);
  c.config.consecutive5xx = 0;
  c.config.consecutiveGatewayErrors = 2;
  EXPECT_FALSE(c.report(0, Outcome::ServerError, 500, 1000));
  EXPECT_FALSE(c.report(0, Outcome::ServerError, 502, 1000));
  EXPECT_TRUE(c.report(0, Outcome::ServerError, 504, 1000));
}

TEST(OutlierDetector, SuccessRateOutlierIsEjectedAtTheSweep) {
  Cluster c(5);
  c.config.consecutive5xx = 0;
  c.config.successRateStdevFactor = 1000;  // 1 stdev
  c.config.successRateRequestVolume = 10;
  c.config.successRateMinimumHosts = 5;
  c.config.maxEjectionPercent = 100;
  c.report(0, Outcome::Success, 200, 1000);  // starts the interval
  for (size_t e = 0; e < 5; ++e) {
    for (int i = 0; i < 20; ++i) {
      bool fail = e == 4 && i % 2 == 0;  // endpoint 4: 50 % success, others 100 %
      c.report(e, fail ? Outcome::ServerError : Outcome::Success, fail ? 500 : 200, 2000);
    }
  }
  EXPECT_FALSE(c.endpoints[4]->ejected(2000));
  c.report(0, Outcome::Success, 200, 1000 + 10'000);  // the sweep is due
  EXPECT_TRUE(c.endpoints[4]->ejected(11'000));
  for (size_t e = 0; e < 4; ++e) EXPECT_FALSE(c.endpoints[e]->ejected(11'000)) << e;
}

}  // namespace
}  // namespace trellis::resilience
