#pragma once
// The header and trailer blocks trellis-echo sends on an HTTP/2 stream, with storage for the
// values it formats (nghttp2 copies fields when they are submitted, so one instance per stream is
// reused for the response head and then for the trailers).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "apps/echo/echo_knobs.h"
#include "apps/echo/echo_response.h"
#include "http/grpc.h"
#include "http/http2/http2_types.h"

namespace trellis::echo {

class Http2Fields {
 public:
  void clear();
  /// `:status`, then the identity fields of every trellis-echo response (server,
  /// x-echo-service, x-echo-instance), `content-type` unless empty and `content-length` if given.
  void startResponse(const EchoIdentity& identity, int status, std::string_view contentType,
                     std::optional<uint64_t> contentLength);
  /// Header or trailer knobs, verbatim: a name HTTP/2 forbids (e.g. `connection`) is sent as
  /// asked, which lets tests see how a client copes with it.
  void addKnobs(const std::vector<HeaderKnob>& knobs);
  /// `grpc-status`, and `grpc-message` (percent-encoded) unless `message` is empty.
  void addGrpcStatus(http::grpc::Status status, std::string_view message);
  std::span<const http2::HeaderField> view() const { return fields_; }

 private:
  void add(std::string_view name, std::string_view value) { fields_.push_back({name, value}); }

  std::vector<http2::HeaderField> fields_;
  char status_[4] = {};
  std::string contentLength_;
  std::string grpcMessage_;
};

}  // namespace trellis::echo
