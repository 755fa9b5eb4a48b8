#include "proxy/local_reply.h"

#include "http/status.h"

#include <gtest/gtest.h>

namespace trellis::proxy {
namespace {

TEST(LocalReply, CarriesReasonHeaderAndBody) {
  Buffer out;
  writeLocalReply(out, 503, "upstream_connect_timeout", "rid-1", {}, true);
  EXPECT_EQ(out.view(),
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
            "content-length: 25\r\nx-trellis-reason: upstream_connect_timeout\r\n"
            "x-request-id: rid-1\r\n\r\nupstream_connect_timeout\n");
}

TEST(LocalReply, RedirectAndClose) {
  Buffer out;
  writeLocalReply(out, 301, "redirect", {}, "http://x/", false);
  EXPECT_NE(out.view().find("location: http://x/\r\n"), std::string_view::npos);
  EXPECT_NE(out.view().find("connection: close\r\n"), std::string_view::npos);
  EXPECT_EQ(http::reasonPhrase(431), "Request Header Fields Too Large");
}

}  // namespace
}  // namespace trellis::proxy
