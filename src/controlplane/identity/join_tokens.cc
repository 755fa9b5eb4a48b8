#include "controlplane/identity/join_tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace trellis::controlplane {
namespace {

constexpr std::string_view kPrefix = "trellis-join.";

std::string hex(const unsigned char* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

std::optional<std::string> randomHex(size_t bytes) {
  unsigned char buffer[32];
  if (bytes > sizeof buffer || RAND_bytes(buffer, static_cast<int>(bytes)) != 1) {
    return std::nullopt;
  }
  return hex(buffer, bytes);
}

std::string sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  return hex(digest, size);
}

}  // namespace

std::optional<IssuedToken> JoinTokens::create(const std::string& ns,
                                              const std::string& serviceAccount,
                                              std::chrono::seconds ttl, int64_t now,
                                              std::string& error) {
  auto id = randomHex(8);
  auto secret = randomHex(32);
  if (!id || !secret) {
    error = "no randomness for a token";
    return std::nullopt;
  }
  JoinTokenRecord record{*id, sha256Hex(*secret), ns, serviceAccount, now, now + ttl.count()};
  store_.removeJoinTokensExpiredBefore(now - 7 * 24 * 3600);  // kept a week: "expired", not
                                                              // "unknown", when reused late
  if (!store_.putJoinToken(record)) {
    error = "the store could not keep the token";
    return std::nullopt;
  }
  return IssuedToken{std::string(kPrefix) + *id + "." + *secret, std::move(record)};
}

const char* JoinTokens::refusalName(Refusal refusal) {
  switch (refusal) {
    case Refusal::None:
      return "accepted";
    case Refusal::Malformed:
      return "malformed";
    case Refusal::Unknown:
      return "unknown";
    case Refusal::Expired:
      return "expired";
    case Refusal::WrongIdentity:
      return "wrong_identity";
  }
  return "unknown";
}

JoinTokens::Refusal JoinTokens::check(std::string_view token, std::string_view ns,
                                      std::string_view serviceAccount, int64_t now,
                                      JoinTokenRecord* out) {
  if (token.substr(0, kPrefix.size()) != kPrefix) return Refusal::Malformed;
  token.remove_prefix(kPrefix.size());
  const size_t dot = token.find('.');
  if (dot != 16 || token.size() != 16 + 1 + 64) return Refusal::Malformed;
  auto record = store_.joinToken(std::string(token.substr(0, dot)));
  if (!record) return Refusal::Unknown;
  const std::string presented = sha256Hex(token.substr(dot + 1));
  if (presented.size() != record->secretSha256.size() ||
      CRYPTO_memcmp(presented.data(), record->secretSha256.data(), presented.size()) != 0) {
    return Refusal::Unknown;  // a guessed id with a wrong secret says nothing more
  }
  if (out != nullptr) *out = *record;
  if (now >= record->expiresAt) return Refusal::Expired;
  if (record->ns != ns || record->serviceAccount != serviceAccount) {
    return Refusal::WrongIdentity;
  }
  return Refusal::None;
}

}  // namespace trellis::controlplane
