#include "xds/client/grpc_message_reader.h"

#include <algorithm>

namespace trellis::xds::client {

void appendGrpcMessage(std::string& out, std::string_view message) {
  auto n = static_cast<uint32_t>(message.size());
  char prefix[kGrpcPrefixBytes] = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                                   static_cast<char>(n >> 8), static_cast<char>(n)};
  out.append(prefix, sizeof prefix);
  out.append(message);
}

std::string GrpcMessageReader::checkPrefix() {
  if (prefix_[0] == 1) {
    // We never send grpc-accept-encoding, so a compliant server never compresses.
    return "compressed gRPC message, but no grpc-encoding was negotiated";
  }
  if (prefix_[0] != 0) return "bad gRPC message flag " + std::to_string(prefix_[0]);
  uint64_t length = (uint64_t{prefix_[1]} << 24) | (uint64_t{prefix_[2]} << 16) |
                    (uint64_t{prefix_[3]} << 8) | uint64_t{prefix_[4]};
  if (length > maxMessageBytes_) {
    return "gRPC message of " + std::to_string(length) + " bytes exceeds the limit of " +
           std::to_string(maxMessageBytes_);
  }
  expected_ = static_cast<size_t>(length);
  return {};
}

std::string GrpcMessageReader::feed(std::string_view data, const MessageFn& onMessage) {
  if (!error_.empty()) return error_;
  while (!data.empty()) {
    if (!inMessage_) {
      size_t take = std::min(kGrpcPrefixBytes - prefixFill_, data.size());
      std::copy_n(data.data(), take, prefix_ + prefixFill_);
      prefixFill_ += take;
      data.remove_prefix(take);
      if (prefixFill_ < kGrpcPrefixBytes) break;
      prefixFill_ = 0;
      error_ = checkPrefix();
      if (!error_.empty()) return error_;
      inMessage_ = true;
      // Fast path: the whole message is in this chunk, hand out a view without copying.
      if (data.size() >= expected_) {
        inMessage_ = false;
        std::string_view message = data.substr(0, expected_);
        data.remove_prefix(expected_);
        if (!onMessage(message)) return {};
        continue;
      }
    }
    size_t take = std::min(expected_ - message_.size(), data.size());
    message_.append(data.data(), take);
    data.remove_prefix(take);
    if (message_.size() < expected_) break;
    inMessage_ = false;
    std::string message;
    message.swap(message_);
    if (!onMessage(message)) return {};
  }
  return {};
}

}  // namespace trellis::xds::client
