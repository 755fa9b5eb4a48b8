#pragma once
// gRPC-over-HTTP/2 protocol helpers (grpc/doc/PROTOCOL-HTTP2.md): status codes, grpc-timeout,
// grpc-message percent-encoding, content-type and :path checks.
//
// Pure functions without I/O or allocation (except into a caller's string), so that the HTTP/2
// session, the router and local replies can share them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trellis::http::grpc {

/// The 17 canonical status codes (grpc/doc/statuscodes.md), valued as on the wire.
enum class Status : uint8_t {
  Ok = 0,
  Cancelled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
};

inline constexpr int kStatusCount = 17;

/// The canonical upper-case name, e.g. "DEADLINE_EXCEEDED"; "UNKNOWN" for out-of-range values.
std::string_view statusName(Status status);

/// A grpc-status value: decimal digits 0..16 without sign or leading zeros. Codes outside the
/// canonical range are a peer's bug; callers map nullopt to UNKNOWN, as the spec suggests.
std::optional<Status> parseStatus(std::string_view value);

/// The status a client reports for a non-200 HTTP response that carries no grpc-status
/// ("HTTP to gRPC Status Code Mapping").
Status statusFromHttp(int httpStatus);

/// The status named `name` ("UNAVAILABLE"), as the gRPC spec spells it; nullopt if none.
std::optional<Status> statusFromName(std::string_view name);

/// grpc-timeout: "TimeoutValue TimeoutUnit", 1..8 ASCII digits then one of H M S m u n.
/// Nanoseconds are rounded up to whole microseconds, so that a short deadline never becomes 0.
/// "0" is accepted (an already expired deadline); the largest value, 99999999H, fits.
std::optional<std::chrono::microseconds> parseTimeout(std::string_view value);

/// Buffer size for formatTimeout: 8 digits and a unit.
inline constexpr size_t kMaxTimeoutChars = 9;

/// Writes the shortest grpc-timeout encoding of `timeout` into `out` and returns its length.
/// An exact encoding is preferred; when none fits in 8 digits, the finest unit that does is
/// used, rounding up (a deadline may only get later, never earlier). Negative → "0u"; beyond
/// 99999999 hours → "99999999H". Microseconds, as parseTimeout returns: no caller needs finer.
size_t formatTimeout(std::chrono::microseconds timeout, char (&out)[kMaxTimeoutChars]);

/// "application/grpc", alone or followed by '+' (a codec, "+proto") or ';' (parameters).
/// ASCII case-insensitive, as media types are.
bool isGrpcContentType(std::string_view contentType);

/// Appends `message` to `out` with every byte outside 0x20..0x7E, and '%', written as "%XX"
/// (upper-case hex), as grpc-message requires.
void percentEncodeMessage(std::string_view message, std::string& out);

/// Appends the decoded grpc-message to `out`. Malformed escapes are kept verbatim: the spec
/// forbids failing or dropping the message because of them.
void percentDecodeMessage(std::string_view encoded, std::string& out);

/// The parts of a gRPC request :path. Views into the path.
struct MethodPath {
  std::string_view service;  // "package.Service"
  std::string_view method;   // "Method"
};

/// Splits "/package.Service/Method"; nullopt unless the path is '/', a non-empty service, '/',
/// a non-empty method, with no further '/' and no query.
std::optional<MethodPath> splitPath(std::string_view path);

}  // namespace trellis::http::grpc
