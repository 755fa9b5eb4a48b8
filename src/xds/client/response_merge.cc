#include "xds/client/response_merge.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <unordered_map>
#include <vector>

namespace trellis::xds::client {
namespace {

const std::string& nameOf(const envoy::config::listener::v3::Listener& r) {
  return r.name();
}
const std::string& nameOf(const envoy::config::route::v3::RouteConfiguration& r) {
  return r.name();
}
const std::string& nameOf(const envoy::config::cluster::v3::Cluster& r) {
  return r.name();
}
const std::string& nameOf(const envoy::config::endpoint::v3::ClusterLoadAssignment& r) {
  return r.cluster_name();
}
const std::string& nameOf(const envoy::extensions::transport_sockets::tls::v3::Secret& r) {
  return r.name();
}

template <typename Message>
std::string merge(const envoy::service::discovery::v3::DiscoveryResponse& response,
                  std::string_view url, bool named, const std::set<std::string>& subscribed,
                  std::vector<Message>& held) {
  std::vector<Message> received;
  received.reserve(static_cast<size_t>(response.resources_size()));
  std::unordered_map<std::string, size_t> index;
  for (int i = 0; i < response.resources_size(); ++i) {
    const google::protobuf::Any& any = response.resources(i);
    std::string where = "resource " + std::to_string(i);
    if (any.type_url() != url) {
      return where + ": type " + any.type_url() + " in a response of type " + std::string(url);
    }
    Message message;
    if (!message.ParseFromString(any.value())) {
      return where + ": not a valid " + std::string(url.substr(url.rfind('/') + 1));
    }
    const std::string& name = nameOf(message);
    if (name.empty()) return where + ": no name";
    if (!index.emplace(name, received.size()).second) {
      return where + ": '" + name + "' appears twice in the response";
    }
    received.push_back(std::move(message));
  }
  if (!named) {
    held = std::move(received);
    return {};
  }
  // Update by name: replace what is held, append the new, drop what is not subscribed.
  std::vector<Message> merged;
  std::vector<bool> taken(received.size(), false);
  for (auto& message : held) {
    if (!subscribed.count(nameOf(message))) continue;
    auto it = index.find(nameOf(message));
    if (it == index.end()) {
      merged.push_back(std::move(message));
    } else {
      merged.push_back(std::move(received[it->second]));
      taken[it->second] = true;
    }
  }
  for (size_t i = 0; i < received.size(); ++i) {
    if (!taken[i] && subscribed.count(nameOf(received[i])))
      merged.push_back(std::move(received[i]));
  }
  held = std::move(merged);
  return {};
}

std::string serialized(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

template <typename Message>
bool same(const std::vector<Message>& a, const std::vector<Message>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (serialized(a[i]) != serialized(b[i])) return false;
  }
  return true;
}

}  // namespace

std::string_view typeUrl(ResourceType type) {
  switch (type) {
    case ResourceType::Cluster:
      return kClusterType;
    case ResourceType::Endpoint:
      return kEndpointType;
    case ResourceType::Listener:
      return kListenerType;
    case ResourceType::Route:
      return kRouteType;
    case ResourceType::Secret:
      return kSecretType;
  }
  return {};
}

std::string_view typeName(ResourceType type) {
  switch (type) {
    case ResourceType::Cluster:
      return "CDS";
    case ResourceType::Endpoint:
      return "EDS";
    case ResourceType::Listener:
      return "LDS";
    case ResourceType::Route:
      return "RDS";
    case ResourceType::Secret:
      return "SDS";
  }
  return {};
}

std::optional<ResourceType> typeFromUrl(std::string_view url) {
  for (ResourceType type : kAllResourceTypes) {
    if (typeUrl(type) == url) return type;
  }
  return std::nullopt;
}

std::string mergeResponse(const envoy::service::discovery::v3::DiscoveryResponse& response,
                          ResourceType type, const std::set<std::string>& subscribed,
                          Resources& candidate) {
  std::string_view url = typeUrl(type);
  switch (type) {
    case ResourceType::Cluster:
      return merge(response, url, false, subscribed, candidate.clusters);
    case ResourceType::Endpoint:
      return merge(response, url, true, subscribed, candidate.endpoints);
    case ResourceType::Listener:
      return merge(response, url, false, subscribed, candidate.listeners);
    case ResourceType::Route:
      return merge(response, url, true, subscribed, candidate.routes);
    case ResourceType::Secret:
      return merge(response, url, true, subscribed, candidate.secrets);
  }
  return "unknown resource type";
}

bool sameResources(const Resources& a, const Resources& b) {
  return same(a.listeners, b.listeners) && same(a.routes, b.routes) &&
         same(a.clusters, b.clusters) && same(a.endpoints, b.endpoints) &&
         same(a.secrets, b.secrets);
}

}  // namespace trellis::xds::client
