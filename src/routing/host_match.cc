#include "routing/host_match.h"

#include <cstring>

namespace trellis::routing {

namespace {

bool allDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

HostAndPort splitHostPort(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return {authority, {}};
    std::string_view rest = authority.substr(close + 1);
    std::string_view port;
    if (!rest.empty() && rest.front() == ':' && allDigits(rest.substr(1))) port = rest.substr(1);
    return {authority.substr(1, close - 1), port};
  }
  const size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos || authority.find(':') != colon) return {authority, {}};
  std::string_view port = authority.substr(colon + 1);
  if (!allDigits(port)) return {authority, {}};
  return {authority.substr(0, colon), port};
}

std::string_view routingHost(std::string_view authority) {
  std::string_view host = splitHostPort(authority).host;
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  return host;
}

int compareFolded(std::string_view value, std::string_view lower) {
  const size_t n = value.size() < lower.size() ? value.size() : lower.size();
  for (size_t i = 0; i < n; ++i) {
    const auto a = static_cast<unsigned char>(asciiLower(value[i]));
    const auto b = static_cast<unsigned char>(lower[i]);
    if (a != b) return a < b ? -1 : 1;
  }
  if (value.size() == lower.size()) return 0;
  return value.size() < lower.size() ? -1 : 1;
}

bool equalsFolded(std::string_view value, std::string_view lower) {
  if (value.size() != lower.size()) return false;
  size_t i = 0;
  // Eight bytes at a time: set bit 5 of every byte in 'A'..'Z' (bytes >= 0x80 are left alone).
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  for (; i + 8 <= value.size(); i += 8) {
    uint64_t a;
    uint64_t b;
    std::memcpy(&a, value.data() + i, 8);
    std::memcpy(&b, lower.data() + i, 8);
    const uint64_t low7 = a & (kOnes * 0x7f);
    const uint64_t atLeastA = low7 + kOnes * (0x80 - 'A');
    const uint64_t aboveZ = low7 + kOnes * (0x80 - 'Z' - 1);
    const uint64_t upper = atLeastA & ~aboveZ & ~a & (kOnes * 0x80);
    if ((a | (upper >> 2)) != b) return false;
  }
  for (; i < value.size(); ++i) {
    if (asciiLower(value[i]) != lower[i]) return false;
  }
  return true;
}

bool wildcardMatches(std::string_view pattern, std::string_view host) {
  if (pattern.size() < 2 || pattern[0] != '*' || pattern[1] != '.') return false;
  const std::string_view suffix = pattern.substr(1);  // ".example.com"
  // At least one character must stand in for the wildcard label.
  if (host.size() <= suffix.size()) return false;
  return equalsFolded(host.substr(host.size() - suffix.size()), suffix);
}

}  // namespace trellis::routing

namespace trellis::routing {

void FoldedNameIndex::build(const std::vector<std::string_view>& names) {
  names_.assign(names.begin(), names.end());
  size_t capacity = 4;
  while (capacity < names.size() * 2) capacity *= 2;
  slots_.assign(capacity, Slot{});
  for (size_t i = 0; i < names.size(); ++i) {
    const uint64_t hash = ReverseFoldedHash::of(names[i]);
    size_t pos = hash & (capacity - 1);
    while (slots_[pos].index >= 0) pos = (pos + 1) & (capacity - 1);
    slots_[pos] = {hash, static_cast<int>(i)};
  }
}

int FoldedNameIndex::find(std::string_view key, uint64_t hash) const {
  if (slots_.empty()) return -1;
  const size_t mask = slots_.size() - 1;
  for (size_t pos = hash & mask; slots_[pos].index >= 0; pos = (pos + 1) & mask) {
    const Slot& slot = slots_[pos];
    if (slot.hash == hash && equalsFolded(key, names_[static_cast<size_t>(slot.index)])) {
      return slot.index;
    }
  }
  return -1;
}

}  // namespace trellis::routing
