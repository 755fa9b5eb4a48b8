#pragma once
// Per-request behaviour knobs of trellis-echo, read from the query string (`?status=503`) or from
// `x-echo-<knob>` request headers; both sources may be mixed.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/grpc.h"
#include "http/http1_parser.h"

namespace trellis::echo {

using HeaderKnob = std::pair<std::string, std::string>;  // name (lower case), value

struct EchoKnobs {
  int status = 200;
  std::chrono::milliseconds delay{0};
  bool close = false;                 // close without responding
  bool reset = false;                 // close with RST
  bool garbage = false;               // send an invalid response, then close
  bool chunked = false;               // chunked response (implied by trailers)
  std::optional<uint64_t> bodyBytes;  // respond with exactly N bytes of 'x'
  std::vector<HeaderKnob> headers;    // extra response headers
  std::vector<HeaderKnob> trailers;   // response trailers
  // gRPC requests over HTTP/2 only: the status to end the call with (trailers-only when not OK)
  // and its grpc-message; plain HTTP requests ignore both.
  std::optional<http::grpc::Status> grpcStatus;
  std::string grpcMessage;
  std::string error;  // set when a knob value is invalid (answered with 400)

  /// Resets to defaults, keeping vector capacity so steady-state requests do not allocate.
  void clear();
};

/// Knobs every request starts from (a query string such as "delay=2s&status=503"), before its
/// own; lets a test make one instance slow or failing. False if a knob is invalid.
bool setDefaultKnobs(std::string_view query);

/// Fills `out` from `head`. Returns false (with `out.error` set) if a knob value is invalid.
bool parseKnobs(const http::RequestHead& head, EchoKnobs& out);

/// Parses a duration like `250ms`, `2s`, `1500us` or a bare number of milliseconds.
std::optional<std::chrono::milliseconds> parseDelay(std::string_view text);

}  // namespace trellis::echo
