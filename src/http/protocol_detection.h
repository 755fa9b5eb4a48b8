#pragma once
// Protocol detection from a connection's first bytes, for ports that accept HTTP/1, HTTP/2 and
// opaque TCP alike (issue 3). The caller waits (with a short, configurable timeout) while the
// answer is NeedMoreData; ports declared opaque or with an appProtocol skip detection, so
// server-speaks-first protocols (MySQL, SMTP) never wait.

#include <cstddef>
#include <string_view>

namespace trellis::http {

enum class DetectedProtocol : unsigned char {
  NeedMoreData,  // the bytes so far are a prefix of more than one answer
  Http1,         // "TOKEN SP" — an HTTP/1.x request line
  Http2,         // the HTTP/2 connection preface (prior knowledge, h2c)
  Tls,           // a TLS handshake record (ClientHello); ALPN decides later
  Opaque,        // anything else: relay as TCP
};

/// The client connection preface of RFC 9113 §3.4.
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Longest method token accepted as HTTP/1 (longer first words are treated as opaque).
inline constexpr size_t kMaxDetectedMethodLength = 24;

/// Classifies the first bytes a client sent. Pure and allocation-free.
DetectedProtocol detectProtocol(std::string_view firstBytes);

}  // namespace trellis::http
