#include "http/http2/pump.h"

namespace trellis::http2 {

PumpResult pumpIn(Connection& connection, Http2Connection& codec) {
  for (;;) {
    Buffer& in = connection.in();
    if (!in.empty()) {
      size_t used = codec.receive(in.data(), in.size());
      in.clear();
      if (used == Http2Connection::kFatal) return PumpResult::ProtocolError;
    }
    if (!connection.readReady()) return PumpResult::Ok;
    auto result = connection.read(size_t{64} * 1024);
    if (result == Connection::ReadResult::Again) return PumpResult::Ok;
    if (result == Connection::ReadResult::Error) return PumpResult::Error;
    if (result == Connection::ReadResult::Eof) {
      if (!connection.in().empty()) continue;
      return PumpResult::PeerClosed;
    }
  }
}

bool pumpOut(Connection& connection, Http2Connection& codec, Buffer& scratch, size_t highWater) {
  while (codec.wantWrite() && connection.pendingBytes() < highWater) {
    scratch.clear();
    if (codec.drainOutput(scratch, highWater) == 0) break;
    if (!connection.send(scratch.view())) return false;
  }
  scratch.clear();
  scratch.shrinkIfEmpty();
  return true;
}

}  // namespace trellis::http2
