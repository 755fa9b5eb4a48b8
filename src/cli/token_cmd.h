#pragma once
// `trellisctl token create --namespace NS --service-account SA [--ttl 1h]`: a join token with
// which a proxy gets its first certificate for spiffe://<trust-domain>/ns/NS/sa/SA
// (docs/identity.md). The token alone goes to stdout, so that scripts can capture it.

#include <string>

#include "cli/api_client.h"
#include "cli/command.h"

namespace trellis::cli {

struct TokenCreateOptions {
  std::string ns = "default";
  std::string serviceAccount;
  std::string ttl = "1h";
};

int runTokenCreate(ApiClient& api, const Io& io, const TokenCreateOptions& options);

}  // namespace trellis::cli
