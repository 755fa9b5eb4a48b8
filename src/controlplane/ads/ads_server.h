#pragma once
// trellisd's xDS v3 Aggregated Discovery Service, state of the world, over the gRPC C++
// callback API (one reactor per stream, no thread per stream). The server holds, per node id,
// what the node should have (NodeConfig, set by trellisd) and pushes each type whenever its
// version changes and the node's stream has an outstanding request for it; see subscription.h
// for the protocol rules.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/ads/node_auth.h"
#include "controlplane/ads/node_config.h"
#include "controlplane/ads/node_info.h"
#include "controlplane/ads/proxy_status.h"

namespace grpc {
class Server;
}

namespace trellis::controlplane {

class AdsService;
class AdsServerState;

class AdsServer {
 public:
  /// trellisd's view of node lifecycles. Calls are serialized (one at a time, across all
  /// streams), made without the server's other locks held, on gRPC threads: keep them quick.
  /// They may call setNodeConfig, but not stop().
  class Hooks {
   public:
    virtual ~Hooks() = default;
    /// A stream's first request arrived (every stream: a reconnect may announce new facts).
    virtual void nodeConnected(const NodeInfo&) = 0;
    /// The node's last open stream ended (any reason). When a node reconnects before its old
    /// stream is known dead, this comes only once both have ended, so the pair of calls never
    /// leaves a connected node marked disconnected.
    virtual void nodeDisconnected(const NodeInfo&) = 0;
    /// A stream's named (non-wildcard) subscription to `typeUrl` changed; `names` is the new
    /// set, sorted, possibly empty. trellisd computes resources it has not built yet (e.g. the
    /// LDS name "billing.shop:8080" of a proxyless gRPC client) and calls setNodeConfig.
    virtual void namesRequested(const NodeInfo&, const std::string& typeUrl,
                                const std::vector<std::string>& names) = 0;
  };

  /// Counters for /metrics.
  struct Counters {
    uint64_t responses = 0;
    uint64_t acks = 0;
    uint64_t nacks = 0;
    uint64_t streamsActive = 0;
    uint64_t streamsTotal = 0;
    uint64_t nodesRefused = 0;  // by refuseNode(): a claim the stream did not prove
  };

  /// The mutual-TLS port: trellisd's serving certificate and the roots client certificates
  /// must chain to, as PEM files that gRPC re-reads (every `refreshSeconds`), so a renewed
  /// certificate or a new bundle is served without a restart.
  struct MutualTlsPort {
    std::string address;
    std::string keyFile;
    std::string chainFile;  // leaf first; may be keyFile (one PEM with both)
    std::string rootsFile;
    unsigned refreshSeconds = 60;
  };

  explicit AdsServer(Hooks& hooks, NodeAuthPolicy authPolicy = {});
  ~AdsServer();  // stops
  AdsServer(const AdsServer&) = delete;
  AdsServer& operator=(const AdsServer&) = delete;

  /// Listens on `address` in plaintext ("127.0.0.1:0" picks a port; "": none) and, if given,
  /// on the mutual-TLS port. Returns an error text, or "" on success.
  std::string start(const std::string& address,
                    const std::optional<MutualTlsPort>& mutualTls = std::nullopt);
  int port() const { return port_; }
  int mutualTlsPort() const { return mutualTlsPort_; }
  /// Ends every stream (UNAVAILABLE) and the server; returns once every stream is done and
  /// every hook call has returned. Idempotent; a stopped server does not start again.
  void stop();

  /// What `nodeId` should hold (null: same as removeNodeConfig). Thread-safe. Pushes the types
  /// whose resources changed to the node's open streams, in CDS, EDS, LDS, RDS order.
  void setNodeConfig(const std::string& nodeId, std::shared_ptr<const NodeConfig> config);
  /// Nothing more is pushed to `nodeId` until a config is set again.
  void removeNodeConfig(const std::string& nodeId);

  /// Every node seen, connected or not, until forget(); ordered by node id.
  std::vector<ProxyStatus> status() const;
  /// Drops a disconnected node's status (a connected node's stays), and its hold on its id.
  void forget(const std::string& nodeId);
  /// A node known from before a restart (its registration restored) holds its id, for the
  /// identity it had, until it reconnects or is forgotten: no one else takes it meanwhile.
  void reserve(const std::string& nodeId, const std::string& identity);
  Counters counters() const;

 private:
  std::unique_ptr<AdsServerState> state_;
  std::unique_ptr<AdsService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  int mutualTlsPort_ = 0;
  bool stopped_ = false;
};

}  // namespace trellis::controlplane
