#pragma once
// Small, fast, seedable pseudo-random generators for load balancing. Not cryptographic: they
// only need to be cheap, well distributed and reproducible from a seed (tests rely on that).

#include <cstdint>

namespace trellis::upstream {

__extension__ using Uint128 = unsigned __int128;

/// SplitMix64 finalizer: a bijective 64-bit mixer (good avalanche); also used to derive
/// independent-looking probe hashes from one request hash.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/// Maps a uniformly distributed 64-bit value onto [0, bound) without a division.
inline uint64_t scaleToRange(uint64_t value, uint64_t bound) {
  return static_cast<uint64_t>((static_cast<Uint128>(value) * bound) >> 64);
}

/// SplitMix64 sequence; used to expand one seed into xoshiro's 256-bit state.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() { return mix64(state_ += 0x9e3779b97f4a7c15ULL); }

 private:
  uint64_t state_;
};

/// xoshiro256** (Blackman & Vigna): one instance per balancer, so no sharing between threads.
class Prng {
 public:
  explicit Prng(uint64_t seed) {
    SplitMix64 expand(seed);
    for (uint64_t& word : state_) word = expand.next();
  }

  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform in [0, bound) for bound > 0 (Lemire's multiply-shift; the bias of at most
  /// bound / 2^64 is irrelevant for balancing).
  uint64_t below(uint64_t bound) { return scaleToRange(next(), bound); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

}  // namespace trellis::upstream
