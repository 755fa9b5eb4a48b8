#pragma once
// trellisd's validation errors and warnings ({"file","line","column","resource","field",
// "message"}) printed as the proxy's loader prints them: file:line:col: Kind ns/name: field: msg.

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "cli/api_client.h"

namespace trellis::cli {

/// One error or warning object (or a plain string) as a line of text.
std::string formatProblem(const nlohmann::json& problem);

/// The lines of a failed answer: each of "errors", else its "error", else its text.
std::vector<std::string> problemLines(const ApiResponse& response);

/// Prints an answer's "warnings" to `err`, one "warning: ..." line each (they do not stop a
/// write: e.g. a backend Service that no longer exists, whose share of requests gets 500).
void printWarnings(std::ostream& err, const nlohmann::json& body);

/// Throws a CliError with problemLines joined, after `headline` when not empty.
[[noreturn]] void throwProblems(const ApiResponse& response, const std::string& headline = {});

}  // namespace trellis::cli
