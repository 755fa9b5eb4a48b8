// RingHash and Maglev: stickiness, spread by weight, minimal disruption, health.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lb_test_util.h"
#include "upstream/lb/endpoint_key.h"
#include "upstream/lb/maglev.h"
#include "upstream/lb/ring_hash.h"

namespace trellis::upstream {
namespace {

using config::LbPolicy;
using testing::keyHash;
using testing::makeCluster;
using testing::maxRelativeError;
using testing::statesOf;

constexpr uint64_t kKeys = 100000;

class ConsistentHash : public ::testing::TestWithParam<LbPolicy> {
 protected:
  // Endpoint chosen for each key, as a host string so that clusters can be compared.
  std::vector<std::string> assignment(const config::Cluster& cluster,
                                      const std::vector<EndpointState>& states, uint64_t seed = 1) {
    auto lb = makeLoadBalancer(cluster, states, seed);
    std::vector<std::string> hosts;
    hosts.reserve(kKeys);
    for (uint64_t i = 0; i < kKeys; ++i) {
      const int chosen = lb->pick({keyHash(i)});
      hosts.push_back(chosen < 0 ? "" : cluster.endpoints[chosen].host);
    }
    return hosts;
  }
  static double maxDisruption() { return GetParam() == LbPolicy::RingHash ? 0.2 : 0.12; }
  static double movedFraction(const std::vector<std::string>& before,
                              const std::vector<std::string>& after) {
    uint64_t moved = 0;
    for (size_t i = 0; i < before.size(); ++i) moved += before[i] != after[i] ? 1 : 0;
    return static_cast<double>(moved) / static_cast<double>(before.size());
  }
};

TEST_P(ConsistentHash, SameKeySameEndpointAcrossInstancesAndSeeds) {
  const auto cluster = makeCluster(GetParam(), {1, 2, 3, 1, 1});
  const auto states = statesOf(cluster);
  EXPECT_EQ(assignment(cluster, states, 1), assignment(cluster, states, 999));
  auto lb = makeLoadBalancer(cluster, states, 5);
  const int first = lb->pick({stableHash("user-42")});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lb->pick({stableHash("user-42")}), first);
}

TEST_P(ConsistentHash, EndpointOrderDoesNotMatter) {
  auto cluster = makeCluster(GetParam(), {1, 1, 1, 1, 1, 1});
  const auto before = assignment(cluster, statesOf(cluster));
  std::swap(cluster.endpoints[0], cluster.endpoints[5]);
  std::swap(cluster.endpoints[2], cluster.endpoints[3]);
  const auto after = assignment(cluster, statesOf(cluster));
  // Ring hash is order-independent; Maglev's turn order leaves a small residue.
  EXPECT_LT(movedFraction(before, after), GetParam() == LbPolicy::RingHash ? 1e-9 : 0.05);
}

TEST_P(ConsistentHash, KeysSpreadByWeight) {
  const std::vector<uint32_t> weights = {1, 2, 3, 4, 0, 2};
  const auto cluster = makeCluster(GetParam(), weights);
  const auto hosts = assignment(cluster, statesOf(cluster));
  std::vector<uint64_t> counts(weights.size(), 0);
  for (const auto& host : hosts) {
    for (size_t e = 0; e < cluster.endpoints.size(); ++e) {
      if (cluster.endpoints[e].host == host) counts[e]++;
    }
  }
  EXPECT_EQ(counts[4], 0u);
  const double error = maxRelativeError(counts, weights);
  EXPECT_LT(error, GetParam() == LbPolicy::RingHash ? 0.2 : 0.04);
  // A larger ring is proportionally more even.
  if (GetParam() == LbPolicy::RingHash) {
    auto bigRing = cluster;
    bigRing.ringHashMinSize = 1 << 16;
    const auto bigHosts = assignment(bigRing, statesOf(bigRing));
    std::fill(counts.begin(), counts.end(), 0);
    for (const auto& host : bigHosts) {
      for (size_t e = 0; e < bigRing.endpoints.size(); ++e) {
        if (bigRing.endpoints[e].host == host) counts[e]++;
      }
    }
    EXPECT_LT(maxRelativeError(counts, weights), 0.05);
  }
}

TEST_P(ConsistentHash, RemovingOneOfTenEndpointsMovesAboutATenth) {
  const auto cluster = makeCluster(GetParam(), std::vector<uint32_t>(10, 1));
  const auto before = assignment(cluster, statesOf(cluster));
  auto smaller = cluster;
  smaller.endpoints.erase(smaller.endpoints.begin() + 3);
  const auto after = assignment(smaller, statesOf(smaller));
  const std::string& removed = cluster.endpoints[3].host;
  uint64_t wereOnRemoved = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] == removed) {
      ++wereOnRemoved;
      EXPECT_NE(after[i], removed);
    }
  }
  const double moved = movedFraction(before, after);
  const double minimum = static_cast<double>(wereOnRemoved) / kKeys;
  EXPECT_GE(moved, minimum);
  // Ideal 0.10. Maglev comes close; Envoy's ring sizing gives each survivor more entries
  // (ceil(1024 / 9) instead of ceil(1024 / 10)), which moves about 8% more.
  EXPECT_LT(moved, maxDisruption());
  ::testing::Test::RecordProperty("moved_fraction", std::to_string(moved));
  std::printf("[ info ] %s: removing 1 of 10 moved %.4f of keys (%.4f were on it)\n",
              GetParam() == LbPolicy::RingHash ? "ring" : "maglev", moved, minimum);
}

TEST_P(ConsistentHash, AddingAnEndpointMovesAboutItsShare) {
  const auto cluster = makeCluster(GetParam(), std::vector<uint32_t>(10, 1));
  auto larger = makeCluster(GetParam(), std::vector<uint32_t>(11, 1));
  const auto before = assignment(cluster, statesOf(cluster));
  const auto after = assignment(larger, statesOf(larger));
  EXPECT_LT(movedFraction(before, after), maxDisruption());  // ideal 1/11
}

TEST_P(ConsistentHash, UnhealthyEndpointOnlyMovesItsOwnKeys) {
  const auto cluster = makeCluster(GetParam(), std::vector<uint32_t>(8, 1));
  auto states = statesOf(cluster);
  const auto before = assignment(cluster, states);
  states[2].healthy = false;
  const auto after = assignment(cluster, states);
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] == cluster.endpoints[2].host) {
      ASSERT_NE(after[i], before[i]);
      ASSERT_NE(after[i], "");
    } else {
      ASSERT_EQ(after[i], before[i]) << "key " << i;
    }
  }
  // Mostly unhealthy: still only healthy endpoints, still sticky.
  for (size_t e = 0; e < 7; ++e) states[e].healthy = false;
  const auto lastOneStanding = assignment(cluster, states);
  for (const auto& host : lastOneStanding) ASSERT_EQ(host, cluster.endpoints[7].host);
  // None healthy: panic mode restores the full mapping.
  states[7].healthy = false;
  EXPECT_EQ(assignment(cluster, states), before);
}

TEST_P(ConsistentHash, WithoutHashFallsBackToWeightedRandom) {
  const std::vector<uint32_t> weights = {1, 3};
  const auto cluster = makeCluster(GetParam(), weights);
  const auto states = statesOf(cluster);
  auto lb = makeLoadBalancer(cluster, states, 17);
  const auto counts = testing::countPicks(*lb, 2, 40000);
  EXPECT_LT(maxRelativeError(counts, weights), 0.03);
}

TEST_P(ConsistentHash, ExtremeKeysWrapAround) {
  const auto cluster = makeCluster(GetParam(), {1, 1, 1});
  const auto states = statesOf(cluster);
  auto lb = makeLoadBalancer(cluster, states, 1);
  for (uint64_t hash : {uint64_t{0}, ~uint64_t{0}, uint64_t{1} << 63}) {
    const int chosen = lb->pick({hash});
    EXPECT_GE(chosen, 0);
    EXPECT_LT(chosen, 3);
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, ConsistentHash,
                         ::testing::Values(LbPolicy::RingHash, LbPolicy::Maglev),
                         [](const auto& info) {
                           return info.param == LbPolicy::RingHash ? "RingHash" : "Maglev";
                         });

TEST(RingHash, RingSizeFollowsMinimumAndWeights) {
  auto cluster = makeCluster(LbPolicy::RingHash, {1, 1, 1});
  auto states = statesOf(cluster);
  EXPECT_EQ(RingHashBalancer(cluster, states, 1).ringSize(), 1026u);  // 3 * ceil(1024 / 3)
  cluster.ringHashMinSize = 0;
  EXPECT_EQ(RingHashBalancer(cluster, states, 1).ringSize(), 3u);
  cluster.ringHashMinSize = 0xffffffffu;
  EXPECT_EQ(RingHashBalancer(cluster, states, 1).ringSize(), RingHashBalancer::kMaxRingSize);
  const auto skewed = makeCluster(LbPolicy::RingHash, {1, 1000});
  const auto skewedStates = statesOf(skewed);
  EXPECT_EQ(RingHashBalancer(skewed, skewedStates, 1).ringSize(), 2u * 1001u);
}

TEST(RingHash, KeyAtAnEntryGoesToThatEntry) {
  const auto cluster = makeCluster(LbPolicy::RingHash, std::vector<uint32_t>(50, 1));
  const auto states = statesOf(cluster);
  RingHashBalancer lb(cluster, states, 1);
  for (size_t e = 0; e < cluster.endpoints.size(); ++e) {
    for (int j = 0; j < 10; ++j) {
      const uint64_t entry = stableHash(endpointHashKey(cluster, e) + "_" + std::to_string(j));
      ASSERT_EQ(lb.pick({entry}), static_cast<int>(e));
      ASSERT_EQ(lb.pick({entry - 1}), static_cast<int>(e));  // first entry at or after the key
    }
  }
  // Past the last entry wraps to the first, which is also where the smallest keys go.
  EXPECT_EQ(lb.pick({~uint64_t{0}}), lb.pick({0}));
}

// With one entry per endpoint the ring does not rescale when endpoints go, so walking past
// unhealthy entries must give exactly the mapping of a ring without them.
TEST(RingHash, UnhealthyEntriesAreWalkedPastLikeRemovedOnes) {
  auto cluster = makeCluster(LbPolicy::RingHash, std::vector<uint32_t>(20, 1));
  cluster.ringHashMinSize = 1;
  auto states = statesOf(cluster);
  RingHashBalancer withUnhealthy(cluster, states, 1);
  ASSERT_EQ(withUnhealthy.ringSize(), 20u);
  auto reduced = cluster;
  for (size_t e : {17, 9, 4}) {
    states[e].healthy = false;
    reduced.endpoints.erase(reduced.endpoints.begin() + static_cast<std::ptrdiff_t>(e));
  }
  const auto reducedStates = statesOf(reduced);
  RingHashBalancer withoutThem(reduced, reducedStates, 1);
  for (uint64_t i = 0; i < 20000; ++i) {
    const int a = withUnhealthy.pick({keyHash(i)});
    const int b = withoutThem.pick({keyHash(i)});
    ASSERT_EQ(cluster.endpoints[a].host, reduced.endpoints[b].host) << "key " << i;
  }
}

TEST(RingHash, ExtremeWeightSkewIsCapped) {
  const auto cluster = makeCluster(LbPolicy::RingHash, {1, 0xffffffffu});
  const auto states = statesOf(cluster);
  RingHashBalancer lb(cluster, states, 1);
  EXPECT_LE(lb.ringSize(), RingHashBalancer::kMaxRingSize + 2);
  EXPECT_GE(lb.pick({keyHash(1)}), 0);
  // The light endpoint keeps its single entry, found exactly inside a crowded lookup bucket.
  const uint64_t lightEntry = stableHash(endpointHashKey(cluster, 0) + "_0");
  EXPECT_EQ(lb.pick({lightEntry}), 0);
  EXPECT_EQ(lb.pick({lightEntry - 1}), 0);
  EXPECT_EQ(lb.pick({lightEntry + 1}), 1);
}

TEST(Maglev, TableSizeIsPrime) {
  auto cluster = makeCluster(LbPolicy::Maglev, {1, 1});
  const auto states = statesOf(cluster);
  EXPECT_EQ(MaglevBalancer(cluster, states, 1).tableSize(), 65537u);
  cluster.maglevTableSize = 1000;
  EXPECT_EQ(MaglevBalancer(cluster, states, 1).tableSize(), 1009u);
  cluster.maglevTableSize = 0;
  EXPECT_EQ(MaglevBalancer(cluster, states, 1).tableSize(), 7u);
  cluster.maglevTableSize = 0xffffffffu;
  EXPECT_EQ(MaglevBalancer(cluster, states, 1).tableSize(), MaglevBalancer::kMaxTableSize);
  EXPECT_EQ(nextPrime(0), 2u);
  EXPECT_EQ(nextPrime(5000011), 5000011u);
}

TEST(Maglev, MoreEndpointsThanSlotsStillWorks) {
  auto cluster = makeCluster(LbPolicy::Maglev, std::vector<uint32_t>(20, 1));
  cluster.maglevTableSize = 7;
  const auto states = statesOf(cluster);
  MaglevBalancer lb(cluster, states, 1);
  for (uint64_t i = 0; i < 100; ++i) EXPECT_GE(lb.pick({keyHash(i)}), 0);
}

TEST(EndpointKey, FormatsHostAndPort) {
  config::Cluster cluster;
  cluster.endpoints.push_back({"10.1.2.3", 8080, 1, {}});
  cluster.endpoints.push_back({"fd00::1", 443, 1, {}});
  EXPECT_EQ(endpointHashKey(cluster, 0), "10.1.2.3:8080");
  EXPECT_EQ(endpointHashKey(cluster, 1), "[fd00::1]:443");
  EXPECT_EQ(endpointHashKey(cluster, 2), "#2");
}

}  // namespace
}  // namespace trellis::upstream
