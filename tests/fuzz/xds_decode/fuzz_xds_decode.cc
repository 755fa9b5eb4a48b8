// Feeds arbitrary bytes to the xDS decoder as a serialized DiscoveryResponse whose resources may
// be of any of the four types (or the SDS trust bundle): decode must never crash or throw, must
// give a snapshot or an error, never both, and a snapshot it accepts must survive encode + decode
// again.

#include <cstddef>
#include <cstdint>

#include "config/dump.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/codec/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  envoy::service::discovery::v3::DiscoveryResponse response;
  if (!response.ParseFromArray(data, static_cast<int>(size))) return 0;
  trellis::xds::Resources resources;
  for (const google::protobuf::Any& any : response.resources()) {
    if (any.Is<envoy::config::listener::v3::Listener>()) {
      if (!any.UnpackTo(&resources.listeners.emplace_back())) resources.listeners.pop_back();
    } else if (any.Is<envoy::config::route::v3::RouteConfiguration>()) {
      if (!any.UnpackTo(&resources.routes.emplace_back())) resources.routes.pop_back();
    } else if (any.Is<envoy::config::cluster::v3::Cluster>()) {
      if (!any.UnpackTo(&resources.clusters.emplace_back())) resources.clusters.pop_back();
    } else if (any.Is<envoy::config::endpoint::v3::ClusterLoadAssignment>()) {
      if (!any.UnpackTo(&resources.endpoints.emplace_back())) resources.endpoints.pop_back();
    } else if (any.Is<envoy::extensions::transport_sockets::tls::v3::Secret>()) {
      envoy::extensions::transport_sockets::tls::v3::Secret secret;
      std::string error;
      if (any.UnpackTo(&secret) && !trellis::xds::decodeTrustBundle(secret, error) &&
          error.empty()) {
        __builtin_trap();  // a refusal always says why
      }
    }
  }
  trellis::xds::DecodeResult result = trellis::xds::decode(resources);
  if ((result.snapshot == nullptr) == result.error.empty()) __builtin_trap();
  if (!result.snapshot) return 0;
  // Header values may hold non-UTF-8 bytes (obs-text): dump with replacement.
  (void)trellis::config::toJson(*result.snapshot)
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  trellis::xds::DecodeResult again = trellis::xds::decode(trellis::xds::encode(*result.snapshot));
  if (!again.snapshot) __builtin_trap();
  return 0;
}
