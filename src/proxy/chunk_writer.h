#pragma once
// Chunked transfer coding on the way out (RFC 9112 §7.1), for bodies that arrive without a
// length from an HTTP/2 peer and leave towards an HTTP/1.1 one.

#include <charconv>
#include <span>
#include <string_view>

#include "common/connection.h"
#include "http/header_field.h"

namespace trellis::proxy {

/// Sends one chunk holding `data` (nothing for empty data: that would end the body).
inline void sendChunk(Connection& connection, std::string_view data) {
  if (data.empty()) return;
  char size[24];
  auto end = std::to_chars(size, size + 16, data.size(), 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  connection.send(std::string_view(size, static_cast<size_t>(end - size)), data);
  connection.send("\r\n");
}

/// Sends the last chunk with `trailers` (possibly none) and the final CRLF.
inline void sendLastChunk(Connection& connection, std::span<const http::HeaderField> trailers) {
  connection.send("0\r\n");
  for (const auto& field : trailers) {
    connection.send(field.name, ": ");
    connection.send(field.value, "\r\n");
  }
  connection.send("\r\n");
}

}  // namespace trellis::proxy
