#include "proxy/proxy_stats.h"

namespace trellis::proxy {

std::string_view localReasonName(LocalReason reason) {
  switch (reason) {
    case LocalReason::RouteNotFound:
      return "route_not_found";
    case LocalReason::NoBackend:
      return "no_backend";
    case LocalReason::NoHealthyEndpoint:
      return "no_healthy_endpoint";
    case LocalReason::UpstreamConnectFailure:
      return "upstream_connect_failure";
    case LocalReason::UpstreamConnectTimeout:
      return "upstream_connect_timeout";
    case LocalReason::UpstreamReset:
      return "upstream_reset";
    case LocalReason::UpstreamBadResponse:
      return "upstream_bad_response";
    case LocalReason::RequestBodyTooLarge:
      return "request_body_too_large";
    case LocalReason::RequestHeaderTimeout:
      return "request_header_timeout";
    case LocalReason::Redirect:
      return "redirect";
    case LocalReason::BadRequest:
      return "bad_request";
    case LocalReason::Draining:
      return "draining";
    case LocalReason::DeadlineExceeded:
      return "deadline_exceeded";
    case LocalReason::UpstreamRequestTimeout:
      return "upstream_request_timeout";
    case LocalReason::UpstreamPerTryTimeout:
      return "upstream_per_try_timeout";
    case LocalReason::UpstreamOverflow:
      return "upstream_overflow";
    case LocalReason::RateLimited:
      return "rate_limited";
    case LocalReason::FaultAbort:
      return "fault_abort";
    case LocalReason::StreamIdleTimeout:
      return "stream_idle_timeout";
    case LocalReason::RbacDenied:
      return "rbac_denied";
    case LocalReason::UpstreamTlsFailure:
      return "upstream_tls_failure";
    case LocalReason::MtlsRequired:
      return "mtls_required";
    case LocalReason::kCount:
      break;
  }
  return "unknown";
}

std::string_view tlsFailureName(TlsFailure failure) {
  switch (failure) {
    case TlsFailure::PlaintextRefused:
      return "plaintext_refused";
    case TlsFailure::Protocol:
      return "protocol";
    case TlsFailure::NoPeerCertificate:
      return "no_peer_certificate";
    case TlsFailure::UntrustedCertificate:
      return "untrusted_certificate";
    case TlsFailure::ExpiredCertificate:
      return "expired_certificate";
    case TlsFailure::WrongIdentity:
      return "wrong_identity";
    case TlsFailure::Timeout:
      return "timeout";
    case TlsFailure::ConnectionClosed:
      return "connection_closed";
    case TlsFailure::kCount:
      break;
  }
  return "unknown";
}

RequestStats& WorkerStats::request(const RequestKey& key) {
  std::lock_guard lock(mutex_);
  auto& slot = requests_[key];
  if (!slot) slot = std::make_unique<RequestStats>();
  return *slot;
}

ListenerStats& WorkerStats::listener(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = listeners_[name];
  if (!slot) slot = std::make_unique<ListenerStats>();
  return *slot;
}

upstream::ClusterStats& WorkerStats::cluster(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = clusters_[name];
  if (!slot) slot = std::make_unique<upstream::ClusterStats>();
  return *slot;
}

AuthzStats& WorkerStats::authz(const std::string& listener, const std::string& policy) {
  std::lock_guard lock(mutex_);
  auto& slot = authz_[{listener, policy}];
  if (!slot) slot = std::make_unique<AuthzStats>();
  return *slot;
}

}  // namespace trellis::proxy
