#include "cli/get_delete.h"

#include <algorithm>

#include "cli/api_errors.h"
#include "cli/cli_error.h"
#include "cli/kinds.h"
#include "cli/resource_summary.h"
#include "cli/resource_text.h"
#include "cli/sources.h"

namespace trellis::cli {
namespace {

std::string notFound(const ResourceKey& key) {
  return describe(key) + " not found (list them with: trellisctl get " + pluralOf(key.kind) +
         " -n " + key.ns + ")";
}

void deleteOne(ApiClient& api, const Io& io, const ResourceKey& key, bool ignoreNotFound) {
  ApiResponse response = api.del("/api/v1/resources/" + resourcePath(key.kind, key.ns, key.name));
  if (response.status == 404) {
    if (ignoreNotFound) return;
    throw CliError(notFound(key));
  }
  if (response.status == 400 || response.status == 409) {
    throwProblems(response, "cannot delete " + describe(key) +
                                " (delete or change what refers to it first):");
  }
  if (response.status != 200) throwProblems(response, "cannot delete " + describe(key) + ":");
  printWarnings(io.err, response.body);
  if (io.format != OutputFormat::Table) {
    printStructured(io.out, io.format, response.body);
  } else {
    io.out << describe(key) << " deleted\n";
  }
}

}  // namespace

std::pair<std::string, std::string> kindAndName(const std::string& typed, const std::string& name) {
  size_t slash = typed.find('/');
  if (slash == std::string::npos) return {requireKind(typed), name};
  if (!name.empty()) {
    throw CliError(
        "name given twice (\"" + typed + "\" and \"" + name + "\"): write KIND NAME or KIND/NAME",
        2);
  }
  return {requireKind(typed.substr(0, slash)), typed.substr(slash + 1)};
}

std::string renderResourceTable(const nlohmann::json& items, const std::string& kind) {
  Table table;
  if (kind.empty()) table.headers.push_back("KIND");
  table.headers.insert(table.headers.end(), {"NAMESPACE", "NAME", "VERSION"});
  std::vector<std::string> extra = kind.empty() ? std::vector<std::string>() : summaryHeaders(kind);
  table.headers.insert(table.headers.end(), extra.begin(), extra.end());
  for (const auto& item : items) {
    ResourceKey key = itemKey(item);
    std::vector<std::string> row;
    if (kind.empty()) row.push_back(key.kind);
    row.insert(row.end(), {key.ns, key.name, std::to_string(itemVersion(item))});
    if (!kind.empty()) {
      std::vector<std::string> cells = summaryCells(kind, scalarText(member(item, "document")));
      row.insert(row.end(), cells.begin(), cells.end());
    }
    table.addRow(std::move(row));
  }
  return renderTable(table);
}

std::string renderResourceYaml(const nlohmann::json& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += "---\n";
    out += setResourceVersion(scalarText(member(item, "document")), itemVersion(item));
  }
  return out;
}

int runGet(ApiClient& api, const Io& io, const GetOptions& options) {
  std::string kind;
  std::string name = options.name;
  bool everyKind = options.kind == "all" || options.kind == "ALL";
  if (!everyKind) std::tie(kind, name) = kindAndName(options.kind, options.name);
  if (everyKind && !name.empty()) throw CliError("get all takes no NAME", 2);

  if (!name.empty()) {
    if (options.allNamespaces) throw CliError("-A lists; with a NAME use -n NAMESPACE", 2);
    ResourceKey key{kind, options.ns, name};
    ApiResponse response = api.get("/api/v1/resources/" + resourcePath(kind, options.ns, name));
    if (response.status == 404) throw CliError(notFound(key));
    if (response.status != 200) throwProblems(response, "cannot read " + describe(key) + ":");
    if (io.format == OutputFormat::Json) {
      printStructured(io.out, io.format, response.body);
    } else if (io.format == OutputFormat::Yaml) {
      io.out << renderResourceYaml(nlohmann::json::array({response.body}));
    } else {
      io.out << renderResourceTable(nlohmann::json::array({response.body}), kind);
    }
    return 0;
  }

  std::string query;
  if (!kind.empty()) query += "kind=" + urlEncode(kind);
  if (!options.allNamespaces)
    query += (query.empty() ? "" : "&") + ("namespace=" + urlEncode(options.ns));
  ApiResponse response = api.get("/api/v1/resources" + (query.empty() ? "" : "?" + query));
  if (response.status != 200) throwProblems(response, "cannot list resources:");
  const nlohmann::json& items = arrayMember(response.body, "items");
  if (io.format == OutputFormat::Json) {
    printStructured(io.out, io.format, response.body);
  } else if (io.format == OutputFormat::Yaml) {
    io.out << renderResourceYaml(items);
  } else if (items.empty()) {
    io.err << "No " << (kind.empty() ? "resources" : pluralOf(kind)) << " found"
           << (options.allNamespaces ? "" : " in namespace " + options.ns) << ".\n";
  } else {
    io.out << renderResourceTable(items, kind);
  }
  return 0;
}

int runDelete(ApiClient& api, const Io& io, const DeleteOptions& options) {
  if (!options.paths.empty()) {
    if (!options.kind.empty()) throw CliError("give either KIND NAME or -f PATH, not both", 2);
    std::vector<ResourceKey> keys;
    for (const InputFile& input : readInputs(options.paths, io.in)) {
      for (const NamedDocument& document : splitOrThrow(input.content, input.name)) {
        keys.push_back(document.key);
      }
    }
    // Files list what others refer to (Services) before what refers to them (routes): deleting
    // in reverse order never leaves a route pointing at a deleted Service.
    std::reverse(keys.begin(), keys.end());
    std::vector<std::string> failures;
    for (const ResourceKey& key : keys) {
      try {
        deleteOne(api, io, key, options.ignoreNotFound);
      } catch (const CliError& error) {
        failures.push_back(error.what());
      }
    }
    if (!failures.empty()) {
      std::string message;
      for (const std::string& failure : failures)
        message += (message.empty() ? "" : "\n") + failure;
      throw CliError(message);
    }
    return 0;
  }
  if (options.kind.empty())
    throw CliError("delete needs KIND NAME (e.g. delete hr billing) or -f PATH", 2);
  auto [kind, name] = kindAndName(options.kind, options.name);
  if (name.empty())
    throw CliError("delete needs a NAME: trellisctl delete " + options.kind + " NAME", 2);
  deleteOne(api, io, ResourceKey{kind, options.ns, name}, options.ignoreNotFound);
  return 0;
}

}  // namespace trellis::cli
