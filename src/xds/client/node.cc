#include "xds/client/node.h"

namespace trellis::xds::client {
namespace {

void setString(google::protobuf::Struct& fields, const std::string& key, const std::string& value) {
  if (!value.empty()) (*fields.mutable_fields())[key].set_string_value(value);
}

}  // namespace

envoy::config::core::v3::Node buildNode(const NodeIdentity& identity) {
  envoy::config::core::v3::Node node;
  node.set_id(identity.id);
  node.set_cluster(identity.service);
  node.set_user_agent_name(kUserAgentName);
  google::protobuf::Struct& metadata = *node.mutable_metadata();
  setString(metadata, "NAMESPACE", identity.ns);
  setString(metadata, "SERVICE", identity.service);
  setString(metadata, "INSTANCE", identity.instance);
  setString(metadata, "INBOUND_ADDRESS", identity.inboundAddress);
  setString(metadata, "APP_ADDRESS", identity.appAddress);
  setString(metadata, "OUTBOUND_ADDRESS", identity.outboundAddress);
  setString(metadata, "SERVICE_ACCOUNT", identity.serviceAccount);
  google::protobuf::Struct& labels = *(*metadata.mutable_fields())["LABELS"].mutable_struct_value();
  for (const auto& [key, value] : identity.labels) {
    (*labels.mutable_fields())[key].set_string_value(value);
  }
  return node;
}

}  // namespace trellis::xds::client
