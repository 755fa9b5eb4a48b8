#include "proxy/local_reply.h"

#include <charconv>

#include "http/status.h"

namespace trellis::proxy {

void writeLocalReply(Buffer& out, int status, std::string_view reason, std::string_view requestId,
                     std::string_view location, bool keepAlive, uint32_t retryAfter) {
  char number[24];
  auto end = std::to_chars(number, number + sizeof number, status).ptr;
  out.append("HTTP/1.1 ");
  out.append(number, static_cast<size_t>(end - number));
  out.append(" ");
  out.append(http::reasonPhrase(status));
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
  if (retryAfter > 0) {
    out.append("retry-after: ");
    end = std::to_chars(number, number + sizeof number, retryAfter).ptr;
    out.append(number, static_cast<size_t>(end - number));
    out.append("\r\n");
  }
  if (!keepAlive) out.append("connection: close\r\n");
  out.append("\r\n");
  out.append(reason);
  out.append("\n");
}

}  // namespace trellis::proxy
