// PeerAuthentication and the mutual TLS side of Listener and Service: parsing, the mode each
// listener gets (precedence, conflicts), errors, warnings and the /config_dump rendition.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/dump.h"
#include "config/loader.h"
#include "config/peer_authentication.h"
#include "config/resources.h"
#include "test_util.h"

namespace trellis::config {
namespace {

using testing::at;
using testing::describe;
using testing::expectSingleError;
using testing::load;

// Two Services in namespace shop, one in front. 10 lines; what follows starts on line 11.
constexpr std::string_view kBase = R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing, namespace: shop}
spec: {ports: [{port: 80}]}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: ledger, namespace: shop}
spec: {ports: [{port: 5432}], endpoints: [{address: 10.0.0.1}]}
---
)";

constexpr const char* kPa = "PeerAuthentication shop/pa";

// A PeerAuthentication document (no trailing ---).
std::string paDocument(std::string_view ns, std::string_view name, std::string_view spec) {
  return "apiVersion: trellis.dev/v1alpha1\nkind: PeerAuthentication\nmetadata: {name: " +
         std::string(name) + ", namespace: " + std::string(ns) + "}\nspec: " + std::string(spec) +
         "\n";
}

// kBase, then PeerAuthentication shop/pa whose `spec` lines (`body`) start on line 15.
std::string pa(std::string_view body) {
  return std::string(kBase) +
         "apiVersion: trellis.dev/v1alpha1\nkind: PeerAuthentication\n"
         "metadata: {name: pa, namespace: shop}\nspec:\n" +
         std::string(body);
}

// A Listener document of namespace `ns` on `port` with the extra spec fields `fields`.
std::string listenerDocument(std::string_view ns, std::string_view name, int port,
                             std::string_view fields) {
  return "apiVersion: trellis.dev/v1alpha1\nkind: Listener\nmetadata: {name: " + std::string(name) +
         ", namespace: " + std::string(ns) + "}\nspec: {port: " + std::to_string(port) +
         (fields.empty() ? "" : ", ") + std::string(fields) + "}\n";
}

std::vector<std::string> rendered(const std::vector<LoadError>& problems) {
  std::vector<std::string> out;
  out.reserve(problems.size());
  for (const LoadError& problem : problems) out.push_back(problem.toString());
  return out;
}

const Listener& listenerNamed(const LoadResult& result, std::string_view name) {
  for (const Listener& listener : result.snapshot->listeners) {
    if (listener.name == name) return listener;
  }
  ADD_FAILURE() << "no listener " << name;
  static const Listener kNone;
  return kNone;
}

// The mode each of `services` ("ns/name") gets from `policies` (a YAML stream appended to
// kBase), through listeners that serve them.
std::vector<MtlsMode> modes(const std::string& policies, const std::vector<std::string>& services,
                            std::vector<std::string>* warnings = nullptr) {
  std::string yaml = std::string(kBase) + policies;
  for (size_t i = 0; i < services.size(); ++i) {
    const std::string& service = services[i];
    size_t slash = service.find('/');
    yaml += "---\n" + listenerDocument(service.substr(0, slash), "l" + std::to_string(i),
                                       static_cast<int>(8000 + i),
                                       "service: " + service.substr(slash + 1));
  }
  LoadResult result = load(yaml);
  std::vector<MtlsMode> out;
  EXPECT_TRUE(result.ok()) << describe(result);
  if (!result.ok()) return out;
  if (warnings != nullptr) *warnings = rendered(result.warnings);
  for (const Listener& listener : result.snapshot->listeners) out.push_back(listener.mtls);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Model

TEST(PeerAuthenticationTest, ParsesModesAndTargets) {
  Diagnostics diagnostics{"test.yaml"};
  Resources resources;
  parseDocuments(paDocument("shop", "a", "{mtls: {mode: STRICT}}") + "---\n" +
                     paDocument("shop", "b",
                                "{targetRefs: [{kind: Service, name: billing}, {group: \"\", "
                                "kind: Service, name: ledger}], mtls: {mode: PERMISSIVE}}") +
                     "---\n" +
                     paDocument("shop", "c",
                                "{targetRefs: [{group: trellis.dev, kind: Service, name: x}], "
                                "mtls: {mode: DISABLE}}"),
                 diagnostics, resources);
  ASSERT_FALSE(diagnostics.hasErrors()) << describe(diagnostics.takeErrors());
  ASSERT_EQ(resources.peerAuthentications.size(), 3u);
  const PeerAuthenticationDef& a = resources.peerAuthentications[0];
  EXPECT_EQ(a.meta.qualifiedName(), "shop/a");
  EXPECT_TRUE(a.namespaceWide);
  EXPECT_TRUE(a.targetRefs.empty());
  EXPECT_EQ(a.mode, MtlsMode::Strict);
  const PeerAuthenticationDef& b = resources.peerAuthentications[1];
  EXPECT_FALSE(b.namespaceWide);
  ASSERT_EQ(b.targetRefs.size(), 2u);
  EXPECT_EQ(b.targetRefs[0].name, "billing");
  EXPECT_EQ(b.targetRefs[1].name, "ledger");
  EXPECT_EQ(b.mode, MtlsMode::Permissive);
  const PeerAuthenticationDef& c = resources.peerAuthentications[2];
  EXPECT_EQ(c.targetRefs.at(0).group, "trellis.dev");
  EXPECT_EQ(c.mode, MtlsMode::Disable);
}

TEST(PeerAuthenticationTest, ListenerGetsItsServiceAndTheModeOfItsPolicies) {
  LoadResult result = load(
      pa("  targetRefs: [{kind: Service, name: billing}]\n  mtls: {mode: STRICT}\n") + "---\n" +
      listenerDocument("shop", "inbound", 15006, "service: billing, tlsHandshakeTimeout: 3s") +
      "---\n" + listenerDocument("shop", "other", 15007, "service: ledger") + "---\n" +
      listenerDocument("shop", "plain", 15008, ""));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  const Listener& inbound = listenerNamed(result, "shop/inbound");
  EXPECT_EQ(inbound.service, "shop/billing");
  EXPECT_EQ(inbound.mtls, MtlsMode::Strict);
  EXPECT_EQ(inbound.tlsHandshakeTimeout, Duration(3000));
  // No policy for ledger: PERMISSIVE, with the default handshake timeout.
  const Listener& other = listenerNamed(result, "shop/other");
  EXPECT_EQ(other.service, "shop/ledger");
  EXPECT_EQ(other.mtls, MtlsMode::Permissive);
  EXPECT_EQ(other.tlsHandshakeTimeout, Duration(10000));
  // No service: plaintext.
  const Listener& plain = listenerNamed(result, "shop/plain");
  EXPECT_EQ(plain.service, "");
  EXPECT_EQ(plain.mtls, MtlsMode::Disable);
}

TEST(PeerAuthenticationTest, ServicePolicyWinsOverNamespacePolicyWhateverTheOrder) {
  const std::string namespaceWide = paDocument("shop", "all", "{mtls: {mode: DISABLE}}");
  const std::string billing =
      paDocument("shop", "billing",
                 "{targetRefs: [{kind: Service, name: billing}], mtls: {mode: "
                 "STRICT}}");
  const std::vector<std::string> services = {"shop/billing", "shop/ledger"};
  EXPECT_EQ(modes(namespaceWide + "---\n" + billing, services),
            (std::vector<MtlsMode>{MtlsMode::Strict, MtlsMode::Disable}));
  EXPECT_EQ(modes(billing + "---\n" + namespaceWide, services),
            (std::vector<MtlsMode>{MtlsMode::Strict, MtlsMode::Disable}));
  // Without the namespace policy, ledger has the default.
  EXPECT_EQ(modes(billing, services),
            (std::vector<MtlsMode>{MtlsMode::Strict, MtlsMode::Permissive}));
}

TEST(PeerAuthenticationTest, PoliciesOnlyApplyInTheirNamespace) {
  const std::string policies =
      paDocument("front", "all", "{mtls: {mode: STRICT}}") + "---\n" +
      paDocument("front", "billing",
                 "{targetRefs: [{kind: Service, name: billing}], mtls: {mode: DISABLE}}") +
      "---\napiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: web, namespace: "
      "front}\nspec: {ports: [{port: 80}]}\n";
  EXPECT_EQ(modes(policies, {"shop/billing", "front/web"}),
            (std::vector<MtlsMode>{MtlsMode::Permissive, MtlsMode::Strict}));
}

// The pure resolution, on policies built in code.
PeerAuthenticationDef policy(std::string ns, std::string name, MtlsMode mode,
                             std::vector<std::string> targets) {
  PeerAuthenticationDef def;
  def.meta.kind = "PeerAuthentication";
  def.meta.ns = std::move(ns);
  def.meta.name = std::move(name);
  def.mode = mode;
  def.namespaceWide = targets.empty();
  for (std::string& target : targets) {
    PolicyTargetRef ref;
    ref.kind = "Service";
    ref.name = std::move(target);
    def.targetRefs.push_back(std::move(ref));
  }
  return def;
}

TEST(PeerAuthenticationTest, ResolveIsMostSpecificThenFirst) {
  std::vector<PeerAuthenticationDef> policies = {
      policy("shop", "ns-strict", MtlsMode::Strict, {}),
      policy("shop", "ns-disable", MtlsMode::Disable, {}),
      policy("shop", "billing-disable", MtlsMode::Disable, {"ledger", "billing"}),
      policy("shop", "billing-strict", MtlsMode::Strict, {"billing"}),
      policy("other", "web", MtlsMode::Disable, {"web"}),
  };
  ResolvedMtls billing = resolvePeerAuthentication(policies, "shop/billing");
  EXPECT_EQ(billing.mode, MtlsMode::Disable);
  ASSERT_NE(billing.policy, nullptr);
  EXPECT_EQ(billing.policy->meta.name, "billing-disable");
  ResolvedMtls cart = resolvePeerAuthentication(policies, "shop/cart");
  EXPECT_EQ(cart.mode, MtlsMode::Strict);
  ASSERT_NE(cart.policy, nullptr);
  EXPECT_EQ(cart.policy->meta.name, "ns-strict");
  ResolvedMtls web = resolvePeerAuthentication(policies, "front/web");
  EXPECT_EQ(web.mode, MtlsMode::Permissive);
  EXPECT_EQ(web.policy, nullptr);
  EXPECT_EQ(resolvePeerAuthentication(policies, "other/web").mode, MtlsMode::Disable);
  // Not "ns/name": nothing applies.
  EXPECT_EQ(resolvePeerAuthentication(policies, "billing").policy, nullptr);
  EXPECT_EQ(resolvePeerAuthentication(policies, "").mode, MtlsMode::Permissive);
  EXPECT_EQ(resolvePeerAuthentication({}, "shop/billing").mode, MtlsMode::Permissive);
}

TEST(PeerAuthenticationTest, ConflictsAreAgainstTheFirstPolicyOfTheLevel) {
  std::vector<PeerAuthenticationDef> policies = {
      policy("shop", "a", MtlsMode::Strict, {}),
      policy("shop", "b", MtlsMode::Strict, {}),      // agrees: no conflict
      policy("shop", "c", MtlsMode::Permissive, {}),  // against a
      policy("front", "d", MtlsMode::Disable, {}),    // another namespace: no conflict
      policy("shop", "e", MtlsMode::Disable, {"billing"}),
      policy("shop", "f", MtlsMode::Strict, {"ledger", "billing"}),  // billing: against e
  };
  std::vector<PeerAuthenticationConflict> conflicts = peerAuthenticationConflicts(policies);
  ASSERT_EQ(conflicts.size(), 2u);
  EXPECT_EQ(conflicts[0].winner->meta.name, "a");
  EXPECT_EQ(conflicts[0].overridden->meta.name, "c");
  EXPECT_EQ(conflicts[0].service, "");
  EXPECT_EQ(conflicts[0].ref, nullptr);
  EXPECT_EQ(conflicts[1].winner->meta.name, "e");
  EXPECT_EQ(conflicts[1].overridden->meta.name, "f");
  EXPECT_EQ(conflicts[1].service, "billing");
  EXPECT_EQ(conflicts[1].ref, &policies[5].targetRefs[1]);
}

// Regression (config_loader fuzzer): a Service name too long for the small-string buffer was
// compared through a view of a freed temporary. ASan builds catch it.
TEST(PeerAuthenticationTest, ConflictsOverLongServiceNamesAreFound) {
  const std::string longName(64, 'b');
  std::vector<PeerAuthenticationDef> policies = {
      policy("shop", "a", MtlsMode::Disable, {longName}),
      policy("shop", "b", MtlsMode::Strict, {"other", longName}),
  };
  std::vector<PeerAuthenticationConflict> conflicts = peerAuthenticationConflicts(policies);
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].winner->meta.name, "a");
  EXPECT_EQ(conflicts[0].service, longName);
}

TEST(PeerAuthenticationTest, ListenerBuiltInCodeGetsItsModeResolved) {
  Diagnostics diagnostics{"mesh"};
  Resources resources;
  parseDocuments(std::string(kBase) + paDocument("shop", "strict", "{mtls: {mode: STRICT}}"),
                 diagnostics, resources);
  // As trellisd builds a sidecar's inbound listener: in its own namespace, naming the Service.
  ListenerDef inbound;
  inbound.meta.kind = "Listener";
  inbound.meta.ns = "trellis-inbound";
  inbound.meta.name = "inbound";
  inbound.listener.name = "trellis-inbound/inbound";
  inbound.listener.port = 15006;
  inbound.service = "shop/billing";
  resources.listeners.push_back(inbound);
  // Setting only the model's field works too.
  ListenerDef direct = inbound;
  direct.service.clear();
  direct.listener.name = "trellis-inbound/direct";
  direct.listener.port = 15007;
  direct.listener.service = "shop/ledger";
  resources.listeners.push_back(direct);
  auto snapshot = assembleSnapshot(resources, diagnostics);
  ASSERT_NE(snapshot, nullptr) << describe(diagnostics.takeErrors());
  EXPECT_TRUE(diagnostics.takeWarnings().empty());
  ASSERT_EQ(snapshot->listeners.size(), 2u);
  EXPECT_EQ(snapshot->listeners[0].service, "shop/billing");
  EXPECT_EQ(snapshot->listeners[0].mtls, MtlsMode::Strict);
  EXPECT_EQ(snapshot->listeners[1].service, "shop/ledger");
  EXPECT_EQ(snapshot->listeners[1].mtls, MtlsMode::Strict);
}

TEST(PeerAuthenticationTest, EndpointIdentityIsCanonicalAndOptional) {
  LoadResult result = load(R"(apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing, namespace: shop}
spec:
  ports: [{port: 80, targetPort: 8080}]
  endpoints:
  - {address: 10.0.0.1, port: 15006, identity: "spiffe://trellis.local/ns/shop/sa/billing"}
  - {address: 10.0.0.2, identity: "SPIFFE://Trellis.Local/ns/shop/sa/Billing-2"}
  - {address: 10.0.0.3}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  const Cluster& cluster = result.snapshot->clusters.at("shop/billing:80");
  ASSERT_EQ(cluster.endpoints.size(), 3u);
  EXPECT_EQ(cluster.endpoints[0].identity, "spiffe://trellis.local/ns/shop/sa/billing");
  EXPECT_EQ(cluster.endpoints[0].port, 15006);
  // Scheme and trust domain are case-insensitive (lower-cased); the path is not.
  EXPECT_EQ(cluster.endpoints[1].identity, "spiffe://trellis.local/ns/shop/sa/Billing-2");
  EXPECT_EQ(cluster.endpoints[1].port, 8080);
  EXPECT_EQ(cluster.endpoints[2].identity, "");
}

TEST(PeerAuthenticationTest, IdentityCopiesPerPortCountAgainstTheMemoryBudget) {
  // One 2 KB identity, repeated by an alias on 10000 endpoints (20 MB parsed), then copied into
  // 64 clusters: 1.3 GB unless the copies are charged.
  std::string yaml =
      "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [";
  for (int port = 1; port <= 64; ++port) {
    yaml += (port > 1 ? ", " : "") + std::string("{port: ") + std::to_string(port) + "}";
  }
  yaml += "]\n  endpoints:\n  - {address: 10.0.0.0, identity: &id \"spiffe://trellis.local/ns/" +
          std::string(1990, 'a') + "/sa/x\"}\n";
  for (int i = 1; i < 10000; ++i) {
    yaml += "  - {address: 10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
            ", identity: *id}\n";
  }
  LoadResult result = load(yaml);
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].toString(),
            "test.yaml:1:1: Service default/s: the configuration expands to more than 256 MiB "
            "(YAML aliases repeating large values?)");
}

// ---------------------------------------------------------------------------------------------
// Warnings

TEST(PeerAuthenticationTest, ConflictingPoliciesWarnNamingBoth) {
  std::vector<std::string> warnings;
  EXPECT_EQ(modes(paDocument("shop", "first", "{mtls: {mode: STRICT}}") + "---\n" +
                      paDocument("shop", "same", "{mtls: {mode: STRICT}}") + "---\n" +
                      paDocument("shop", "second", "{mtls: {mode: PERMISSIVE}}") + "---\n" +
                      paDocument("shop", "t1",
                                 "{targetRefs: [{kind: Service, name: billing}], mtls: {mode: "
                                 "DISABLE}}") +
                      "---\n" +
                      paDocument("shop", "t2",
                                 "{targetRefs: [{kind: Service, name: ledger}, {kind: Service, "
                                 "name: billing}], mtls: {mode: STRICT}}"),
                  {"shop/billing", "shop/ledger"}, &warnings),
            (std::vector<MtlsMode>{MtlsMode::Disable, MtlsMode::Strict}));
  EXPECT_EQ(warnings,
            (std::vector<std::string>{
                "test.yaml:21:1: PeerAuthentication shop/second: conflicts with "
                "PeerAuthentication shop/first for every Service of namespace shop: shop/first "
                "comes first in configuration order, so its mode STRICT applies, not PERMISSIVE",
                "test.yaml:34:52: PeerAuthentication shop/t2: spec.targetRefs[1]: conflicts with "
                "PeerAuthentication shop/t1 for Service shop/billing: shop/t1 comes first in "
                "configuration order, so its mode DISABLE applies, not STRICT",
            }));
}

TEST(PeerAuthenticationTest, MissingServicesAreWarnings) {
  LoadResult result =
      load(pa("  targetRefs: [{kind: Service, name: billing}, {kind: Service, name: gone}]\n"
              "  mtls: {mode: STRICT}\n") +
           "---\n" + paDocument("empty", "lonely", "{mtls: {mode: STRICT}}") + "---\n" +
           listenerDocument("shop", "typo", 15006, "service: gone") + "---\n" +
           listenerDocument("empty", "in", 15007, "service: nothing"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(rendered(result.warnings),
            (std::vector<std::string>{
                "test.yaml:15:48: PeerAuthentication shop/pa: spec.targetRefs[1]: Service "
                "shop/gone not found; the policy only sets the mode of listeners that name it",
                "test.yaml:18:1: PeerAuthentication empty/lonely: namespace empty has no "
                "Service; the policy only sets the mode of listeners that name a Service of it",
                "test.yaml:26:30: Listener shop/typo: spec.service: Service shop/gone not found; "
                "no AuthorizationPolicy applies to this listener until it exists",
                "test.yaml:31:30: Listener empty/in: spec.service: Service empty/nothing not "
                "found; no AuthorizationPolicy applies to this listener until it exists",
            }));
  // The mode still follows the policies, so that a STRICT policy is never lost to a missing
  // Service.
  EXPECT_EQ(listenerNamed(result, "shop/typo").mtls, MtlsMode::Strict);
  EXPECT_EQ(listenerNamed(result, "shop/typo").service, "shop/gone");
  EXPECT_EQ(listenerNamed(result, "empty/in").mtls, MtlsMode::Strict);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(PeerAuthenticationTest, KindBelongsToTrellisApi) {
  expectSingleError(R"(apiVersion: gateway.networking.k8s.io/v1
kind: PeerAuthentication
metadata: {name: pa}
spec: {mtls: {mode: STRICT}}
)",
                    at(2, 7, "PeerAuthentication default/pa", "kind",
                       "kind PeerAuthentication belongs to apiVersion trellis.dev/v1alpha1, not "
                       "gateway.networking.k8s.io/v1"));
}

TEST(PeerAuthenticationTest, ModeErrors) {
  expectSingleError(pa("  targetRefs: [{kind: Service, name: billing}]\n"),
                    at(15, 3, kPa, "spec.mtls", "missing required field"));
  expectSingleError(pa("  mtls: {}\n"), at(15, 9, kPa, "spec.mtls.mode", "missing required field"));
  expectSingleError(pa("  mtls: {mode: strict}\n"),
                    at(15, 16, kPa, "spec.mtls.mode",
                       "unknown value \"strict\" (expected STRICT, PERMISSIVE or DISABLE)"));
  expectSingleError(pa("  mtls: {mode: UNSET}\n"),
                    at(15, 16, kPa, "spec.mtls.mode",
                       "UNSET is not supported (expected STRICT, PERMISSIVE or DISABLE; without "
                       "a policy the namespace's mode, or PERMISSIVE, applies)"));
  expectSingleError(pa("  mtls: {mode: [STRICT]}\n"),
                    at(15, 16, kPa, "spec.mtls.mode", "expected a string, got a list"));
  expectSingleError(pa("  mtls: STRICT\n"),
                    at(15, 9, kPa, "spec.mtls", "expected a map, got a scalar"));
  expectSingleError(
      pa("  mtls: {mode: STRICT, mod: STRICT}\n"),
      at(15, 24, kPa, "spec.mtls.mod", "unknown field \"mod\" (did you mean \"mode\"?)"));
}

TEST(PeerAuthenticationTest, SpecErrors) {
  const std::string mode = "  mtls: {mode: STRICT}\n";
  expectSingleError(
      pa(mode + "  selector: {matchLabels: {app: billing}}\n"),
      at(16, 13, kPa, "spec.selector", "not supported (choose Services with targetRefs)"));
  expectSingleError(pa(mode + "  targetRef: {kind: Service, name: billing}\n"),
                    at(16, 14, kPa, "spec.targetRef", "not supported (use targetRefs)"));
  expectSingleError(pa(mode + "  portLevelMtls: {8080: {mode: DISABLE}}\n"),
                    at(16, 18, kPa, "spec.portLevelMtls",
                       "not supported (the mode applies to every port of the Service)"));
  expectSingleError(pa(mode + "  mTLS: {}\n"),
                    at(16, 3, kPa, "spec.mTLS", "unknown field \"mTLS\" (did you mean \"mtls\"?)"));
  expectSingleError(pa("  []\n"), at(15, 3, kPa, "spec", "expected a map, got a list"));
}

TEST(PeerAuthenticationTest, TargetRefErrors) {
  auto refs = [](std::string_view list) {
    return pa("  mtls: {mode: STRICT}\n  targetRefs: " + std::string(list) + "\n");
  };
  expectSingleError(refs("[]"), at(16, 15, kPa, "spec.targetRefs",
                                   "must list at least one targetRef (omit targetRefs to apply "
                                   "the policy to every Service of the namespace)"));
  expectSingleError(refs("[{kind: Deployment, name: billing}]"),
                    at(16, 23, kPa, "spec.targetRefs[0].kind",
                       "unknown value \"Deployment\" (expected Service)"));
  expectSingleError(refs("[{group: apps, kind: Service, name: billing}]"),
                    at(16, 24, kPa, "spec.targetRefs[0].group",
                       "unknown value \"apps\" (expected \"\" or trellis.dev)"));
  expectSingleError(refs("[{kind: Service, name: Billing}]"),
                    at(16, 38, kPa, "spec.targetRefs[0].name", "must be lower case"));
  expectSingleError(refs("[{kind: Service}]"),
                    at(16, 16, kPa, "spec.targetRefs[0].name", "missing required field"));
  expectSingleError(
      refs("[{kind: Service, name: billing}, {kind: Service, name: billing}]"),
      at(16, 48, kPa, "spec.targetRefs[1]", "duplicate targetRef (same kind and name)"));
  expectSingleError(refs("[{kind: Service, name: billing, namespace: x}]"),
                    at(16, 47, kPa, "spec.targetRefs[0].namespace", "unknown field \"namespace\""));
}

TEST(PeerAuthenticationTest, ListenerServiceAndHandshakeTimeoutErrors) {
  constexpr const char* kListener = "Listener default/in";
  auto listener = [](std::string_view fields) {
    return listenerDocument("default", "in", 15006, fields);
  };
  expectSingleError(listener("service: Billing"),
                    at(4, 30, kListener, "spec.service", "must be lower case"));
  expectSingleError(listener("service: shop/billing"),
                    at(4, 30, kListener, "spec.service",
                       "\"shop/billing\" is not a Service name: the Service must be in the "
                       "listener's namespace (default), named without it"));
  expectSingleError(listener("service: bill_ing"),
                    at(4, 30, kListener, "spec.service",
                       "may contain only lower-case letters, digits, '-' and '.'"));
  expectSingleError(listener("service: {name: billing}"),
                    at(4, 30, kListener, "spec.service", "expected a string, got a map"));
  expectSingleError(listener("service: billing, tlsHandshakeTimeout: 0s"),
                    at(4, 60, kListener, "spec.tlsHandshakeTimeout", "must be at least 1ms"));
  expectSingleError(listener("service: billing, tlsHandshakeTimeout: 10"),
                    at(4, 60, kListener, "spec.tlsHandshakeTimeout",
                       "invalid duration \"10\" (expected e.g. \"10s\", \"250ms\", \"1h30m\")"));
  expectSingleError(listener("tlsHandshakeTimeout: 5s"),
                    at(4, 42, kListener, "spec.tlsHandshakeTimeout",
                       "is only valid with service (a listener that serves no Service speaks "
                       "plaintext only)"));
}

TEST(PeerAuthenticationTest, EndpointIdentityErrors) {
  auto service = [](std::string_view identity) {
    return "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: s}\nspec:\n"
           "  ports: [{port: 80}]\n  endpoints: [{address: 10.0.0.1, identity: " +
           std::string(identity) + "}]\n";
  };
  constexpr const char* kService = "Service default/s";
  const std::string field = "spec.endpoints[0].identity";
  const std::string expected =
      "(a workload's is \"spiffe://<trust domain>/ns/<namespace>/sa/<service account>\")";
  expectSingleError(service("\"\""), at(6, 45, kService, field,
                                        "invalid SPIFFE ID \"\": SPIFFE ID is empty " + expected));
  expectSingleError(service("\"https://trellis.local/ns/shop/sa/a\""),
                    at(6, 45, kService, field,
                       "invalid SPIFFE ID \"https://trellis.local/ns/shop/sa/a\": scheme must be "
                       "'spiffe', not 'https' " +
                           expected));
  expectSingleError(
      service("\"spiffe:///ns/shop/sa/a\""),
      at(6, 45, kService, field,
         "invalid SPIFFE ID \"spiffe:///ns/shop/sa/a\": trust domain is missing " + expected));
  expectSingleError(service("\"spiffe://trellis.local/ns/shop/sa/a?x=1\""),
                    at(6, 45, kService, field,
                       "invalid SPIFFE ID \"spiffe://trellis.local/ns/shop/sa/a?x=1\": query is "
                       "not allowed " +
                           expected));
  expectSingleError(service("\"spiffe://trellis.local/ns/shop/sa/\""),
                    at(6, 45, kService, field,
                       "invalid SPIFFE ID \"spiffe://trellis.local/ns/shop/sa/\": path has a "
                       "trailing '/' " +
                           expected));
  expectSingleError(service("\"spiffe://trellis.local/workload/billing\""),
                    at(6, 45, kService, field,
                       "SPIFFE ID \"spiffe://trellis.local/workload/billing\" does not name a "
                       "workload " +
                           expected));
  expectSingleError(service("billing"),
                    at(6, 45, kService, field,
                       "invalid SPIFFE ID \"billing\": SPIFFE ID has no scheme (expected "
                       "'spiffe://') " +
                           expected));
}

TEST(PeerAuthenticationTest, ServiceAccountsParseAndBadNamesAreErrors) {
  Diagnostics diagnostics{"mesh"};
  Resources resources;
  parseDocuments(
      "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: s}\nspec:\n"
      "  ports: [{port: 80}]\n  serviceAccounts: [billing, billing-v2]\n",
      diagnostics, resources);
  ASSERT_EQ(resources.services.size(), 1u);
  EXPECT_EQ(resources.services[0].serviceAccounts,
            (std::vector<std::string>{"billing", "billing-v2"}));
  EXPECT_FALSE(diagnostics.hasErrors());

  expectSingleError(
      "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: s}\nspec:\n"
      "  ports: [{port: 80}]\n  serviceAccounts: [ok, \"a/b\"]\n",
      at(6, 25, "Service default/s", "spec.serviceAccounts[1]",
         "invalid service account \"a/b\": service account: path segment has an invalid "
         "character '/'"));
}

TEST(PeerAuthenticationTest, EveryProblemOfAPolicyIsReported) {
  LoadResult result = load(pa(R"(  selector: {}
  targetRefs: [{kind: Pod, name: x}, {kind: Service, name: X}]
  mtls: {mode: strict}
)"));
  std::vector<std::string> where;
  for (const LoadError& error : result.errors) {
    where.push_back(std::to_string(error.line) + ":" + std::to_string(error.column) + " " +
                    error.field);
  }
  EXPECT_EQ(where, (std::vector<std::string>{
                       "15:13 spec.selector",
                       "16:23 spec.targetRefs[0].kind",
                       "16:60 spec.targetRefs[1].name",
                       "17:16 spec.mtls.mode",
                   }))
      << describe(result);
}

// ---------------------------------------------------------------------------------------------
// /config_dump

TEST(PeerAuthenticationTest, DumpShowsServiceModeTimeoutAndIdentity) {
  LoadResult result = load(
      std::string(kBase) +
      paDocument("shop", "strict",
                 "{targetRefs: [{kind: Service, name: billing}], mtls: {mode: STRICT}}") +
      "---\n" + paDocument("shop", "off", "{mtls: {mode: DISABLE}}") + "---\n" +
      listenerDocument("shop", "strict", 15006, "service: billing, tlsHandshakeTimeout: 1500ms") +
      "---\n" + listenerDocument("shop", "off", 15007, "service: ledger") + "---\n" +
      listenerDocument("shop", "plain", 15008, "") + "---\n" +
      "apiVersion: trellis.dev/v1alpha1\nkind: Service\nmetadata: {name: mesh, namespace: "
      "front}\nspec:\n  ports: [{port: 80}]\n  endpoints:\n  - {address: 10.0.0.9, "
      "identity: \"spiffe://trellis.local/ns/front/sa/mesh\"}\n  - {address: 10.0.0.8}\n" +
      "---\n" + listenerDocument("front", "in", 15009, "service: mesh"));
  ASSERT_TRUE(result.ok()) << describe(result);
  nlohmann::json dump = toJson(*result.snapshot);
  ASSERT_EQ(dump["listeners"].size(), 4u);
  const auto& strict = dump["listeners"][0];
  EXPECT_EQ(strict["name"], "shop/strict");
  EXPECT_EQ(strict["service"], "shop/billing");
  EXPECT_EQ(strict["mtls"], "strict");
  EXPECT_EQ(strict["tlsHandshakeTimeout"], "1s500ms");
  const auto& off = dump["listeners"][1];
  EXPECT_EQ(off["service"], "shop/ledger");
  EXPECT_EQ(off["mtls"], "disable");
  EXPECT_FALSE(off.contains("tlsHandshakeTimeout")) << off.dump();
  const auto& plain = dump["listeners"][2];
  EXPECT_FALSE(plain.contains("service")) << plain.dump();
  EXPECT_EQ(plain["mtls"], "disable");
  const auto& permissive = dump["listeners"][3];
  EXPECT_EQ(permissive["mtls"], "permissive");
  EXPECT_EQ(permissive["tlsHandshakeTimeout"], "10s");

  nlohmann::json endpoints;
  for (const auto& cluster : dump["clusters"]) {
    if (cluster["name"] == "front/mesh:80") endpoints = cluster["endpoints"];
  }
  ASSERT_EQ(endpoints.size(), 2u) << dump.dump();
  EXPECT_EQ(endpoints[0]["identity"], "spiffe://trellis.local/ns/front/sa/mesh");
  EXPECT_FALSE(endpoints[1].contains("identity")) << endpoints.dump();
}

// The first yaml block after `marker` in docs/configuration.md.
std::string documentedExample(std::string_view marker) {
  std::ifstream file(TRELLIS_DOCS_DIR "/configuration.md");
  std::stringstream content;
  content << file.rdbuf();
  std::string markdown = content.str();
  size_t section = markdown.find(marker);
  if (section == std::string::npos) return "";
  size_t start = markdown.find("```yaml\n", section);
  if (start == std::string::npos) return "";
  start += 8;
  return markdown.substr(start, markdown.find("```", start) - start);
}

TEST(PeerAuthenticationTest, DocumentedExamplesLoad) {
  std::string policies = documentedExample("\n## PeerAuthentication\n");
  std::string listener = documentedExample("A listener in front of one Service's instances");
  ASSERT_NE(policies.find("kind: PeerAuthentication"), std::string::npos);
  ASSERT_NE(listener.find("service: billing"), std::string::npos);
  LoadResult result = load(std::string(kBase) + policies + "---\n" + listener);
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty()) << describe(result);
  const Listener& inbound = listenerNamed(result, "shop/inbound");
  EXPECT_EQ(inbound.service, "shop/billing");
  EXPECT_EQ(inbound.mtls, MtlsMode::Strict);
  EXPECT_EQ(inbound.tlsHandshakeTimeout, Duration(5000));
  // ledger's PERMISSIVE comes from the namespace policy, not from the default.
  Diagnostics diagnostics{"configuration.md"};
  Resources resources;
  parseDocuments(policies, diagnostics, resources);
  ResolvedMtls ledger = resolvePeerAuthentication(resources.peerAuthentications, "shop/ledger");
  EXPECT_EQ(ledger.mode, MtlsMode::Permissive);
  ASSERT_NE(ledger.policy, nullptr);
  EXPECT_EQ(ledger.policy->meta.qualifiedName(), "shop/default");
}

}  // namespace
}  // namespace trellis::config
