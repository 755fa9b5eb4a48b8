// Fuzzes the gRPC header helpers with their round-trip invariants: a parsed grpc-timeout
// re-encodes to a value that parses to at least the same deadline, and percent-encoding a
// grpc-message decodes back to the original bytes; health-check responses parse safely.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/grpc.h"
#include "http/grpc_health.h"

namespace grpc = trellis::http::grpc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto timeout = grpc::parseTimeout(input)) {
    char encoded[grpc::kMaxTimeoutChars];
    size_t n = grpc::formatTimeout(*timeout, encoded);
    auto again = grpc::parseTimeout(std::string_view(encoded, n));
    if (!again || *again < *timeout) std::abort();  // re-encoding may round up, never down
  }

  std::string encoded;
  grpc::percentEncodeMessage(input, encoded);
  for (char c : encoded) {
    if (c < 0x20 || c > 0x7e) std::abort();  // only printable ASCII on the wire
  }
  std::string decoded;
  grpc::percentDecodeMessage(encoded, decoded);
  if (decoded != input) std::abort();
  std::string lenient;
  grpc::percentDecodeMessage(input, lenient);  // arbitrary (malformed) input must not crash

  if (auto path = grpc::splitPath(input)) {
    if (path->service.empty() || path->method.empty()) std::abort();
  }
  (void)grpc::parseHealthCheckResponse(input);  // untrusted upstream bytes
  if (grpc::parseHealthCheckResponse(grpc::encodeHealthCheckRequest(input)) !=
      grpc::ServingStatus::Unknown) {
    std::abort();  // a request carries only field 1 as bytes: it reads as "no status"
  }
  (void)grpc::parseStatus(input);
  (void)grpc::isGrpcContentType(input);
  return 0;
}
