#include "controlplane/registry/registry.h"

#include <gtest/gtest.h>

namespace trellis::controlplane {
namespace {

using std::chrono::seconds;

Registration billing(std::string id, std::string address) {
  return {std::move(id), "shop", "billing", std::move(address), {8080}, {{"version", "v1"}}, {}};
}

TEST(Registry, ConnectedProxiesAreEndpointsOfTheirService) {
  Registry registry(seconds(10));
  registry.connected(billing("b-1", "10.0.0.1"));
  registry.connected(billing("b-2", "10.0.0.2"));
  registry.connected({"c-1", "shop", "checkout", "10.0.0.3", {8080}, {}, {}});
  auto endpoints = registry.endpoints("shop", "billing");
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_EQ(endpoints[0].address, "10.0.0.1");
  EXPECT_EQ(endpoints[1].address, "10.0.0.2");
  EXPECT_TRUE(endpoints[0].connected);
  EXPECT_TRUE(registry.endpoints("auth", "billing").empty()) << "namespaces are separate";
}

TEST(Registry, ADisconnectedProxyLeavesOnlyAfterTheGracePeriod) {
  Registry registry(seconds(10));
  const auto t0 = Clock::time_point{} + seconds(100);
  registry.connected(billing("b-1", "10.0.0.1"));
  const uint64_t before = registry.version();
  registry.disconnected("b-1", t0);
  EXPECT_EQ(registry.version(), before) << "nothing traffic sees has changed yet";
  ASSERT_EQ(registry.endpoints("shop", "billing").size(), 1u);
  EXPECT_FALSE(registry.endpoints("shop", "billing")[0].connected);
  EXPECT_EQ(registry.nextExpiry(), t0 + seconds(10));
  EXPECT_EQ(registry.expire(t0 + seconds(9)), 0u);
  EXPECT_EQ(registry.expire(t0 + seconds(10)), 1u);
  EXPECT_TRUE(registry.endpoints("shop", "billing").empty());
  EXPECT_GT(registry.version(), before);
  EXPECT_FALSE(registry.nextExpiry());
}

TEST(Registry, AReconnectWithinTheGraceKeepsTheEndpointWithoutAPush) {
  Registry registry(seconds(10));
  const auto t0 = Clock::time_point{} + seconds(100);
  registry.connected(billing("b-1", "10.0.0.1"));
  registry.disconnected("b-1", t0);
  const uint64_t before = registry.version();
  registry.connected(billing("b-1", "10.0.0.1"));  // e.g. trellisd restarted
  EXPECT_EQ(registry.version(), before);
  EXPECT_EQ(registry.expire(t0 + seconds(60)), 0u);
  EXPECT_TRUE(registry.endpoints("shop", "billing")[0].connected);
}

TEST(Registry, AnInstanceThatComesBackDifferentIsAChange) {
  Registry registry(seconds(10));
  registry.connected(billing("b-1", "10.0.0.1"));
  const uint64_t before = registry.version();
  registry.connected(billing("b-1", "10.0.0.9"));  // restarted with a new address
  EXPECT_GT(registry.version(), before);
  EXPECT_EQ(registry.endpoints("shop", "billing")[0].address, "10.0.0.9");
}

TEST(Registry, NextExpiryIsTheEarliestRunningGrace) {
  Registry registry(seconds(10));
  const auto t0 = Clock::time_point{} + seconds(100);
  registry.connected(billing("b-1", "10.0.0.1"));
  registry.connected(billing("b-2", "10.0.0.2"));
  registry.disconnected("b-2", t0 + seconds(3));
  registry.disconnected("b-1", t0 + seconds(5));
  registry.disconnected("b-2", t0 + seconds(8));  // a repeated disconnect does not extend it
  EXPECT_EQ(registry.nextExpiry(), t0 + seconds(13));
}

TEST(Registry, RestoredInstancesAreEndpointsInTheirGracePeriod) {
  Registry registry(seconds(10));
  const auto t0 = Clock::time_point{} + seconds(100);
  registry.restore(billing("b-1", "10.0.0.1"), t0);
  ASSERT_TRUE(registry.contains("b-1"));
  auto endpoints = registry.endpoints("shop", "billing");
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_FALSE(endpoints[0].connected);
  // Its proxy comes back: it stays, connected, and no longer expires.
  registry.restore(billing("b-2", "10.0.0.2"), t0);
  registry.connected(billing("b-1", "10.0.0.1"));
  EXPECT_EQ(registry.expire(t0 + seconds(10)), 1u) << "b-2 never came back";
  EXPECT_TRUE(registry.contains("b-1"));
  EXPECT_FALSE(registry.contains("b-2"));
  // Restoring what is already known changes nothing.
  const uint64_t version = registry.version();
  registry.restore(billing("b-1", "10.0.0.9"), t0);
  EXPECT_EQ(registry.version(), version);
  EXPECT_EQ(registry.endpoints("shop", "billing")[0].address, "10.0.0.1");
}

}  // namespace
}  // namespace trellis::controlplane

namespace trellis::controlplane {
namespace {

// A proxy that comes back with another identity (it got a certificate, or another service
// account) changes what its callers must expect: that is a change.
TEST(Registry, AnIdentityChangeIsAChange) {
  Registry registry(std::chrono::seconds(10));
  Registration plain = billing("b-1", "10.0.0.1");
  registry.connected(plain);
  const uint64_t before = registry.version();
  registry.connected(plain);
  EXPECT_EQ(registry.version(), before);
  Registration withIdentity = plain;
  withIdentity.identity = "spiffe://trellis.local/ns/shop/sa/billing";
  registry.connected(withIdentity);
  EXPECT_GT(registry.version(), before);
  ASSERT_EQ(registry.endpoints("shop", "billing").size(), 1u);
  EXPECT_EQ(registry.endpoints("shop", "billing")[0].identity, withIdentity.identity);
}

}  // namespace
}  // namespace trellis::controlplane
