#pragma once
// What one proxy's xDS resources refer to: the names the client subscribes to with RDS and EDS
// (as Envoy derives them), and whether a set is complete enough to apply (warming).

#include <set>
#include <string>
#include <vector>

#include "xds/codec/resources.h"

namespace trellis::xds::client {

/// RouteConfiguration names the listeners' HTTP connection managers load over RDS.
std::set<std::string> routeConfigNames(const std::vector<envoy::config::listener::v3::Listener>&);

/// ClusterLoadAssignment names of the EDS clusters: eds_cluster_config.service_name, else the
/// cluster's name.
std::set<std::string> edsServiceNames(const std::vector<envoy::config::cluster::v3::Cluster>&);

/// Clusters named by route actions (cluster, weighted clusters, mirrors) in RDS and inline
/// route configurations, and by TCP proxies (cluster, weighted clusters).
std::set<std::string> referencedClusters(const Resources& resources);

/// "" when every referenced route configuration, cluster and EDS assignment is present; else
/// what is missing, e.g. "route configuration shop/web; endpoints of shop/api" (for logs and the
/// status page; the first few names only).
std::string missingDependencies(const Resources& resources);

/// Drops route configurations no listener references and assignments no EDS cluster uses: SotW
/// removes RDS and EDS resources only through their parents (xDS protocol, "Deleting resources").
void pruneUnreferenced(Resources& resources);

}  // namespace trellis::xds::client
