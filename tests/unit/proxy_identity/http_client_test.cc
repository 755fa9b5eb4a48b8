// The identity client's HTTP/1.1 exchange against a scripted loopback server: status, body and
// framing, timeouts, truncated and invalid answers, cancellation.
#include "proxy/identity/http_client.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "test_server.h"

namespace trellis::proxy::identity {
namespace {

using testing::ReceivedRequest;
using testing::response;
using testing::ScriptedAnswer;
using testing::TestServer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

HttpClient::Options fast(int cancelFd = -1) {
  HttpClient::Options options;
  options.connectTimeout = milliseconds(500);
  options.readTimeout = milliseconds(300);
  options.cancelFd = cancelFd;
  return options;
}

TEST(HttpClientTest, PostsJsonAndReturnsStatusTypeAndBody) {
  TestServer server([](const ReceivedRequest&) {
    return ScriptedAnswer{{response(403, R"({"error":"no","reason":"token_expired"})")}};
  });
  HttpResult result = HttpClient(server.address(), fast())
                          .request("POST", "/api/v1/identity/certificates", R"({"csr":"x"})");
  ASSERT_TRUE(result.response) << result.error;
  EXPECT_EQ(result.response->status, 403);
  EXPECT_EQ(result.response->contentType, "application/json");
  EXPECT_EQ(result.response->body, R"({"error":"no","reason":"token_expired"})");

  ASSERT_EQ(server.requests().size(), 1u);
  const ReceivedRequest request = server.requests().front();
  EXPECT_EQ(request.head.substr(0, request.head.find("\r\n")),
            "POST /api/v1/identity/certificates HTTP/1.1");
  EXPECT_NE(request.head.find("content-type: application/json"), std::string::npos);
  EXPECT_NE(request.head.find("content-length: 11"), std::string::npos);
  EXPECT_EQ(request.body, R"({"csr":"x"})");
}

TEST(HttpClientTest, ReadsABodyThatArrivesInPieces) {
  const std::string body(40000, 'b');
  const std::string whole = response(200, body);
  TestServer server([&](const ReceivedRequest&) {
    return ScriptedAnswer{{whole.substr(0, 10), whole.substr(10, 30000), whole.substr(30010)},
                          milliseconds(20)};
  });
  HttpResult result = HttpClient(server.address(), fast()).request("GET", "/bundle");
  ASSERT_TRUE(result.response) << result.error;
  EXPECT_EQ(result.response->status, 200);
  EXPECT_EQ(result.response->body, body);
  // GET without a body sends no content-length.
  EXPECT_EQ(server.requests().front().head.find("content-length"), std::string::npos);
}

TEST(HttpClientTest, SkipsInformationalAnswers) {
  TestServer server([](const ReceivedRequest&) {
    return ScriptedAnswer{{"HTTP/1.1 100 Continue\r\n\r\n" + response(200, "{}")}};
  });
  HttpResult result = HttpClient(server.address(), fast()).request("POST", "/x", "{}");
  ASSERT_TRUE(result.response) << result.error;
  EXPECT_EQ(result.response->status, 200);
  EXPECT_EQ(result.response->body, "{}");
}

TEST(HttpClientTest, ReadsUntilCloseWithoutContentLength) {
  TestServer server([](const ReceivedRequest&) {
    return ScriptedAnswer{{"HTTP/1.0 200 OK\r\n\r\n", "abc", "def"}, milliseconds(10)};
  });
  HttpResult result = HttpClient(server.address(), fast()).request("GET", "/x");
  ASSERT_TRUE(result.response) << result.error;
  EXPECT_EQ(result.response->body, "abcdef");
}

TEST(HttpClientTest, ConnectionRefused) {
  uint16_t port;
  {
    TestServer closed([](const ReceivedRequest&) { return ScriptedAnswer{}; });
    port = closed.port();
  }
  HttpResult result =
      HttpClient(*SocketAddress::parse("127.0.0.1", port), fast()).request("GET", "/x");
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("connecting to 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << result.error;
  EXPECT_NE(result.error.find("refused"), std::string::npos) << result.error;
}

TEST(HttpClientTest, ReadTimeoutWhenTheServerSaysNothing) {
  TestServer server([](const ReceivedRequest&) { return ScriptedAnswer{{}, {}, true}; });
  const auto start = Clock::now();
  HttpResult result = HttpClient(server.address(), fast()).request("GET", "/x");
  const auto took = Clock::now() - start;
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("no answer within 300 ms"), std::string::npos) << result.error;
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(2000));
}

TEST(HttpClientTest, ReadTimeoutCoversTheWholeAnswer) {
  // A server that trickles a byte at a time never gets more than the read timeout in total.
  const std::string whole = response(200, std::string(100, 'x'));
  TestServer server([&](const ReceivedRequest&) {
    ScriptedAnswer answer;
    for (char c : whole) answer.pieces.emplace_back(1, c);
    answer.pause = milliseconds(20);
    return answer;
  });
  const auto start = Clock::now();
  HttpResult result = HttpClient(server.address(), fast()).request("GET", "/x");
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("no answer within"), std::string::npos) << result.error;
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
}

TEST(HttpClientTest, ConnectTimeoutWhenTheBacklogIsFull) {
  // A listener that never accepts, with its backlog full: the kernel drops further SYNs.
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  const SocketAddress target = *SocketAddress::parse("127.0.0.1", ntohs(address.sin_port));
  HttpClient::Options options = fast();
  options.connectTimeout = milliseconds(200);
  HttpResult result;
  // Fill the queue; the first connect that does not complete is the one under test.
  for (int i = 0; i < 8; ++i) {
    result = HttpClient(target, options).request("GET", "/x");
    if (result.error.find("connecting to") != std::string::npos) break;
  }
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("connecting to " + target.toString() + ": no answer within 200 ms"),
            std::string::npos)
      << result.error;
  ::close(listener);
}

TEST(HttpClientTest, TruncatedBodyIsAnError) {
  TestServer server([](const ReceivedRequest&) {
    const std::string whole = response(200, std::string(100, 'x'));
    return ScriptedAnswer{{whole.substr(0, whole.size() - 90)}};
  });
  HttpResult result = HttpClient(server.address(), fast()).request("GET", "/x");
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("closed the connection after 10 of 100 body bytes"),
            std::string::npos)
      << result.error;
}

TEST(HttpClientTest, TruncatedHeadIsAnError) {
  TestServer server(
      [](const ReceivedRequest&) { return ScriptedAnswer{{"HTTP/1.1 200 OK\r\ncontent-len"}}; });
  HttpResult result = HttpClient(server.address(), fast()).request("GET", "/x");
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("before the end of the response head"), std::string::npos)
      << result.error;
}

TEST(HttpClientTest, InvalidResponsesAreNamedByTheParser) {
  TestServer server([](const ReceivedRequest&) {
    return ScriptedAnswer{{"SMTP ready\r\n\r\n"}, {}, true};
  });
  HttpResult result = HttpClient(server.address(), fast()).request("GET", "/x");
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("invalid response: bad_status_line"), std::string::npos)
      << result.error;
}

TEST(HttpClientTest, ConflictingFramingIsRefused) {
  TestServer server([](const ReceivedRequest&) {
    return ScriptedAnswer{{"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc"}};
  });
  HttpResult result = HttpClient(server.address(), fast()).request("GET", "/x");
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("invalid response: bad_content_length"), std::string::npos)
      << result.error;
}

TEST(HttpClientTest, ChunkedAnswersAreRefused) {
  TestServer server([](const ReceivedRequest&) {
    return ScriptedAnswer{
        {"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"}};
  });
  HttpResult result = HttpClient(server.address(), fast()).request("GET", "/x");
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("chunked"), std::string::npos) << result.error;
}

TEST(HttpClientTest, OversizedAnswersAreRefused) {
  TestServer server([](const ReceivedRequest&) {
    return ScriptedAnswer{{"HTTP/1.1 200 OK\r\ncontent-length: 5000000\r\n\r\n"}, {}, true};
  });
  HttpResult result = HttpClient(server.address(), fast()).request("GET", "/x");
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("5000000 body bytes; at most"), std::string::npos) << result.error;
}

TEST(HttpClientTest, CancelEndsAWaitingRequestAtOnce) {
  TestServer server([](const ReceivedRequest&) { return ScriptedAnswer{{}, {}, true}; });
  const int cancel = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  HttpClient::Options options = fast(cancel);
  options.readTimeout = milliseconds(10000);
  std::thread canceller([cancel] {
    std::this_thread::sleep_for(milliseconds(100));
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(cancel, &one, sizeof one);
  });
  const auto start = Clock::now();
  HttpResult result = HttpClient(server.address(), options).request("GET", "/x");
  canceller.join();
  EXPECT_FALSE(result.response);
  EXPECT_NE(result.error.find("cancelled"), std::string::npos) << result.error;
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  ::close(cancel);
}

}  // namespace
}  // namespace trellis::proxy::identity
