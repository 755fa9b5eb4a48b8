#include "cli/api_client.h"

#include <curl/curl.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/cli_error.h"

namespace trellis::cli {
namespace {

constexpr long kConnectTimeoutSeconds = 5;
constexpr long kRequestTimeoutSeconds = 60;

size_t appendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::string trim(std::string text) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return {};
  size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(start, end - start + 1);
}

std::string unreachable(const std::string& server, const char* detail) {
  return "cannot reach trellisd at " + server + " (" + detail +
         "): is it running? (trellisd --data-dir DIR) or set --server/TRELLIS_SERVER";
}

}  // namespace

std::string ApiResponse::errorMessage() const {
  if (body.is_object() && body.contains("error") && body["error"].is_string()) {
    return body["error"].get<std::string>();
  }
  std::string message = trim(text);
  return message.empty() ? "HTTP status " + std::to_string(status) : message;
}

ApiClient::ApiClient(std::string server, std::string token)
    : server_(std::move(server)), token_(std::move(token)) {
  while (!server_.empty() && server_.back() == '/') server_.pop_back();
  if (server_.find("://") == std::string::npos) server_ = "http://" + server_;
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

ApiResponse ApiClient::get(const std::string& path) {
  return send("GET", path, nullptr);
}

ApiResponse ApiClient::post(const std::string& path, const nlohmann::json& body) {
  std::string text = body.dump();
  return send("POST", path, &text);
}

ApiResponse ApiClient::del(const std::string& path) {
  return send("DELETE", path, nullptr);
}

ApiResponse ApiClient::send(const char* method, const std::string& path, const std::string* body) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw CliError("cannot start an HTTP request (libcurl initialisation failed)");
  std::string url = server_ + path;
  std::string received;
  char errorBuffer[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  if (body != nullptr) headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string authorization = "Authorization: Bearer " + token_;
  if (!token_.empty()) headers = curl_slist_append(headers, authorization.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headerList(headers,
                                                                         curl_slist_free_all);

  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &received);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, errorBuffer);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT, kRequestTimeoutSeconds);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  // The API is local: an http_proxy in the operator's environment must not capture it.
  curl_easy_setopt(handle, CURLOPT_NOPROXY, "*");
  if (body != nullptr) {
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }

  CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) {
    const char* detail = errorBuffer[0] != '\0' ? errorBuffer : curl_easy_strerror(code);
    switch (code) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_GOT_NOTHING:
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
        throw CliError(unreachable(server_, detail));
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        throw CliError("invalid server URL " + server_ + " (" + detail +
                       "): set --server or TRELLIS_SERVER to http://HOST:PORT");
      default:
        throw CliError("request to trellisd at " + server_ + " failed: " + detail);
    }
  }

  ApiResponse response;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
  response.text = std::move(received);
  response.body = nlohmann::json::parse(response.text, nullptr, /*allow_exceptions=*/false);
  if (response.body.is_discarded()) response.body = nullptr;

  if (response.status == 401) {
    if (token_.empty()) {
      throw CliError(
          "trellisd requires a token for this request (401): set --token or TRELLIS_TOKEN, or "
          "--token-file/TRELLIS_TOKEN_FILE (trellisd wrote one to <data-dir>/api-token)");
    }
    throw CliError(
        "trellisd refused the token (401): use the one in trellisd's <data-dir>/api-token "
        "(--token-file/TRELLIS_TOKEN_FILE or --token/TRELLIS_TOKEN)");
  }
  if (response.status == 403) {
    throw CliError("trellisd refused the request (403): " + response.errorMessage());
  }
  if (response.status >= 500) {
    throw CliError("trellisd failed to handle " + std::string(method) + " " + path + " (" +
                   std::to_string(response.status) + "): " + response.errorMessage() +
                   "; see trellisd's log");
  }
  if (response.status == 0 || (response.body.is_null() && response.status != 204)) {
    if (response.status == 404 && !response.text.empty()) {
      // A server that is not trellisd (or an older one without this endpoint).
      throw CliError(server_ + " answered " + path +
                     " with 404 and no JSON: is --server pointing "
                     "at trellisd's API address (default 127.0.0.1:7070)?");
    }
    if (response.status != 404) {
      throw CliError(server_ + " answered " + std::string(method) + " " + path + " with status " +
                     std::to_string(response.status) +
                     " and a body that is not JSON: is --server "
                     "pointing at trellisd's API address?");
    }
  }
  return response;
}

std::string urlEncode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string resourcePath(std::string_view kind, std::string_view ns, std::string_view name) {
  return urlEncode(kind) + "/" + urlEncode(ns) + "/" + urlEncode(name);
}

std::string readTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw CliError("cannot read token file " + path + ": " + std::strerror(errno) +
                   " (trellisd writes it to <data-dir>/api-token)");
  }
  std::ostringstream content;
  content << in.rdbuf();
  std::string token = trim(content.str());
  if (token.empty()) throw CliError("token file " + path + " is empty");
  return token;
}

}  // namespace trellis::cli
