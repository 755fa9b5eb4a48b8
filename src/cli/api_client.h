#pragma once
// trellisctl's side of trellisd's HTTP/JSON API (docs/design/control-plane-plan.md, "HTTP/JSON
// API"): blocking requests over libcurl. Failures that every command handles the same way
// (trellisd unreachable, token missing or refused, trellisd's own errors) are CliErrors that
// say what to do next; other statuses are returned for the command to interpret.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace trellis::cli {

struct ApiResponse {
  long status = 0;
  nlohmann::json body;  // null when the body is not JSON
  std::string text;     // the body as received
  /// The answer's "error" field, else its text, for messages.
  std::string errorMessage() const;
};

class ApiClient {
 public:
  /// `server` is a base URL ("http://127.0.0.1:7070"; the scheme may be left out); `token` is
  /// sent as a bearer token when not empty.
  ApiClient(std::string server, std::string token);

  ApiResponse get(const std::string& path);
  ApiResponse post(const std::string& path, const nlohmann::json& body);
  ApiResponse del(const std::string& path);

  const std::string& server() const { return server_; }

 private:
  ApiResponse send(const char* method, const std::string& path, const std::string* body);

  std::string server_;
  std::string token_;
};

/// "HTTPRoute/shop/billing" with each segment percent-encoded, for resource paths.
std::string resourcePath(std::string_view kind, std::string_view ns, std::string_view name);

/// Percent-encodes one path segment or query value.
std::string urlEncode(std::string_view text);

/// Reads a token file (trellisd's <data-dir>/api-token), without surrounding whitespace.
std::string readTokenFile(const std::string& path);

}  // namespace trellis::cli
