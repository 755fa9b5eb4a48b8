#pragma once
// trellisd's HTTP/JSON API (the CLI and the dashboard use it); see docs/api.md. Reads are open
// to whoever reaches the listener (loopback by default); anything that changes state needs
// `Authorization: Bearer <token>`.

#include <string>

#include "controlplane/trellisd/control_plane.h"
#include "http/control_server.h"

namespace trellis::controlplane {

class Api {
 public:
  Api(ControlPlane& controlPlane, std::string token)
      : controlPlane_(controlPlane), token_(std::move(token)) {}

  http::ControlResponse handle(const http::ControlRequest& request);
  /// Reads are open; anything else needs the token (checked before a body is read).
  bool mayReadBody(const http::ControlRequest& request) const {
    return request.method == "GET" || request.method == "HEAD" || authorized(request);
  }

 private:
  http::ControlResponse resources(const http::ControlRequest& request);
  http::ControlResponse apply(const http::ControlRequest& request);
  http::ControlResponse history(const ResourceKey& key);
  http::ControlResponse proxies();
  http::ControlResponse proxyConfig(const std::string& id);
  http::ControlResponse metrics();
  bool authorized(const http::ControlRequest& request) const;

  ControlPlane& controlPlane_;
  std::string token_;
};

}  // namespace trellis::controlplane
