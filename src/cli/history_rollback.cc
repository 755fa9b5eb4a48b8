#include "cli/history_rollback.h"

#include "cli/api_errors.h"
#include "cli/cli_error.h"
#include "cli/get_delete.h"
#include "cli/kinds.h"
#include "cli/resource_text.h"
#include "cli/text_diff.h"

namespace trellis::cli {
namespace {

int64_t revisionOf(const nlohmann::json& item) {
  const nlohmann::json& revision = member(item, "revision");
  return revision.is_number_integer() ? revision.get<int64_t>() : 0;
}

bool isDeletion(const nlohmann::json& item) {
  const nlohmann::json& deleted = member(item, "deleted");
  return deleted.is_boolean() && deleted.get<bool>();
}

}  // namespace

std::string renderHistoryTable(const nlohmann::json& items) {
  Table table{{"REVISION", "CHANGE", "LINES"}, {}};
  const nlohmann::json* previous = nullptr;
  for (const auto& item : items) {
    std::string change;
    std::string lines;
    std::string document = scalarText(member(item, "document"));
    if (isDeletion(item)) {
      change = "deleted";
    } else if (previous == nullptr || isDeletion(*previous)) {
      change = "created";
      lines = "+" + std::to_string(splitLines(document).size());
    } else {
      change = "updated";
      DiffStats stats = diffStats(scalarText(member(*previous, "document")), document);
      lines = "+" + std::to_string(stats.added) + " -" + std::to_string(stats.removed);
    }
    table.addRow({std::to_string(revisionOf(item)), change, lines});
    previous = &item;
  }
  return renderTable(table);
}

int runHistory(ApiClient& api, const Io& io, const HistoryOptions& options) {
  auto [kind, name] = kindAndName(options.kind, options.name);
  if (name.empty())
    throw CliError("history needs KIND NAME, e.g. trellisctl history hr billing", 2);
  ResourceKey key{kind, options.ns, name};
  ApiResponse response = api.get("/api/v1/history/" + resourcePath(kind, options.ns, name));
  const nlohmann::json& items = arrayMember(response.body, "items");
  if (response.status == 404 || (response.status == 200 && items.empty())) {
    throw CliError(describe(key) + " has no history: it was never applied in namespace " +
                   options.ns + " (list them with: trellisctl get " + pluralOf(kind) + " -A)");
  }
  if (response.status != 200)
    throwProblems(response, "cannot read the history of " + describe(key) + ":");

  if (options.revision) {
    for (const auto& item : items) {
      if (revisionOf(item) != *options.revision) continue;
      if (io.format == OutputFormat::Table || io.format == OutputFormat::Yaml) {
        io.out << scalarText(member(item, "document"));
        std::string document = scalarText(member(item, "document"));
        if (!document.empty() && document.back() != '\n') io.out << "\n";
      } else {
        printStructured(io.out, io.format, item);
      }
      return 0;
    }
    throw CliError("revision " + std::to_string(*options.revision) + " is not in the history of " +
                   describe(key) + " (see: trellisctl history " + pluralOf(kind) + " " + name +
                   " -n " + options.ns + ")");
  }
  if (io.format != OutputFormat::Table) {
    printStructured(io.out, io.format, response.body);
  } else {
    io.out << renderHistoryTable(items);
  }
  return 0;
}

int runRollback(ApiClient& api, const Io& io, const RollbackOptions& options) {
  auto [kind, name] = kindAndName(options.kind, options.name);
  if (name.empty())
    throw CliError("rollback needs KIND NAME, e.g. trellisctl rollback hr billing", 2);
  ResourceKey key{kind, options.ns, name};
  std::string target = "/api/v1/rollback/" + resourcePath(kind, options.ns, name);
  if (options.to) target += "?to=" + std::to_string(*options.to);
  ApiResponse response = api.post(target, nlohmann::json::object());
  std::string historyHint = "see the revisions with: trellisctl history " + pluralOf(kind) + " " +
                            name + " -n " + options.ns;
  if (response.status == 404) {
    throwProblems(response, "cannot roll back " + describe(key) + " (" + historyHint + "):");
  }
  if (response.status == 409) {
    throw CliError("conflict: " + response.errorMessage() + "\n" + describe(key) +
                   " changed while rolling back: re-run the rollback");
  }
  if (response.status != 200) {
    throwProblems(response, "cannot roll back " + describe(key) + " (" + historyHint + "):");
  }
  printWarnings(io.err, response.body);
  if (io.format != OutputFormat::Table) {
    printStructured(io.out, io.format, response.body);
    return 0;
  }
  std::string revisionText =
      options.to ? "revision " + std::to_string(*options.to) : "the previous revision";
  const nlohmann::json& results = arrayMember(response.body, "results");
  std::string outcome = results.empty() ? "" : scalarText(member(results[0], "outcome"));
  if (outcome == "unchanged") {
    io.out << describe(key) << " unchanged: " << revisionText << " has its current content\n";
  } else if (outcome == "deleted") {
    io.out << describe(key) << " deleted: it did not exist at " << revisionText << "\n";
  } else {
    io.out << describe(key) << " rolled back to " << revisionText;
    if (const nlohmann::json& revision = member(response.body, "revision"); revision.is_number()) {
      io.out << " (now at revision " << revision.dump() << ")";
    }
    io.out << "\n";
  }
  return 0;
}

}  // namespace trellis::cli
