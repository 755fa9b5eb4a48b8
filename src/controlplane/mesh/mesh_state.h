#pragma once
// The mesh as trellisd holds it between changes: every stored resource parsed once per store
// revision, ready to be assembled into each proxy's configuration.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/resources.h"
#include "controlplane/store/store.h"

namespace trellis::controlplane {

struct MeshState {
  int64_t revision = 0;
  config::Resources resources;
};

/// Parses the stored resources. They were validated when applied, so errors here mean the store
/// was edited behind trellisd's back: they are returned (and the state is null) rather than
/// silently serving part of the mesh.
std::shared_ptr<const MeshState> parseMesh(const std::vector<StoredResource>& stored,
                                           int64_t revision, std::vector<std::string>& errors);

/// The stored documents as one YAML stream, plus where each came from, so that the loader's
/// line numbers can be mapped back to the file (or stored resource) a problem is in.
struct MeshStream {
  struct Segment {
    std::string name;   // file name, or "stored <Kind> <ns>/<name>"
    int firstLine = 1;  // 1-based line of the segment's first line in `text`
  };
  std::string text;
  std::vector<Segment> segments;

  void append(std::string name, std::string_view yaml);
  /// Rewrites `error.file` and `error.line` from the stream's coordinates to the segment's.
  void locate(config::LoadError& error) const;

 private:
  int lines_ = 0;  // lines in `text` so far (appending stays linear in the stream's size)
};

}  // namespace trellis::controlplane
