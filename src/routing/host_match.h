#pragma once
// Host header handling for routing: splitting off the port, IPv6 brackets, and ASCII
// case-insensitive comparison against lower-case configured names, all without allocating.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::routing {

/// A Host / :authority value split into its parts. Views into the original string.
struct HostAndPort {
  std::string_view host;  // without brackets for IPv6 literals
  std::string_view port;  // digits only; empty when absent
};

/// Splits "name:port", "[v6]:port", "name" or "[v6]". A value with several colons and no
/// brackets (a malformed IPv6 literal) is returned whole as the host.
HostAndPort splitHostPort(std::string_view authority);

/// The host name routing compares: port and brackets removed, one trailing dot removed
/// ("example.com." names the same host as "example.com"). Case is left as sent.
std::string_view routingHost(std::string_view authority);

inline char asciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

/// Three-way comparison of `value` folded to lower case against `lower` (already lower case).
int compareFolded(std::string_view value, std::string_view lower);

/// True when `value` equals `lower` ignoring ASCII case (`lower` must be lower case).
bool equalsFolded(std::string_view value, std::string_view lower);

/// Gateway API wildcard hostname match: "*.example.com" matches "foo.example.com" and
/// "a.b.example.com" but not "example.com". `pattern` lower case; `host` any case.
bool wildcardMatches(std::string_view pattern, std::string_view host);

/// Hash of a host name or suffix, folded to lower case and computed from the last byte to the
/// first, so one right-to-left pass over a host yields the hash of every suffix. The per-byte
/// step is a cheap rotate-xor (short dependency chain); `value()` mixes it well, and lookups
/// verify names, so its weakness costs at most a probe.
class ReverseFoldedHash {
 public:
  void add(char c) {
    state_ = ((state_ << 5) | (state_ >> 59)) ^ static_cast<unsigned char>(asciiLower(c));
  }
  uint64_t value() const {
    uint64_t h = state_ ^ (state_ >> 33);  // MurmurHash3 fmix64
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
  }
  static uint64_t of(std::string_view s) {
    ReverseFoldedHash h;
    for (size_t i = s.size(); i > 0; --i) h.add(s[i - 1]);
    return h.value();
  }

 private:
  uint64_t state_ = 0;
};

/// Open-addressing map from lower-case names to small integers, looked up by a
/// ReverseFoldedHash and verified with a case-insensitive compare. Built once; read-only after.
class FoldedNameIndex {
 public:
  /// `names[i]` maps to `i`; names must be lower case and distinct.
  void build(const std::vector<std::string_view>& names);
  /// Index of `key` (any case) whose hash is `hash`, or -1.
  int find(std::string_view key, uint64_t hash) const;

 private:
  struct Slot {
    uint64_t hash = 0;
    int index = -1;
  };
  std::vector<Slot> slots_;  // power-of-two size, at most half full
  std::vector<std::string> names_;
};

}  // namespace trellis::routing
