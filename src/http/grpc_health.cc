#include "http/grpc_health.h"

namespace trellis::http::grpc {
namespace {

void appendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

/// Reads a varint at `pos`; false when truncated or longer than 10 bytes.
bool readVarint(std::string_view in, size_t& pos, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos >= in.size()) return false;
    auto byte = static_cast<uint8_t>(in[pos++]);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

std::string encodeHealthCheckRequest(std::string_view service) {
  std::string message;
  if (!service.empty()) {
    message.push_back(0x0a);  // field 1, wire type 2 (length-delimited)
    appendVarint(message, service.size());
    message.append(service);
  }
  std::string frame;
  frame.push_back(0);  // not compressed
  auto length = static_cast<uint32_t>(message.size());
  for (int shift = 24; shift >= 0; shift -= 8) frame.push_back(static_cast<char>(length >> shift));
  frame += message;
  return frame;
}

std::optional<ServingStatus> parseHealthCheckResponse(std::string_view body) {
  if (body.size() < 5 || body[0] != 0) return std::nullopt;
  uint32_t length = 0;
  for (int i = 1; i <= 4; ++i) length = (length << 8) | static_cast<uint8_t>(body[i]);
  if (body.size() != 5 + static_cast<size_t>(length)) return std::nullopt;
  std::string_view message = body.substr(5);
  uint64_t status = 0;
  size_t pos = 0;
  while (pos < message.size()) {
    uint64_t key = 0;
    if (!readVarint(message, pos, key)) return std::nullopt;
    const uint64_t field = key >> 3;
    switch (key & 7) {
      case 0: {  // varint
        uint64_t value = 0;
        if (!readVarint(message, pos, value)) return std::nullopt;
        if (field == 1) status = value;
        break;
      }
      case 1:  // 64-bit
        if (message.size() - pos < 8) return std::nullopt;
        pos += 8;
        break;
      case 2: {  // length-delimited
        uint64_t size = 0;
        if (!readVarint(message, pos, size) || size > message.size() - pos) return std::nullopt;
        pos += static_cast<size_t>(size);
        break;
      }
      case 5:  // 32-bit
        if (message.size() - pos < 4) return std::nullopt;
        pos += 4;
        break;
      default:
        return std::nullopt;
    }
    if (field == 0) return std::nullopt;
  }
  // Values this version does not know read as UNKNOWN (open enum semantics).
  return status <= 3 ? static_cast<ServingStatus>(status) : ServingStatus::Unknown;
}

}  // namespace trellis::http::grpc
