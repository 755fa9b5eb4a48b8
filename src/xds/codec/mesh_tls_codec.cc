// Mutual TLS between mesh proxies in xDS, the way Istio writes it, so that Envoy sidecars and
// Trellis proxies read the same resources:
//
// Inbound (a listener whose mtls mode is not DISABLE): the tls_inspector listener filter first;
// every filter chain of the plaintext listener is sent as a copy matching transport_protocol
// "tls" with a DownstreamTlsContext (client certificate required, TLS 1.3 only, the workload
// certificate as SDS secret "default", the trust bundle as SDS secret "ROOTCA") and
// transport_socket_connect_timeout = tlsHandshakeTimeout. PERMISSIVE adds the plaintext chains
// again, matching transport_protocol "raw_buffer"; an AUTO listener's TCP default chain gets a
// TLS copy among the filter chains and stays the plaintext default. STRICT sends no plaintext
// chain, and the default chain (AUTO) carries the TLS socket itself.
//
// Outbound (a cluster with endpoints that have an identity): transport_socket_matches
// "tlsMode-trellis" (endpoint metadata envoy.transport_socket_match {tlsMode: trellis}: an
// UpstreamTlsContext with the expected SPIFFE IDs as match_typed_subject_alt_names, ALPN by the
// cluster's protocol) and "tlsMode-disabled" (raw_buffer) for the others; each such endpoint also
// carries its own identity in metadata["trellis.dev"].identity, which decode checks against the
// cluster's list.

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <set>

#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "tls/tls_context.h"
#include "xds/codec/internal.h"
#include "xds/codec/trellis_metadata.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::core::v3::TransportSocket;
using envoy::config::listener::v3::FilterChain;
using envoy::config::listener::v3::Listener;
using envoy::extensions::transport_sockets::tls::v3::CommonTlsContext;
using envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
using envoy::extensions::transport_sockets::tls::v3::SdsSecretConfig;
using envoy::extensions::transport_sockets::tls::v3::SubjectAltNameMatcher;
using envoy::extensions::transport_sockets::tls::v3::TlsParameters;
using envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext;

constexpr std::string_view kTlsInspectorFilter = "envoy.filters.listener.tls_inspector";
constexpr std::string_view kTlsInspectorType =
    "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";
constexpr std::string_view kTlsSocket = "envoy.transport_sockets.tls";
constexpr std::string_view kRawBufferSocket = "envoy.transport_sockets.raw_buffer";
constexpr std::string_view kRawBufferType =
    "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";
constexpr std::string_view kTlsMatchName = "tlsMode-trellis";
constexpr std::string_view kPlainMatchName = "tlsMode-disabled";
constexpr std::string_view kTlsModeKey = "tlsMode";
constexpr std::string_view kTlsModeValue = "trellis";

void setSdsSecret(SdsSecretConfig& secret, std::string_view name) {
  secret.set_name(std::string(name));
  secret.mutable_sds_config()->mutable_ads();
  secret.mutable_sds_config()->set_resource_api_version(envoy::config::core::v3::V3);
}

// Workload certificate and trust bundle by SDS, TLS 1.3 only, `sans` the identities accepted
// (empty: any the bundle vouches for).
CommonTlsContext commonContext(const std::vector<std::string>& sans,
                               std::initializer_list<std::string_view> alpn) {
  CommonTlsContext common;
  common.mutable_tls_params()->set_tls_minimum_protocol_version(TlsParameters::TLSv1_3);
  common.mutable_tls_params()->set_tls_maximum_protocol_version(TlsParameters::TLSv1_3);
  setSdsSecret(*common.add_tls_certificate_sds_secret_configs(), kWorkloadSecret);
  auto* validation = common.mutable_combined_validation_context();
  auto* defaults = validation->mutable_default_validation_context();
  for (const std::string& san : sans) {
    auto* matcher = defaults->add_match_typed_subject_alt_names();
    matcher->set_san_type(SubjectAltNameMatcher::URI);
    matcher->mutable_matcher()->set_exact(san);
  }
  setSdsSecret(*validation->mutable_validation_context_sds_secret_config(), kTrustBundleSecret);
  for (std::string_view protocol : alpn) common.add_alpn_protocols(std::string(protocol));
  return common;
}

TransportSocket downstreamSocket() {
  DownstreamTlsContext context;
  context.mutable_require_client_certificate()->set_value(true);
  *context.mutable_common_tls_context() =
      commonContext({}, {tls::kAlpnH2, tls::kAlpnHttp11, tls::kAlpnMeshTcp});
  TransportSocket socket;
  socket.set_name(std::string(kTlsSocket));
  socket.mutable_typed_config()->PackFrom(context);
  return socket;
}

FilterChain withTls(FilterChain chain, const TransportSocket& socket, config::Duration timeout,
                    bool matchTls) {
  if (matchTls) chain.mutable_filter_chain_match()->set_transport_protocol("tls");
  *chain.mutable_transport_socket() = socket;
  setDuration(chain.mutable_transport_socket_connect_timeout(), timeout);
  return chain;
}

bool sdsSecret(const SdsSecretConfig& secret, std::string_view name, Problems& problems,
               const std::string& path) {
  if (!onlyFields(secret, {"name", "sds_config"}, problems, path) ||
      !onlyFields(secret.sds_config(), {"ads", "resource_api_version"}, problems,
                  path + ".sds_config")) {
    return false;
  }
  if (secret.name() != name) {
    return problems.fail(path + ".name", "must be " + quote(name) + " (the mesh's SDS secret)");
  }
  if (!secret.sds_config().has_ads()) {
    return problems.fail(path + ".sds_config", "must be ads (SDS over ADS)");
  }
  return true;
}

// The mesh's CommonTlsContext; the accepted SPIFFE IDs go to `sans`.
bool decodeCommon(const CommonTlsContext& common, Problems& problems, const std::string& path,
                  std::vector<std::string>& sans) {
  if (!onlyFields(common,
                  {"tls_params", "tls_certificate_sds_secret_configs",
                   "combined_validation_context", "alpn_protocols"},
                  problems, path)) {
    return false;
  }
  const TlsParameters& params = common.tls_params();
  if (!onlyFields(params, {"tls_minimum_protocol_version", "tls_maximum_protocol_version"},
                  problems, path + ".tls_params")) {
    return false;
  }
  if (params.tls_minimum_protocol_version() != TlsParameters::TLSv1_3) {
    return problems.fail(path + ".tls_params.tls_minimum_protocol_version",
                         "must be TLSv1_3 (the mesh speaks TLS 1.3 only)");
  }
  if (common.tls_certificate_sds_secret_configs_size() != 1) {
    return problems.fail(path + ".tls_certificate_sds_secret_configs",
                         "expected exactly one (SDS secret \"default\")");
  }
  if (!sdsSecret(common.tls_certificate_sds_secret_configs(0), kWorkloadSecret, problems,
                 path + ".tls_certificate_sds_secret_configs[0]")) {
    return false;
  }
  const std::string validationPath = path + ".combined_validation_context";
  const auto& validation = common.combined_validation_context();
  if (!common.has_combined_validation_context()) {
    return problems.fail(validationPath, "missing (the trust bundle, SDS secret \"ROOTCA\")");
  }
  if (!onlyFields(validation,
                  {"default_validation_context", "validation_context_sds_secret_config"}, problems,
                  validationPath) ||
      !sdsSecret(validation.validation_context_sds_secret_config(), kTrustBundleSecret, problems,
                 validationPath + ".validation_context_sds_secret_config")) {
    return false;
  }
  const auto& defaults = validation.default_validation_context();
  const std::string defaultsPath = validationPath + ".default_validation_context";
  if (!onlyFields(defaults, {"match_typed_subject_alt_names"}, problems, defaultsPath)) {
    return false;
  }
  for (int i = 0; i < defaults.match_typed_subject_alt_names_size(); ++i) {
    const auto& san = defaults.match_typed_subject_alt_names(i);
    const std::string sanPath =
        fieldPath(defaultsPath, "match_typed_subject_alt_names", static_cast<size_t>(i));
    if (san.san_type() != SubjectAltNameMatcher::URI) {
      return problems.fail(sanPath + ".san_type", "must be URI (a SPIFFE ID)");
    }
    if (!onlyFields(san.matcher(), {"exact"}, problems, sanPath + ".matcher") ||
        san.matcher().exact().empty()) {
      return problems.fail(sanPath + ".matcher", "expected an exact SPIFFE ID");
    }
    sans.push_back(san.matcher().exact());
  }
  return true;
}

bool decodeDownstreamSocket(const TransportSocket& socket, Problems& problems,
                            const std::string& path) {
  if (!onlyFields(socket, {"name", "typed_config"}, problems, path)) return false;
  DownstreamTlsContext context;
  if (!socket.typed_config().Is<DownstreamTlsContext>()) {
    return problems.fail(path + ".typed_config",
                         "expected a DownstreamTlsContext (" + std::string(kTlsSocket) + ")");
  }
  if (!unpack(socket.typed_config(), context, problems, path + ".typed_config") ||
      !onlyFields(context, {"require_client_certificate", "common_tls_context"}, problems,
                  path + ".typed_config")) {
    return false;
  }
  if (!context.require_client_certificate().value()) {
    return problems.fail(path + ".typed_config.require_client_certificate",
                         "must be true (mutual TLS)");
  }
  std::vector<std::string> sans;
  if (!decodeCommon(context.common_tls_context(), problems,
                    path + ".typed_config.common_tls_context", sans)) {
    return false;
  }
  if (!sans.empty()) {
    return problems.fail(path + ".typed_config.common_tls_context.combined_validation_context",
                         "a server accepts every identity of the trust bundle (authorization "
                         "policies decide who may call): match_typed_subject_alt_names is "
                         "unsupported here");
  }
  return true;
}

// Strips the TLS fields of one filter chain after checking them: `tls` says which kind it was.
bool stripChain(FilterChain& chain, bool requireMatch, Problems& problems, const std::string& path,
                bool& tls, std::optional<config::Duration>& timeout) {
  const std::string& transport = chain.filter_chain_match().transport_protocol();
  if (chain.has_transport_socket()) {
    if (!transport.empty() && transport != "tls") {
      return problems.fail(path + ".filter_chain_match.transport_protocol",
                           "must be \"tls\" on a chain with a TLS transport socket");
    }
    if (!decodeDownstreamSocket(chain.transport_socket(), problems, path + ".transport_socket")) {
      return false;
    }
    if (chain.has_transport_socket_connect_timeout()) {
      auto value = toDuration(chain.transport_socket_connect_timeout(), problems,
                              path + ".transport_socket_connect_timeout");
      if (!value) return false;
      if (timeout && *timeout != *value) {
        return problems.fail(path + ".transport_socket_connect_timeout",
                             "differs between the listener's TLS chains");
      }
      timeout = value;
    }
    tls = true;
  } else {
    if (chain.has_transport_socket_connect_timeout()) {
      return problems.fail(path + ".transport_socket_connect_timeout",
                           "only with a TLS transport socket");
    }
    if (transport != "raw_buffer" && (requireMatch || !transport.empty())) {
      return problems.fail(path + ".filter_chain_match.transport_protocol",
                           "must be \"raw_buffer\" on a plaintext chain next to the "
                           "tls_inspector");
    }
    tls = false;
  }
  if (requireMatch && chain.has_transport_socket() && transport.empty()) {
    return problems.fail(path + ".filter_chain_match.transport_protocol", "must be \"tls\"");
  }
  chain.clear_transport_socket();
  chain.clear_transport_socket_connect_timeout();
  if (chain.has_filter_chain_match()) {
    chain.mutable_filter_chain_match()->clear_transport_protocol();
    if (chain.filter_chain_match().ByteSizeLong() == 0) chain.clear_filter_chain_match();
  }
  return true;
}

bool sameChain(const FilterChain& a, const FilterChain& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

}  // namespace

void encodeInboundMtls(const config::Listener& listener, Listener& out) {
  if (listener.mtls == config::MtlsMode::Disable) return;
  auto* inspector = out.add_listener_filters();
  inspector->set_name(std::string(kTlsInspectorFilter));
  // TlsInspector has no fields: its serialization is empty.
  inspector->mutable_typed_config()->set_type_url(std::string(kTlsInspectorType));
  for (int i = out.listener_filters_size() - 1; i > 0; --i) {
    out.mutable_listener_filters()->SwapElements(i, i - 1);  // first: before http_inspector
  }
  const TransportSocket socket = downstreamSocket();
  const auto plain = out.filter_chains();
  out.clear_filter_chains();
  for (const FilterChain& chain : plain) {
    *out.add_filter_chains() = withTls(chain, socket, listener.tlsHandshakeTimeout, true);
  }
  const bool strict = listener.mtls == config::MtlsMode::Strict;
  if (out.has_default_filter_chain()) {
    if (strict) {
      *out.mutable_default_filter_chain() =
          withTls(out.default_filter_chain(), socket, listener.tlsHandshakeTimeout, false);
    } else {
      *out.add_filter_chains() =
          withTls(out.default_filter_chain(), socket, listener.tlsHandshakeTimeout, true);
    }
  }
  if (strict) return;
  for (FilterChain chain : plain) {
    chain.mutable_filter_chain_match()->set_transport_protocol("raw_buffer");
    *out.add_filter_chains() = std::move(chain);
  }
}

bool decodeInboundMtls(const Listener& in, std::optional<Listener>& stripped, Problems& problems,
                       config::Listener& out) {
  if (in.listener_filters().empty() || in.listener_filters(0).name() != kTlsInspectorFilter) {
    return true;  // plaintext: a stray transport socket is an unknown field to the shapes
  }
  Listener& plain = stripped.emplace(in);
  const auto& inspector = in.listener_filters(0);
  if (!onlyFields(inspector, {"name", "typed_config"}, problems, "listener_filters[0]")) {
    return false;
  }
  if (inspector.typed_config().type_url() != kTlsInspectorType ||
      !inspector.typed_config().value().empty()) {
    return problems.fail("listener_filters[0].typed_config",
                         "expected an empty " + std::string(kTlsInspectorType));
  }
  plain.mutable_listener_filters()->DeleteSubrange(0, 1);
  std::vector<FilterChain> tlsChains;
  std::vector<FilterChain> plainChains;
  std::optional<config::Duration> timeout;
  for (int i = 0; i < in.filter_chains_size(); ++i) {
    FilterChain chain = in.filter_chains(i);
    bool tls = false;
    if (!stripChain(chain, true, problems, fieldPath("", "filter_chains", static_cast<size_t>(i)),
                    tls, timeout)) {
      return false;
    }
    (tls ? tlsChains : plainChains).push_back(std::move(chain));
  }
  bool tlsDefault = false;
  if (in.has_default_filter_chain()) {
    FilterChain chain = in.default_filter_chain();
    if (!stripChain(chain, false, problems, "default_filter_chain", tlsDefault, timeout)) {
      return false;
    }
    *plain.mutable_default_filter_chain() = std::move(chain);
  }
  if (tlsChains.empty()) {
    return problems.fail("filter_chains", "no chain matches transport_protocol \"tls\"");
  }
  plain.clear_filter_chains();
  if (plainChains.empty()) {
    if (in.has_default_filter_chain() && !tlsDefault) {
      return problems.fail("default_filter_chain",
                           "plaintext, while no filter chain accepts plaintext: STRICT needs the "
                           "TLS transport socket here, PERMISSIVE raw_buffer chains");
    }
    out.mtls = config::MtlsMode::Strict;
    for (FilterChain& chain : tlsChains) *plain.add_filter_chains() = std::move(chain);
  } else {
    if (tlsDefault) {
      return problems.fail("default_filter_chain.transport_socket",
                           "a PERMISSIVE listener's default chain is plaintext");
    }
    const size_t expected = plainChains.size() + (in.has_default_filter_chain() ? 1 : 0);
    bool mirrors = tlsChains.size() == expected;
    for (size_t i = 0; mirrors && i < plainChains.size(); ++i) {
      mirrors = sameChain(tlsChains[i], plainChains[i]);
    }
    if (mirrors && in.has_default_filter_chain()) {
      mirrors = sameChain(tlsChains.back(), plain.default_filter_chain());
    }
    if (!mirrors) {
      return problems.fail("filter_chains",
                           "PERMISSIVE: the \"tls\" and \"raw_buffer\" chains must carry the same "
                           "filters (and the default chain a TLS twin)");
    }
    out.mtls = config::MtlsMode::Permissive;
    for (FilterChain& chain : plainChains) *plain.add_filter_chains() = std::move(chain);
  }
  if (timeout) out.tlsHandshakeTimeout = *timeout;
  return true;
}

void encodeUpstreamTls(const config::Cluster& cluster, envoy::config::cluster::v3::Cluster& out) {
  std::set<std::string> identities;
  for (const config::Endpoint& endpoint : cluster.endpoints) {
    if (!endpoint.identity.empty()) identities.insert(endpoint.identity);
  }
  if (identities.empty()) return;
  std::string_view alpn = tls::kAlpnHttp11;
  if (cluster.protocol == config::UpstreamProtocol::Http2) alpn = tls::kAlpnH2;
  if (cluster.protocol == config::UpstreamProtocol::Tcp) alpn = tls::kAlpnMeshTcp;
  UpstreamTlsContext context;
  *context.mutable_common_tls_context() =
      commonContext(std::vector<std::string>(identities.begin(), identities.end()), {alpn});
  context.set_sni(cluster.name);
  auto* tlsMatch = out.add_transport_socket_matches();
  tlsMatch->set_name(std::string(kTlsMatchName));
  setString(*tlsMatch->mutable_match(), kTlsModeKey, kTlsModeValue);
  tlsMatch->mutable_transport_socket()->set_name(std::string(kTlsSocket));
  tlsMatch->mutable_transport_socket()->mutable_typed_config()->PackFrom(context);
  auto* plainMatch = out.add_transport_socket_matches();
  plainMatch->set_name(std::string(kPlainMatchName));
  plainMatch->mutable_match();
  plainMatch->mutable_transport_socket()->set_name(std::string(kRawBufferSocket));
  plainMatch->mutable_transport_socket()->mutable_typed_config()->set_type_url(
      std::string(kRawBufferType));
}

bool decodeUpstreamTls(const envoy::config::cluster::v3::Cluster& in, Problems& problems,
                       std::set<std::string>& identities) {
  for (int i = 0; i < in.transport_socket_matches_size(); ++i) {
    const auto& match = in.transport_socket_matches(i);
    const std::string path = fieldPath("", "transport_socket_matches", static_cast<size_t>(i));
    if (!onlyFields(match, {"name", "match", "transport_socket"}, problems, path) ||
        !onlyFields(match.transport_socket(), {"name", "typed_config"}, problems,
                    path + ".transport_socket")) {
      return false;
    }
    const auto& fields = match.match().fields();
    const auto& any = match.transport_socket().typed_config();
    if (fields.empty()) {
      if (any.type_url() != kRawBufferType || !any.value().empty()) {
        return problems.fail(path + ".transport_socket",
                             "the match for other endpoints must be raw_buffer (plaintext)");
      }
      continue;
    }
    auto mode = fields.find(std::string(kTlsModeKey));
    if (fields.size() != 1 || mode == fields.end() ||
        mode->second.string_value() != kTlsModeValue) {
      return problems.fail(path + ".match", "unsupported (expected {tlsMode: \"trellis\"} or {})");
    }
    UpstreamTlsContext context;
    if (!any.Is<UpstreamTlsContext>()) {
      return problems.fail(path + ".transport_socket.typed_config",
                           "expected an UpstreamTlsContext");
    }
    if (!unpack(any, context, problems, path + ".transport_socket.typed_config") ||
        !onlyFields(context, {"common_tls_context", "sni"}, problems,
                    path + ".transport_socket.typed_config")) {
      return false;
    }
    std::vector<std::string> sans;
    if (!decodeCommon(context.common_tls_context(), problems,
                      path + ".transport_socket.typed_config.common_tls_context", sans)) {
      return false;
    }
    if (sans.empty()) {
      return problems.fail(path,
                           "no match_typed_subject_alt_names: the mesh insists on the "
                           "upstream's SPIFFE ID");
    }
    identities.insert(sans.begin(), sans.end());
  }
  return true;
}

void encodeEndpointIdentity(const config::Endpoint& endpoint,
                            envoy::config::endpoint::v3::LbEndpoint& out) {
  if (endpoint.identity.empty()) return;
  auto& filters = *out.mutable_metadata()->mutable_filter_metadata();
  setString(filters[std::string(kTransportSocketMatchMetadata)], kTlsModeKey, kTlsModeValue);
  setString(filters[std::string(kTrellisMetadata)], "identity", endpoint.identity);
}

bool decodeEndpointIdentity(const envoy::config::endpoint::v3::LbEndpoint& in,
                            const std::set<std::string>& identities, Problems& problems,
                            const std::string& path, config::Endpoint& out) {
  if (!in.has_metadata()) return true;
  const auto& filters = in.metadata().filter_metadata();
  for (const auto& entry : filters) {
    if (entry.first != kTransportSocketMatchMetadata && entry.first != kTrellisMetadata) {
      return problems.fail(path + ".metadata.filter_metadata",
                           "unsupported key " + quote(entry.first));
    }
  }
  auto match = filters.find(std::string(kTransportSocketMatchMetadata));
  FieldsReader settings(&in.metadata(), problems, path + ".metadata");
  auto identity = settings.string("identity");
  if (!settings.finish()) return false;
  bool tlsMode = false;
  if (match != filters.end()) {
    const auto& fields = match->second.fields();
    auto mode = fields.find(std::string(kTlsModeKey));
    if (fields.size() != 1 || mode == fields.end() ||
        mode->second.string_value() != kTlsModeValue) {
      return problems.fail(path + ".metadata.filter_metadata[\"" +
                               std::string(kTransportSocketMatchMetadata) + "\"]",
                           "unsupported (expected {tlsMode: \"trellis\"})");
    }
    tlsMode = true;
  }
  if (tlsMode != identity.has_value()) {
    return problems.fail(path + ".metadata",
                         "tlsMode \"trellis\" and trellis.dev identity go together");
  }
  if (!identity) return true;
  if (identities.count(*identity) == 0) {
    return problems.fail(path + ".metadata", "identity " + quote(*identity) +
                                                 " is not among the cluster's "
                                                 "match_typed_subject_alt_names");
  }
  out.identity = *identity;
  return true;
}

}  // namespace trellis::xds::detail
