#include "cli/sources.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "cli/cli_error.h"

namespace trellis::cli {
namespace {

namespace fs = std::filesystem;

bool isYamlFile(const fs::path& path) {
  std::string extension = path.extension().string();
  return extension == ".yaml" || extension == ".yml";
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw CliError("cannot read " + path + ": " + std::strerror(errno));
  return content.str();
}

}  // namespace

std::vector<std::string> expandPaths(const std::vector<std::string>& paths) {
  if (paths.empty()) throw CliError("no input: name files or folders with -f (or -f - for stdin)");
  std::vector<std::string> out;
  for (const std::string& path : paths) {
    if (path == "-") {
      out.push_back(path);
      continue;
    }
    std::error_code error;
    fs::file_status status = fs::status(path, error);
    if (error || !fs::exists(status)) {
      throw CliError(path + ": no such file or folder");
    }
    if (!fs::is_directory(status)) {
      out.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(path, fs::directory_options::follow_directory_symlink,
                                        error);
    for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (it->is_regular_file(error) && isYamlFile(it->path())) {
        found.push_back(it->path().string());
      }
    }
    if (error) throw CliError("cannot list " + path + ": " + error.message());
    if (found.empty()) throw CliError(path + ": folder has no .yaml or .yml files");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

std::vector<InputFile> readInputs(const std::vector<std::string>& paths,
                                  std::istream& stdinStream) {
  std::vector<InputFile> files;
  bool stdinRead = false;
  std::set<std::string> seen;
  for (const std::string& path : expandPaths(paths)) {
    if (path == "-") {
      if (stdinRead) throw CliError("-f - (standard input) given more than once");
      stdinRead = true;
      std::string content{std::istreambuf_iterator<char>(stdinStream),
                          std::istreambuf_iterator<char>()};
      files.push_back({"<stdin>", std::move(content)});
      continue;
    }
    // A file named directly and again through its folder is applied once.
    if (!seen.insert(fs::weakly_canonical(path).string()).second) continue;
    files.push_back({path, readFile(path)});
  }
  return files;
}

}  // namespace trellis::cli
