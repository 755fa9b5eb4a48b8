#include "proxy/mesh_tls.h"

#include <vector>

namespace trellis::proxy {
namespace {

std::shared_ptr<const tls::TlsContext> context(tls::Side side, const std::string& chainPem,
                                               const std::string& keyPem,
                                               const std::string& bundlePem,
                                               std::vector<std::string> alpn, std::string* error) {
  tls::TlsContext::Options options;
  options.side = side;
  options.certChainPem = chainPem;
  options.privateKeyPem = keyPem;
  options.trustBundlePem = bundlePem;
  options.requirePeerCertificate = true;  // mutual TLS both ways
  options.alpn = std::move(alpn);
  return tls::TlsContext::create(options, error);
}

}  // namespace

std::shared_ptr<const MeshTls> MeshTls::build(const std::string& chainPem,
                                              const std::string& keyPem,
                                              const std::string& bundlePem, std::string* error) {
  std::string why;
  auto fail = [&](std::string what) -> std::shared_ptr<const MeshTls> {
    if (error != nullptr) *error = std::move(what);
    return nullptr;
  };
  if (chainPem.empty()) return fail("no certificate chain");
  if (keyPem.empty()) return fail("no private key");
  if (bundlePem.empty()) return fail("no trust bundle");
  auto mesh = std::make_shared<MeshTls>();
  // The server's order wins: h2 where the client offers it, so one connection multiplexes.
  mesh->server = context(
      tls::Side::Server, chainPem, keyPem, bundlePem,
      {std::string(tls::kAlpnH2), std::string(tls::kAlpnHttp11), std::string(tls::kAlpnMeshTcp)},
      &why);
  if (!mesh->server) return fail(why);
  if (mesh->server->localIdentity().empty()) {
    return fail("the certificate (the first of the chain) has no SPIFFE ID in a URI SAN");
  }
  // One client context per upstream protocol: the ALPN offered tells the peer's inbound
  // listener what the stream carries.
  mesh->clientHttp1 = context(tls::Side::Client, chainPem, keyPem, bundlePem,
                              {std::string(tls::kAlpnHttp11)}, &why);
  if (!mesh->clientHttp1) return fail(why);
  mesh->clientHttp2 =
      context(tls::Side::Client, chainPem, keyPem, bundlePem, {std::string(tls::kAlpnH2)}, &why);
  if (!mesh->clientHttp2) return fail(why);
  mesh->clientTcp = context(tls::Side::Client, chainPem, keyPem, bundlePem,
                            {std::string(tls::kAlpnMeshTcp)}, &why);
  if (!mesh->clientTcp) return fail(why);
  mesh->identity = mesh->server->localIdentity();
  return mesh;
}

}  // namespace trellis::proxy
