#pragma once
// `trellisctl validate -f PATH`: the checks trellisd makes on apply, offline, over an empty
// mesh (so a route naming a Service the files do not define is a warning, not an error).

#include <string>
#include <vector>

#include "cli/command.h"

namespace trellis::cli {

struct ValidateOptions {
  std::vector<std::string> paths;
};

/// Prints errors and warnings (file:line:col: Kind ns/name: field: message); exit code 0 when
/// valid, 1 otherwise.
int runValidate(const Io& io, const ValidateOptions& options);

}  // namespace trellis::cli
