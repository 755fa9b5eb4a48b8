#pragma once
// The admin listener: health, readiness, Prometheus stats, config dump, cluster view and
// reload. Runs on the main thread's loop, never on a worker, so a slow scrape cannot delay
// traffic. Bound to loopback unless the operator explicitly chooses another address.

#include <functional>
#include <memory>
#include <string>

#include "common/event_loop.h"
#include "common/socket.h"
#include "http/control_server.h"

namespace trellis::proxy {

using AdminResponse = http::ControlResponse;

class AdminServer {
 public:
  /// `handler(method, path)` produces the response for each request (bodies are ignored).
  using Handler = std::function<AdminResponse(std::string_view method, std::string_view path)>;

  AdminServer(EventLoop& loop, Handler handler)
      : server_(
            loop,
            [handler = std::move(handler)](const http::ControlRequest& request) {
              return handler(request.method, request.path);
            },
            http::ControlServer::Options{}) {}
  /// Binds and listens; returns an error message on failure.
  std::string listen(const SocketAddress& address) { return server_.listen(address); }
  uint16_t port() const { return server_.port(); }
  void close() { server_.close(); }

 private:
  http::ControlServer server_;
};

}  // namespace trellis::proxy
