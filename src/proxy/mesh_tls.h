#pragma once
// This proxy's workload certificate as the TLS contexts its connections use: one server context
// for inbound mutual TLS (ALPN h2, http/1.1, trellis-tcp) and one client context per upstream
// protocol (the ALPN offered differs). Immutable: a renewed certificate or a new trust bundle
// makes a new MeshTls, handed to workers in the next ActiveConfig, so open connections keep the
// contexts they started with (docs/zero-trust.md).

#include <memory>
#include <string>

#include "config/model.h"
#include "tls/tls_context.h"

namespace trellis::proxy {

struct MeshTls {
  std::string identity;  // this proxy's SPIFFE ID
  std::shared_ptr<const tls::TlsContext> server;
  std::shared_ptr<const tls::TlsContext> clientHttp1;
  std::shared_ptr<const tls::TlsContext> clientHttp2;
  std::shared_ptr<const tls::TlsContext> clientTcp;

  /// The client context for a cluster speaking `protocol`.
  const std::shared_ptr<const tls::TlsContext>& client(config::UpstreamProtocol protocol) const {
    switch (protocol) {
      case config::UpstreamProtocol::Http2:
        return clientHttp2;
      case config::UpstreamProtocol::Tcp:
        return clientTcp;
      case config::UpstreamProtocol::Http1:
        break;
    }
    return clientHttp1;
  }

  /// Builds every context from PEM: the certificate chain (leaf first), its private key and
  /// the trust bundle. Null and a precise `error` if one of them is unusable.
  static std::shared_ptr<const MeshTls> build(const std::string& chainPem,
                                              const std::string& keyPem,
                                              const std::string& bundlePem, std::string* error);
};

}  // namespace trellis::proxy
