#pragma once
// HTTP/1.x message-head parser and chunked-body framer (RFC 9112), zero copy.
//
// The parser works on a caller-owned, contiguous, mutable buffer holding the bytes received so
// far. It never allocates on the hot path (the header vector is reused) and returns string_views
// into that buffer, so the buffer must not move while a parsed head is in use. Header names are
// lower-cased in place, which lets every later lookup be a plain byte comparison.
//
// It is strict where leniency enables request smuggling (RFC 9112 §6.3, §11.2): both
// Content-Length and Transfer-Encoding, differing Content-Length values, obs-fold, bare CR or
// LF, NUL and other control bytes, and invalid chunk sizes are all errors.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/header_field.h"

namespace trellis::http {

enum class ParseStatus : uint8_t { Complete, Incomplete, Error };

/// Why a message was rejected. Each maps to one HTTP status (see `statusFor`) and one counter.
enum class ParseError : uint8_t {
  None,
  BadRequestLine,       // 400
  BadStatusLine,        // 502 (upstream)
  BadVersion,           // 505 for requests with an unsupported major version, else 400
  BadHeader,            // 400: malformed field line, invalid name or value character
  ObsFold,              // 400
  BareCrOrLf,           // 400
  HeadersTooLarge,      // 431
  TooManyHeaders,       // 431
  UriTooLong,           // 414
  ConflictingFraming,   // 400: Content-Length with Transfer-Encoding
  BadContentLength,     // 400: non-numeric, overflow, or differing duplicates
  BadTransferEncoding,  // 400 (501 is allowed; we choose 400 + close): not exactly "chunked" last
  BadChunk,             // 400: invalid chunk size line, missing CRLF, oversized trailers
  MissingHost,          // 400: HTTP/1.1 request without exactly one Host
};

/// Short stable name, used as the `reason` label of counters and the `x-trellis-reason` header.
std::string_view parseErrorName(ParseError e);
/// HTTP status a request parse error is answered with.
int statusFor(ParseError e);

enum class BodyFraming : uint8_t {
  None,           // no body (no CL/TE on a request; 1xx/204/304 or HEAD response)
  ContentLength,  // exactly `contentLength` bytes
  Chunked,        // use ChunkedFramer
  UntilClose,     // responses only: body ends when the upstream closes
};

struct Limits {
  uint32_t maxHeadBytes = 60 * 1024;  // whole head: start line + fields + CRLF
  uint32_t maxHeaders = 100;
  uint32_t maxUrlBytes = 8 * 1024;
};

/// Fields common to requests and responses.
struct MessageHead {
  uint8_t versionMinor = 1;          // HTTP/1.<minor>; only major 1 is accepted
  std::vector<HeaderField> headers;  // in arrival order, including hop-by-hop ones
  BodyFraming framing = BodyFraming::None;
  uint64_t contentLength = 0;
  bool keepAlive = true;           // from version and Connection
  bool connectionUpgrade = false;  // "upgrade" token in Connection
  size_t headBytes = 0;            // bytes of the head, including the final CRLF

  /// First header with this (lower-case) name, or nullptr.
  const HeaderField* find(std::string_view lowerName) const;
};

struct RequestHead : MessageHead {
  std::string_view method;
  std::string_view target;  // request-target as sent
  std::string_view path;    // target up to '?' (origin-form), or the path of an absolute-form URI
                            // ("/" if it has none); "*" for OPTIONS *; empty for CONNECT
  std::string_view query;   // after '?', without it; empty if none
  std::string_view host;    // Host header value (or absolute-form authority), port included
  bool expectContinue = false;  // "Expect: 100-continue"
};

struct ResponseHead : MessageHead {
  int status = 0;
  std::string_view reason;
};

/// Parses a request head from data[0, len). On Complete, `out` describes it and
/// `out.headBytes` bytes belong to it. On Incomplete with len already above the limits the
/// result is Error (HeadersTooLarge / UriTooLong), so callers can cap buffering at the limit.
ParseStatus parseRequestHead(char* data, size_t len, const Limits& limits, RequestHead& out,
                             ParseError& error);

/// Parses a response head. `requestMethod` decides framing of HEAD responses; a 1xx response is
/// returned as Complete with framing None (the caller then parses the next head).
ParseStatus parseResponseHead(char* data, size_t len, const Limits& limits,
                              std::string_view requestMethod, ResponseHead& out, ParseError& error);

/// Cheap pre-check for callers that re-parse a growing buffer: false when data[0, len) cannot yet
/// hold a complete head (nor trip a limit), given that data[0, prevLen) could not either. Calling
/// the parser only when this is true keeps a byte-at-a-time sender at O(n) total work instead of
/// O(n^2). Malformed bytes may then be reported only once the head ends or a limit trips.
bool headMayBeComplete(const char* data, size_t len, size_t prevLen, const Limits& limits);

/// Incremental validator of a chunked body (RFC 9112 §7.1), for streaming pass-through.
///
/// Feed it bytes as they arrive; it reports how many belong to the message, where the payload
/// data lies, and when the message (including trailers) is complete. It keeps no copy of the
/// bytes, so raw input can be forwarded verbatim once consumed.
class ChunkedFramer {
 public:
  struct Limits {
    uint32_t maxTrailerBytes = 16 * 1024;
    uint32_t maxChunkLineBytes = 4 * 1024;  // size + extensions
  };

  ChunkedFramer() = default;
  explicit ChunkedFramer(Limits limits) : limits_(limits) {}

  struct Result {
    size_t consumed = 0;  // bytes of input that belong to this message
    bool done = false;    // the terminating chunk and trailer section are complete
    bool error = false;   // invalid framing; `consumed` then stops before the offending byte
  };
  /// Consumes up to `len` bytes. `onData(const char*, size_t)` is called for each run of
  /// payload bytes (not framing), in order, so a decoder can also extract the payload.
  template <typename OnData>
  Result feed(const char* data, size_t len, OnData&& onData);
  Result feed(const char* data, size_t len) {
    return feed(data, len, [](const char*, size_t) {});
  }

  void reset() { *this = ChunkedFramer(limits_); }
  /// Appends the trailer section (names lower-cased, lines ending in CRLF) to `sink` as it is
  /// parsed, for translation to HTTP/2 trailers. Bounded by maxTrailerBytes. Cleared by reset().
  void captureTrailers(std::string* sink) { trailerSink_ = sink; }
  bool done() const { return state_ == State::Done; }
  /// Bytes of the current trailer section seen so far (for limits).
  uint32_t trailerBytes() const { return trailerBytes_; }

 private:
  enum class State : uint8_t {
    Size,     // hex digits of chunk-size
    SizeWs,   // BWS after the size, before ';'
    SizeExt,  // chunk extensions, skipped up to CR
    SizeLf,   // LF ending the size line
    Data,     // `remaining_` payload bytes
    DataCr,   // CRLF after the payload
    DataLf,
    TrailerLineStart,  // after last-chunk or a trailer field line: a name, or CR ending the message
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,  // LF of the final empty line
    Done,
    Error,
  };
  Limits limits_;
  State state_ = State::Size;
  uint64_t remaining_ = 0;  // payload bytes left in the current chunk
  uint32_t lineBytes_ = 0;  // bytes of the current size line, CRLF excluded
  uint32_t trailerBytes_ = 0;
  bool sawSizeDigit_ = false;
  std::string* trailerSink_ = nullptr;
};

/// Splits a trailer section captured by ChunkedFramer::captureTrailers into fields (views into
/// `section`), dropping the fields HTTP/2 forbids in trailers (RFC 9113 §8.1, §8.2.2).
void parseTrailerSection(std::string_view section, std::vector<HeaderField>& out);

}  // namespace trellis::http

#include "http/chunked_framer_impl.h"
