#pragma once
// Reads an HTTP/2 request header block as an http::RequestHead, so that the knob parser and the
// JSON echo serve HTTP/1 and HTTP/2 requests with the same code.

#include <span>

#include "http/http1_parser.h"
#include "http/http2/http2_types.h"

namespace trellis::echo {

/// Fills `out` from `fields` (pseudo-headers first, as the codec delivers them). Every field,
/// pseudo-headers included, lands in `out.headers`, so the JSON echo shows exactly what arrived
/// (`:authority`, `te`, ...). `out.host` is `:authority`, or the `host` field without one. The
/// views point into the codec's storage: valid only during its onHeaders call.
void readHttp2RequestHead(std::span<const http2::HeaderField> fields, http::RequestHead& out);

}  // namespace trellis::echo
