#pragma once
// A small HTTP/1.1 server for control endpoints: the proxy's admin listener and trellisd's API.
// One request per connection (answered with `connection: close`), bodies up to a bound, and a
// deadline for the whole request. Runs on one EventLoop, never on a data-path worker, so a slow
// client or scrape cannot delay traffic.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/event_loop.h"
#include "common/socket.h"

namespace trellis::http {

struct ControlRequest {
  std::string_view method;
  std::string_view path;           // without the query
  std::string_view query;          // after '?', without it
  std::string_view authorization;  // the Authorization header, if any
  std::string_view body;
};

struct ControlResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};

class ControlServer {
 public:
  using Handler = std::function<ControlResponse(const ControlRequest&)>;

  struct Options {
    size_t maxBodyBytes = 0;  // 413 beyond; 0 = bodies are not read (ignored)
    uint64_t requestTimeoutMs = 10000;
    size_t maxClients = 256;  // connections beyond are closed at once
    /// Decides on the head alone whether a body may be read (e.g. the token is right); when it
    /// says no, the handler is called with an empty body and must refuse the request.
    std::function<bool(const ControlRequest&)> mayReadBody;
  };

  ControlServer(EventLoop& loop, Handler handler, Options options);
  ~ControlServer();
  /// Binds and listens; returns an error message on failure.
  std::string listen(const SocketAddress& address);
  uint16_t port() const { return port_; }
  void close();

 private:
  class Acceptor;
  class Client;
  EventLoop& loop_;
  Handler handler_;
  Options options_;
  std::unique_ptr<Acceptor> acceptor_;
  std::unordered_map<Client*, std::unique_ptr<Client>> clients_;
  uint16_t port_ = 0;
};

}  // namespace trellis::http
