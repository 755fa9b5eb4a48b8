#pragma once
// The parsed, individually validated resources of one load, before references between them
// (route → listener, route → service, listener → service) are resolved into a Snapshot.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/model.h"
#include "config/yaml_reader.h"

namespace trellis::config {

/// metadata of any resource.
struct ResourceMeta {
  std::string kind;
  std::string ns = "default";
  std::string name;
  int64_t creationTimestamp = 0;  // seconds since epoch; 0 when absent
  Location at;                    // the document, for resource-level messages
  Location nameAt;                // metadata.name

  std::string qualifiedName() const { return ns + "/" + name; }
};

/// A reference to a Service: an HTTPRoute backendRef, a RequestMirror or a TCP listener target.
struct ServiceRef {
  Location at;  // the reference object
  std::string group;
  std::string kind = "Service";
  std::string ns;
  std::string name;
  std::optional<uint16_t> port;
  Location portAt;
  uint32_t weight = 1;
};

struct ServiceDef {
  ResourceMeta meta;
  struct Port {
    std::string name;
    uint16_t port = 0;
    uint16_t targetPort = 0;
    UpstreamProtocol protocol = UpstreamProtocol::Http1;  // from appProtocol
  };
  struct EndpointDef {
    std::string address;  // canonical IP literal
    std::optional<uint16_t> port;
    uint32_t weight = 1;
    std::string identity;  // canonical SPIFFE ID ("spiffe://<td>/ns/<ns>/sa/<sa>"), or empty
  };
  std::vector<Port> ports;
  std::vector<EndpointDef> endpoints;
  /// The service accounts whose sidecars may register as its instances; empty: its own name.
  std::vector<std::string> serviceAccounts;
  Cluster settings;  // load balancing and connection pool; name and endpoints filled per port
};

struct ListenerDef {
  ResourceMeta meta;
  Listener listener;  // routes and tcpCluster are filled when resolving
  std::optional<ServiceRef> tcpBackend;
  /// "<namespace>/<name>" of the Services whose routes (GAMMA: parentRefs naming the Service)
  /// attach here, under the Service's mesh hostnames. Set by trellisd on a sidecar's outbound
  /// listener; never read from YAML.
  std::vector<std::string> meshServices;
  /// "<namespace>/<name>" of the Service this listener serves (spec.service, always qualified:
  /// a listener built in code may live in another namespace than its Service). assembleSnapshot
  /// copies it to Listener::service and resolves Listener::mtls from the PeerAuthentications of
  /// that Service; empty: the listener serves no Service and is plaintext (MtlsMode::Disable).
  std::string service;
  Location serviceAt;  // spec.service, for the "not found" warning; null when built in code
};

/// trellis.dev Workload: what a service's sidecars need from the mesh.
struct WorkloadDef {
  ResourceMeta meta;
  std::string service;  // the Service its instances serve; defaults to metadata.name
  struct Upstream {
    Location at;
    std::string ns;
    std::string name;
  };
  std::vector<Upstream> upstreams;  // the Services it calls: exactly what its proxies receive
};

struct ParentRef {
  Location at;
  std::string group = "gateway.networking.k8s.io";
  std::string kind = "Gateway";
  std::string ns;  // defaults to the route's namespace
  std::string name;
  std::optional<std::string> sectionName;
  std::optional<uint16_t> port;
};

struct RuleDef {
  Location at;
  std::string name;                 // optional rule name (RoutePolicy sectionName targets it)
  std::vector<RouteMatch> matches;  // at least one after defaults
  RouteRule actions;                // filters only; match, backends and indices filled later
  std::vector<ServiceRef> mirrors;
  std::vector<ServiceRef> backends;
};

struct RouteDef {
  ResourceMeta meta;
  std::vector<ParentRef> parentRefs;
  std::vector<std::string> hostnames;
  std::vector<RuleDef> rules;
};

/// One field of a policy as written: its value, and where (for conflict warnings).
template <typename T>
struct PolicyField {
  std::optional<T> value;
  Location at;
};

/// A GEP-713 policy targetRef: always in the policy's own namespace.
struct PolicyTargetRef {
  Location at;
  std::string group;
  std::string kind;
  std::string name;
  std::optional<std::string> sectionName;  // RoutePolicy: the name of one rule of the route
  Location sectionNameAt;
};

/// trellis.dev BackendPolicy: resilience settings of the clusters built from its target
/// Services. Unset fields keep the model's defaults (or a lower-precedence policy's value).
struct BackendPolicyDef {
  ResourceMeta meta;
  std::vector<PolicyTargetRef> targetRefs;
  PolicyField<uint32_t> maxConnections;
  PolicyField<uint32_t> maxPendingRequests;
  PolicyField<uint32_t> maxRequests;
  PolicyField<uint32_t> maxRetries;
  PolicyField<uint32_t> retryBudgetPercent;
  PolicyField<uint32_t> retryBudgetMinRetriesPerSecond;
  PolicyField<Duration> retryBudgetWindow;
  PolicyField<OutlierDetection> outlierDetection;
  PolicyField<HealthCheck> healthCheck;
  PolicyField<uint32_t> healthyPanicThreshold;
  PolicyField<LocalRateLimit> rateLimit;
};

/// trellis.dev RoutePolicy: timeouts, retries, fault injection and rate limits of the rules of
/// its target routes. Each field overrides the route's own (Gateway API) value of that field.
struct RoutePolicyDef {
  ResourceMeta meta;
  std::vector<PolicyTargetRef> targetRefs;
  PolicyField<Duration> requestTimeout;
  PolicyField<Duration> perTryTimeout;  // timeouts.perTry
  PolicyField<Duration> streamIdleTimeout;
  std::optional<Location> retryAt;  // `retry` is present: the rules retry
  PolicyField<uint32_t> attempts;
  PolicyField<uint32_t> retryOn;
  PolicyField<std::vector<uint16_t>> retriableStatusCodes;
  PolicyField<uint32_t> retriableGrpcStatuses;
  PolicyField<Duration> retryPerTryTimeout;  // retry.perTryTimeout
  PolicyField<Duration> backoffBase;
  PolicyField<Duration> backoffMax;
  PolicyField<bool> retryNonIdempotent;
  PolicyField<FaultInjection> fault;
  PolicyField<LocalRateLimit> rateLimit;
};

/// trellis.dev AuthorizationPolicy: Istio's AuthorizationPolicy, attached to Services by
/// targetRefs or, without them, to every Service of its namespace.
struct AuthorizationPolicyDef {
  ResourceMeta meta;
  std::vector<PolicyTargetRef> targetRefs;  // kind Service; empty when namespaceWide
  bool namespaceWide = true;
  AuthorizationPolicy policy;  // complete: what each target Service gets a copy of
};

/// trellis.dev PeerAuthentication: Istio's PeerAuthentication, the mutual TLS mode of the
/// listeners serving the Services it targets (or, without targetRefs, every Service of its
/// namespace). Resolved by resolvePeerAuthentication (config/peer_authentication.h).
struct PeerAuthenticationDef {
  ResourceMeta meta;
  std::vector<PolicyTargetRef> targetRefs;  // kind Service; empty when namespaceWide
  bool namespaceWide = true;
  MtlsMode mode = MtlsMode::Permissive;
};

struct Resources {
  std::vector<ServiceDef> services;
  std::vector<ListenerDef> listeners;
  std::vector<RouteDef> routes;  // in document order: the routeOrder of each
  std::vector<WorkloadDef> workloads;
  std::vector<BackendPolicyDef> backendPolicies;
  std::vector<RoutePolicyDef> routePolicies;
  std::vector<AuthorizationPolicyDef> authorizationPolicies;
  std::vector<PeerAuthenticationDef> peerAuthentications;  // in configuration order
};

/// The names a Service answers to inside the mesh: "name", "name.ns", "name.ns.svc" and
/// "name.ns.svc.cluster.local" (what Kubernetes DNS gives applications).
std::vector<std::string> meshHostnames(const std::string& ns, const std::string& name);

/// Which fields a Service reference admits.
enum class RefForm {
  Tcp,     // Listener spec.tcp.backendRef: name, namespace, port
  Mirror,  // Gateway API BackendObjectReference: + group, kind
  Backend  // Gateway API HTTPBackendRef: + weight, filters
};
/// Parses a Service reference; the namespace defaults to `defaultNamespace`.
std::optional<ServiceRef> parseServiceRef(Scope& scope, const Value& value, RefForm form,
                                          const std::string& defaultNamespace);

// Per-kind parsers: validate `spec` and append the resource to `out`. Problems are reported
// through `scope`; the resource is appended even then, so that later checks can still run.
void parseService(Scope& scope, ResourceMeta meta, const Value& spec, Resources& out);
void parseListener(Scope& scope, ResourceMeta meta, const Value& spec, Resources& out);
void parseHttpRoute(Scope& scope, ResourceMeta meta, const Value& spec, Resources& out);
void parseGrpcRoute(Scope& scope, ResourceMeta meta, const Value& spec, Resources& out);
void parseWorkload(Scope& scope, ResourceMeta meta, const Value& spec, Resources& out);
void parseBackendPolicy(Scope& scope, ResourceMeta meta, const Value& spec, Resources& out);
void parseRoutePolicy(Scope& scope, ResourceMeta meta, const Value& spec, Resources& out);
void parseAuthorizationPolicy(Scope& scope, ResourceMeta meta, const Value& spec, Resources& out);
void parsePeerAuthentication(Scope& scope, ResourceMeta meta, const Value& spec, Resources& out);

/// Gives each Service the AuthorizationPolicies that target it (`Snapshot::authorization`);
/// a missing target is a warning. Defined in authz_kind.cc.
void attachAuthorizationPolicies(const Resources& resources, Diagnostics& diagnostics,
                                 Snapshot& snapshot);

/// Warns about PeerAuthentications that target missing Services and about policies of the
/// same level that disagree on a Service's mode. Defined in peerauthn_kind.cc.
void checkPeerAuthentications(const Resources& resources, Diagnostics& diagnostics);

/// Gateway API retry backoff: Envoy's default maximum (10 × base), capped at 10s but never
/// below the base.
Duration defaultBackoffMax(Duration base);

/// Parses every document of a YAML stream into `out`, without resolving references (trellisd
/// assembles per proxy; loadString parses then assembles).
void parseDocuments(std::string_view yaml, Diagnostics& diagnostics, Resources& out);

/// Resolves references and builds the snapshot. Returns null if any error was reported (now or
/// before).
std::shared_ptr<Snapshot> assembleSnapshot(Resources& resources, Diagnostics& diagnostics);

}  // namespace trellis::config
