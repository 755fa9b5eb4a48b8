#pragma once
// A tiny blocking HTTP/1.1 client for trellisd's JSON API, used off the request path (the
// identity thread): one request per connection, Content-Length bodies, a connect timeout and a
// deadline for the answer, and a descriptor that cancels a request at once (shutdown). The
// proxy links neither libcurl nor gRPC (resident memory): this is all it needs.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/socket.h"

namespace trellis::proxy::identity {

struct HttpResponse {
  int status = 0;
  std::string contentType;
  std::string body;
};

/// A response, or why there is none (`error`: refused, timed out, truncated, invalid, ...).
struct HttpResult {
  std::optional<HttpResponse> response;
  std::string error;
};

class HttpClient {
 public:
  struct Options {
    std::chrono::milliseconds connectTimeout{3000};
    /// From the end of the connect to the last byte of the answer (sending included).
    std::chrono::milliseconds readTimeout{10000};
    size_t maxResponseBytes = 1 << 20;  // head and body
    /// When readable, the request in progress is abandoned ("cancelled"); -1 = none.
    int cancelFd = -1;
  };

  HttpClient(SocketAddress server, Options options) : server_(server), options_(options) {}

  /// Sends `method path` with `jsonBody` (as application/json when not empty) and reads the
  /// whole answer. 1xx answers are skipped; chunked answers are refused (trellisd sends
  /// Content-Length).
  HttpResult request(std::string_view method, std::string_view path,
                     std::string_view jsonBody = {}) const;

  const SocketAddress& server() const { return server_; }

 private:
  SocketAddress server_;
  Options options_;
};

}  // namespace trellis::proxy::identity
