// encode / decode of a whole snapshot: the order in which resources are read (clusters first,
// so that routes and TCP proxies can tell resolved backends from unresolved ones) and the checks
// that span resources (unique names, one listener per address).

#include "xds/codec/codec.h"

#include <fmt/format.h>

#include <set>
#include <span>

#include "xds/codec/authz_codec.h"
#include "xds/codec/internal.h"

namespace trellis::xds {

Resources encode(const config::Snapshot& snapshot) {
  Resources out;
  for (const config::Listener& listener : snapshot.listeners) {
    // Policies travel with the listeners that serve their Service: a proxy needs no others.
    auto policies = snapshot.authorization.find(listener.service);
    out.listeners.push_back(detail::encodeListener(
        listener, listener.service.empty() || policies == snapshot.authorization.end()
                      ? std::span<const config::AuthorizationPolicy>()
                      : std::span<const config::AuthorizationPolicy>(policies->second)));
    if (listener.servesHttp()) {
      out.routes.push_back(
          detail::encodeRouteTable(listener.name, listener.routes, detail::RouteDialect::Envoy));
    }
  }
  for (const auto& [name, cluster] : snapshot.clusters) {
    out.clusters.push_back(encodeCluster(cluster));
    out.endpoints.push_back(encodeLoadAssignment(cluster));
  }
  return out;
}

envoy::config::route::v3::RouteConfiguration encodeRouteConfiguration(
    const std::string& name, const config::RouteTableConfig& routes) {
  return detail::encodeRouteTable(name, routes, detail::RouteDialect::Grpc);
}

DecodeResult decode(const Resources& resources) {
  detail::Problems problems;
  auto snapshot = std::make_shared<config::Snapshot>();
  if (!detail::decodeClusters(resources, problems, snapshot->clusters)) {
    return {nullptr, problems.error()};
  }
  std::map<std::string, config::RouteTableConfig> routeTables;
  for (const auto& routes : resources.routes) {
    problems.enter("RouteConfiguration", routes.name());
    if (routes.name().empty()) {
      problems.fail("name", "must not be empty");
      return {nullptr, problems.error()};
    }
    if (routeTables.count(routes.name()) != 0) {
      problems.fail("", "duplicate resource name");
      return {nullptr, problems.error()};
    }
    config::RouteTableConfig table;
    if (!detail::decodeRouteConfiguration(routes, snapshot->clusters, problems, "", table)) {
      return {nullptr, problems.error()};
    }
    routeTables.emplace(routes.name(), std::move(table));
  }
  std::set<std::string> names;
  std::map<std::pair<std::string, uint16_t>, std::string> addresses;
  std::map<std::string, std::string> servedBy;  // Service → the first listener serving it
  for (const auto& listener : resources.listeners) {
    problems.enter("Listener", listener.name());
    config::Listener decoded;
    std::vector<config::AuthorizationPolicy> policies;
    if (!detail::decodeListener(listener, routeTables, snapshot->clusters, problems, decoded,
                                policies)) {
      return {nullptr, problems.error()};
    }
    if (!decoded.service.empty()) {
      // Every listener of a Service carries all its policies: one that differs is a bug.
      auto [first, inserted] = servedBy.emplace(decoded.service, decoded.name);
      auto known = snapshot->authorization.find(decoded.service);
      if (!inserted &&
          !detail::sameAuthorization(
              policies, known == snapshot->authorization.end()
                            ? std::span<const config::AuthorizationPolicy>()
                            : std::span<const config::AuthorizationPolicy>(known->second))) {
        problems.fail("metadata.filter_metadata[\"trellis.dev\"].authorization",
                      fmt::format("the policies of Service {} differ from those on Listener {}",
                                  detail::quote(decoded.service), detail::quote(first->second)));
        return {nullptr, problems.error()};
      }
      if (inserted && !policies.empty()) {
        snapshot->authorization.emplace(decoded.service, std::move(policies));
      }
    }
    if (!names.insert(decoded.name).second) {
      problems.fail("", "duplicate resource name");
      return {nullptr, problems.error()};
    }
    auto [it, inserted] =
        addresses.emplace(std::make_pair(decoded.address, decoded.port), decoded.name);
    if (!inserted) {
      problems.fail("address", fmt::format("{}:{} is already used by Listener {}", decoded.address,
                                           decoded.port, detail::quote(it->second)));
      return {nullptr, problems.error()};
    }
    snapshot->listeners.push_back(std::move(decoded));
  }
  return {std::move(snapshot), std::string()};
}

config::LoadResult loadFileViaXds(const std::string& path) {
  config::LoadResult loaded = config::loadFile(path);
  if (!loaded.ok()) return loaded;
  DecodeResult decoded = decode(encode(*loaded.snapshot));
  if (!decoded.snapshot) {
    config::LoadError error;
    error.file = path;
    error.message = "the configuration does not survive the xDS codec: " + decoded.error;
    return config::LoadResult{nullptr, {std::move(error)}, std::move(loaded.warnings)};
  }
  decoded.snapshot->version = loaded.snapshot->version;
  decoded.snapshot->source = loaded.snapshot->source;
  return config::LoadResult{std::move(decoded.snapshot), {}, std::move(loaded.warnings)};
}

}  // namespace trellis::xds
