#include "apps/echo/echo_http2_fields.h"

#include <charconv>

namespace trellis::echo {
namespace {

constexpr std::string_view kGrpcStatusText[http::grpc::kStatusCount] = {
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16"};

}  // namespace

void Http2Fields::clear() {
  fields_.clear();
  contentLength_.clear();
  grpcMessage_.clear();
}

void Http2Fields::startResponse(const EchoIdentity& identity, int status,
                                std::string_view contentType,
                                std::optional<uint64_t> contentLength) {
  clear();
  // Knobs keep status within 200..599 and local replies use fixed ones: always three digits.
  std::to_chars(status_, status_ + sizeof(status_), status);
  add(":status", std::string_view(status_, 3));
  add("server", "trellis-echo");
  add("x-echo-service", identity.service);
  add("x-echo-instance", identity.instance);
  if (!contentType.empty()) add("content-type", contentType);
  if (contentLength) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof(digits), *contentLength).ptr;
    contentLength_.assign(digits, end);
    add("content-length", contentLength_);
  }
}

void Http2Fields::addKnobs(const std::vector<HeaderKnob>& knobs) {
  for (const auto& [name, value] : knobs) add(name, value);
}

void Http2Fields::addGrpcStatus(http::grpc::Status status, std::string_view message) {
  add("grpc-status", kGrpcStatusText[static_cast<size_t>(status)]);
  if (message.empty()) return;
  // Encoded before any view is taken: grpcMessage_ does not reallocate afterwards.
  grpcMessage_.clear();
  http::grpc::percentEncodeMessage(message, grpcMessage_);
  add("grpc-message", grpcMessage_);
}

}  // namespace trellis::echo
