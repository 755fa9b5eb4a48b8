#include "cli/validate_cmd.h"

#include <nlohmann/json.hpp>

#include "cli/sources.h"
#include "controlplane/validation/validate.h"

namespace trellis::cli {
namespace {

nlohmann::json problemJson(const config::LoadError& error) {
  return {{"file", error.file},         {"line", error.line},   {"column", error.column},
          {"resource", error.resource}, {"field", error.field}, {"message", error.message}};
}

}  // namespace

int runValidate(const Io& io, const ValidateOptions& options) {
  std::vector<controlplane::SourceFile> files;
  for (InputFile& input : readInputs(options.paths, io.in)) {
    files.push_back({std::move(input.name), std::move(input.content)});
  }
  controlplane::ValidationResult result = controlplane::validateApply({}, files);

  if (io.format != OutputFormat::Table) {
    nlohmann::json report = {{"valid", result.ok()},
                             {"resources", nlohmann::json::array()},
                             {"errors", nlohmann::json::array()},
                             {"warnings", nlohmann::json::array()}};
    for (const auto& document : result.documents) {
      report["resources"].push_back({{"kind", document.key.kind},
                                     {"namespace", document.key.ns},
                                     {"name", document.key.name}});
    }
    for (const auto& error : result.errors) report["errors"].push_back(problemJson(error));
    for (const auto& warning : result.warnings) report["warnings"].push_back(problemJson(warning));
    printStructured(io.out, io.format, report);
    return result.ok() ? 0 : 1;
  }
  for (const auto& warning : result.warnings) io.err << "warning: " << warning.toString() << "\n";
  for (const auto& error : result.errors) io.err << error.toString() << "\n";
  if (!result.ok()) {
    io.err << result.errors.size() << (result.errors.size() == 1 ? " error" : " errors")
           << ": the files are not valid\n";
    return 1;
  }
  io.out << "valid: " << result.documents.size()
         << (result.documents.size() == 1 ? " resource" : " resources") << " in " << files.size()
         << (files.size() == 1 ? " file" : " files");
  if (!result.warnings.empty()) {
    io.out << " (" << result.warnings.size()
           << (result.warnings.size() == 1 ? " warning" : " warnings") << ")";
  }
  io.out << "\n";
  return 0;
}

}  // namespace trellis::cli
