#pragma once
// trellisd's HTTP/JSON API (the CLI and the dashboard use it); see docs/api.md. Reads are open
// to whoever reaches the listener (loopback by default); anything that changes state needs
// `Authorization: Bearer <token>`, except certificate requests, which carry their own
// credential (a join token, or the certificate being renewed).

#include <string>

#include "controlplane/identity/certificate_service.h"
#include "controlplane/trellisd/control_plane.h"
#include "http/control_server.h"

namespace trellis::controlplane {

class Api {
 public:
  Api(ControlPlane& controlPlane, std::string token, CertificateService& certificates,
      JoinTokens& joinTokens)
      : controlPlane_(controlPlane),
        token_(std::move(token)),
        certificates_(certificates),
        joinTokens_(joinTokens) {}

  http::ControlResponse handle(const http::ControlRequest& request);
  /// Reads are open; anything else needs the token (checked before a body is read).
  bool mayReadBody(const http::ControlRequest& request) const {
    return request.method == "GET" || request.method == "HEAD" || authorized(request) ||
           isCertificateRequest(request);
  }

 private:
  http::ControlResponse resources(const http::ControlRequest& request);
  http::ControlResponse apply(const http::ControlRequest& request);
  http::ControlResponse history(const ResourceKey& key);
  http::ControlResponse proxies();
  http::ControlResponse proxyConfig(const std::string& id);
  http::ControlResponse metrics();
  http::ControlResponse createJoinToken(const http::ControlRequest& request);
  http::ControlResponse issueCertificate(const http::ControlRequest& request);
  http::ControlResponse trustBundle();
  bool authorized(const http::ControlRequest& request) const;
  static bool isCertificateRequest(const http::ControlRequest& request) {
    return request.method == "POST" && request.path == "/api/v1/identity/certificates";
  }

  ControlPlane& controlPlane_;
  std::string token_;
  CertificateService& certificates_;
  JoinTokens& joinTokens_;
};

}  // namespace trellis::controlplane
