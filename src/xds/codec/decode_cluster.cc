// CDS + EDS → model clusters (the reverse of encode_cluster.cc), with the loader's ranges.

#include <fmt/format.h>

#include <set>

#include "config/syntax.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "xds/codec/codec.h"
#include "xds/codec/internal.h"
#include "xds/codec/policy.h"
#include "xds/codec/trellis_metadata.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::extensions::upstreams::http::v3::HttpProtocolOptions;

constexpr uint64_t kMaxWeight = 1000000;
constexpr uint64_t kMaxWindow = 0x7fffffff;

bool decodeLbPolicy(const Cluster& in, Problems& problems, config::Cluster& out) {
  switch (in.lb_policy()) {
    case Cluster::ROUND_ROBIN:
      out.lbPolicy = config::LbPolicy::RoundRobin;
      break;
    case Cluster::LEAST_REQUEST:
      out.lbPolicy = config::LbPolicy::LeastRequest;
      break;
    case Cluster::RANDOM:
      out.lbPolicy = config::LbPolicy::Random;
      break;
    case Cluster::RING_HASH:
      out.lbPolicy = config::LbPolicy::RingHash;
      break;
    case Cluster::MAGLEV:
      out.lbPolicy = config::LbPolicy::Maglev;
      break;
    default:
      return problems.fail("lb_policy", "unsupported lb_policy " +
                                            quote(Cluster::LbPolicy_Name(in.lb_policy())) +
                                            " (expected ROUND_ROBIN, LEAST_REQUEST, RANDOM, "
                                            "RING_HASH or MAGLEV)");
  }
  if (in.has_ring_hash_lb_config()) {
    if (out.lbPolicy != config::LbPolicy::RingHash) {
      return problems.fail("ring_hash_lb_config", "only valid with lb_policy RING_HASH");
    }
    const auto& ring = in.ring_hash_lb_config();
    if (!onlyFields(ring, {"minimum_ring_size"}, problems, "ring_hash_lb_config")) return false;
    if (ring.has_minimum_ring_size()) {
      auto size = inRange(ring.minimum_ring_size().value(), 1, 8388608, problems,
                          "ring_hash_lb_config.minimum_ring_size");
      if (!size) return false;
      out.ringHashMinSize = static_cast<uint32_t>(*size);
    }
  }
  if (in.has_maglev_lb_config()) {
    if (out.lbPolicy != config::LbPolicy::Maglev) {
      return problems.fail("maglev_lb_config", "only valid with lb_policy MAGLEV");
    }
    const auto& maglev = in.maglev_lb_config();
    if (!onlyFields(maglev, {"table_size"}, problems, "maglev_lb_config")) return false;
    if (maglev.has_table_size()) {
      const std::string path = "maglev_lb_config.table_size";
      auto size = inRange(maglev.table_size().value(), 2, 5000011, problems, path);
      if (!size) return false;
      if (!config::syntax::isPrime(*size)) {
        return problems.fail(path, fmt::format("must be a prime number, got {}", *size));
      }
      out.maglevTableSize = static_cast<uint32_t>(*size);
    }
  }
  return true;
}

bool decodeProtocolOptions(const Cluster& in, Problems& problems, config::Cluster& out) {
  // Sorted, so that the first error does not depend on the map's order.
  std::set<std::string> keys;
  for (const auto& [key, value] : in.typed_extension_protocol_options()) keys.insert(key);
  for (const std::string& key : keys) {
    const std::string path = fmt::format("typed_extension_protocol_options[{}]", quote(key));
    if (key != kHttpProtocolOptionsKey) {
      return problems.fail(
          path, "unsupported protocol options (expected " + quote(kHttpProtocolOptionsKey) + ")");
    }
    HttpProtocolOptions http;
    if (!unpack(in.typed_extension_protocol_options().at(key), http, problems, path)) return false;
    if (!onlyFields(http, {"common_http_protocol_options", "explicit_http_config"}, problems,
                    path)) {
      return false;
    }
    const auto& common = http.common_http_protocol_options();
    const std::string commonPath = fieldPath(path, "common_http_protocol_options");
    if (!onlyFields(common, {"idle_timeout"}, problems, commonPath)) return false;
    if (common.has_idle_timeout()) {
      auto idle =
          toDuration(common.idle_timeout(), problems, fieldPath(commonPath, "idle_timeout"));
      if (!idle) return false;
      out.idleTimeout = *idle;
    }
    const auto& explicitConfig = http.explicit_http_config();
    const std::string explicitPath = fieldPath(path, "explicit_http_config");
    if (!onlyFields(explicitConfig, {"http_protocol_options", "http2_protocol_options"}, problems,
                    explicitPath)) {
      return false;
    }
    if (explicitConfig.has_http_protocol_options()) {
      if (!onlyFields(explicitConfig.http_protocol_options(), {}, problems,
                      fieldPath(explicitPath, "http_protocol_options"))) {
        return false;
      }
    } else if (explicitConfig.has_http2_protocol_options()) {
      const auto& h2 = explicitConfig.http2_protocol_options();
      const std::string h2Path = fieldPath(explicitPath, "http2_protocol_options");
      if (!onlyFields(h2, {"initial_stream_window_size", "initial_connection_window_size"},
                      problems, h2Path)) {
        return false;
      }
      out.protocol = config::UpstreamProtocol::Http2;
      if (h2.has_initial_stream_window_size()) {
        auto size = inRange(h2.initial_stream_window_size().value(), 65535, kMaxWindow, problems,
                            fieldPath(h2Path, "initial_stream_window_size"));
        if (!size) return false;
        out.http2InitialStreamWindowSize = static_cast<uint32_t>(*size);
      }
      if (h2.has_initial_connection_window_size()) {
        auto size = inRange(h2.initial_connection_window_size().value(), 65535, kMaxWindow,
                            problems, fieldPath(h2Path, "initial_connection_window_size"));
        if (!size) return false;
        out.http2ConnectionWindowSize = static_cast<uint32_t>(*size);
      }
    }
  }
  return true;
}

bool decodeHashOn(FieldsReader& settings, config::Cluster& out) {
  Problems& problems = settings.problems();
  const Struct* hashOn = settings.object("hashOn");
  if (hashOn == nullptr) return !problems.failed();
  const std::string path = settings.pathOf("hashOn");
  if (out.lbPolicy != config::LbPolicy::RingHash && out.lbPolicy != config::LbPolicy::Maglev) {
    return problems.fail(path, "only valid with lb_policy RING_HASH or MAGLEV");
  }
  if (hashOn->fields().size() != 1) {
    return problems.fail(path, "must set exactly one of header, cookie or sourceIP");
  }
  FieldsReader key(*hashOn, problems, path);
  if (auto header = key.string("header")) {
    if (auto error = config::syntax::checkHeaderName(*header); !error.empty()) {
      return problems.fail(key.pathOf("header"), error);
    }
    out.hashKey = {config::HashKey::Source::Header, config::syntax::toLower(*header)};
  } else if (auto cookie = key.string("cookie")) {
    if (auto error = config::syntax::checkHeaderName(*cookie); !error.empty()) {
      return problems.fail(key.pathOf("cookie"), error);
    }
    out.hashKey = {config::HashKey::Source::Cookie, *cookie};
  } else if (auto sourceIp = key.boolean("sourceIP")) {
    if (!*sourceIp) return problems.fail(key.pathOf("sourceIP"), "must be true when set");
    out.hashKey = {config::HashKey::Source::SourceIp, ""};
  }
  return key.finish();
}

bool decodeClusterSettings(const Cluster& in, Problems& problems, config::Cluster& out) {
  FieldsReader settings(in.has_metadata() ? &in.metadata() : nullptr, problems, "metadata");
  if (auto idle = settings.integer("maxIdlePerEndpoint", 0, 65535)) {
    out.maxIdlePerEndpoint = static_cast<uint32_t>(*idle);
  }
  if (auto protocol = settings.string("protocol")) {
    if (*protocol != "TCP") {
      return problems.fail(settings.pathOf("protocol"),
                           "unknown protocol " + quote(*protocol) + " (expected TCP)");
    }
    if (out.protocol == config::UpstreamProtocol::Http2) {
      return problems.fail(settings.pathOf("protocol"),
                           "a TCP cluster cannot have HTTP/2 protocol options");
    }
    out.protocol = config::UpstreamProtocol::Tcp;
  }
  for (const char* key : {"http2InitialStreamWindowSize", "http2ConnectionWindowSize"}) {
    if (!settings.has(key)) continue;
    if (out.protocol == config::UpstreamProtocol::Http2) {
      return problems.fail(settings.pathOf(key),
                           "only for clusters without http2_protocol_options (use those)");
    }
    auto size = settings.integer(key, 65535, kMaxWindow);
    if (!size) return false;
    (std::string_view(key) == "http2InitialStreamWindowSize" ? out.http2InitialStreamWindowSize
                                                             : out.http2ConnectionWindowSize) =
        static_cast<uint32_t>(*size);
  }
  if (!decodeHashOn(settings, out) || !decodeClusterPolicySettings(settings, out)) return false;
  return settings.finish();
}

bool decodeCluster(const Cluster& in, Problems& problems, config::Cluster& out,
                   std::string& serviceName) {
  if (!onlyFields(in,
                  {"name", "type", "eds_cluster_config", "connect_timeout", "lb_policy",
                   "ring_hash_lb_config", "maglev_lb_config", "typed_extension_protocol_options",
                   "metadata", "circuit_breakers", "outlier_detection", "health_checks",
                   "common_lb_config", "transport_socket_matches"},
                  problems, "")) {
    return false;
  }
  if (in.name().empty()) return problems.fail("name", "must not be empty");
  if (in.name() == kUnresolvedCluster) {
    return problems.fail("name", "is reserved for unresolved backends");
  }
  out.name = in.name();
  if (in.type() != Cluster::EDS) {
    return problems.fail("type", "unsupported cluster type " +
                                     quote(Cluster::DiscoveryType_Name(in.type())) +
                                     " (expected EDS)");
  }
  if (!in.has_eds_cluster_config()) {
    return problems.fail("eds_cluster_config", "missing (EDS over ADS expected)");
  }
  const auto& eds = in.eds_cluster_config();
  if (!onlyFields(eds, {"eds_config", "service_name"}, problems, "eds_cluster_config")) {
    return false;
  }
  const auto& source = eds.eds_config();
  if (!onlyFields(source, {"ads", "resource_api_version"}, problems,
                  "eds_cluster_config.eds_config") ||
      !onlyFields(source.ads(), {}, problems, "eds_cluster_config.eds_config.ads")) {
    return false;
  }
  if (!source.has_ads()) {
    return problems.fail("eds_cluster_config.eds_config", "must be ads (EDS over ADS)");
  }
  serviceName = eds.service_name().empty() ? in.name() : eds.service_name();
  if (in.has_connect_timeout()) {
    auto timeout = toDuration(in.connect_timeout(), problems, "connect_timeout");
    if (!timeout) return false;
    out.connectTimeout = *timeout;
  }
  return decodeLbPolicy(in, problems, out) && decodeProtocolOptions(in, problems, out) &&
         decodeClusterPolicy(in, problems, out) && decodeClusterSettings(in, problems, out);
}

bool decodeEndpoints(const ClusterLoadAssignment& in, const std::set<std::string>& identities,
                     Problems& problems, config::Cluster& out) {
  if (!onlyFields(in, {"cluster_name", "endpoints"}, problems, "")) return false;
  std::set<std::pair<std::string, uint16_t>> seen;
  for (int i = 0; i < in.endpoints_size(); ++i) {
    const auto& locality = in.endpoints(i);
    const std::string path = fieldPath("", "endpoints", static_cast<size_t>(i));
    if (!onlyFields(locality, {"locality", "lb_endpoints", "load_balancing_weight", "priority"},
                    problems, path)) {
      return false;
    }
    if (locality.priority() != 0) {
      return problems.fail(fieldPath(path, "priority"), "only priority 0 is supported");
    }
    // Locality weights would weigh groups of endpoints; Trellis weighs endpoints only.
    if (i > 0 && locality.load_balancing_weight().value() !=
                     in.endpoints(0).load_balancing_weight().value()) {
      return problems.fail(fieldPath(path, "load_balancing_weight"),
                           "localities of different weights are unsupported");
    }
    for (int j = 0; j < locality.lb_endpoints_size(); ++j) {
      const auto& lb = locality.lb_endpoints(j);
      const std::string lbPath = fieldPath(path, "lb_endpoints", static_cast<size_t>(j));
      if (!onlyFields(lb, {"endpoint", "load_balancing_weight", "health_status", "metadata"},
                      problems, lbPath) ||
          !onlyFields(lb.endpoint(), {"address"}, problems, fieldPath(lbPath, "endpoint"))) {
        return false;
      }
      using envoy::config::core::v3::HealthStatus;
      const HealthStatus health = lb.health_status();
      // Envoy and gRPC send nothing to these.
      if (health == envoy::config::core::v3::UNHEALTHY ||
          health == envoy::config::core::v3::DRAINING ||
          health == envoy::config::core::v3::TIMEOUT) {
        continue;
      }
      auto address =
          toHostPort(lb.endpoint().address(), problems, fieldPath(lbPath, "endpoint.address"));
      if (!address) return false;
      uint64_t weight = 1;
      if (lb.has_load_balancing_weight()) {
        auto value = inRange(lb.load_balancing_weight().value(), 1, kMaxWeight, problems,
                             fieldPath(lbPath, "load_balancing_weight"));
        if (!value) return false;
        weight = *value;
      }
      if (!seen.emplace(address->host, address->port).second) {
        return problems.fail(lbPath,
                             fmt::format("duplicate endpoint {}:{}", address->host, address->port));
      }
      config::Endpoint endpoint{address->host, address->port, static_cast<uint32_t>(weight), {}};
      if (!decodeEndpointIdentity(lb, identities, problems, lbPath, endpoint)) return false;
      out.endpoints.push_back(std::move(endpoint));
    }
  }
  return true;
}

}  // namespace

bool decodeClusters(const Resources& resources, Problems& problems, ClusterMap& out) {
  std::map<std::string, const ClusterLoadAssignment*> assignments;
  for (const ClusterLoadAssignment& assignment : resources.endpoints) {
    problems.enter("ClusterLoadAssignment", assignment.cluster_name());
    if (assignment.cluster_name().empty()) {
      return problems.fail("cluster_name", "must not be empty");
    }
    if (!assignments.emplace(assignment.cluster_name(), &assignment).second) {
      return problems.fail("", "duplicate resource name");
    }
  }
  for (const Cluster& cluster : resources.clusters) {
    problems.enter("Cluster", cluster.name());
    config::Cluster decoded;
    std::string serviceName;
    std::set<std::string> identities;
    if (!decodeCluster(cluster, problems, decoded, serviceName) ||
        !decodeUpstreamTls(cluster, problems, identities)) {
      return false;
    }
    if (out.count(decoded.name) != 0) return problems.fail("", "duplicate resource name");
    // EDS may not have delivered the endpoints yet: a cluster without them has none.
    auto it = assignments.find(serviceName);
    if (it != assignments.end()) {
      problems.enter("ClusterLoadAssignment", serviceName);
      if (!decodeEndpoints(*it->second, identities, problems, decoded)) return false;
    }
    out.emplace(decoded.name, std::move(decoded));
  }
  return true;
}

std::string resolveCluster(const std::string& name, const ClusterMap& clusters) {
  return clusters.count(name) != 0 ? name : std::string();
}

}  // namespace trellis::xds::detail
