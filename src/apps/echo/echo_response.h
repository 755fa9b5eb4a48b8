#pragma once
// Response building blocks of trellis-echo: the JSON echo body, response heads, WebSocket accept.
// Everything appends to a caller-owned string so a connection reuses one buffer.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "apps/echo/echo_knobs.h"
#include "http/http1_parser.h"

namespace trellis::echo {

/// Who this server is; precomputed once and shared read-only by every worker.
struct EchoIdentity {
  std::string service;
  std::string instance;
  std::string headerLines;  // "server: trellis-echo\r\nx-echo-service: ...\r\nx-echo-instance: ..."
  std::string jsonStart;    // "{\"service\":\"...\",\"instance\":\"...\","
};
EchoIdentity makeEchoIdentity(std::string service, std::string instance);

/// Appends `text` as a JSON string literal. Bytes outside printable ASCII are escaped as \u00XX,
/// so the output is valid JSON (and UTF-8) whatever the request contained.
void appendJsonString(std::string_view text, std::string& out);

/// Appends the JSON echo of `head` up to and including `"body_bytes":`; the body size is only
/// known once the body has been read, so `appendEchoJsonEnd` finishes the document. `version` is
/// the protocol the request came in ("HTTP/1.1", "HTTP/2").
void appendEchoJsonStart(const EchoIdentity& identity, const http::RequestHead& head,
                         std::string_view version, std::string& out);
void appendEchoJsonEnd(uint64_t bodyBytes, std::string& out);

struct ResponseSpec {
  int status = 200;
  std::string_view contentType;  // omitted when empty
  bool chunked = false;
  uint64_t contentLength = 0;  // used when !chunked
  bool keepAlive = true;
  bool http10 = false;  // HTTP/1.0 client: keep-alive must be announced explicitly
  const std::vector<HeaderKnob>* extraHeaders = nullptr;
  const std::vector<HeaderKnob>* trailers = nullptr;  // announced in a `trailer` header
};

/// Whether a response with this status may carry a body (RFC 9110 §6.4.1).
inline bool statusAllowsBody(int status) {
  return status != 204 && status != 304;
}

/// Appends the status line and header section, including the final blank line.
void appendResponseHead(const EchoIdentity& identity, const ResponseSpec& spec, std::string& out);

/// Appends the chunked terminator: last-chunk, trailer fields and the final CRLF.
void appendLastChunk(const std::vector<HeaderKnob>& trailers, std::string& out);

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2).
std::string webSocketAccept(std::string_view key);

}  // namespace trellis::echo
