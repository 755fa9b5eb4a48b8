#pragma once
// What one node should hold, as the ADS server serves it: per type URL, a version and the
// resources. trellisd's translator builds these; the server only compares versions and filters
// by the names a node subscribes to.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/any.pb.h>

namespace trellis::controlplane {

/// One type's resources for one node: a version and the resources sorted by name.
struct TypeResources {
  std::string version;
  std::vector<std::pair<std::string, google::protobuf::Any>> resources;
};

/// What one node should hold, per type URL.
struct NodeConfig {
  std::map<std::string, TypeResources> types;
};

/// A version string that changes iff the resources change: a hash of their names and their
/// deterministic serialization. Resources of a type linked into this binary (and any Any nested
/// in them) are re-serialized deterministically first, since map fields make ordinary
/// serialization vary between equal messages.
std::string versionOf(const std::vector<std::pair<std::string, google::protobuf::Any>>& resources);

/// `types` in the order pushes go out: CDS, EDS, LDS, RDS (so that a client has the clusters
/// before the listeners and routes that use them), then any other type by type URL.
std::vector<std::string> inPushOrder(std::vector<std::string> types);

}  // namespace trellis::controlplane
