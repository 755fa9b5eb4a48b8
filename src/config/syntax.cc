#include "config/syntax.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <vector>

namespace trellis::config::syntax {
namespace {

bool isLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isHex(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool isAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 3986 pchar plus '/', as the Gateway API path pattern allows (percent-encodings checked
// separately).
bool isPathChar(char c) {
  static constexpr std::string_view kExtra = "-/._~!$&'()*+,;=:@";
  return isAlpha(c) || isDigit(c) || kExtra.find(c) != std::string_view::npos;
}

bool isTokenChar(char c) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return isAlpha(c) || isDigit(c) || kExtra.find(c) != std::string_view::npos;
}

std::string checkLabel(std::string_view label) {
  if (label.empty()) return "must not contain an empty label";
  if (label.size() > 63) return "labels must be at most 63 characters";
  for (char c : label) {
    if (c >= 'A' && c <= 'Z') return "must be lower case";
    if (!isLowerAlnum(c) && c != '-') {
      return "may contain only lower-case letters, digits, '-' and '.'";
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return "labels must start and end with a letter or digit";
  }
  return {};
}

std::string checkPathCharacters(std::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '%') {
      if (i + 2 >= value.size() || !isHex(value[i + 1]) || !isHex(value[i + 2])) {
        return "'%' must start a percent-encoding such as %20";
      }
      i += 2;
      continue;
    }
    if (!isPathChar(c)) return "may contain only URL path characters (RFC 3986 pchar and '/')";
  }
  return {};
}

int64_t daysFromCivil(int64_t year, unsigned month, unsigned day) {
  // Howard Hinnant's algorithm: proleptic Gregorian calendar.
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool isLeapYear(int64_t year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

// Reads exactly `digits` decimal digits at `pos`.
std::optional<int> readFixed(std::string_view text, size_t& pos, size_t digits) {
  if (pos + digits > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = text[pos + i];
    if (!isDigit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += digits;
  return value;
}

bool expect(std::string_view text, size_t& pos, std::string_view chars) {
  if (pos >= text.size() || chars.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

}  // namespace

std::string checkDnsLabel(std::string_view value) {
  if (value.empty()) return "must not be empty";
  if (value.size() > 63) return "must be at most 63 characters";
  if (value.find('.') != std::string_view::npos) return "must not contain '.'";
  return checkLabel(value);
}

std::string checkDnsSubdomain(std::string_view value) {
  if (value.empty()) return "must not be empty";
  if (value.size() > 253) return "must be at most 253 characters";
  size_t start = 0;
  while (true) {
    size_t dot = value.find('.', start);
    std::string message = checkLabel(value.substr(start, dot - start));
    if (!message.empty()) return message;
    if (dot == std::string_view::npos) return {};
    start = dot + 1;
  }
}

std::string checkHostname(std::string_view value, bool allowWildcard) {
  if (value.empty()) return "must not be empty";
  if (value.size() > 253) return "must be at most 253 characters";
  std::string_view rest = value;
  if (value.starts_with("*.")) {
    if (!allowWildcard) return "must not be a wildcard";
    rest.remove_prefix(2);
  } else if (value.find('*') != std::string_view::npos) {
    return allowWildcard ? "a wildcard '*' is allowed only as the whole first label (\"*.\")"
                         : "must not contain '*'";
  }
  if (canonicalIp(rest)) return "must be a host name, not an IP address";
  return checkDnsSubdomain(rest);
}

std::string checkGroup(std::string_view value) {
  if (value.empty()) return {};
  return checkDnsSubdomain(value);
}

std::string checkKind(std::string_view value) {
  if (value.empty()) return "must not be empty";
  if (value.size() > 63) return "must be at most 63 characters";
  if (!isAlpha(value.front())) return "must start with a letter";
  if (value.back() == '-') return "must end with a letter or digit";
  for (char c : value) {
    if (!isAlpha(c) && !isDigit(c) && c != '-') return "may contain only letters, digits and '-'";
  }
  return {};
}

std::string checkHeaderName(std::string_view value) {
  if (value.empty()) return "must not be empty";
  if (value.size() > 256) return "must be at most 256 characters";
  for (char c : value) {
    if (!isTokenChar(c)) {
      return "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)";
    }
  }
  return {};
}

std::string checkHeaderValue(std::string_view value) {
  if (value.empty()) return "must not be empty";
  if (value.size() > 4096) return "must be at most 4096 characters";
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      return "must not contain control characters (CR, LF, NUL, ...)";
    }
  }
  if (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
      value.back() == '\t') {
    return "must not start or end with whitespace";
  }
  return {};
}

std::string checkMatchPath(std::string_view value) {
  if (value.size() > 1024) return "must be at most 1024 characters";
  if (!value.starts_with('/')) return "must be an absolute path starting with '/'";
  if (value.find("//") != std::string_view::npos) return "must not contain '//'";
  if (value.find("/./") != std::string_view::npos) return "must not contain '/./'";
  if (value.find("/../") != std::string_view::npos) return "must not contain '/../'";
  if (value.find("%2f") != std::string_view::npos || value.find("%2F") != std::string_view::npos) {
    return "must not contain an encoded '/' (%2F)";
  }
  if (value.find('#') != std::string_view::npos) return "must not contain '#'";
  if (value.ends_with("/..")) return "must not end with '/..'";
  if (value.ends_with("/.")) return "must not end with '/.'";
  return checkPathCharacters(value);
}

std::string checkReplacementPath(std::string_view value, bool allowEmpty) {
  if (value.size() > 1024) return "must be at most 1024 characters";
  if (value.empty()) return allowEmpty ? std::string() : "must not be empty";
  if (!value.starts_with('/')) return "must be an absolute path starting with '/'";
  return checkPathCharacters(value);
}

std::optional<std::string> canonicalIp(std::string_view value) {
  if (value.empty() || value.size() > 64 || value.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  std::string text(value);
  std::array<unsigned char, 16> bytes{};
  char buffer[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) {
    if (inet_ntop(AF_INET, bytes.data(), buffer, sizeof buffer) == nullptr) return std::nullopt;
    return std::string(buffer);
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) {
    if (inet_ntop(AF_INET6, bytes.data(), buffer, sizeof buffer) == nullptr) return std::nullopt;
    return std::string(buffer);
  }
  return std::nullopt;
}

std::optional<Duration> parseDuration(std::string_view value) {
  int64_t totalMs = 0;
  size_t pos = 0;
  int units = 0;
  while (pos < value.size()) {
    if (++units > 4) return std::nullopt;
    size_t digitsStart = pos;
    int64_t number = 0;
    while (pos < value.size() && isDigit(value[pos])) {
      if (pos - digitsStart == 5) return std::nullopt;  // before the multiply can overflow
      number = number * 10 + (value[pos] - '0');
      ++pos;
    }
    size_t digits = pos - digitsStart;
    if (digits == 0 || pos >= value.size()) return std::nullopt;
    int64_t unitMs = 0;
    switch (value[pos]) {
      case 'h':
        unitMs = 3600000;
        ++pos;
        break;
      case 's':
        unitMs = 1000;
        ++pos;
        break;
      case 'm':
        if (pos + 1 < value.size() && value[pos + 1] == 's') {
          unitMs = 1;
          pos += 2;
        } else {
          unitMs = 60000;
          ++pos;
        }
        break;
      default:
        return std::nullopt;
    }
    totalMs += number * unitMs;  // ≤ 4 × 99999 h: far from overflow
  }
  if (units == 0) return std::nullopt;
  return Duration(totalMs);
}

std::string formatDuration(Duration duration) {
  int64_t ms = duration.count();
  if (ms <= 0) return "0s";
  std::string out;
  auto emit = [&](int64_t unitMs, const char* suffix) {
    if (ms >= unitMs) {
      out += std::to_string(ms / unitMs);
      out += suffix;
      ms %= unitMs;
    }
  };
  emit(3600000, "h");
  emit(60000, "m");
  emit(1000, "s");
  emit(1, "ms");
  return out;
}

std::optional<uint32_t> parsePercentage(std::string_view value) {
  size_t dot = value.find('.');
  std::string_view whole = value.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? "" : value.substr(dot + 1);
  bool digitsOnly = std::all_of(whole.begin(), whole.end(), isDigit) &&
                    std::all_of(fraction.begin(), fraction.end(), isDigit);
  if (whole.empty() || whole.size() > 3 || fraction.size() > 4 || !digitsOnly ||
      (dot != std::string_view::npos && fraction.empty())) {
    return std::nullopt;
  }
  uint32_t perMillion = 0;
  for (char c : whole) perMillion = perMillion * 10 + static_cast<uint32_t>(c - '0');
  perMillion *= 10000;
  uint32_t scale = 1000;
  for (char c : fraction) {
    perMillion += static_cast<uint32_t>(c - '0') * scale;
    scale /= 10;
  }
  if (perMillion > 1000000) return std::nullopt;
  return perMillion;
}

std::optional<int64_t> parseRfc3339(std::string_view text) {
  size_t pos = 0;
  auto year = readFixed(text, pos, 4);
  if (!year || !expect(text, pos, "-")) return std::nullopt;
  auto month = readFixed(text, pos, 2);
  if (!month || !expect(text, pos, "-")) return std::nullopt;
  auto day = readFixed(text, pos, 2);
  if (!day || !expect(text, pos, "Tt")) return std::nullopt;
  auto hour = readFixed(text, pos, 2);
  if (!hour || !expect(text, pos, ":")) return std::nullopt;
  auto minute = readFixed(text, pos, 2);
  if (!minute || !expect(text, pos, ":")) return std::nullopt;
  auto second = readFixed(text, pos, 2);
  if (!second) return std::nullopt;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < text.size() && isDigit(text[pos])) ++pos;
    if (pos == start) return std::nullopt;
  }
  int offsetSeconds = 0;
  if (expect(text, pos, "Zz")) {
    // UTC
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    auto offsetHour = readFixed(text, pos, 2);
    if (!offsetHour || !expect(text, pos, ":")) return std::nullopt;
    auto offsetMinute = readFixed(text, pos, 2);
    if (!offsetMinute || *offsetHour > 23 || *offsetMinute > 59) return std::nullopt;
    offsetSeconds = sign * (*offsetHour * 3600 + *offsetMinute * 60);
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;

  static constexpr std::array<int, 12> kDaysInMonth = {31, 28, 31, 30, 31, 30,
                                                       31, 31, 30, 31, 30, 31};
  if (*month < 1 || *month > 12) return std::nullopt;
  int maxDay = kDaysInMonth[*month - 1] + (*month == 2 && isLeapYear(*year) ? 1 : 0);
  if (*day < 1 || *day > maxDay) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 60) return std::nullopt;  // 60: leap second

  int64_t days = daysFromCivil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  return days * 86400 + *hour * 3600 + *minute * 60 + *second - offsetSeconds;
}

bool isPrime(uint64_t value) {
  if (value < 2) return false;
  if (value % 2 == 0) return value == 2;
  for (uint64_t divisor = 3; divisor * divisor <= value; divisor += 2) {
    if (value % divisor == 0) return false;
  }
  return true;
}

std::string toLower(std::string_view value) {
  std::string out(value);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

size_t editDistance(std::string_view a, std::string_view b, size_t limit) {
  size_t lengthGap = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
  if (lengthGap > limit) return limit + 1;
  std::vector<size_t> previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    size_t rowMin = current[0];
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
      rowMin = std::min(rowMin, current[j]);
    }
    if (rowMin > limit) return limit + 1;
    std::swap(previous, current);
  }
  return std::min(previous[b.size()], limit + 1);
}

}  // namespace trellis::config::syntax
