#pragma once
// The one way a trellisctl command fails: a message that says what went wrong and what to do
// next, and the process exit code.

#include <stdexcept>
#include <string>

namespace trellis::cli {

class CliError : public std::runtime_error {
 public:
  explicit CliError(const std::string& message, int exitCode = 1)
      : std::runtime_error(message), exitCode_(exitCode) {}
  int exitCode() const { return exitCode_; }

 private:
  int exitCode_;
};

}  // namespace trellis::cli
