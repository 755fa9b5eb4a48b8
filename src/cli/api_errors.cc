#include "cli/api_errors.h"

#include "cli/cli_error.h"
#include "cli/output.h"
#include "config/loader.h"

namespace trellis::cli {
namespace {

int intAt(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

std::string textAt(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() ? scalarText(*it) : std::string();
}

}  // namespace

std::string formatProblem(const nlohmann::json& problem) {
  if (!problem.is_object()) return scalarText(problem);
  config::LoadError error;
  error.file = textAt(problem, "file");
  error.line = intAt(problem, "line");
  error.column = intAt(problem, "column");
  error.resource = textAt(problem, "resource");
  error.field = textAt(problem, "field");
  error.message = textAt(problem, "message");
  std::string text = error.toString();
  // An error without a file (e.g. about the mesh as a whole) reads better without ": " first.
  if (error.file.empty() && error.line == 0 && text.rfind(": ", 0) == 0) text = text.substr(2);
  return text;
}

std::vector<std::string> problemLines(const ApiResponse& response) {
  std::vector<std::string> lines;
  const nlohmann::json& body = response.body;
  for (const auto& problem : arrayMember(body, "errors")) lines.push_back(formatProblem(problem));
  if (lines.empty()) lines.push_back(response.errorMessage());
  return lines;
}

void printWarnings(std::ostream& err, const nlohmann::json& body) {
  for (const auto& warning : arrayMember(body, "warnings")) {
    err << "warning: " << formatProblem(warning) << "\n";
  }
}

void throwProblems(const ApiResponse& response, const std::string& headline) {
  std::string message = headline;
  for (const std::string& line : problemLines(response)) {
    if (!message.empty()) message += "\n";
    message += line;
  }
  throw CliError(message);
}

}  // namespace trellis::cli
