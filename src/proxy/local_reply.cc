#include "proxy/local_reply.h"

#include <charconv>

namespace trellis::proxy {

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void writeLocalReply(Buffer& out, int status, std::string_view reason, std::string_view requestId,
                     std::string_view location, bool keepAlive) {
  char number[24];
  auto end = std::to_chars(number, number + sizeof number, status).ptr;
  out.append("HTTP/1.1 ");
  out.append(number, static_cast<size_t>(end - number));
  out.append(" ");
  out.append(reasonPhrase(status));
  out.append("\r\ncontent-type: text/plain\r\ncontent-length: ");
  end = std::to_chars(number, number + sizeof number, reason.size() + 1).ptr;
  out.append(number, static_cast<size_t>(end - number));
  out.append("\r\nx-trellis-reason: ");
  out.append(reason);
  out.append("\r\n");
  if (!requestId.empty()) {
    out.append("x-request-id: ");
    out.append(requestId);
    out.append("\r\n");
  }
  if (!location.empty()) {
    out.append("location: ");
    out.append(location);
    out.append("\r\n");
  }
  if (!keepAlive) out.append("connection: close\r\n");
  out.append("\r\n");
  out.append(reason);
  out.append("\n");
}

}  // namespace trellis::proxy
