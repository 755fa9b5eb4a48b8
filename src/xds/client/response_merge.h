#pragma once
// Turning one DiscoveryResponse into a candidate resource set (state of the world, xDS protocol
// "Resource types and their semantics"): LDS and CDS responses carry every resource of their
// type and replace the held set; RDS and EDS responses need only carry some of the subscribed
// names, so they update by name and what they omit is kept.

#include <array>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/codec/resources.h"

namespace trellis::xds::client {

/// The types the proxy subscribes to, in the order it requests them on a new stream (as Envoy:
/// clusters and their endpoints before the listeners and routes that use them).
/// SDS (the trust bundle) comes last: nothing else waits for it.
enum class ResourceType : unsigned char { Cluster, Endpoint, Listener, Route, Secret };
inline constexpr size_t kResourceTypeCount = 5;
inline constexpr std::array<ResourceType, kResourceTypeCount> kAllResourceTypes = {
    ResourceType::Cluster, ResourceType::Endpoint, ResourceType::Listener, ResourceType::Route,
    ResourceType::Secret};

std::string_view typeUrl(ResourceType type);
/// "CDS", "EDS", "LDS", "RDS", "SDS".
std::string_view typeName(ResourceType type);
std::optional<ResourceType> typeFromUrl(std::string_view url);
/// RDS, EDS and SDS subscribe to names; LDS and CDS are wildcard.
inline bool isNamed(ResourceType type) {
  return type == ResourceType::Endpoint || type == ResourceType::Route ||
         type == ResourceType::Secret;
}

/// Unpacks the resources of `response` (whose type_url is `type`'s) into `candidate`. For named
/// types only the `subscribed` names are taken (servers may send more; Envoy ignores them too).
/// Returns "" or the NACK message naming the resource: an Any of another type, bytes that do
/// not parse, a resource without a name, a name twice.
std::string mergeResponse(const envoy::service::discovery::v3::DiscoveryResponse& response,
                          ResourceType type, const std::set<std::string>& subscribed,
                          Resources& candidate);

/// True when both sets hold the same resources in the same order (deterministic serialisation),
/// so that a resync that changes nothing does not swap the configuration.
bool sameResources(const Resources& a, const Resources& b);

}  // namespace trellis::xds::client
