// trellis.dev/v1alpha1 Service: ports, endpoints, load balancing and connection pool settings.

#include <fmt/format.h>

#include <set>

#include "config/resources.h"
#include "config/syntax.h"
#include "tls/pki/spiffe_id.h"

namespace trellis::config {
namespace {

constexpr size_t kMaxPorts = 64;
constexpr size_t kMaxEndpoints = 10000;
constexpr size_t kMaxServiceAccounts = 64;
constexpr int64_t kMaxWeight = 1000000;

std::optional<UpstreamProtocol> upstreamProtocolFor(std::string_view name) {
  if (name == "http" || name == "http/1.1") return UpstreamProtocol::Http1;
  if (name == "http2" || name == "h2c" || name == "kubernetes.io/h2c" || name == "grpc") {
    return UpstreamProtocol::Http2;
  }
  if (name == "tcp") return UpstreamProtocol::Tcp;
  return std::nullopt;
}

std::optional<uint16_t> readPort(Scope& scope, const Value& value) {
  auto port = scope.integer(value, 1, 65535);
  if (!port) return std::nullopt;
  return static_cast<uint16_t>(*port);
}

void parsePorts(Scope& scope, const Object& spec, ServiceDef& def) {
  Value portsValue = scope.require(spec, "ports");
  auto items = scope.list(portsValue, kMaxPorts);
  if (portsValue.present && portsValue.node.IsSequence() && portsValue.node.size() == 0) {
    scope.error(portsValue, "must list at least one port");
  }
  std::set<uint16_t> seenPorts;
  std::set<std::string> seenNames;
  for (const Value& item : items) {
    auto port = scope.object(item, {"name", "port", "targetPort", "appProtocol"});
    if (!port) continue;
    ServiceDef::Port result;
    Value nameValue = port->get("name");
    if (auto name = scope.string(nameValue, 63)) {
      if (scope.check(nameValue, syntax::checkDnsLabel(*name)) && !seenNames.insert(*name).second) {
        scope.error(nameValue, fmt::format("duplicate port name {}", quote(*name)));
      }
      result.name = *name;
    }
    Value portValue = scope.require(*port, "port");
    if (auto number = readPort(scope, portValue)) {
      result.port = *number;
      if (!seenPorts.insert(*number).second) {
        scope.error(portValue, fmt::format("duplicate port {}", *number));
      }
    }
    result.targetPort = readPort(scope, port->get("targetPort")).value_or(result.port);
    Value appProtocol = port->get("appProtocol");
    if (auto name = scope.string(appProtocol, 253)) {
      // Kubernetes' standard values plus the names Istio users write.
      auto protocol = upstreamProtocolFor(*name);
      if (protocol) {
        result.protocol = *protocol;
      } else {
        scope.error(appProtocol, fmt::format("unknown appProtocol {} (expected http, http2, h2c, "
                                             "kubernetes.io/h2c, grpc or tcp)",
                                             quote(*name)));
      }
    }
    def.ports.push_back(std::move(result));
  }
}

// A mesh proxy's SPIFFE ID, as the proxy's certificate carries it: the workload form only, so
// that a typo cannot make the proxy insist on an identity no certificate has.
std::string parseIdentity(Scope& scope, const Value& value) {
  auto text = scope.string(value, 4096);
  if (!text) return {};
  constexpr std::string_view kExpected =
      "a workload's is \"spiffe://<trust domain>/ns/<namespace>/sa/<service account>\"";
  std::string problem;
  auto id = pki::SpiffeId::parse(*text, &problem);
  if (!id) {
    scope.error(value,
                fmt::format("invalid SPIFFE ID {}: {} ({})", quote(*text), problem, kExpected));
    return {};
  }
  if (id->workloadNamespace().empty()) {
    scope.error(value,
                fmt::format("SPIFFE ID {} does not name a workload ({})", quote(*text), kExpected));
    return {};
  }
  return id->uri();
}

void parseEndpoints(Scope& scope, const Object& spec, ServiceDef& def) {
  std::set<std::pair<std::string, int>> seen;
  for (const Value& item : scope.list(spec.get("endpoints"), kMaxEndpoints)) {
    auto endpoint = scope.object(item, {"address", "port", "weight", "identity"});
    if (!endpoint) continue;
    ServiceDef::EndpointDef result;
    Value addressValue = scope.require(*endpoint, "address");
    auto address = scope.string(addressValue, 64);
    if (address) {
      if (auto canonical = syntax::canonicalIp(*address)) {
        result.address = *canonical;
      } else {
        scope.error(addressValue,
                    fmt::format("{} is not an IPv4 or IPv6 address", quote(*address)));
      }
    }
    result.port = readPort(scope, endpoint->get("port"));
    result.weight =
        static_cast<uint32_t>(scope.integer(endpoint->get("weight"), 0, kMaxWeight).value_or(1));
    result.identity = parseIdentity(scope, endpoint->get("identity"));
    if (!result.address.empty() &&
        !seen.emplace(result.address, result.port ? *result.port : -1).second) {
      scope.error(item, fmt::format("duplicate endpoint {}{}", result.address,
                                    result.port ? fmt::format(" port {}", *result.port) : ""));
    }
    def.endpoints.push_back(std::move(result));
  }
}

void parseServiceAccounts(Scope& scope, const Object& spec, ServiceDef& def) {
  for (const Value& item : scope.list(spec.get("serviceAccounts"), kMaxServiceAccounts)) {
    auto name = scope.string(item, 253);
    if (!name) continue;
    std::string problem;
    // Checked as the identity it stands for: spiffe://<td>/ns/<namespace>/sa/<name>.
    if (!pki::SpiffeId::forWorkload("trellis.local", "ns", *name, &problem)) {
      scope.error(item, fmt::format("invalid service account {}: {}", quote(*name), problem));
      continue;
    }
    def.serviceAccounts.push_back(*name);
  }
}

void parseHashOn(Scope& scope, const Value& value, HashKey& key) {
  auto hashOn = scope.object(value, {"header", "cookie", "sourceIP"});
  if (!hashOn) return;
  int sources = hashOn->has("header") + hashOn->has("cookie") + hashOn->has("sourceIP");
  if (sources != 1) {
    scope.error(value, "must set exactly one of header, cookie or sourceIP");
    return;
  }
  if (Value header = hashOn->get("header"); header.present) {
    if (auto name = scope.string(header, 256)) {
      if (scope.check(header, syntax::checkHeaderName(*name))) {
        key = {HashKey::Source::Header, syntax::toLower(*name)};
      }
    }
  } else if (Value cookie = hashOn->get("cookie"); cookie.present) {
    if (auto name = scope.string(cookie, 256)) {
      if (scope.check(cookie, syntax::checkHeaderName(*name))) {  // cookie-name is a token too
        key = {HashKey::Source::Cookie, *name};
      }
    }
  } else {
    Value sourceIp = hashOn->get("sourceIP");
    if (auto enabled = scope.boolean(sourceIp)) {
      if (*enabled) {
        key = {HashKey::Source::SourceIp, ""};
      } else {
        scope.error(sourceIp, "must be true when set (omit hashOn.sourceIP otherwise)");
      }
    }
  }
}

void parseLoadBalancer(Scope& scope, const Value& value, Cluster& cluster) {
  auto lb = scope.object(value, {"policy", "hashOn", "ringHashMinSize", "maglevTableSize"});
  if (!lb) return;
  Value policyValue = lb->get("policy");
  cluster.lbPolicy = scope
                         .choice<LbPolicy>(policyValue, {{"RoundRobin", LbPolicy::RoundRobin},
                                                         {"LeastRequest", LbPolicy::LeastRequest},
                                                         {"Random", LbPolicy::Random},
                                                         {"RingHash", LbPolicy::RingHash},
                                                         {"Maglev", LbPolicy::Maglev}})
                         .value_or(LbPolicy::RoundRobin);
  bool hashing = cluster.lbPolicy == LbPolicy::RingHash || cluster.lbPolicy == LbPolicy::Maglev;
  Value hashOn = lb->get("hashOn");
  if (hashOn.present && !hashing) {
    scope.error(hashOn, "is only valid with policy RingHash or Maglev");
  } else if (!hashOn.present && hashing) {
    scope.error(hashOn,
                "missing required field (policy RingHash and Maglev hash on a header, "
                "a cookie or the source IP)");
  } else {
    parseHashOn(scope, hashOn, cluster.hashKey);
  }

  Value ringSize = lb->get("ringHashMinSize");
  if (ringSize.present && cluster.lbPolicy != LbPolicy::RingHash) {
    scope.error(ringSize, "is only valid with policy RingHash");
  } else if (auto size = scope.integer(ringSize, 1, 8388608)) {
    cluster.ringHashMinSize = static_cast<uint32_t>(*size);
  }
  Value tableSize = lb->get("maglevTableSize");
  if (tableSize.present && cluster.lbPolicy != LbPolicy::Maglev) {
    scope.error(tableSize, "is only valid with policy Maglev");
  } else if (auto size = scope.integer(tableSize, 2, 5000011)) {
    if (syntax::isPrime(static_cast<uint64_t>(*size))) {
      cluster.maglevTableSize = static_cast<uint32_t>(*size);
    } else {
      scope.error(tableSize, fmt::format("must be a prime number (e.g. 65537), got {}", *size));
    }
  }
}

void parseConnectionPool(Scope& scope, const Value& value, Cluster& cluster) {
  auto pool = scope.object(value, {"connectTimeout", "idleTimeout", "maxIdlePerEndpoint", "http2"});
  if (!pool) return;
  if (auto http2 =
          scope.object(pool->get("http2"), {"initialStreamWindowSize", "connectionWindowSize"})) {
    if (auto n = scope.integer(http2->get("initialStreamWindowSize"), 65535, 0x7fffffff)) {
      cluster.http2InitialStreamWindowSize = static_cast<uint32_t>(*n);
    }
    if (auto n = scope.integer(http2->get("connectionWindowSize"), 65535, 0x7fffffff)) {
      cluster.http2ConnectionWindowSize = static_cast<uint32_t>(*n);
    }
  }
  cluster.connectTimeout =
      scope.duration(pool->get("connectTimeout"), Duration(1)).value_or(cluster.connectTimeout);
  cluster.idleTimeout =
      scope.duration(pool->get("idleTimeout"), Duration(1)).value_or(cluster.idleTimeout);
  if (auto max = scope.integer(pool->get("maxIdlePerEndpoint"), 0, 65535)) {
    cluster.maxIdlePerEndpoint = static_cast<uint32_t>(*max);
  }
}

}  // namespace

void parseService(Scope& scope, ResourceMeta meta, const Value& specValue, Resources& out) {
  ServiceDef def;
  def.meta = std::move(meta);
  if (auto spec = scope.object(
          specValue, {"ports", "endpoints", "serviceAccounts", "loadBalancer", "connectionPool"})) {
    parsePorts(scope, *spec, def);
    parseEndpoints(scope, *spec, def);
    parseServiceAccounts(scope, *spec, def);
    parseLoadBalancer(scope, spec->get("loadBalancer"), def.settings);
    parseConnectionPool(scope, spec->get("connectionPool"), def.settings);
  }
  out.services.push_back(std::move(def));
}

}  // namespace trellis::config
