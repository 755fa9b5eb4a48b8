#pragma once
// Moves bytes between a socket and an HTTP/2 codec, for every user of the codec: the proxy's
// downstream (server) and upstream (client) sessions and the xDS client. Reading is never throttled
// here: an HTTP/2 peer can only send what our windows allow, and control-frame floods are the
// codec's to refuse. Writing stops once `highWater` bytes wait in the socket's buffer, so a peer
// that does not read fills the codec's bounded per-stream queues and, through them, stalls the
// streams feeding it.

#include <cstddef>

#include "common/buffer.h"
#include "common/connection.h"
#include "http/http2/http2_connection.h"

namespace trellis::http2 {

enum class PumpResult : unsigned char { Ok, PeerClosed, Error, ProtocolError };

/// Feeds every readable byte (and any already buffered in connection.in()) to the codec.
PumpResult pumpIn(Connection& connection, Http2Connection& codec);

/// Writes the codec's pending frames while the socket keeps up. Returns false on a socket error.
bool pumpOut(Connection& connection, Http2Connection& codec, Buffer& scratch, size_t highWater);

}  // namespace trellis::http2
