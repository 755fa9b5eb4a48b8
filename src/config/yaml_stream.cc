#include "config/yaml_stream.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

#include <sstream>
#include <string>

namespace trellis::config {
namespace {

// Sees only where each document starts. yaml-cpp 0.7 does not consume a stray flow indicator
// (e.g. a lone "," at block level): HandleNextDocument then yields the same empty document
// forever and YAML::LoadAll allocates until the process dies. A document starting where the
// previous one started is that defect.
class DocumentStarts final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    stuck_ = count_ > 0 && mark.pos == lastStart_.pos;
    lastStart_ = mark;
    ++count_;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  bool stuck() const { return stuck_; }
  size_t count() const { return count_; }
  const YAML::Mark& lastStart() const { return lastStart_; }

 private:
  YAML::Mark lastStart_;
  size_t count_ = 0;
  bool stuck_ = false;
};

// Checks the stream with the event parser; true when LoadAll can safely build it.
bool checkStream(const std::string& text, Diagnostics& diagnostics) {
  std::istringstream input(text);
  YAML::Parser parser(input);
  DocumentStarts starts;
  while (parser.HandleNextDocument(starts)) {
    if (starts.stuck()) {
      const YAML::Mark& mark = starts.lastStart();
      std::string what = mark.pos >= 0 && static_cast<size_t>(mark.pos) < text.size()
                             ? fmt::format(" {}", quote(std::string_view(&text[mark.pos], 1)))
                             : "";
      diagnostics.error(Location{mark, "", ""},
                        fmt::format("invalid YAML: unexpected{} outside a flow collection", what));
      return false;
    }
    if (starts.count() > kMaxDocuments) {
      diagnostics.error(Location{starts.lastStart(), "", ""},
                        fmt::format("more than {} YAML documents", kMaxDocuments));
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::vector<YAML::Node>> parseYamlStream(std::string_view yaml,
                                                       Diagnostics& diagnostics) {
  std::string text(yaml);
  try {
    if (!checkStream(text, diagnostics)) return std::nullopt;
    return YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    diagnostics.error(Location{e.mark, "", ""}, fmt::format("invalid YAML: {}", e.msg));
    return std::nullopt;
  }
}

namespace {

void emitNode(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (auto it = node.begin(); it != node.end(); ++it) {
        out << YAML::Key;
        emitNode(out, it->first);
        out << YAML::Value;
        emitNode(out, it->second);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (auto it = node.begin(); it != node.end(); ++it) emitNode(out, *it);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") out << YAML::DoubleQuoted;  // quoted in the source
      out << node.Scalar();
      break;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out << YAML::Null;
      break;
  }
}

}  // namespace

std::string emitYamlDocument(const YAML::Node& node) {
  YAML::Emitter out;
  emitNode(out, node);
  return out.c_str();
}

}  // namespace trellis::config
