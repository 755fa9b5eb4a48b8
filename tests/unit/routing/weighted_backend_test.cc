#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "routing/route_table.h"

namespace trellis::routing {
namespace {

using Backends = std::vector<config::WeightedBackend>;

// Counts how often each index is chosen when `random` takes every value in [0, n).
std::vector<int> histogram(const Backends& backends, uint64_t n) {
  std::vector<int> counts(backends.size(), 0);
  for (uint64_t r = 0; r < n; ++r) {
    const int i = pickWeightedBackend(backends, r);
    EXPECT_GE(i, 0);
    if (i >= 0) ++counts[static_cast<size_t>(i)];
  }
  return counts;
}

TEST(PickWeightedBackend, EmptyOrAllZeroIsMinusOne) {
  EXPECT_EQ(pickWeightedBackend({}, 7), -1);
  const Backends zeros{{"a", 0}, {"b", 0}};
  EXPECT_EQ(pickWeightedBackend(zeros, 0), -1);
  EXPECT_EQ(pickWeightedBackend(zeros, 12345), -1);
}

TEST(PickWeightedBackend, ZeroWeightNeverChosen) {
  const Backends backends{{"zero-first", 0}, {"a", 3}, {"zero-mid", 0}, {"b", 1}, {"zero", 0}};
  const std::vector<int> counts = histogram(backends, 4 * 100);
  EXPECT_EQ(counts, (std::vector<int>{0, 300, 0, 100, 0}));
}

TEST(PickWeightedBackend, ExactProportionsOverAFullCycle) {
  const Backends backends{{"a", 1}, {"b", 2}, {"c", 7}};
  EXPECT_EQ(histogram(backends, 10 * 50), (std::vector<int>{50, 100, 350}));
}

TEST(PickWeightedBackend, SingleBackendAlwaysChosenAtAnyRandom) {
  const Backends one{{"a", 5}};
  EXPECT_EQ(pickWeightedBackend(one, 0), 0);
  EXPECT_EQ(pickWeightedBackend(one, std::numeric_limits<uint64_t>::max()), 0);
}

TEST(PickWeightedBackend, LargeWeightsAndExtremeRandoms) {
  const uint32_t big = std::numeric_limits<uint32_t>::max();
  const Backends backends{{"a", big}, {"b", big}, {"c", 1}};
  EXPECT_EQ(pickWeightedBackend(backends, 0), 0);
  EXPECT_EQ(pickWeightedBackend(backends, big), 1);
  EXPECT_EQ(pickWeightedBackend(backends, 2ull * big), 2);
  EXPECT_EQ(pickWeightedBackend(backends, 2ull * big + 1), 0);  // wraps modulo the total
  const int i = pickWeightedBackend(backends, std::numeric_limits<uint64_t>::max());
  EXPECT_TRUE(i >= 0 && i <= 2);
}

TEST(PickWeightedBackend, UnresolvedBackendCanBeChosen) {
  // The Gateway API wants requests for an unresolved backendRef answered with 500, in
  // proportion to its weight, so the empty cluster stays selectable.
  const Backends backends{{"", 1}, {"ok", 1}};
  EXPECT_EQ(histogram(backends, 2), (std::vector<int>{1, 1}));
}

}  // namespace
}  // namespace trellis::routing
