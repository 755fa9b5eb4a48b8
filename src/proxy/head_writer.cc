#include "proxy/head_writer.h"

#include <array>
#include <charconv>
#include <optional>
#include <string>

#include "http/status.h"

namespace trellis::proxy {
namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

/// The field names a message's Connection header lists, parsed once per message so that
/// checking each field is a short scan instead of re-reading every Connection header.
class ConnectionOptions {
 public:
  explicit ConnectionOptions(const http::MessageHead& head) : head_(head) {
    forEachToken(head, [this](std::string_view token) {
      if (count_ < names_.size()) {
        names_[count_++] = token;
      } else {
        overflow_ = true;
      }
      return false;
    });
  }
  bool lists(std::string_view lowerName) const {
    for (size_t i = 0; i < count_; ++i) {
      if (equalsIgnoreCase(names_[i], lowerName)) return true;
    }
    // More options than we keep is absurd but legal: answer it the slow way.
    return overflow_ && forEachToken(head_, [lowerName](std::string_view token) {
             return equalsIgnoreCase(token, lowerName);
           });
  }

 private:
  /// Calls `visit` for each Connection option other than keep-alive/close; stops and returns
  /// true when `visit` does.
  template <typename Visit>
  static bool forEachToken(const http::MessageHead& head, Visit&& visit) {
    for (const auto& field : head.headers) {
      if (field.name != "connection") continue;
      std::string_view rest = field.value;
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view token = rest.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
          token.remove_prefix(1);
        }
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
          token.remove_suffix(1);
        }
        if (!token.empty() && !equalsIgnoreCase(token, "keep-alive") &&
            !equalsIgnoreCase(token, "close") && visit(token)) {
          return true;
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
    return false;
  }

  const http::MessageHead& head_;
  std::array<std::string_view, 16> names_{};
  size_t count_ = 0;
  bool overflow_ = false;
};

bool isFixedHopByHop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return name == "te";
    case 7:
      return name == "upgrade";
    case 10:
      return name == "connection" || name == "keep-alive";
    case 16:
      return name == "proxy-connection";
    case 17:
      return name == "transfer-encoding";
    default:
      return false;
  }
}

bool modifierTouches(const config::HeaderModifier* modifier, std::string_view name) {
  if (modifier == nullptr) return false;
  for (const auto& removed : modifier->remove) {
    if (removed == name) return true;
  }
  for (const auto& [setName, value] : modifier->set) {
    if (setName == name) return true;
  }
  return false;
}

void appendField(Buffer& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

}  // namespace

bool isHopByHop(std::string_view name, const http::MessageHead& head) {
  return isFixedHopByHop(name) || ConnectionOptions(head).lists(name);
}

namespace {

/// Where forwarded fields go: an HTTP/1 head being serialised, or an HTTP/2 field list.
struct Http1Sink {
  Buffer& out;
  void field(std::string_view name, std::string_view value) { appendField(out, name, value); }
  void joined(std::string_view name, std::string_view first, std::string_view second) {
    out.append(name);
    out.append(": ", 2);
    if (!first.empty()) {
      out.append(first);
      out.append(", ", 2);
    }
    out.append(second);
    out.append("\r\n", 2);
  }
};

/// An Http1Sink that collects cookie fields into one `cookie: a; b` line, written by finish().
struct Http1CookieJoiningSink {
  Buffer& out;
  std::string cookies;
  void field(std::string_view name, std::string_view value) {
    if (name == "cookie") {
      if (!cookies.empty()) cookies += "; ";
      cookies += value;
      return;
    }
    appendField(out, name, value);
  }
  void joined(std::string_view name, std::string_view first, std::string_view second) {
    Http1Sink{out}.joined(name, first, second);
  }
  void finish() {
    if (!cookies.empty()) appendField(out, "cookie", cookies);
  }
};

struct FieldSink {
  FieldList& out;
  void field(std::string_view name, std::string_view value) { out.add(name, value); }
  void joined(std::string_view name, std::string_view first, std::string_view second) {
    out.add(name, first);
    if (!first.empty()) out.appendToLast(", ");
    out.appendToLast(second);
  }
};

template <typename Sink>
void addModifierFields(Sink& sink, const config::HeaderModifier* modifier) {
  if (modifier == nullptr) return;
  for (const auto& [name, value] : modifier->set) sink.field(name, value);
  for (const auto& [name, value] : modifier->add) sink.field(name, value);
}

/// The request's header section minus what a proxy must not forward, plus the route's header
/// modifier and the forwarding headers. `options` is null for HTTP/2 sources, which cannot
/// carry connection-specific fields (the codec rejects them, RFC 9113 §8.2.2).
template <typename Sink>
void forwardRequestFields(Sink& sink, std::span<const http::HeaderField> headers,
                          const ConnectionOptions* options, const config::HeaderModifier* modifier,
                          const ForwardedRequest& fwd) {
  std::string_view forwardedFor;
  bool hasProto = false;
  for (const auto& field : headers) {
    const std::string_view name = field.name;
    if (name == "host") continue;
    if (name == "x-request-id") continue;  // re-added below (validated or generated)
    if (name == "grpc-timeout" && !fwd.grpcTimeout.empty()) continue;  // replaced below
    if (name == "x-forwarded-for") {
      forwardedFor = field.value;
      continue;
    }
    if (name == "x-forwarded-proto") hasProto = true;
    if (name == "x-forwarded-client-cert") continue;  // only the proxy that saw the TLS says it
    if (isFixedHopByHop(name) || (options != nullptr && options->lists(name))) {
      // TE: trailers is the one TE value a proxy may forward (RFC 9110 §10.1.4).
      if (name == "te" && equalsIgnoreCase(field.value, "trailers")) sink.field(name, "trailers");
      continue;
    }
    if (modifierTouches(modifier, name)) continue;
    sink.field(name, field.value);
  }
  addModifierFields(sink, modifier);
  if (fwd.chunked) sink.field("transfer-encoding", "chunked");
  if (fwd.upgrade && fwd.upgradeProtocol != nullptr) {
    sink.field("upgrade", *fwd.upgradeProtocol);
    sink.field("connection", "upgrade");
  }
  sink.joined("x-forwarded-for", forwardedFor, fwd.clientIp);
  if (!hasProto) sink.field("x-forwarded-proto", "http");
  sink.field("x-request-id", fwd.requestId);
  if (!fwd.grpcTimeout.empty()) sink.field("grpc-timeout", fwd.grpcTimeout);
  if (!fwd.clientCert.empty()) sink.field("x-forwarded-client-cert", fwd.clientCert);
}

template <typename Sink>
void forwardResponseFields(Sink& sink, std::span<const http::HeaderField> headers,
                           const ConnectionOptions* options,
                           const config::HeaderModifier* modifier) {
  for (const auto& field : headers) {
    if (isFixedHopByHop(field.name) || (options != nullptr && options->lists(field.name))) {
      continue;
    }
    if (modifierTouches(modifier, field.name)) continue;
    sink.field(field.name, field.value);
  }
  addModifierFields(sink, modifier);
}

void appendRequestLine(Buffer& out, std::string_view method, const ForwardedRequest& fwd) {
  out.append(method);
  out.append(" ", 1);
  out.append(fwd.path);
  if (!fwd.query.empty()) {
    out.append("?", 1);
    out.append(fwd.query);
  }
  out.append(" HTTP/1.1\r\nhost: ", 17);
  out.append(fwd.host);
  out.append("\r\n", 2);
}

void appendStatusLine(Buffer& out, int status, std::string_view reason) {
  char digits[4];
  auto end = std::to_chars(digits, digits + 3, status).ptr;
  out.append("HTTP/1.1 ", 9);
  out.append(digits, static_cast<size_t>(end - digits));
  out.append(" ", 1);
  out.append(reason);
  out.append("\r\n", 2);
}

void appendConnectionFields(Buffer& out, const ForwardedResponse& fwd,
                            const std::string_view* upgradeProtocol) {
  if (fwd.chunked) out.append("transfer-encoding: chunked\r\n", 28);
  if (fwd.upgrade) {
    if (upgradeProtocol != nullptr) appendField(out, "upgrade", *upgradeProtocol);
    out.append("connection: upgrade\r\n", 21);
  } else if (!fwd.keepAlive) {
    out.append("connection: close\r\n", 19);
  } else if (fwd.clientIsHttp10) {
    out.append("connection: keep-alive\r\n", 24);
  }
  out.append("\r\n", 2);
}

}  // namespace

void writeUpstreamRequestHead(Buffer& out, const http::RequestHead& request,
                              const config::HeaderModifier* modifier, const ForwardedRequest& fwd) {
  appendRequestLine(out, request.method, fwd);
  const ConnectionOptions options(request);
  ForwardedRequest forwarded = fwd;
  std::string_view upgrade;
  if (fwd.upgrade) {
    if (const auto* field = request.find("upgrade")) upgrade = field->value;
    forwarded.upgradeProtocol = &upgrade;
  }
  Http1Sink sink{out};
  forwardRequestFields(sink, request.headers, &options, modifier, forwarded);
  out.append("\r\n", 2);
}

void writeUpstreamRequestHead(Buffer& out, std::string_view method,
                              std::span<const http::HeaderField> headers,
                              const config::HeaderModifier* modifier, const ForwardedRequest& fwd) {
  appendRequestLine(out, method, fwd);
  // HTTP/2 may split cookie into several fields; HTTP/1.1 wants one (RFC 9113 §8.2.3).
  Http1CookieJoiningSink sink{out, {}};
  forwardRequestFields(sink, headers, nullptr, modifier, fwd);
  sink.finish();
  out.append("\r\n", 2);
}

void buildUpstreamRequestFields(FieldList& out, std::string_view method,
                                std::span<const http::HeaderField> headers,
                                const http::MessageHead* http1Head,
                                const config::HeaderModifier* modifier,
                                const ForwardedRequest& fwd) {
  out.clear();
  out.add(":method", method);
  out.add(":scheme", "http");
  out.add(":authority", fwd.host);
  out.add(":path", fwd.path);
  if (!fwd.query.empty()) {
    out.appendToLast("?");
    out.appendToLast(fwd.query);
  }
  std::optional<ConnectionOptions> options;
  if (http1Head != nullptr) options.emplace(*http1Head);
  ForwardedRequest forwarded = fwd;
  forwarded.chunked = false;  // HTTP/2 frames bodies itself
  forwarded.upgrade = false;
  FieldSink sink{out};
  forwardRequestFields(sink, headers, options ? &*options : nullptr, modifier, forwarded);
}

void writeDownstreamResponseHead(Buffer& out, const http::ResponseHead& response,
                                 const config::HeaderModifier* modifier,
                                 const ForwardedResponse& fwd) {
  appendStatusLine(out, response.status, response.reason);
  const ConnectionOptions options(response);
  Http1Sink sink{out};
  forwardResponseFields(sink, response.headers, &options, modifier);
  std::string_view upgrade;
  if (fwd.upgrade) {
    if (const auto* field = response.find("upgrade")) upgrade = field->value;
  }
  appendConnectionFields(out, fwd, &upgrade);
}

void writeDownstreamResponseHead(Buffer& out, int status,
                                 std::span<const http::HeaderField> headers,
                                 const config::HeaderModifier* modifier,
                                 const ForwardedResponse& fwd) {
  appendStatusLine(out, status, http::reasonPhrase(status));
  Http1Sink sink{out};
  forwardResponseFields(sink, headers, nullptr, modifier);
  appendConnectionFields(out, fwd, nullptr);
}

void buildDownstreamResponseFields(FieldList& out, int status,
                                   std::span<const http::HeaderField> headers,
                                   const http::MessageHead* http1Head,
                                   const config::HeaderModifier* modifier) {
  out.clear();
  char digits[4];
  auto end = std::to_chars(digits, digits + 3, status).ptr;
  out.add(":status", std::string_view(digits, static_cast<size_t>(end - digits)));
  std::optional<ConnectionOptions> options;
  if (http1Head != nullptr) options.emplace(*http1Head);
  FieldSink sink{out};
  forwardResponseFields(sink, headers, options ? &*options : nullptr, modifier);
}

void formatUuid(uint64_t high, uint64_t low, char out[36]) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<uint8_t, 16> bytes;
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<uint8_t>(high >> (56 - 8 * i));
    bytes[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
  }
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  int pos = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[pos++] = '-';
    out[pos++] = kHex[bytes[i] >> 4];
    out[pos++] = kHex[bytes[i] & 0x0f];
  }
}

}  // namespace trellis::proxy
