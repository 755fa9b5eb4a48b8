#pragma once
// A scripted stand-in for trellisd's HTTP API on 127.0.0.1: one thread, one request per
// connection, answers from a handler; records every request for the test to inspect.

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trellis::cli::testing {

struct FakeRequest {
  std::string method;
  std::string target;         // path and query
  std::string authorization;  // the Authorization header, if any
  std::string body;
};

struct FakeReply {
  int status = 200;
  std::string body;
};

class FakeApi {
 public:
  using Handler = std::function<FakeReply(const FakeRequest&)>;
  explicit FakeApi(Handler handler);
  ~FakeApi();
  FakeApi(const FakeApi&) = delete;
  FakeApi& operator=(const FakeApi&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<FakeRequest> requests() const;

 private:
  void serve();
  void handle(int fd);

  Handler handler_;
  int listenFd_ = -1;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<FakeRequest> requests_;
};

/// A loopback port that is bound but not listening, so connecting to it is refused for as long as
/// this object lives (no other process can take the port meanwhile).
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace trellis::cli::testing
