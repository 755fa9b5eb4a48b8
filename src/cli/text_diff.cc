#include "cli/text_diff.h"

#include <algorithm>
#include <cstdint>

namespace trellis::cli {
namespace {

enum class Op : uint8_t { Keep, Remove, Add };

struct Edit {
  Op op;
  size_t line;  // index into before (Keep, Remove) or after (Add)
};

/// Above this many cells the middle of a change is not aligned line by line (memory stays
/// bounded for a 10,000-endpoint Service rewritten wholesale).
constexpr size_t kMaxLcsCells = size_t{4} * 1024 * 1024;

/// The edit script from a to b: common prefix and suffix kept, the middle aligned by LCS.
std::vector<Edit> editScript(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix]) {
    ++suffix;
  }
  std::vector<Edit> edits;
  for (size_t i = 0; i < prefix; ++i) edits.push_back({Op::Keep, i});
  size_t n = a.size() - prefix - suffix;
  size_t m = b.size() - prefix - suffix;
  if (n > 0 && m > 0 && (n + 1) * (m + 1) <= kMaxLcsCells) {
    // lcs[i][j]: LCS length of a[prefix+i..] and b[prefix+j..].
    std::vector<uint32_t> lcs((n + 1) * (m + 1), 0);
    auto at = [&](size_t i, size_t j) -> uint32_t& { return lcs[i * (m + 1) + j]; };
    for (size_t i = n; i-- > 0;) {
      for (size_t j = m; j-- > 0;) {
        at(i, j) = a[prefix + i] == b[prefix + j] ? at(i + 1, j + 1) + 1
                                                  : std::max(at(i + 1, j), at(i, j + 1));
      }
    }
    size_t i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[prefix + i] == b[prefix + j]) {
        edits.push_back({Op::Keep, prefix + i});
        ++i;
        ++j;
      } else if (j == m || (i < n && at(i + 1, j) >= at(i, j + 1))) {
        edits.push_back({Op::Remove, prefix + i});  // removals first, as diff -u prints them
        ++i;
      } else {
        edits.push_back({Op::Add, prefix + j});
        ++j;
      }
    }
  } else {
    for (size_t i = 0; i < n; ++i) edits.push_back({Op::Remove, prefix + i});
    for (size_t j = 0; j < m; ++j) edits.push_back({Op::Add, prefix + j});
  }
  for (size_t i = a.size() - suffix; i < a.size(); ++i) edits.push_back({Op::Keep, i});
  return edits;
}

std::string range(size_t start, size_t count) {
  // diff -u: "start,count", "start" alone for one line, and start is the line before for none.
  if (count == 1) return std::to_string(start + 1);
  return std::to_string(count == 0 ? start : start + 1) + "," + std::to_string(count);
}

}  // namespace

std::vector<std::string> splitLines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

DiffStats diffStats(std::string_view before, std::string_view after) {
  DiffStats stats;
  for (const Edit& edit : editScript(splitLines(before), splitLines(after))) {
    if (edit.op == Op::Add) ++stats.added;
    if (edit.op == Op::Remove) ++stats.removed;
  }
  return stats;
}

std::string unifiedDiff(std::string_view before, std::string_view after,
                        std::string_view beforeLabel, std::string_view afterLabel, size_t context) {
  std::vector<std::string> a = splitLines(before);
  std::vector<std::string> b = splitLines(after);
  std::vector<Edit> edits = editScript(a, b);

  // Line numbers in a and b before each edit.
  std::vector<size_t> posA(edits.size() + 1), posB(edits.size() + 1);
  for (size_t k = 0; k < edits.size(); ++k) {
    posA[k + 1] = posA[k] + (edits[k].op != Op::Add ? 1 : 0);
    posB[k + 1] = posB[k] + (edits[k].op != Op::Remove ? 1 : 0);
  }

  std::string out;
  size_t k = 0;
  while (k < edits.size()) {
    if (edits[k].op == Op::Keep) {
      ++k;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after the last change
    // that is at most 2 * context unchanged lines away from the previous one.
    size_t start = k >= context ? k - context : 0;
    size_t end = k;
    size_t last = k;
    while (end < edits.size()) {
      if (edits[end].op != Op::Keep) {
        last = end;
      } else if (end - last > 2 * context) {
        break;
      }
      ++end;
    }
    end = std::min(edits.size(), last + 1 + context);
    if (out.empty()) {
      out += "--- " + std::string(beforeLabel) + "\n+++ " + std::string(afterLabel) + "\n";
    }
    out += "@@ -" + range(posA[start], posA[end] - posA[start]) + " +" +
           range(posB[start], posB[end] - posB[start]) + " @@\n";
    for (size_t e = start; e < end; ++e) {
      switch (edits[e].op) {
        case Op::Keep:
          out += " " + a[edits[e].line] + "\n";
          break;
        case Op::Remove:
          out += "-" + a[edits[e].line] + "\n";
          break;
        case Op::Add:
          out += "+" + b[edits[e].line] + "\n";
          break;
      }
    }
    k = end;
  }
  return out;
}

}  // namespace trellis::cli
