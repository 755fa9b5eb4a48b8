#include "controlplane/ads/node_info.h"

namespace trellis::controlplane {
namespace {

std::string stringField(const google::protobuf::Struct& metadata, const char* key) {
  auto it = metadata.fields().find(key);
  if (it == metadata.fields().end() || !it->second.has_string_value()) return {};
  return it->second.string_value();
}

}  // namespace

NodeInfo parseNode(const envoy::config::core::v3::Node& node) {
  NodeInfo info;
  info.id = node.id();
  info.userAgent = node.user_agent_name();
  const auto& metadata = node.metadata();
  info.ns = stringField(metadata, kMetaNamespace);
  info.service = stringField(metadata, kMetaService);
  info.instance = stringField(metadata, kMetaInstance);
  info.inboundAddress = stringField(metadata, kMetaInboundAddress);
  info.appAddress = stringField(metadata, kMetaAppAddress);
  info.outboundAddress = stringField(metadata, kMetaOutboundAddress);
  info.serviceAccount = stringField(metadata, kMetaServiceAccount);
  auto labels = metadata.fields().find(kMetaLabels);
  if (labels != metadata.fields().end() && labels->second.has_struct_value()) {
    for (const auto& [key, value] : labels->second.struct_value().fields()) {
      if (value.has_string_value()) info.labels[key] = value.string_value();
    }
  }
  return info;
}

}  // namespace trellis::controlplane
