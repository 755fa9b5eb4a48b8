#pragma once
// The files an operator names with -f: files as given, folders searched recursively for *.yaml
// and *.yml in sorted order, "-" for standard input.

#include <istream>
#include <string>
#include <vector>

namespace trellis::cli {

struct InputFile {
  std::string name;  // as shown in messages: the path, or "<stdin>"
  std::string content;
};

/// The paths -f names, expanded: a folder becomes its *.yaml and *.yml files (recursively,
/// sorted by path); a file is taken whatever its extension; "-" stays "-". A missing path or a
/// folder without YAML files is a CliError.
std::vector<std::string> expandPaths(const std::vector<std::string>& paths);

/// Reads every expanded path ("-" from `stdinStream`, at most once).
std::vector<InputFile> readInputs(const std::vector<std::string>& paths, std::istream& stdinStream);

}  // namespace trellis::cli
