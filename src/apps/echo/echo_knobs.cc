#include "apps/echo/echo_knobs.h"

#include <charconv>

#include <fmt/format.h>

namespace trellis::echo {
namespace {

constexpr std::chrono::milliseconds kMaxDelay{60'000};
constexpr uint64_t kMaxBodyBytes = uint64_t{1} << 40;

template <typename T>
bool parseUnsigned(std::string_view text, T& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX and '+' only when present, so plain values cost no copy.
std::string_view percentDecode(std::string_view text, std::string& scratch) {
  if (text.find_first_of("%+") == std::string_view::npos) return text;
  scratch.clear();
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      scratch.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 &&
               hexValue(text[i + 2]) >= 0) {
      scratch.push_back(static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2])));
      i += 2;
    } else {
      scratch.push_back(c);
    }
  }
  return scratch;
}

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

char toLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// `name:value` with a token name and a value free of control bytes (no header injection).
bool parseHeaderKnob(std::string_view text, std::vector<HeaderKnob>& out) {
  size_t colon = text.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  std::string_view name = text.substr(0, colon);
  std::string_view value = trim(text.substr(colon + 1));
  for (char c : name) {
    if (!isTokenChar(c)) return false;
  }
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  std::string lower(name);
  for (char& c : lower) c = toLower(c);
  out.emplace_back(std::move(lower), std::string(value));
  return true;
}

std::optional<bool> parseFlag(std::string_view text) {
  if (text.empty() || text == "1" || text == "true" || text == "yes" || text == "on") return true;
  if (text == "0" || text == "false" || text == "no" || text == "off") return false;
  return std::nullopt;
}

// Applies one knob; unknown names are ignored (they are ordinary query parameters).
bool applyKnob(std::string_view name, std::string_view value, EchoKnobs& out) {
  auto flag = [&](bool& field) {
    auto parsed = parseFlag(value);
    if (parsed) field = *parsed;
    return parsed.has_value();
  };
  if (name == "status") {
    int status = 0;
    if (!parseUnsigned(value, status) || status < 200 || status > 599) return false;
    out.status = status;
    return true;
  }
  if (name == "delay") {
    auto delay = parseDelay(value);
    if (!delay) return false;
    out.delay = *delay;
    return true;
  }
  if (name == "body") {
    uint64_t bytes = 0;
    if (!parseUnsigned(value, bytes) || bytes > kMaxBodyBytes) return false;
    out.bodyBytes = bytes;
    return true;
  }
  if (name == "close") return flag(out.close);
  if (name == "reset") return flag(out.reset);
  if (name == "garbage") return flag(out.garbage);
  if (name == "chunked") return flag(out.chunked);
  if (name == "header") return parseHeaderKnob(value, out.headers);
  if (name == "grpc-status") {
    out.grpcStatus = http::grpc::parseStatus(value);
    return out.grpcStatus.has_value();
  }
  if (name == "grpc-message") {
    out.grpcMessage.assign(value);
    return true;
  }
  if (name == "trailer") {
    if (!parseHeaderKnob(value, out.trailers)) return false;
    out.chunked = true;
    return true;
  }
  return true;
}

// Drops knobs parsed before the bad one, so an invalid request is answered with a plain 400.
bool fail(EchoKnobs& out, std::string_view name, std::string_view value) {
  std::string error = fmt::format("invalid echo knob {}={}", name, value);
  out.clear();
  out.error = std::move(error);
  return false;
}

}  // namespace

void EchoKnobs::clear() {
  status = 200;
  delay = std::chrono::milliseconds{0};
  close = reset = garbage = chunked = false;
  bodyBytes.reset();
  headers.clear();
  trailers.clear();
  grpcStatus.reset();
  grpcMessage.clear();
  error.clear();
}

std::optional<std::chrono::milliseconds> parseDelay(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  uint64_t amount = 0;
  if (!parseUnsigned(text.substr(0, digits), amount) || amount > 1'000'000'000) return std::nullopt;
  std::string_view unit = text.substr(digits);
  std::chrono::milliseconds delay;
  if (unit.empty() || unit == "ms") {
    delay = std::chrono::milliseconds(amount);
  } else if (unit == "s") {
    delay = std::chrono::milliseconds(amount * 1000);
  } else if (unit == "us") {
    delay = std::chrono::milliseconds((amount + 999) / 1000);
  } else {
    return std::nullopt;
  }
  if (delay > kMaxDelay) return std::nullopt;
  return delay;
}

namespace {
std::string& defaultKnobs() {
  static std::string knobs;  // set once in main, before any worker starts
  return knobs;
}

bool applyQuery(std::string_view query, EchoKnobs& out, std::string& scratch) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos
                                 ? std::string_view()
                                 : percentDecode(pair.substr(eq + 1), scratch);
    if (!applyKnob(name, value, out)) return fail(out, name, value);
  }
  return true;
}
}  // namespace

bool setDefaultKnobs(std::string_view query) {
  EchoKnobs probe;
  std::string scratch;
  if (!applyQuery(query, probe, scratch)) return false;
  defaultKnobs().assign(query);
  return true;
}

bool parseKnobs(const http::RequestHead& head, EchoKnobs& out) {
  out.clear();
  std::string scratch;
  if (!applyQuery(defaultKnobs(), out, scratch)) return false;
  if (!applyQuery(head.query, out, scratch)) return false;
  constexpr std::string_view kPrefix = "x-echo-";
  for (const http::HeaderField& field : head.headers) {
    if (field.name.size() <= kPrefix.size() || field.name.substr(0, kPrefix.size()) != kPrefix) {
      continue;
    }
    std::string_view name = field.name.substr(kPrefix.size());
    if (!applyKnob(name, field.value, out)) return fail(out, name, field.value);
  }
  return true;
}

}  // namespace trellis::echo
