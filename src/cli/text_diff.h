#pragma once
// A line diff in unified format (as `diff -u` prints it), for `trellisctl diff` and the change
// summary of `trellisctl history`. Small inputs get a minimal diff (longest common subsequence);
// very large changed regions fall back to "all removed, all added", still a correct diff.

#include <string>
#include <string_view>
#include <vector>

namespace trellis::cli {

struct DiffStats {
  size_t added = 0;
  size_t removed = 0;
  bool changed() const { return added + removed > 0; }
};

/// Lines of `text` without their terminators; a final newline does not add an empty line.
std::vector<std::string> splitLines(std::string_view text);

/// Counts of added and removed lines from `before` to `after`.
DiffStats diffStats(std::string_view before, std::string_view after);

/// The unified diff from `before` to `after` with `context` lines around each change, headed by
/// "--- beforeLabel" / "+++ afterLabel"; empty when the texts have the same lines.
std::string unifiedDiff(std::string_view before, std::string_view after,
                        std::string_view beforeLabel, std::string_view afterLabel,
                        size_t context = 3);

}  // namespace trellis::cli
