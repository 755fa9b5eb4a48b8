#pragma once
// The admin listener: health, readiness, Prometheus stats, config dump, cluster view and
// reload. Runs on the main thread's loop, never on a worker, so a slow scrape cannot delay
// traffic. Bound to loopback unless the operator explicitly chooses another address.

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/event_loop.h"
#include "common/socket.h"

namespace trellis::proxy {

struct AdminResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};

class AdminServer {
 public:
  /// `handler(method, path)` produces the response for each request.
  using Handler = std::function<AdminResponse(std::string_view method, std::string_view path)>;

  AdminServer(EventLoop& loop, Handler handler);
  ~AdminServer();
  /// Binds and listens; returns an error message on failure.
  std::string listen(const SocketAddress& address);
  uint16_t port() const { return port_; }
  void close();

 private:
  class Acceptor;
  class Client;
  EventLoop& loop_;
  Handler handler_;
  std::unique_ptr<Acceptor> acceptor_;
  std::unordered_map<Client*, std::unique_ptr<Client>> clients_;
  uint16_t port_ = 0;
};

}  // namespace trellis::proxy
