// Server-role Http2Connection fed arbitrary frames after a valid client preface. The listener
// answers every request and echoes bodies so that the send path (data provider, trailers,
// resets, window updates) runs too.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "common/buffer.h"
#include "http/http2/http2_connection.h"

namespace {

using trellis::Buffer;
using trellis::http2::HeaderField;
using trellis::http2::Http2Connection;
using trellis::http2::Http2Settings;
using trellis::http2::Http2Stats;

class Responder : public Http2Connection::Listener {
 public:
  void onHeaders(int32_t id, std::span<const HeaderField> fields, bool endStream) override {
    static const HeaderField kResponse[] = {{":status", "200"}, {"content-type", "text/plain"}};
    conn->submitResponse(id, kResponse, true);
    conn->submitData(id, fields.empty() ? "" : fields[0].value, false);
    if (endStream) finish(id);
  }
  void onData(int32_t id, std::string_view data, bool endStream) override {
    conn->consumed(id, data.size());
    conn->submitData(id, data, false);
    if (endStream) finish(id);
  }
  void onTrailers(int32_t id, std::span<const HeaderField> /*fields*/) override { finish(id); }
  void onStreamReset(int32_t /*id*/, uint32_t /*code*/) override {}
  void onGoaway(int32_t /*last*/, uint32_t /*code*/) override {}
  void finish(int32_t id) {
    static const HeaderField kTrailers[] = {{"grpc-status", "0"}};
    if ((id & 2) != 0) {
      conn->submitTrailers(id, kTrailers);
    } else if ((id & 4) != 0) {
      conn->resetStream(id, trellis::http2::kCancel);
    } else {
      conn->submitData(id, "", true);
    }
  }
  Http2Connection* conn = nullptr;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  Http2Settings settings;
  settings.maxResetsPerWindow = 20;  // reach the rapid-reset path with small inputs
  Http2Stats stats;
  Responder responder;
  Http2Connection conn(Http2Connection::Role::kServer, settings, responder, stats);
  responder.conn = &conn;
  conn.start();
  Buffer out;
  if (conn.receive(kPreface.data(), kPreface.size()) == Http2Connection::kFatal) return 0;
  // Two halves: frames split across reads must parse the same.
  const char* p = reinterpret_cast<const char*>(data);
  size_t half = size / 2;
  for (auto [ptr, len] : {std::pair{p, half}, std::pair{p + half, size - half}}) {
    if (conn.receive(ptr, len) == Http2Connection::kFatal) break;
    conn.drainOutput(out);
    out.clear();
  }
  conn.drainOutput(out);
  return 0;
}
