#include "proxy/metrics.h"

#include <fmt/format.h>

#include <map>
#include <utility>
#include <vector>

namespace trellis::proxy {
namespace {

using Labels = std::string;

/// A metric family's samples in first-seen order (histogram buckets must stay in `le` order),
/// with an index so that the same series from several worker shards is summed.
struct Family {
  std::string help;
  std::string type;
  std::vector<std::pair<Labels, double>> samples;
  std::map<Labels, size_t> index;
};

class Exposition {
 public:
  void add(const std::string& name, const char* type, const char* help, const Labels& labels,
           double value) {
    Family& family = families_[name];
    if (family.type.empty()) {
      family.type = type;
      family.help = help;
    }
    auto [it, inserted] = family.index.emplace(labels, family.samples.size());
    if (inserted) {
      family.samples.emplace_back(labels, value);
    } else {
      family.samples[it->second].second += value;
    }
  }
  std::string render() const {
    std::string out;
    for (const auto& [name, family] : families_) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, family.help, name, family.type);
      for (const auto& [labels, value] : family.samples) {
        std::string sampleName = name;
        std::string sampleLabels = labels;
        // Histogram series carry their suffix in front of the labels, separated by '|'.
        if (auto bar = labels.find('|'); bar != std::string::npos) {
          sampleName += labels.substr(0, bar);
          sampleLabels = labels.substr(bar + 1);
        }
        out += sampleName;
        if (!sampleLabels.empty()) out += "{" + sampleLabels + "}";
        out += fmt::format(" {}\n", value);
      }
    }
    return out;
  }

 private:
  std::map<std::string, Family> families_;
};

std::string label(const char* name, const std::string& value) {
  return fmt::format("{}=\"{}\"", name, escapeLabelValue(value));
}

constexpr const char* kClasses[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

std::string formatBound(double ms) {
  return fmt::format("{}", ms / 1000.0);
}

void addHttp2(Exposition& e, const char* direction, const Http2ProxyStats& s) {
  const std::string l = label("direction", direction);
  e.add("trellis_http2_connections_active", "gauge", "Open HTTP/2 connections.", l,
        static_cast<double>(s.connectionsActive.value()));
  e.add("trellis_http2_streams_total", "counter", "HTTP/2 streams carried.", l,
        static_cast<double>(s.streamsTotal.value()));
  e.add("trellis_http2_streams_active", "gauge", "HTTP/2 streams open.", l,
        static_cast<double>(s.streamsActive.value()));
  const http2::Http2Stats& c = s.codec;
  struct Defence {
    const char* name;
    const char* help;
    uint64_t value;
  };
  const Defence defences[] = {
      {"trellis_http2_invalid_headers_total",
       "Streams reset for header fields RFC 9113 section 8 forbids.", c.invalidHeaders.value()},
      {"trellis_http2_connection_headers_total",
       "Streams reset for a connection-specific header or a te other than trailers.",
       c.connectionHeaders.value()},
      {"trellis_http2_header_list_too_large_total",
       "Streams reset for a header list over maxHeaderListSize.", c.headerListTooLarge.value()},
      {"trellis_http2_hpack_bombs_total",
       "Connections closed for a header block decoding far over the limit.", c.hpackBombs.value()},
      {"trellis_http2_rapid_resets_total", "Connections closed for rapid stream resets.",
       c.rapidResets.value()},
      {"trellis_http2_continuation_floods_total",
       "Connections closed for too many CONTINUATION frames.", c.continuationFloods.value()},
      {"trellis_http2_control_floods_total",
       "Connections closed for SETTINGS, PING or other control frame floods.",
       c.controlFloods.value()},
      {"trellis_http2_protocol_errors_total", "Other HTTP/2 protocol errors from the peer.",
       c.protocolErrors.value()},
      {"trellis_http2_bad_preface_total", "Connections without a valid HTTP/2 preface.",
       c.badPreface.value()},
      {"trellis_http2_window_stalls_total",
       "Connections closed because the peer kept its flow-control windows shut.",
       s.windowStalls.value()},
  };
  for (const Defence& d : defences) {
    e.add(d.name, "counter", d.help, l, static_cast<double>(d.value));
  }
  auto byCode = [&](const char* name, const char* help, const char* side, const auto& counters) {
    for (size_t code = 0; code < counters.size(); ++code) {
      uint64_t v = counters[code].value();
      if (v == 0) continue;
      e.add(name, "counter", help,
            l + "," + label("side", side) + "," +
                label("code", std::string(http2::errorCodeName(static_cast<uint32_t>(code)))),
            static_cast<double>(v));
    }
  };
  const char* resetHelp = "RST_STREAM frames by side and error code.";
  byCode("trellis_http2_resets_total", resetHelp, "sent", c.resetsSent);
  byCode("trellis_http2_resets_total", resetHelp, "received", c.resetsReceived);
  const char* goawayHelp = "GOAWAY frames by side and error code.";
  byCode("trellis_http2_goaway_total", goawayHelp, "sent", c.goawaysSent);
  byCode("trellis_http2_goaway_total", goawayHelp, "received", c.goawaysReceived);
}

void addTls(Exposition& e, const TlsStats& s) {
  const char* handshakes = "trellis_tls_handshakes_total";
  const char* handshakesHelp = "Completed mutual TLS handshakes by side and session resumption.";
  struct Side {
    const char* name;
    const Counter& total;
    const Counter& resumed;
    const std::array<Counter, static_cast<size_t>(TlsFailure::kCount)>& failures;
  };
  const Side sides[] = {
      {"downstream", s.downstreamHandshakes, s.downstreamResumed, s.downstreamFailures},
      {"upstream", s.upstreamHandshakes, s.upstreamResumed, s.upstreamFailures},
  };
  for (const Side& side : sides) {
    const std::string l = label("side", side.name);
    const uint64_t resumed = side.resumed.value();
    const uint64_t total = side.total.value();
    e.add(handshakes, "counter", handshakesHelp, l + "," + label("resumed", "false"),
          static_cast<double>(total >= resumed ? total - resumed : 0));
    e.add(handshakes, "counter", handshakesHelp, l + "," + label("resumed", "true"),
          static_cast<double>(resumed));
    for (size_t i = 0; i < side.failures.size(); ++i) {
      const uint64_t v = side.failures[i].value();
      if (v == 0) continue;
      e.add("trellis_tls_handshake_failures_total", "counter",
            "Refused or failed mutual TLS handshakes by side and reason.",
            l + "," + label("reason", std::string(tlsFailureName(static_cast<TlsFailure>(i)))),
            static_cast<double>(v));
    }
  }
  e.add("trellis_downstream_plaintext_connections_total", "counter",
        "Plaintext connections accepted by PERMISSIVE listeners (0 for a while: STRICT is safe).",
        "", static_cast<double>(s.downstreamPlaintext.value()));
}

}  // namespace

std::string renderPrometheus(const std::vector<const WorkerStats*>& shards,
                             const ProcessStats& process) {
  Exposition e;
  for (const WorkerStats* shard : shards) {
    shard->visit([&](const auto& requests, const auto& listeners, const auto& clusters) {
      for (const auto& [key, stats] : requests) {
        const auto& [listener, route, cluster] = key;
        std::string base = label("listener", listener) + "," + label("route", route) + "," +
                           label("cluster", cluster);
        for (size_t c = 0; c < 6; ++c) {
          uint64_t n = stats->byClass[c].value();
          if (n == 0) continue;
          e.add("trellis_http_requests_total", "counter",
                "Requests by listener, route, cluster and response class (none = aborted).",
                base + "," + label("code_class", kClasses[c]), static_cast<double>(n));
        }
        for (size_t g = 0; g < stats->grpcByStatus.size(); ++g) {
          uint64_t n = stats->grpcByStatus[g].value();
          if (n == 0) continue;
          e.add("trellis_grpc_requests_total", "counter",
                "gRPC calls by listener, route, cluster and final grpc-status.",
                base + "," +
                    label("grpc_code",
                          std::string(http::grpc::statusName(static_cast<http::grpc::Status>(g)))),
                static_cast<double>(n));
        }
        const Histogram& h = stats->duration;
        if (h.count() == 0) continue;
        const char* hname = "trellis_http_request_duration_seconds";
        const char* hhelp = "Time from request head to response end.";
        uint64_t cumulative = 0;
        for (size_t b = 0; b < Histogram::kBoundsMs.size(); ++b) {
          cumulative += h.bucket(b);
          e.add(hname, "histogram", hhelp,
                "_bucket|" + base + "," + label("le", formatBound(Histogram::kBoundsMs[b])),
                static_cast<double>(cumulative));
        }
        e.add(hname, "histogram", hhelp, "_bucket|" + base + "," + label("le", "+Inf"),
              static_cast<double>(h.count()));
        e.add(hname, "histogram", hhelp, "_sum|" + base, static_cast<double>(h.sumMicros()) / 1e6);
        e.add(hname, "histogram", hhelp, "_count|" + base, static_cast<double>(h.count()));
      }
      for (const auto& [name, s] : listeners) {
        std::string l = label("listener", name);
        auto counter = [&](const char* metric, const char* help, uint64_t v) {
          e.add(metric, "counter", help, l, static_cast<double>(v));
        };
        counter("trellis_downstream_connections_total", "Accepted connections.",
                s->connectionsTotal.value());
        e.add("trellis_downstream_connections_active", "gauge", "Open client connections.", l,
              static_cast<double>(s->connectionsActive.value()));
        e.add("trellis_downstream_requests_active", "gauge", "Requests in flight.", l,
              static_cast<double>(s->requestsActive.value()));
        counter("trellis_downstream_bytes_received_total", "Bytes read from clients.",
                s->bytesReceived.value());
        counter("trellis_downstream_bytes_sent_total", "Bytes written to clients.",
                s->bytesSent.value());
        counter("trellis_downstream_header_timeouts_total",
                "Connections closed because a request head arrived too slowly.",
                s->headerTimeouts.value());
        counter("trellis_downstream_idle_timeouts_total", "Idle keep-alive connections closed.",
                s->idleTimeouts.value());
        counter("trellis_downstream_connections_rate_limited_total",
                "Connections closed on accept: over the listener's connection rate limit.",
                s->connectionsRateLimited.value());
        counter("trellis_downstream_accept_pauses_total",
                "Times accepting paused for lack of file descriptors or memory.",
                s->acceptPauses.value());
        counter("trellis_http_mirrors_sent_total", "Requests copied to a RequestMirror backend.",
                s->mirrorsSent.value());
        counter("trellis_http_mirrors_skipped_total",
                "Mirrors not sent (body not buffered or no endpoint).", s->mirrorsSkipped.value());
        counter("trellis_tcp_idle_timeouts_total", "Tunnels and TCP relays closed when idle.",
                s->tcpIdleTimeouts.value());
        for (size_t i = 1; i < s->parseErrors.size(); ++i) {
          uint64_t v = s->parseErrors[i].value();
          if (v == 0) continue;
          e.add("trellis_http_parse_errors_total", "counter", "Rejected client input by reason.",
                l + "," +
                    label("reason",
                          std::string(http::parseErrorName(static_cast<http::ParseError>(i)))),
                static_cast<double>(v));
        }
        for (size_t i = 0; i < s->localReplies.size(); ++i) {
          uint64_t v = s->localReplies[i].value();
          if (v == 0) continue;
          e.add(
              "trellis_local_replies_total", "counter",
              "Responses made by the proxy itself, by reason.",
              l + "," + label("reason", std::string(localReasonName(static_cast<LocalReason>(i)))),
              static_cast<double>(v));
        }
      }
      for (const auto& [name, s] : clusters) {
        std::string l = label("cluster", name);
        auto counter = [&](const char* metric, const char* help, uint64_t v) {
          e.add(metric, "counter", help, l, static_cast<double>(v));
        };
        counter("trellis_upstream_connections_opened_total", "New upstream connections.",
                s->connectionsOpened.value());
        counter("trellis_upstream_connections_reused_total",
                "Requests sent on a pooled connection.", s->connectionsReused.value());
        counter("trellis_upstream_connect_failures_total", "Failed upstream connects.",
                s->connectFailures.value());
        counter("trellis_upstream_connect_timeouts_total", "Upstream connects that timed out.",
                s->connectTimeouts.value());
        counter("trellis_upstream_resets_total",
                "Upstream connections lost before the response completed.", s->resets.value());
        counter("trellis_upstream_bad_responses_total", "Unparsable upstream responses.",
                s->badResponses.value());
        counter("trellis_upstream_no_healthy_endpoint_total", "Requests with no usable endpoint.",
                s->noHealthyEndpoint.value());
        counter("trellis_upstream_retries_total", "Attempts after the first (retries).",
                s->retries.value());
        counter("trellis_upstream_retry_budget_exhausted_total",
                "Retriable failures not retried because the retry budget was spent.",
                s->retryBudgetExhausted.value());
        counter("trellis_upstream_retry_overflow_total",
                "Retriable failures not retried because maxRetries retries were in flight.",
                s->retryOverflow.value());
        counter("trellis_upstream_per_try_timeouts_total", "Attempts that ran out of time.",
                s->perTryTimeouts.value());
        counter("trellis_upstream_request_timeouts_total",
                "Requests that ran out of their route's request timeout.",
                s->requestTimeouts.value());
        counter("trellis_upstream_overflow_total",
                "Requests refused by a circuit-breaker limit (503 upstream_overflow).",
                s->overflow.value());
        counter("trellis_upstream_rate_limited_total",
                "Requests refused by the cluster's rate limit (429).", s->rateLimited.value());
        counter("trellis_upstream_ejections_total",
                "Endpoints ejected by outlier detection (counted by the worker that ejected).",
                s->ejections.value());
        e.add("trellis_upstream_requests_active", "gauge", "Requests in flight upstream.", l,
              static_cast<double>(s->activeRequests.value()));
        e.add("trellis_upstream_tcp_connections_active", "gauge", "Open TCP relays.", l,
              static_cast<double>(s->activeConnections.value()));
        e.add("trellis_upstream_connections_active", "gauge",
              "Open upstream connections, counted against the circuit breaker's maxConnections.", l,
              static_cast<double>(s->openConnections.value()));
        e.add("trellis_upstream_requests_pending", "gauge",
              "Requests waiting for an upstream connection (maxPendingRequests).", l,
              static_cast<double>(s->pendingRequests.value()));
      }
    });
    addHttp2(e, "downstream", shard->http2Downstream);
    addHttp2(e, "upstream", shard->http2Upstream);
    addTls(e, shard->tls);
    shard->visitAuthz([&](const auto& authz) {
      for (const auto& [key, s] : authz) {
        const std::string l = label("listener", key.first) + "," + label("policy", key.second);
        if (uint64_t v = s->denied.value(); v != 0) {
          e.add("trellis_authz_denied_total", "counter",
                "Requests and TCP connections denied by AuthorizationPolicies, by the deciding "
                "DENY policy (no_allow_policy_matched: ALLOW policies apply, none matched).",
                l, static_cast<double>(v));
        }
        if (uint64_t v = s->audited.value(); v != 0) {
          e.add("trellis_authz_audited_total", "counter",
                "Requests and TCP connections matched by an AUDIT AuthorizationPolicy.", l,
                static_cast<double>(v));
        }
      }
    });
  }
  e.add("trellis_config_version", "gauge", "Version of the running configuration.", "",
        static_cast<double>(process.configVersion));
  e.add("trellis_config_reloads_total", "counter", "Configuration reloads by result.",
        label("result", "success"), static_cast<double>(process.reloadsSucceeded));
  e.add("trellis_config_reloads_total", "counter", "Configuration reloads by result.",
        label("result", "failure"), static_cast<double>(process.reloadsFailed));
  e.add("trellis_config_last_reload_success", "gauge", "1 if the last reload attempt succeeded.",
        "", process.lastReloadOk ? 1 : 0);
  e.add("trellis_workers", "gauge", "Worker threads.", "", static_cast<double>(process.workers));
  if (process.identity) {
    e.add("trellis_identity_certificate_expiry_seconds", "gauge",
          "Unix time at which the workload certificate expires (0: none yet).", "",
          static_cast<double>(process.certificateExpiry));
    const char* help = "Workload certificate renewals by result.";
    e.add("trellis_identity_renewals_total", "counter", help, label("result", "success"),
          static_cast<double>(process.renewalsSucceeded));
    e.add("trellis_identity_renewals_total", "counter", help, label("result", "failure"),
          static_cast<double>(process.renewalsFailed));
  }
  for (const auto& [cluster, hc] : process.healthChecks) {
    const std::string l = label("cluster", cluster);
    const char* name = "trellis_health_checks_total";
    const char* help = "Active health-check probes by result (ok, failed, timeout).";
    e.add(name, "counter", help, l + "," + label("result", "ok"), static_cast<double>(hc.probesOk));
    e.add(name, "counter", help, l + "," + label("result", "failed"),
          static_cast<double>(hc.probesFailed));
    e.add(name, "counter", help, l + "," + label("result", "timeout"),
          static_cast<double>(hc.probesTimedOut));
    e.add("trellis_health_check_endpoints_unhealthy", "gauge",
          "Endpoints that active health checks mark unhealthy now.", l,
          static_cast<double>(hc.endpointsUnhealthy));
  }
  return e.render();
}

}  // namespace trellis::proxy
