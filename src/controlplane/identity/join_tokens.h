#pragma once
// Join tokens: how a proxy proves which workload it is before it gets its first certificate.
// An operator creates one with `trellisctl token create --namespace NS --service-account SA`;
// it is bound to that namespace and service account, expires (1 h by default), and is good for
// one thing only: a certificate for that identity. Tokens look like
// `trellis-join.<id>.<secret>`; trellisd keeps the id and the SHA-256 of the secret, never the
// secret.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "controlplane/store/store.h"

namespace trellis::controlplane {

struct IssuedToken {
  std::string token;  // shown once
  JoinTokenRecord record;
};

class JoinTokens {
 public:
  explicit JoinTokens(Store& store) : store_(store) {}

  /// A new token for `ns`/`serviceAccount`, valid for `ttl` from `now` (Unix seconds); nullopt
  /// and `error` when the store cannot keep it.
  std::optional<IssuedToken> create(const std::string& ns, const std::string& serviceAccount,
                                    std::chrono::seconds ttl, int64_t now, std::string& error);

  /// Why a token was refused; the text is what the log and the caller see.
  enum class Refusal : uint8_t { None, Malformed, Unknown, Expired, WrongIdentity };
  static const char* refusalName(Refusal refusal);

  /// Checks `token` for `ns`/`serviceAccount` at `now`.
  Refusal check(std::string_view token, std::string_view ns, std::string_view serviceAccount,
                int64_t now, JoinTokenRecord* record = nullptr);

 private:
  Store& store_;
};

}  // namespace trellis::controlplane
