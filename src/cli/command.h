#pragma once
// What every trellisctl command is handed: the output format and the streams, so that commands
// print to what a test gives them.

#include <iostream>

#include "cli/output.h"

namespace trellis::cli {

struct Io {
  OutputFormat format = OutputFormat::Table;
  std::ostream& out = std::cout;
  std::ostream& err = std::cerr;
  std::istream& in = std::cin;
};

}  // namespace trellis::cli
