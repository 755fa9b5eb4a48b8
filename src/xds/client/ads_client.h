#pragma once
// trellis-proxy's xDS client: one ADS stream (state of the world) to trellisd over our own
// HTTP/2 client and gRPC framing (grpc_stream.h), never libgrpc. Runs on one EventLoop, the
// proxy's main loop; every method, status() included, must be called on that loop's thread.
//
// Subscriptions follow Envoy: wildcard CDS and LDS; EDS for the EDS clusters held, RDS for the
// route configurations the listeners name, both re-requested whenever those names change.
//
// Every response is answered at once. Its resources are unpacked and merged into a candidate
// set (response_merge.h); anything malformed is NACKed. When the candidate is complete (CDS and
// LDS received, and every route configuration, cluster and EDS assignment it references present;
// references.h), it is handed to the ApplyFn and the response is ACKed if that returned "" and
// NACKed with its message otherwise. An incomplete candidate is *warming*: the response is ACKed
// on its own merits (it parsed; the server may go on with the dependencies), held as accepted,
// and the proxy keeps serving the last applied set until the dependencies arrive. The response
// that completes the set then carries the ApplyFn's verdict in its ACK or NACK; if they have not
// arrived within the warming timeout (1 s), the held set is applied as it is and the ApplyFn's
// error, if any, is shown in status().lastApplyError, as no response is left to NACK. A NACK
// keeps the previous version_info, so the server knows what the proxy still runs.
//
// The stream is re-established with jittered exponential backoff (250 ms doubling to 10 s,
// reset by the first response on a stream) after a connect failure, a reset, GOAWAY, trailers,
// the connection's end, or input the client refuses (an unparsable message, one over 16 MiB).
// A new stream re-sends the versions held, so that the server may skip unchanged types, and the
// resync applies nothing unless something changed. The applied configuration stays in service
// throughout: the ApplyFn is never called with less than what the server last sent.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/buffer.h"
#include "common/event_loop.h"
#include "common/socket.h"
#include "envoy/config/core/v3/base.pb.h"
#include "http/http2/http2_types.h"
#include "xds/client/backoff.h"
#include "xds/client/grpc_stream.h"
#include "xds/client/node.h"
#include "xds/client/response_merge.h"
#include "xds/codec/resources.h"

namespace trellis::xds::client {

struct AdsClientOptions {
  std::string server;  // "HOST:PORT": an IPv4 literal, [IPv6 literal] or localhost
  NodeIdentity node;
  uint64_t warmingTimeoutMs = 1000;
  uint64_t initialBackoffMs = 250;
  uint64_t maxBackoffMs = 10000;
  uint64_t connectTimeoutMs = 5000;
  size_t maxMessageBytes = size_t{16} << 20;
  /// Subscribe to the trust bundle (SDS "ROOTCA"): a proxy with a workload certificate.
  bool trustBundle = false;
  /// Mutual TLS to the server: called at each connect, so a renewed certificate is used from
  /// the next stream on. Unset, or a null context: plaintext.
  struct Tls {
    std::shared_ptr<const tls::TlsContext> context;
    tls::PeerPolicy policy;
  };
  std::function<Tls()> tls;
  /// Told why each stream (or connect attempt) ended, before the reconnect is scheduled.
  std::function<void(const std::string& reason)> onStreamEnded;
};

/// One resource type as the admin page shows it.
struct AdsTypeStatus {
  std::string_view typeUrl;
  std::string ackedVersion;  // version_info of the last accepted response
  std::string lastNack;      // message of the last NACK ("" if none since start)
  std::string lastNackVersion;
  size_t resources = 0;                 // accepted resources of this type
  std::vector<std::string> subscribed;  // RDS/EDS names; empty for the wildcard types
  uint64_t responses = 0;
  uint64_t acks = 0;
  uint64_t nacks = 0;
};

struct AdsStatus {
  std::string server;
  bool connected = false;
  std::chrono::system_clock::time_point since;  // of the last connect or disconnect
  std::string lastDisconnect;                   // why the previous stream ended
  std::string warming;                          // what the held set waits for; "" if complete
  std::string lastApplyError;                   // of an apply the warming timeout forced
  bool applied = false;                         // a configuration has been applied
  uint64_t applies = 0;
  uint64_t responses = 0;
  uint64_t acks = 0;
  uint64_t nacks = 0;
  uint64_t reconnects = 0;
  uint64_t ignoredResponses = 0;  // of a type not requested on the stream
  std::array<AdsTypeStatus, kResourceTypeCount> types;
};

/// "HOST:PORT" with an IPv4 literal, a bracketed IPv6 literal or "localhost" (127.0.0.1).
/// Sets `error` and returns nullopt otherwise.
std::optional<SocketAddress> parseServerAddress(std::string_view hostPort, std::string& error);

class AdsClient final : private GrpcStream::Handler, private BatchEndHandler {
 public:
  /// Applies a complete resource set; returns "" or why it was rejected (the NACK message).
  using ApplyFn = std::function<std::string(const Resources&)>;

  AdsClient(EventLoop& loop, AdsClientOptions options, ApplyFn apply);
  /// Closes the connection at once: destroy the client once the loop's run() has returned, never
  /// while it dispatches (an event of the same batch may still name the connection). stop()
  /// is the way to end it from inside the loop.
  ~AdsClient() override;
  AdsClient(const AdsClient&) = delete;
  AdsClient& operator=(const AdsClient&) = delete;

  /// Checks the server address and starts the first connection. Returns "" or the error.
  std::string start();
  /// Closes the stream (the server sees it cancelled) and stops reconnecting.
  void stop();
  /// While waiting to reconnect: connects now, the backoff started over (what made the last
  /// attempt fail was mended, e.g. new credentials). Otherwise nothing.
  void reconnectNow();
  AdsStatus status() const;

 private:
  struct TypeState {
    std::string ackedVersion;
    std::string nonce;  // of the last response on the current stream
    std::set<std::string> names;
    bool requested = false;  // a request went out on the current stream
    bool received = false;   // a response was accepted (on any stream)
  };

  // GrpcStream::Handler, BatchEndHandler.
  void onConnected() override;
  void onMessage(std::string_view message) override;
  void onClosed(const std::string& reason) override;
  void onBatchEnd() override;

  void connect();
  void streamEnded(const std::string& reason);
  /// Ends the stream for input the client refuses.
  void abortStream(const std::string& reason);
  void sendRequest(ResourceType type, const std::string* nackMessage = nullptr);
  void handleResponse(const envoy::service::discovery::v3::DiscoveryResponse& response,
                      ResourceType type);
  /// What `candidate` still waits for before it may be applied; "" when complete.
  std::string waitingFor(const Resources& candidate, ResourceType arriving) const;
  /// Hands `resources` to the ApplyFn unless they are what it already runs.
  std::string apply(const Resources& resources);
  void updateSubscriptions();
  void onWarmingTimeout();
  TypeState& state(ResourceType type) { return types_[static_cast<size_t>(type)]; }
  AdsTypeStatus& typeStatus(ResourceType type) { return status_.types[static_cast<size_t>(type)]; }

  EventLoop& loop_;
  AdsClientOptions options_;
  ApplyFn apply_;
  envoy::config::core::v3::Node node_;
  SocketAddress address_;
  // Declared before the streams, which return buffers to the pool and count into the stats.
  BufferPool buffers_;
  http2::Http2Stats http2Stats_;
  std::unique_ptr<GrpcStream> stream_;
  std::vector<std::unique_ptr<GrpcStream>> retired_;  // ended; destroyed after the event batch
  Backoff backoff_;
  Timer reconnectTimer_;
  Timer warmingTimer_;
  std::array<TypeState, kResourceTypeCount> types_;
  Resources accepted_;  // what the ACKs describe
  Resources applied_;   // what the ApplyFn last accepted
  bool nodeSent_ = false;
  bool started_ = false;
  bool stopped_ = false;
  AdsStatus status_;
};

}  // namespace trellis::xds::client
