// The per-type SotW rules, without gRPC: when a response is due, ACK/NACK/stale requests,
// wildcard and named subscriptions.
#include "controlplane/ads/subscription.h"

#include <gtest/gtest.h>

namespace trellis::controlplane {
namespace {

using Kind = TypeSubscription::RequestKind;

TypeResources resources(std::string version, std::vector<std::string> names) {
  TypeResources out;
  out.version = std::move(version);
  for (auto& name : names) {
    google::protobuf::Any any;
    any.set_type_url("type.googleapis.com/test");
    any.set_value(name);
    out.resources.emplace_back(std::move(name), std::move(any));
  }
  return out;
}

std::vector<std::string> namesOf(const TypeSubscription::Selection& selection) {
  std::vector<std::string> out;
  for (const auto* resource : selection) out.push_back(resource->first);
  return out;
}

// Sends what is due and returns its names; fails the test if nothing is due.
std::vector<std::string> send(TypeSubscription& sub, const TypeResources& available,
                              const std::string& nonce) {
  auto due = sub.due(&available);
  EXPECT_TRUE(due.has_value()) << "a response was due";
  if (!due) return {};
  sub.sent(available.version, *due, nonce);
  return namesOf(*due);
}

const std::optional<std::string> kNoError;

TEST(TypeSubscription, NothingIsDueBeforeARequestOrWithoutResources) {
  TypeSubscription sub;
  const auto v1 = resources("v1", {"a"});
  EXPECT_FALSE(sub.due(&v1));
  EXPECT_EQ(sub.onRequest({}, "", kNoError).kind, Kind::kInitial);
  EXPECT_FALSE(sub.due(nullptr)) << "the request waits until the node's config has the type";
  EXPECT_EQ(send(sub, v1, "1"), std::vector<std::string>{"a"});
  EXPECT_FALSE(sub.due(&v1)) << "answered: no request outstanding";
  const auto v2 = resources("v2", {"a", "b"});
  EXPECT_FALSE(sub.due(&v2)) << "a new version waits for the client's ACK";
}

TEST(TypeSubscription, AnAckOfTheLastResponseMakesTheNextVersionDue) {
  TypeSubscription sub;
  const auto v1 = resources("v1", {"a"});
  sub.onRequest({}, "", kNoError);
  send(sub, v1, "1");
  const auto ack = sub.onRequest({}, "1", kNoError);
  EXPECT_EQ(ack.kind, Kind::kAck);
  EXPECT_EQ(ack.version, "v1");
  EXPECT_FALSE(sub.due(&v1)) << "the client holds v1";
  const auto v2 = resources("v2", {"a", "b"});
  EXPECT_EQ(send(sub, v2, "2"), (std::vector<std::string>{"a", "b"}));
}

TEST(TypeSubscription, ANackedVersionIsNeverSentAgainButALaterOneIs) {
  TypeSubscription sub;
  const auto v1 = resources("v1", {"a"});
  sub.onRequest({}, "", kNoError);
  send(sub, v1, "1");
  const auto nack = sub.onRequest({}, "1", std::string("bad cluster"));
  EXPECT_EQ(nack.kind, Kind::kNack);
  EXPECT_EQ(nack.version, "v1");
  EXPECT_FALSE(sub.due(&v1));
  EXPECT_EQ(sub.onRequest({}, "1", kNoError).kind, Kind::kRepeat);
  EXPECT_FALSE(sub.due(&v1)) << "still NACKed";
  const auto v2 = resources("v2", {"a"});
  send(sub, v2, "2");
  EXPECT_EQ(sub.onRequest({}, "2", kNoError).kind, Kind::kAck);
  EXPECT_FALSE(sub.due(&v1)) << "going back to the rejected version is refused too";
}

TEST(TypeSubscription, AStaleNonceRefreshesNamesOnly) {
  TypeSubscription sub;
  const auto v1 = resources("v1", {"a", "b"});
  sub.onRequest({"a"}, "", kNoError);
  EXPECT_EQ(send(sub, v1, "1"), std::vector<std::string>{"a"});
  sub.onRequest({"a"}, "1", kNoError);
  const auto v2 = resources("v2", {"a", "b"});
  EXPECT_EQ(send(sub, v2, "2"), std::vector<std::string>{"a"});
  // The client changes its names before it has seen response 2.
  const auto stale = sub.onRequest({"a", "b"}, "1", std::string("ignored"));
  EXPECT_EQ(stale.kind, Kind::kStale);
  EXPECT_TRUE(stale.namesChanged);
  EXPECT_FALSE(sub.due(&v2)) << "response 2 is still unanswered";
  EXPECT_EQ(sub.onRequest({"a", "b"}, "2", kNoError).kind, Kind::kAck);
  EXPECT_EQ(send(sub, v2, "3"), (std::vector<std::string>{"a", "b"}))
      << "same version, more names: sent again";
}

TEST(TypeSubscription, NamedSubscriptionsGetTheIntersection) {
  TypeSubscription sub;
  const auto v1 = resources("v1", {"a", "b", "c"});
  const auto first = sub.onRequest({"c", "a", "zz"}, "", kNoError);
  EXPECT_TRUE(first.namesChanged);
  EXPECT_FALSE(sub.wildcard());
  EXPECT_EQ(send(sub, v1, "1"), (std::vector<std::string>{"a", "c"}));
  const auto same = sub.onRequest({"a", "zz", "c"}, "1", kNoError);
  EXPECT_FALSE(same.namesChanged) << "order does not matter";
  EXPECT_FALSE(sub.due(&v1));
  const auto fewer = sub.onRequest({"zz"}, "1", kNoError);
  EXPECT_TRUE(fewer.namesChanged);
  EXPECT_EQ(fewer.kind, Kind::kRepeat);
  EXPECT_EQ(send(sub, v1, "2"), std::vector<std::string>{}) << "no longer holds a or c";
}

TEST(TypeSubscription, EmptyNamesAreAWildcardOnlyUntilTheClientNamesResources) {
  const auto v1 = resources("v1", {"a", "b"});
  TypeSubscription legacy;
  const auto first = legacy.onRequest({}, "", kNoError);
  EXPECT_TRUE(legacy.wildcard());
  EXPECT_FALSE(first.namesChanged) << "namesRequested is for named subscriptions";
  EXPECT_EQ(send(legacy, v1, "1"), (std::vector<std::string>{"a", "b"}));

  TypeSubscription named;
  named.onRequest({"a"}, "", kNoError);
  EXPECT_EQ(send(named, v1, "1"), std::vector<std::string>{"a"});
  const auto none = named.onRequest({}, "1", kNoError);
  EXPECT_FALSE(named.wildcard()) << "an empty list after names unsubscribes from everything";
  EXPECT_TRUE(none.namesChanged);
  EXPECT_EQ(send(named, v1, "2"), std::vector<std::string>{});
}

TEST(TypeSubscription, AStarIsAWildcardEvenWithNames) {
  const auto v1 = resources("v1", {"a", "b"});
  TypeSubscription sub;
  sub.onRequest({"a"}, "", kNoError);
  EXPECT_EQ(send(sub, v1, "1"), std::vector<std::string>{"a"});
  const auto star = sub.onRequest({"*", "a"}, "1", kNoError);
  EXPECT_TRUE(sub.wildcard());
  EXPECT_FALSE(star.namesChanged);
  EXPECT_EQ(send(sub, v1, "2"), (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace trellis::controlplane
