#pragma once
// Translation of the internal model's clusters into xDS v3: CDS (envoy.config.cluster.v3.Cluster)
// and EDS (ClusterLoadAssignment). Envoy and proxyless gRPC clients read the standard fields;
// settings Envoy has no field for travel under metadata["trellis.dev"], so that a Trellis proxy
// rebuilds exactly the cluster trellisd has.

#include "config/model.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"

namespace trellis::controlplane {

/// Metadata filter name for Trellis-specific settings.
inline constexpr const char* kTrellisMetadata = "trellis.dev";

/// An EDS cluster fed over ADS (its endpoints come from toLoadAssignment).
envoy::config::cluster::v3::Cluster toXdsCluster(const config::Cluster& cluster);

/// The cluster's endpoints. Weight-0 endpoints (never selected) are left out: xDS weights must
/// be at least 1.
envoy::config::endpoint::v3::ClusterLoadAssignment toLoadAssignment(const config::Cluster& cluster);

}  // namespace trellis::controlplane
