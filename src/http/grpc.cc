#include "http/grpc.h"

#include <algorithm>

#include <array>

namespace trellis::http::grpc {
namespace {

constexpr std::array<std::string_view, kStatusCount> kStatusNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

constexpr int64_t kMaxTimeoutValue = 99'999'999;

struct TimeoutUnit {
  char symbol;
  int64_t microseconds;
};

// Finest first: formatTimeout relies on this order.
constexpr std::array<TimeoutUnit, 5> kTimeoutUnits = {{
    {'u', 1},
    {'m', 1'000},
    {'S', 1'000'000},
    {'M', 60'000'000},
    {'H', 3'600'000'000},
}};

char asciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t writeDecimal(int64_t value, char* out) {
  char digits[20];
  size_t count = 0;
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0);
  for (size_t i = 0; i < count; ++i) out[i] = digits[count - 1 - i];
  return count;
}

size_t decimalLength(int64_t value) {
  size_t length = 1;
  while (value >= 10) {
    value /= 10;
    ++length;
  }
  return length;
}

}  // namespace

std::string_view statusName(Status status) {
  const auto index = static_cast<size_t>(status);
  return index < kStatusNames.size() ? kStatusNames[index] : kStatusNames[2];
}

std::optional<Status> statusFromName(std::string_view name) {
  auto it = std::find(kStatusNames.begin(), kStatusNames.end(), name);
  if (it == kStatusNames.end()) return std::nullopt;
  return static_cast<Status>(it - kStatusNames.begin());
}

std::optional<Status> parseStatus(std::string_view value) {
  if (value.empty() || value.size() > 2) return std::nullopt;
  if (value.size() == 2 && value[0] == '0') return std::nullopt;
  int code = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    code = code * 10 + (c - '0');
  }
  if (code >= kStatusCount) return std::nullopt;
  return static_cast<Status>(code);
}

Status statusFromHttp(int httpStatus) {
  switch (httpStatus) {
    case 400:
      return Status::Internal;
    case 401:
      return Status::Unauthenticated;
    case 403:
      return Status::PermissionDenied;
    case 404:
      return Status::Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status::Unavailable;
    default:
      return Status::Unknown;
  }
}

std::optional<std::chrono::microseconds> parseTimeout(std::string_view value) {
  if (value.size() < 2 || value.size() > kMaxTimeoutChars) return std::nullopt;
  int64_t amount = 0;
  for (char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    amount = amount * 10 + (c - '0');
  }
  using std::chrono::microseconds;
  switch (value.back()) {
    case 'H':
      return microseconds(amount * 3'600'000'000);
    case 'M':
      return microseconds(amount * 60'000'000);
    case 'S':
      return microseconds(amount * 1'000'000);
    case 'm':
      return microseconds(amount * 1'000);
    case 'u':
      return microseconds(amount);
    case 'n':
      return microseconds((amount + 999) / 1'000);
    default:
      return std::nullopt;
  }
}

size_t formatTimeout(std::chrono::microseconds timeout, char (&out)[kMaxTimeoutChars]) {
  const int64_t micros = timeout.count() < 0 ? 0 : timeout.count();
  const TimeoutUnit* best = nullptr;
  int64_t bestValue = 0;
  // Exact encodings get shorter as units get coarser; keep the shortest that fits.
  for (const TimeoutUnit& unit : kTimeoutUnits) {
    if (micros % unit.microseconds != 0) continue;
    const int64_t value = micros / unit.microseconds;
    if (value > kMaxTimeoutValue) continue;
    if (best == nullptr || decimalLength(value) < decimalLength(bestValue)) {
      best = &unit;
      bestValue = value;
    }
  }
  if (best == nullptr) {
    // No exact fit: the finest unit whose rounded-up value fits loses the least precision.
    for (const TimeoutUnit& unit : kTimeoutUnits) {
      const int64_t value = micros / unit.microseconds + (micros % unit.microseconds != 0);
      if (value <= kMaxTimeoutValue) {
        best = &unit;
        bestValue = value;
        break;
      }
    }
  }
  if (best == nullptr) {  // beyond about 11400 years
    best = &kTimeoutUnits.back();
    bestValue = kMaxTimeoutValue;
  }
  const size_t length = writeDecimal(bestValue, out);
  out[length] = best->symbol;
  return length + 1;
}

bool isGrpcContentType(std::string_view contentType) {
  constexpr std::string_view kBase = "application/grpc";
  if (contentType.size() < kBase.size()) return false;
  for (size_t i = 0; i < kBase.size(); ++i) {
    if (asciiLower(contentType[i]) != kBase[i]) return false;
  }
  return contentType.size() == kBase.size() || contentType[kBase.size()] == '+' ||
         contentType[kBase.size()] == ';';
}

void percentEncodeMessage(std::string_view message, std::string& out) {
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte <= 0x7e && byte != '%') {
      out.push_back(c);
      continue;
    }
    out.push_back('%');
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xf]);
  }
}

void percentDecodeMessage(std::string_view encoded, std::string& out) {
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%' && i + 2 < encoded.size() && hexValue(encoded[i + 1]) >= 0 &&
        hexValue(encoded[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexValue(encoded[i + 1]) * 16 + hexValue(encoded[i + 2])));
      i += 2;
      continue;
    }
    out.push_back(encoded[i]);
  }
}

std::optional<MethodPath> splitPath(std::string_view path) {
  if (path.size() < 4 || path.front() != '/') return std::nullopt;
  const size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == path.size()) {
    return std::nullopt;
  }
  MethodPath parts{path.substr(1, slash - 1), path.substr(slash + 1)};
  if (parts.method.find_first_of("/?") != std::string_view::npos ||
      parts.service.find('?') != std::string_view::npos) {
    return std::nullopt;
  }
  return parts;
}

}  // namespace trellis::http::grpc
