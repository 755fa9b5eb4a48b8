#pragma once
// Chunked transfer coding on the way out (RFC 9112 §7.1), for bodies that arrive without a
// length from an HTTP/2 peer and leave towards an HTTP/1.1 one.

#include <charconv>
#include <span>
#include <string>
#include <string_view>

#include "common/connection.h"
#include "http/header_field.h"

namespace trellis::proxy {

/// Sends `prefix` (e.g. a response head not yet sent) and one chunk holding `data`, in one
/// write. Empty data sends no chunk: a zero-size chunk would end the body.
inline void sendChunk(Connection& connection, std::string_view data, std::string_view prefix = {}) {
  if (data.empty()) {
    connection.send(prefix);
    return;
  }
  char size[24];
  auto end = std::to_chars(size, size + 16, data.size(), 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  connection.send({prefix, std::string_view(size, static_cast<size_t>(end - size)), data, "\r\n"});
}

/// Sends `prefix`, the last chunk with `trailers` (possibly none) and the final CRLF.
inline void sendLastChunk(Connection& connection, std::span<const http::HeaderField> trailers,
                          std::string_view prefix = {}) {
  if (trailers.empty()) {
    connection.send({prefix, "0\r\n\r\n"});
    return;
  }
  std::string block = "0\r\n";
  for (const auto& field : trailers) {
    block.append(field.name).append(": ").append(field.value).append("\r\n");
  }
  block += "\r\n";
  connection.send({prefix, block});
}

}  // namespace trellis::proxy
