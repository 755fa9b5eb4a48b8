#pragma once
// A scripted HTTP server for the identity client's tests: a loopback listener on its own thread
// that takes one connection at a time, reads the request (head and content-length body) and
// answers with whatever the test's handler says, byte for byte: a normal response, a truncated
// one, silence, or garbage.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/socket.h"

namespace trellis::proxy::identity::testing {

struct ReceivedRequest {
  std::string head;  // request line and fields, up to the blank line
  std::string body;
};

struct ScriptedAnswer {
  std::vector<std::string> pieces;  // written one after the other, with `pause` between
  std::chrono::milliseconds pause{0};
  bool holdOpen = false;  // after writing, keep the connection until the client closes it
};

class TestServer {
 public:
  using Handler = std::function<ScriptedAnswer(const ReceivedRequest&)>;

  explicit TestServer(Handler handler, int backlog = 16) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(fd_, backlog);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  SocketAddress address() const { return *SocketAddress::parse("127.0.0.1", port_); }
  uint16_t port() const { return port_; }
  std::vector<ReceivedRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  bool readable(int fd, int timeoutMs) const {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeoutMs) > 0;
  }

  void serve() {
    while (!stop_) {
      if (!readable(fd_, 20)) continue;
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      handle(client);
      ::close(client);
    }
  }

  void handle(int client) {
    std::string in;
    ReceivedRequest request;
    size_t end = std::string::npos;
    size_t contentLength = 0;
    while (!stop_) {
      if (end == std::string::npos) {
        end = in.find("\r\n\r\n");
        if (end != std::string::npos) {
          request.head = in.substr(0, end);
          if (auto at = request.head.find("content-length: "); at != std::string::npos) {
            contentLength = std::stoul(request.head.substr(at + 16));
          }
        }
      }
      if (end != std::string::npos && in.size() >= end + 4 + contentLength) break;
      if (!readable(client, 20)) continue;
      char buffer[4096];
      const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      in.append(buffer, static_cast<size_t>(n));
    }
    if (stop_) return;
    request.body = in.substr(end + 4, contentLength);
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    const ScriptedAnswer answer = handler_(request);
    for (size_t i = 0; i < answer.pieces.size(); ++i) {
      if (i > 0) std::this_thread::sleep_for(answer.pause);
      if (::send(client, answer.pieces[i].data(), answer.pieces[i].size(), MSG_NOSIGNAL) < 0) {
        return;  // the client gave up
      }
    }
    while (answer.holdOpen && !stop_) {
      if (!readable(client, 20)) continue;
      char buffer[256];
      if (::recv(client, buffer, sizeof buffer, 0) <= 0) break;
    }
  }

  Handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  std::thread thread_;
};

/// A complete response with a content-length body.
inline std::string response(int status, const std::string& body,
                            const std::string& contentType = "application/json") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\ncontent-type: " + contentType +
         "\r\ncontent-length: " + std::to_string(body.size()) + "\r\nconnection: close\r\n\r\n" +
         body;
}

}  // namespace trellis::proxy::identity::testing
