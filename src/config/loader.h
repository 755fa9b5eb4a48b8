#pragma once
// Loads Kubernetes-style YAML resources (HTTPRoute, Listener, Service) into a config::Snapshot.
//
// Every problem is reported with the file, the line, the resource (Kind namespace/name) and the
// field path, e.g.
//   mesh.yaml:14:9: HTTPRoute default/shop: spec.rules[0].matches[0].path.type: unknown value
//   "Regex" (expected Exact, PathPrefix or RegularExpression)
// A load either yields a complete snapshot or errors; never a partial configuration.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace trellis::config {

struct LoadError {
  std::string file;
  int line = 0;          // 1-based; 0 when unknown
  int column = 0;        // 1-based; 0 when unknown
  std::string resource;  // "HTTPRoute default/shop"; empty for file-level errors
  std::string field;     // "spec.rules[0].matches[0].path.type"; empty for resource-level errors
  std::string message;
  std::string toString() const;
};

struct LoadResult {
  std::shared_ptr<const Snapshot> snapshot;  // null when errors is non-empty
  std::vector<LoadError> errors;
  /// Problems that do not block a load: references to missing Services (their traffic share gets
  /// 500, as the Gateway API requires), routes not attached to any Listener, ignored parentRefs.
  std::vector<LoadError> warnings;
  bool ok() const { return snapshot != nullptr; }
};

/// Inputs larger than this are rejected without being parsed.
inline constexpr size_t kMaxConfigBytes = size_t{16} * 1024 * 1024;

/// Reads and validates a YAML file (one or more documents separated by ---). Never throws.
/// `Snapshot::version` is left 0 for the caller to assign; `Snapshot::source` is the file name.
LoadResult loadFile(const std::string& path);
/// Same, from memory; `sourceName` is used as the file name in errors.
LoadResult loadString(std::string_view yaml, std::string_view sourceName);

}  // namespace trellis::config
