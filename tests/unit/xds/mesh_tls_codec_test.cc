// Mutual TLS in xDS (mesh_tls_codec.cc, trust_bundle.cc): the Istio-shaped resources encode
// writes, what decode reads back from them, and the precise errors for shapes it refuses. The
// round trip of every listener shape and mode is in codec_round_trip_test (corpus
// mutual_tls.yaml).

#include <gtest/gtest.h>

#include <string>

#include "config/loader.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "xds/codec/codec.h"

namespace trellis::xds {
namespace {

using envoy::config::listener::v3::Listener;
using envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
using envoy::extensions::transport_sockets::tls::v3::TlsParameters;
using envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext;

constexpr const char* kMesh = R"(
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: billing, namespace: shop}
spec:
  ports: [{port: 8080}]
  endpoints:
  - {address: 10.0.0.1, identity: "spiffe://trellis.local/ns/shop/sa/billing"}
  - {address: 10.0.0.2}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: strict, namespace: shop}
spec: {port: 15006, service: billing, tlsHandshakeTimeout: 2s}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: open, namespace: shop}
spec: {port: 15007, service: checkout}
---
apiVersion: trellis.dev/v1alpha1
kind: Listener
metadata: {name: plain, namespace: shop}
spec: {port: 15008}
---
apiVersion: trellis.dev/v1alpha1
kind: Service
metadata: {name: checkout, namespace: shop}
spec: {ports: [{port: 80}], endpoints: [{address: 10.0.1.1}]}
---
apiVersion: trellis.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: billing, namespace: shop}
spec: {targetRefs: [{kind: Service, name: billing}], mtls: {mode: STRICT}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs:
  - {group: trellis.dev, kind: Listener, name: strict}
  - {group: trellis.dev, kind: Listener, name: open}
  - {group: trellis.dev, kind: Listener, name: plain}
  rules:
  - backendRefs: [{name: billing, port: 8080}]
)";

class MeshTlsCodec : public ::testing::Test {
 protected:
  void SetUp() override {
    config::LoadResult loaded = config::loadString(kMesh, "mesh.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.errors.front().toString();
    resources_ = encode(*loaded.snapshot);
    ASSERT_EQ(resources_.listeners.size(), 3u);
  }

  Listener& listener(const std::string& name) {
    for (Listener& l : resources_.listeners) {
      if (l.name() == name) return l;
    }
    ADD_FAILURE() << "no listener " << name;
    return resources_.listeners.front();
  }
  envoy::config::cluster::v3::Cluster& billing() {
    for (auto& c : resources_.clusters) {
      if (c.name() == "shop/billing:8080") return c;
    }
    ADD_FAILURE() << "no billing cluster";
    return resources_.clusters.front();
  }
  envoy::config::endpoint::v3::LbEndpoint& billingEndpoint(int index) {
    for (auto& assignment : resources_.endpoints) {
      if (assignment.cluster_name() == "shop/billing:8080") {
        return *assignment.mutable_endpoints(0)->mutable_lb_endpoints(index);
      }
    }
    ADD_FAILURE() << "no billing endpoints";
    return *resources_.endpoints.front().mutable_endpoints(0)->mutable_lb_endpoints(0);
  }

  DownstreamTlsContext downstream(const Listener& l, int chain) {
    DownstreamTlsContext context;
    EXPECT_TRUE(l.filter_chains(chain).transport_socket().typed_config().UnpackTo(&context));
    return context;
  }
  void setDownstream(Listener& l, int chain, const DownstreamTlsContext& context) {
    l.mutable_filter_chains(chain)->mutable_transport_socket()->mutable_typed_config()->PackFrom(
        context);
  }

  std::string error() {
    DecodeResult result = decode(resources_);
    EXPECT_EQ(result.snapshot, nullptr);
    return result.error;
  }

  Resources resources_;
};

TEST_F(MeshTlsCodec, StrictListenerHasOnlyTlsChains) {
  const Listener& strict = listener("shop/strict");
  ASSERT_EQ(strict.listener_filters_size(), 1);
  EXPECT_EQ(strict.listener_filters(0).name(), "envoy.filters.listener.tls_inspector");
  ASSERT_EQ(strict.filter_chains_size(), 1);
  EXPECT_EQ(strict.filter_chains(0).filter_chain_match().transport_protocol(), "tls");
  EXPECT_EQ(strict.filter_chains(0).transport_socket_connect_timeout().seconds(), 2);
  DownstreamTlsContext context = downstream(strict, 0);
  EXPECT_TRUE(context.require_client_certificate().value());
  const auto& common = context.common_tls_context();
  EXPECT_EQ(common.tls_params().tls_minimum_protocol_version(), TlsParameters::TLSv1_3);
  EXPECT_EQ(common.tls_certificate_sds_secret_configs(0).name(), "default");
  EXPECT_EQ(common.combined_validation_context().validation_context_sds_secret_config().name(),
            "ROOTCA");
}

TEST_F(MeshTlsCodec, PermissiveListenerHasTlsAndPlaintextTwins) {
  const Listener& open = listener("shop/open");
  ASSERT_EQ(open.filter_chains_size(), 2);
  EXPECT_EQ(open.filter_chains(0).filter_chain_match().transport_protocol(), "tls");
  EXPECT_EQ(open.filter_chains(1).filter_chain_match().transport_protocol(), "raw_buffer");
  EXPECT_FALSE(open.filter_chains(1).has_transport_socket());
}

TEST_F(MeshTlsCodec, ListenerWithoutServiceStaysPlaintext) {
  const Listener& plain = listener("shop/plain");
  EXPECT_EQ(plain.listener_filters_size(), 0);
  ASSERT_EQ(plain.filter_chains_size(), 1);
  EXPECT_FALSE(plain.filter_chains(0).has_transport_socket());
}

TEST_F(MeshTlsCodec, DecodesModesTimeoutServiceAndIdentities) {
  DecodeResult result = decode(resources_);
  ASSERT_NE(result.snapshot, nullptr) << result.error;
  std::map<std::string, const config::Listener*> byName;
  for (const auto& l : result.snapshot->listeners) byName[l.name] = &l;
  EXPECT_EQ(byName.at("shop/strict")->mtls, config::MtlsMode::Strict);
  EXPECT_EQ(byName.at("shop/strict")->tlsHandshakeTimeout, config::Duration(2000));
  EXPECT_EQ(byName.at("shop/strict")->service, "shop/billing");
  EXPECT_EQ(byName.at("shop/open")->mtls, config::MtlsMode::Permissive);
  EXPECT_EQ(byName.at("shop/plain")->mtls, config::MtlsMode::Disable);
  const config::Cluster& cluster = result.snapshot->clusters.at("shop/billing:8080");
  ASSERT_EQ(cluster.endpoints.size(), 2u);
  EXPECT_EQ(cluster.endpoints[0].identity, "spiffe://trellis.local/ns/shop/sa/billing");
  EXPECT_EQ(cluster.endpoints[1].identity, "");
}

TEST_F(MeshTlsCodec, ClusterExpectsTheEndpointsIdentities) {
  ASSERT_EQ(billing().transport_socket_matches_size(), 2);
  const auto& tls = billing().transport_socket_matches(0);
  EXPECT_EQ(tls.match().fields().at("tlsMode").string_value(), "trellis");
  UpstreamTlsContext context;
  ASSERT_TRUE(tls.transport_socket().typed_config().UnpackTo(&context));
  const auto& sans =
      context.common_tls_context().combined_validation_context().default_validation_context();
  ASSERT_EQ(sans.match_typed_subject_alt_names_size(), 1);
  EXPECT_EQ(sans.match_typed_subject_alt_names(0).matcher().exact(),
            "spiffe://trellis.local/ns/shop/sa/billing");
  EXPECT_EQ(context.common_tls_context().alpn_protocols(0), "http/1.1");
  EXPECT_EQ(billing().transport_socket_matches(1).transport_socket().name(),
            "envoy.transport_sockets.raw_buffer");
  EXPECT_EQ(billingEndpoint(0)
                .metadata()
                .filter_metadata()
                .at("envoy.transport_socket_match")
                .fields()
                .at("tlsMode")
                .string_value(),
            "trellis");
  EXPECT_FALSE(billingEndpoint(1).has_metadata());
}

TEST_F(MeshTlsCodec, RefusesServerWithoutClientCertificates) {
  Listener& strict = listener("shop/strict");
  DownstreamTlsContext context = downstream(strict, 0);
  context.mutable_require_client_certificate()->set_value(false);
  setDownstream(strict, 0, context);
  EXPECT_EQ(error(),
            "Listener \"shop/strict\": filter_chains[0].transport_socket.typed_config."
            "require_client_certificate: must be true (mutual TLS)");
}

TEST_F(MeshTlsCodec, RefusesTlsBelow13) {
  Listener& strict = listener("shop/strict");
  DownstreamTlsContext context = downstream(strict, 0);
  context.mutable_common_tls_context()->mutable_tls_params()->set_tls_minimum_protocol_version(
      TlsParameters::TLSv1_2);
  setDownstream(strict, 0, context);
  EXPECT_EQ(error(),
            "Listener \"shop/strict\": filter_chains[0].transport_socket.typed_config."
            "common_tls_context.tls_params.tls_minimum_protocol_version: must be TLSv1_3 (the "
            "mesh speaks TLS 1.3 only)");
}

TEST_F(MeshTlsCodec, RefusesAnotherCertificateSecret) {
  Listener& strict = listener("shop/strict");
  DownstreamTlsContext context = downstream(strict, 0);
  context.mutable_common_tls_context()->mutable_tls_certificate_sds_secret_configs(0)->set_name(
      "file-cert");
  setDownstream(strict, 0, context);
  EXPECT_EQ(error(),
            "Listener \"shop/strict\": filter_chains[0].transport_socket.typed_config."
            "common_tls_context.tls_certificate_sds_secret_configs[0].name: must be \"default\" "
            "(the mesh's SDS secret)");
}

TEST_F(MeshTlsCodec, RefusesPermissiveChainsThatDiffer) {
  Listener& open = listener("shop/open");
  open.mutable_filter_chains(1)->set_name("other");
  EXPECT_EQ(error(),
            "Listener \"shop/open\": filter_chains: PERMISSIVE: the \"tls\" and \"raw_buffer\" "
            "chains must carry the same filters (and the default chain a TLS twin)");
}

TEST_F(MeshTlsCodec, RefusesPlaintextChainWithoutTransportMatch) {
  Listener& open = listener("shop/open");
  open.mutable_filter_chains(1)->clear_filter_chain_match();
  EXPECT_EQ(error(),
            "Listener \"shop/open\": filter_chains[1].filter_chain_match.transport_protocol: "
            "must be \"raw_buffer\" on a plaintext chain next to the tls_inspector");
}

TEST_F(MeshTlsCodec, RefusesTransportSocketWithoutInspector) {
  Listener& strict = listener("shop/strict");
  strict.clear_listener_filters();
  EXPECT_EQ(error(), "Listener \"shop/strict\": filter_chains[0]: unsupported filter_chain_match");
}

TEST_F(MeshTlsCodec, RefusesEndpointIdentityTheClusterDoesNotExpect) {
  auto& fields = *(*billingEndpoint(0).mutable_metadata()->mutable_filter_metadata())["trellis.dev"]
                      .mutable_fields();
  fields["identity"].set_string_value("spiffe://trellis.local/ns/shop/sa/mallory");
  EXPECT_EQ(error(),
            "ClusterLoadAssignment \"shop/billing:8080\": endpoints[0].lb_endpoints[0].metadata: "
            "identity \"spiffe://trellis.local/ns/shop/sa/mallory\" is not among the cluster's "
            "match_typed_subject_alt_names");
}

TEST_F(MeshTlsCodec, RefusesTlsModeWithoutIdentity) {
  billingEndpoint(0).mutable_metadata()->mutable_filter_metadata()->erase("trellis.dev");
  EXPECT_EQ(error(),
            "ClusterLoadAssignment \"shop/billing:8080\": endpoints[0].lb_endpoints[0].metadata: "
            "tlsMode \"trellis\" and trellis.dev identity go together");
}

TEST_F(MeshTlsCodec, RefusesUpstreamTlsWithoutExpectedIdentity) {
  auto* match = billing().mutable_transport_socket_matches(0);
  UpstreamTlsContext context;
  ASSERT_TRUE(match->transport_socket().typed_config().UnpackTo(&context));
  context.mutable_common_tls_context()
      ->mutable_combined_validation_context()
      ->mutable_default_validation_context()
      ->clear_match_typed_subject_alt_names();
  match->mutable_transport_socket()->mutable_typed_config()->PackFrom(context);
  EXPECT_EQ(error(),
            "Cluster \"shop/billing:8080\": transport_socket_matches[0]: no "
            "match_typed_subject_alt_names: the mesh insists on the upstream's SPIFFE ID");
}

TEST(TrustBundle, RoundTrip) {
  const std::string pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  auto secret = encodeTrustBundle(pem);
  EXPECT_EQ(secret.name(), "ROOTCA");
  std::string error;
  auto decoded = decodeTrustBundle(secret, error);
  ASSERT_TRUE(decoded) << error;
  EXPECT_EQ(*decoded, pem);
}

TEST(TrustBundle, RefusesOtherSecrets) {
  auto secret = encodeTrustBundle("pem");
  secret.set_name("default");
  std::string error;
  EXPECT_FALSE(decodeTrustBundle(secret, error));
  EXPECT_EQ(error,
            "Secret \"default\": name: unexpected secret (only \"ROOTCA\" is sent to a Trellis "
            "proxy)");
  secret = encodeTrustBundle("pem");
  secret.mutable_tls_certificate()->mutable_private_key()->set_inline_string("key");
  EXPECT_FALSE(decodeTrustBundle(secret, error));
  EXPECT_EQ(error, "Secret \"ROOTCA\": unsupported tls_certificate");
  secret = encodeTrustBundle("");
  EXPECT_FALSE(decodeTrustBundle(secret, error));
  EXPECT_EQ(error,
            "Secret \"ROOTCA\": validation_context.trusted_ca: expected the roots' PEM inline");
}

}  // namespace
}  // namespace trellis::xds
