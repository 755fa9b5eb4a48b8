#pragma once
// TLS between mesh proxies (OpenSSL 3, TLS 1.3 only): an immutable context built from the
// workload's SPIFFE certificate and the trust bundle, and the per-worker cache of client
// sessions that lets the next connection to the same upstream resume instead of paying for a
// full handshake.
//
// A context is never changed once built: a renewed certificate or a new bundle makes a new
// context, and every connection keeps (shared_ptr) the one it started with.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct ssl_ctx_st;
struct ssl_session_st;

namespace trellis::tls {

enum class Side : uint8_t { Server, Client };

/// ALPN protocol ids the mesh speaks.
inline constexpr std::string_view kAlpnH2 = "h2";
inline constexpr std::string_view kAlpnHttp11 = "http/1.1";
/// Mesh-internal: the stream carries proxied TCP bytes, not HTTP.
inline constexpr std::string_view kAlpnMeshTcp = "trellis-tcp";

class TlsContext {
 public:
  struct Options {
    Side side = Side::Server;
    /// Leaf first, then intermediates (PEM). Required for a server; a client without one
    /// presents no certificate (only useful against servers that do not require one).
    std::string certChainPem;
    std::string privateKeyPem;
    /// Every certificate in it is a trust anchor, self-signed or not; several during a root
    /// rotation.
    std::string trustBundlePem;
    /// Server: refuse clients without a certificate (mutual TLS). A client always verifies the
    /// server, so false is refused there.
    bool requirePeerCertificate = true;
    /// Server: the protocols accepted, most preferred first (the server's order wins; a client
    /// offering none of them is refused). Client: the protocols offered.
    std::vector<std::string> alpn;
  };

  /// Builds the context; nullptr and a precise `error` when an input is unusable (PEM that
  /// does not parse, a key that does not match the certificate, a missing bundle, ...).
  static std::shared_ptr<const TlsContext> create(const Options& options, std::string* error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  Side side() const { return side_; }
  /// The SPIFFE ID of this context's own certificate ("" when it has none).
  const std::string& localIdentity() const { return localIdentity_; }
  /// Server: the ALPN protocols accepted, in preference order; client: those offered.
  const std::vector<std::string>& alpn() const { return alpn_; }
  ssl_ctx_st* native() const { return ctx_; }

 private:
  TlsContext() = default;

  ssl_ctx_st* ctx_ = nullptr;
  Side side_ = Side::Server;
  std::string localIdentity_;
  std::vector<std::string> alpn_;
};

/// Client sessions (TLS 1.3 tickets) by upstream, e.g. "cluster|10.0.0.7:8443". One per worker:
/// not thread-safe, and it must outlive the connections that use it. Bounded: past `capacity`
/// keys the least recently used one goes.
class ClientSessionCache {
 public:
  explicit ClientSessionCache(size_t capacity = 1024) : capacity_(capacity) {}
  ~ClientSessionCache();
  ClientSessionCache(const ClientSessionCache&) = delete;
  ClientSessionCache& operator=(const ClientSessionCache&) = delete;

  /// The session to offer for `key`, or nullptr; an expired or spent one is dropped. Borrowed:
  /// valid until the next call that changes the cache (SSL_set_session takes its own ref).
  ssl_session_st* find(std::string_view key);
  /// Keeps a copy of `session` for `key` (the newest ticket wins). A copy, because OpenSSL
  /// marks the session of a connection freed without close_notify as not resumable.
  void store(std::string_view key, ssl_session_st* session);
  void erase(std::string_view key);
  size_t size() const { return lru_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    std::string key;
    ssl_session_st* session;
  };
  size_t capacity_;
  std::list<Entry> lru_;  // most recently used first
  // Keys point into the list nodes, which never move.
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

}  // namespace trellis::tls
