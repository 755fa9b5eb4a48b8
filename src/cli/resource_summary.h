#pragma once
// The kind-specific columns of `trellisctl get` (what kubectl calls printer columns): where a
// route attaches and where it sends traffic, a Service's ports and endpoints, and so on.

#include <string>
#include <string_view>
#include <vector>

namespace trellis::cli {

/// Column headers for `kind` (none for an unknown kind).
std::vector<std::string> summaryHeaders(std::string_view kind);

/// The cells for one stored document of `kind`, parallel to summaryHeaders(kind). A document that
/// does not parse gives empty cells (printed as "-"): listing must not fail on one resource.
std::vector<std::string> summaryCells(std::string_view kind, std::string_view document);

}  // namespace trellis::cli
