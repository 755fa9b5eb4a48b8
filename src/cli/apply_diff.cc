#include "cli/apply_diff.h"

#include "cli/api_errors.h"
#include "cli/cli_error.h"
#include "cli/sources.h"
#include "cli/text_diff.h"

namespace trellis::cli {

std::string outcomeWord(const std::string& outcome) {
  if (outcome == "updated") return "configured";
  return outcome;
}

int runApply(ApiClient& api, const Io& io, const ApplyOptions& options) {
  std::vector<InputFile> inputs = readInputs(options.paths, io.in);
  nlohmann::json files = nlohmann::json::array();
  for (const InputFile& input : inputs) {
    files.push_back({{"name", input.name}, {"content", input.content}});
  }
  nlohmann::json request = {{"files", files}, {"dryRun", options.dryRun}};
  ApiResponse response = api.post("/api/v1/apply", request);

  if (response.status == 409) {
    throw CliError("conflict: " + response.errorMessage() +
                   "\nsomeone changed it since you read it (the file carries "
                   "metadata.resourceVersion): re-run apply without it, or `trellisctl get` it "
                   "again and merge your change");
  }
  if (response.status == 400) {
    for (const std::string& line : problemLines(response)) io.err << line << "\n";
    printWarnings(io.err, response.body);
    throw CliError("apply refused, nothing was changed: fix the errors above" +
                   std::string(inputs.size() > 1 ? " (the files are applied together)" : ""));
  }
  if (response.status != 200) throwProblems(response, "apply failed:");

  printWarnings(io.err, response.body);
  if (io.format != OutputFormat::Table) {
    printStructured(io.out, io.format, response.body);
    return 0;
  }
  const nlohmann::json& results = arrayMember(response.body, "results");
  for (const auto& result : results) {
    std::string outcome = outcomeWord(scalarText(member(result, "outcome")));
    // trellisd marks dry-run outcomes itself ("created (dry run)"); say it once either way.
    if (options.dryRun && outcome.find("(dry run)") == std::string::npos) outcome += " (dry run)";
    io.out << describe(itemKey(result)) << " " << outcome << "\n";
  }
  if (results.empty()) io.err << "no resources in the input (nothing to apply)\n";
  return 0;
}

std::string diffResource(const NamedDocument& local, const std::optional<nlohmann::json>& live) {
  std::string wanted = comparableText(local.text, local.source);
  std::string afterLabel =
      describe(local.key) + " (" + local.source + ":" + std::to_string(local.line) + ")";
  if (!live) return unifiedDiff("", wanted, describe(local.key) + " (not in the mesh)", afterLabel);
  std::string current = comparableText(scalarText(member(*live, "document")), "live");
  std::string beforeLabel =
      describe(local.key) + " (live, resourceVersion " + std::to_string(itemVersion(*live)) + ")";
  return unifiedDiff(current, wanted, beforeLabel, afterLabel);
}

int runDiff(ApiClient& api, const Io& io, const DiffOptions& options) {
  try {
    bool changed = false;
    for (const InputFile& input : readInputs(options.paths, io.in)) {
      for (const NamedDocument& local : splitOrThrow(input.content, input.name)) {
        ApiResponse response = api.get("/api/v1/resources/" +
                                       resourcePath(local.key.kind, local.key.ns, local.key.name));
        std::optional<nlohmann::json> live;
        if (response.status == 200) {
          live = response.body;
        } else if (response.status != 404) {
          throwProblems(response, "cannot read " + describe(local.key) + ":");
        }
        std::string diff = diffResource(local, live);
        if (!diff.empty()) {
          changed = true;
          io.out << diff;
        }
      }
    }
    return changed ? 1 : 0;
  } catch (const CliError& error) {
    throw CliError(error.what(), 2);  // 1 means "differences", as with kubectl diff
  }
}

}  // namespace trellis::cli
