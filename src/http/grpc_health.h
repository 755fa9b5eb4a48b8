#pragma once
// The gRPC health checking protocol (grpc/doc/health-checking.md) as bytes: the request the
// proxy sends to `/grpc.health.v1.Health/Check` and the status it reads back. Hand-written
// because the two messages have one field each; linking protobuf into the sidecar for them
// would cost more resident memory than the whole proxy uses today (design.md §6).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trellis::http::grpc {

inline constexpr std::string_view kHealthCheckPath = "/grpc.health.v1.Health/Check";

/// HealthCheckResponse.ServingStatus.
enum class ServingStatus : uint8_t { Unknown = 0, Serving = 1, NotServing = 2, ServiceUnknown = 3 };

/// A length-prefixed gRPC message (uncompressed) holding HealthCheckRequest{service}.
std::string encodeHealthCheckRequest(std::string_view service);

/// The status in a response body: one length-prefixed, uncompressed HealthCheckResponse.
/// nullopt when the body is not exactly that (truncated, compressed, malformed protobuf).
/// Unknown fields are skipped, as protobuf requires; an absent status means UNKNOWN.
std::optional<ServingStatus> parseHealthCheckResponse(std::string_view body);

}  // namespace trellis::http::grpc
