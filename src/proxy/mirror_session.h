#pragma once
// RequestMirror: a copy of a request sent to another cluster, fire-and-forget. The response is
// read (so the upstream connection can be reused) and discarded; the client never waits for it
// and never sees its failures. Only requests whose whole body is already buffered are mirrored
// (no body, or a Content-Length body within the listener's buffer), so mirroring never holds
// back or buffers the primary request; others are counted as skipped.

#include <memory>
#include <string>

#include "common/connection.h"
#include "http/http1_parser.h"
#include "proxy/worker.h"

namespace trellis::proxy {

class MirrorSession final : public Session, public ConnectionOwner {
 public:
  MirrorSession(Worker& worker, upstream::ClusterRuntime& cluster, int endpoint,
                std::string request, std::string method);
  ~MirrorSession() override;
  void begin() override;
  void drain() override {}  // finishes on its own, bounded by its timeout
  void onConnectionEvent(Connection& connection, uint32_t events) override;

 private:
  void readResponse();
  void finish(bool reusable);

  Worker& worker_;
  std::shared_ptr<const WorkerConfig> config_;  // keeps `cluster_` alive
  upstream::ClusterRuntime& cluster_;
  int endpoint_;
  std::string request_;
  std::string method_;
  std::unique_ptr<Connection> connection_;
  Timer timeout_;
  http::ResponseHead response_;
  http::ChunkedFramer chunks_;
  bool connectPending_ = false;  // a new connection whose connect (and handshake) was not seen
  bool headDone_ = false;
  uint64_t remaining_ = 0;
  bool finished_ = false;
};

}  // namespace trellis::proxy
