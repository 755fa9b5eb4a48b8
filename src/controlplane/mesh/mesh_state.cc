#include "controlplane/mesh/mesh_state.h"

#include <fmt/format.h>

#include <algorithm>

namespace trellis::controlplane {

void MeshStream::append(std::string name, std::string_view yaml) {
  text += "---\n";
  ++lines_;
  segments.push_back(Segment{std::move(name), lines_ + 1});
  text += yaml;
  if (!text.empty() && text.back() != '\n') text += '\n';
  lines_ += static_cast<int>(std::count(yaml.begin(), yaml.end(), '\n')) +
            (yaml.empty() || yaml.back() == '\n' ? 0 : 1);
}

void MeshStream::locate(config::LoadError& error) const {
  if (error.line <= 0 || segments.empty()) return;
  auto after = std::upper_bound(segments.begin(), segments.end(), error.line,
                                [](int line, const Segment& s) { return line < s.firstLine; });
  if (after == segments.begin()) return;  // on a separator before the first segment
  const Segment& segment = *(after - 1);
  error.file = segment.name;
  error.line = error.line - segment.firstLine + 1;
}

std::shared_ptr<const MeshState> parseMesh(const std::vector<StoredResource>& stored,
                                           int64_t revision, std::vector<std::string>& errors) {
  MeshStream stream;
  for (const StoredResource& resource : stored) {
    stream.append(
        fmt::format("stored {} {}/{}", resource.key.kind, resource.key.ns, resource.key.name),
        resource.document);
  }
  auto state = std::make_shared<MeshState>();
  state->revision = revision;
  config::Diagnostics diagnostics{"store"};
  config::parseDocuments(stream.text, diagnostics, state->resources);
  for (config::LoadError& error : diagnostics.takeErrors()) {
    stream.locate(error);
    errors.push_back(error.toString());
  }
  if (!errors.empty()) return nullptr;
  return state;
}

}  // namespace trellis::controlplane
