#include "proxy/head_writer.h"

#include <array>
#include <charconv>

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

void appendModifierFields(Buffer& out, const config::HeaderModifier* modifier) {
  if (modifier == nullptr) return;
  for (const auto& [name, value] : modifier->set) appendField(out, name, value);
  for (const auto& [name, value] : modifier->add) appendField(out, name, value);
}

}  // namespace

bool isHopByHop(std::string_view name, const http::MessageHead& head) {
  return isFixedHopByHop(name) || ConnectionOptions(head).lists(name);
}

void writeUpstreamRequestHead(Buffer& out, const http::RequestHead& request,
                              const config::HeaderModifier* modifier, const ForwardedRequest& fwd) {
  out.append(request.method);
  out.append(" ", 1);
  out.append(fwd.path);
  if (!fwd.query.empty()) {
    out.append("?", 1);
    out.append(fwd.query);
  }
  out.append(" HTTP/1.1\r\nhost: ", 17);
  out.append(fwd.host);
  out.append("\r\n", 2);
  std::string_view forwardedFor;
  bool hasProto = false;
  const ConnectionOptions options(request);
  for (const auto& field : request.headers) {
    const std::string_view name = field.name;
    if (name == "host") continue;
    if (name == "x-request-id") continue;  // re-added below (validated or generated)
    if (name == "x-forwarded-for") {
      forwardedFor = field.value;
      continue;
    }
    if (name == "x-forwarded-proto") hasProto = true;
    if (isFixedHopByHop(name) || options.lists(name)) {
      // TE: trailers is the one TE value a proxy may forward (RFC 9110 §10.1.4).
      if (name == "te" && equalsIgnoreCase(field.value, "trailers")) {
        appendField(out, name, field.value);
      }
      continue;
    }
    if (modifierTouches(modifier, name)) continue;
    appendField(out, name, field.value);
  }
  appendModifierFields(out, modifier);
  if (fwd.chunked) out.append("transfer-encoding: chunked\r\n", 28);
  if (fwd.upgrade) {
    if (const auto* upgrade = request.find("upgrade")) appendField(out, "upgrade", upgrade->value);
    out.append("connection: upgrade\r\n", 21);
  }
  out.append("x-forwarded-for: ", 17);
  if (!forwardedFor.empty()) {
    out.append(forwardedFor);
    out.append(", ", 2);
  }
  out.append(fwd.clientIp);
  out.append("\r\n", 2);
  if (!hasProto) out.append("x-forwarded-proto: http\r\n", 25);
  appendField(out, "x-request-id", fwd.requestId);
  out.append("\r\n", 2);
}

void writeDownstreamResponseHead(Buffer& out, const http::ResponseHead& response,
                                 const config::HeaderModifier* modifier,
                                 const ForwardedResponse& fwd) {
  char status[4];
  auto end = std::to_chars(status, status + 3, response.status).ptr;
  out.append("HTTP/1.1 ", 9);
  out.append(status, static_cast<size_t>(end - status));
  out.append(" ", 1);
  out.append(response.reason);
  out.append("\r\n", 2);
  const ConnectionOptions options(response);
  for (const auto& field : response.headers) {
    if (isFixedHopByHop(field.name) || options.lists(field.name)) continue;
    if (modifierTouches(modifier, field.name)) continue;
    appendField(out, field.name, field.value);
  }
  appendModifierFields(out, modifier);
  if (fwd.chunked) out.append("transfer-encoding: chunked\r\n", 28);
  if (fwd.upgrade) {
    if (const auto* upgrade = response.find("upgrade")) {
      appendField(out, "upgrade", upgrade->value);
    }
    out.append("connection: upgrade\r\n", 21);
  } else if (!fwd.keepAlive) {
    out.append("connection: close\r\n", 19);
  } else if (fwd.clientIsHttp10) {
    out.append("connection: keep-alive\r\n", 24);
  }
  out.append("\r\n", 2);
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
