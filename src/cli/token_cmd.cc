#include "cli/token_cmd.h"

#include <ctime>

#include "cli/api_errors.h"
#include "cli/cli_error.h"

namespace trellis::cli {

int runTokenCreate(ApiClient& api, const Io& io, const TokenCreateOptions& options) {
  if (options.serviceAccount.empty()) {
    throw CliError(
        "token create needs --service-account (the workload's identity: "
        "spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>)",
        2);
  }
  ApiResponse response =
      api.post("/api/v1/identity/tokens", {{"namespace", options.ns},
                                           {"serviceAccount", options.serviceAccount},
                                           {"ttl", options.ttl}});
  if (response.status != 200) throwProblems(response, "cannot create a join token:");
  if (io.format != OutputFormat::Table) {
    printStructured(io.out, io.format, response.body);
    return 0;
  }
  io.out << scalarText(member(response.body, "token")) << "\n";
  const nlohmann::json& expires = member(response.body, "expiresAt");
  std::string when = "-";
  if (expires.is_number_integer()) {
    std::time_t at = expires.get<int64_t>();
    char text[32];
    std::tm utc{};
    gmtime_r(&at, &utc);
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    when = text;
  }
  io.err << "join token " << scalarText(member(response.body, "id")) << " for " << options.ns << "/"
         << options.serviceAccount << ", valid until " << when
         << ": pass it to trellis-proxy --join-token (it is shown only once)\n";
  return 0;
}

}  // namespace trellis::cli
