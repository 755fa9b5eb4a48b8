#include "proxy/head_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace trellis::proxy {
namespace {

http::RequestHead parse(std::string& text) {
  http::RequestHead head;
  http::ParseError error;
  EXPECT_EQ(http::parseRequestHead(text.data(), text.size(), http::Limits{}, head, error),
            http::ParseStatus::Complete);
  return head;
}

TEST(HeadWriter, ForwardsRequestWithoutHopByHopFields) {
  std::string text =
      "GET /a?b=c HTTP/1.1\r\nHost: example\r\nConnection: keep-alive, x-secret\r\n"
      "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nAccept: */*\r\n\r\n";
  auto head = parse(text);
  Buffer out;
  ForwardedRequest fwd{"/a", "b=c", "example", "10.0.0.1", "id-1", false, false};
  writeUpstreamRequestHead(out, head, nullptr, fwd);
  EXPECT_EQ(out.view(),
            "GET /a?b=c HTTP/1.1\r\nhost: example\r\nte: trailers\r\naccept: */*\r\n"
            "x-forwarded-for: 10.0.0.1\r\nx-forwarded-proto: http\r\nx-request-id: id-1\r\n\r\n");
}

TEST(HeadWriter, AppliesHeaderModifierAndAppendsForwardedFor) {
  std::string text =
      "POST /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n"
      "X-Drop: a\r\nX-Set: old\r\nTransfer-Encoding: chunked\r\n\r\n";
  auto head = parse(text);
  config::HeaderModifier modifier;
  modifier.set = {{"x-set", "new"}};
  modifier.add = {{"x-add", "1"}};
  modifier.remove = {"x-drop"};
  Buffer out;
  ForwardedRequest fwd{"/rewritten", "", "backend", "2.2.2.2", "rid", false, true};
  writeUpstreamRequestHead(out, head, &modifier, fwd);
  EXPECT_EQ(out.view(),
            "POST /rewritten HTTP/1.1\r\nhost: backend\r\nx-forwarded-proto: https\r\n"
            "x-set: new\r\nx-add: 1\r\ntransfer-encoding: chunked\r\n"
            "x-forwarded-for: 1.1.1.1, 2.2.2.2\r\nx-request-id: rid\r\n\r\n");
}

TEST(HeadWriter, ManyConnectionOptionsAreAllHonoured) {
  std::string text = "GET / HTTP/1.1\r\nHost: h\r\nConnection: ";
  for (int i = 0; i < 20; ++i) text += "x-o" + std::to_string(i) + ", ";
  text += "x-last\r\nX-O3: a\r\nX-O19: b\r\nX-Last: c\r\nX-Kept: d\r\n\r\n";
  auto head = parse(text);
  EXPECT_TRUE(isHopByHop("x-o19", head));
  EXPECT_TRUE(isHopByHop("x-last", head));
  EXPECT_FALSE(isHopByHop("x-kept", head));
  Buffer out;
  ForwardedRequest fwd{"/", "", "h", "ip", "id", false, false};
  writeUpstreamRequestHead(out, head, nullptr, fwd);
  EXPECT_EQ(out.view().find("x-o3"), std::string_view::npos);
  EXPECT_EQ(out.view().find("x-o19"), std::string_view::npos);
  EXPECT_EQ(out.view().find("x-last"), std::string_view::npos);
  EXPECT_NE(out.view().find("x-kept: d"), std::string_view::npos);
}

TEST(HeadWriter, KeepsUpgradeOnlyForUpgrades) {
  std::string text =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  auto head = parse(text);
  Buffer out;
  ForwardedRequest fwd{"/ws", "", "h", "ip", "id", true, false};
  writeUpstreamRequestHead(out, head, nullptr, fwd);
  EXPECT_NE(out.view().find("upgrade: websocket\r\nconnection: upgrade\r\n"),
            std::string_view::npos);
  Buffer plain;
  fwd.upgrade = false;
  writeUpstreamRequestHead(plain, head, nullptr, fwd);
  EXPECT_EQ(plain.view().find("upgrade"), std::string_view::npos);
}

TEST(HeadWriter, ResponseConnectionHandling) {
  std::string text =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n"
      "Keep-Alive: timeout=4\r\nX-Resp: v\r\n\r\n";
  http::ResponseHead head;
  http::ParseError error;
  ASSERT_EQ(http::parseResponseHead(text.data(), text.size(), http::Limits{}, "GET", head, error),
            http::ParseStatus::Complete);
  Buffer out;
  writeDownstreamResponseHead(out, head, nullptr, ForwardedResponse{false, false, false, false});
  EXPECT_EQ(out.view(),
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-resp: v\r\nconnection: close\r\n\r\n");
  Buffer old;
  writeDownstreamResponseHead(old, head, nullptr, ForwardedResponse{false, true, true, false});
  EXPECT_NE(old.view().find("connection: keep-alive\r\n"), std::string_view::npos);
}

TEST(HeadWriter, UuidIsVersion4) {
  char uuid[36];
  formatUuid(0xffffffffffffffffULL, 0, uuid);
  std::string text(uuid, 36);
  EXPECT_EQ(text.size(), 36u);
  EXPECT_EQ(text[8], '-');
  EXPECT_EQ(text[14], '4');
  EXPECT_EQ(text[19], '8');
}

}  // namespace
}  // namespace trellis::proxy
