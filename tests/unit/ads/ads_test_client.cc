#include "ads_test_client.h"

#include <algorithm>
#include <atomic>
#include <chrono>

namespace trellis::controlplane::testing {

namespace {
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ",") + name;
  return out;
}
}  // namespace

void RecordingHooks::nodeConnected(const NodeInfo& node) {
  {
    std::lock_guard lock(mu_);
    lastConnected_ = node;
  }
  record("connected " + node.id);
}

void RecordingHooks::nodeDisconnected(const NodeInfo& node) {
  record("disconnected " + node.id);
}

void RecordingHooks::namesRequested(const NodeInfo& node, const std::string& typeUrl,
                                    const std::vector<std::string>& names) {
  record("names " + node.id + " " + typeUrl + " " + joined(names));
  if (onNames) onNames(node, typeUrl, names);
}

void RecordingHooks::record(std::string event) {
  std::lock_guard lock(mu_);
  events_.push_back(std::move(event));
  changed_.notify_all();
}

std::vector<std::string> RecordingHooks::events() const {
  std::lock_guard lock(mu_);
  return events_;
}

size_t RecordingHooks::countOf(const std::string& event) const {
  std::lock_guard lock(mu_);
  return std::count(events_.begin(), events_.end(), event);
}

bool RecordingHooks::waitFor(const std::string& event, size_t count) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, std::chrono::seconds(20), [&] {
    return static_cast<size_t>(std::count(events_.begin(), events_.end(), event)) >= count;
  });
}

std::optional<NodeInfo> RecordingHooks::lastConnected() const {
  std::lock_guard lock(mu_);
  return lastConnected_;
}

envoy::config::core::v3::Node proxyNode(const std::string& id) {
  envoy::config::core::v3::Node node;
  node.set_id(id);
  node.set_user_agent_name("trellis-proxy");
  auto& fields = *node.mutable_metadata()->mutable_fields();
  const auto dot = id.find('.');
  fields["INSTANCE"].set_string_value(id.substr(0, dot));
  fields["NAMESPACE"].set_string_value(dot == std::string::npos ? "" : id.substr(dot + 1));
  fields["SERVICE"].set_string_value("billing");
  fields["INBOUND_ADDRESS"].set_string_value("127.0.0.1:16001");
  return node;
}

AdsTestClient::AdsTestClient(int port, envoy::config::core::v3::Node node)
    : nodeId_(node.id()), node_(std::move(node)) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials(), args);
  stub_ = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel_);
  context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  stream_ = stub_->StreamAggregatedResources(&context_);
}

AdsTestClient::~AdsTestClient() {
  if (!closed_) {
    context_.TryCancel();
    stream_->Finish();
  }
}

bool AdsTestClient::request(const std::string& typeUrl, const std::vector<std::string>& names,
                            const std::string& version, const std::string& nonce,
                            const std::optional<std::string>& error) {
  DiscoveryRequest request;
  if (!nodeSent_) *request.mutable_node() = node_;
  nodeSent_ = true;
  request.set_type_url(typeUrl);
  for (const auto& name : names) request.add_resource_names(name);
  request.set_version_info(version);
  request.set_response_nonce(nonce);
  if (error) {
    request.mutable_error_detail()->set_code(3);  // INVALID_ARGUMENT, as Envoy sends
    request.mutable_error_detail()->set_message(*error);
  }
  return stream_->Write(request);
}

bool AdsTestClient::ack(const DiscoveryResponse& response, const std::vector<std::string>& names,
                        const std::optional<std::string>& error) {
  // A NACK carries the previously accepted version; the tests' clients accept nothing before.
  return request(response.type_url(), names, error ? "" : response.version_info(), response.nonce(),
                 error);
}

std::optional<DiscoveryResponse> AdsTestClient::read() {
  DiscoveryResponse response;
  if (!stream_->Read(&response)) return std::nullopt;
  return response;
}

bool AdsTestClient::sync(RecordingHooks& hooks) {
  static std::atomic<int> syncs{0};  // unique across clients: each wait is for its own request
  const std::string name = "sync-" + std::to_string(++syncs);
  if (!request(kSyncType, {name})) return false;
  return hooks.waitFor("names " + nodeId_ + " " + kSyncType + " " + name);
}

grpc::Status AdsTestClient::close() {
  stream_->WritesDone();
  closed_ = true;
  return stream_->Finish();
}

grpc::Status AdsTestClient::finish() {
  closed_ = true;
  return stream_->Finish();
}

}  // namespace trellis::controlplane::testing
