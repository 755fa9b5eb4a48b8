// trellis.dev/v1alpha1 Listener: an address:port with HTTP limits, or a TCP pass-through (with
// an optional rate limit on new connections); optionally the inbound side of a Service, whose
// PeerAuthentication sets its mutual TLS mode.

#include <fmt/format.h>

#include "config/policy_parts.h"
#include "config/resources.h"
#include "config/syntax.h"

namespace trellis::config {
namespace {

template <typename T>
void readLimit(Scope& scope, const Object& http, std::string_view key, int64_t min, int64_t max,
               T& target) {
  if (auto value = scope.integer(http.get(key), min, max)) target = static_cast<T>(*value);
}

void parseHttp2(Scope& scope, const Value& value, Http2Limits& limits) {
  auto http2 = scope.object(
      value, {"maxConcurrentStreams", "initialStreamWindowSize", "connectionWindowSize",
              "maxFrameSize", "maxHeaderListSize", "maxResetsPerSecond", "windowStallTimeout"});
  if (!http2) return;
  // Bounds from RFC 9113 §6.5.2 (window ≤ 2^31-1, frame size 2^14..2^24-1).
  readLimit(scope, *http2, "maxConcurrentStreams", 1, 100000, limits.maxConcurrentStreams);
  readLimit(scope, *http2, "initialStreamWindowSize", 1024, 0x7fffffff,
            limits.initialStreamWindowSize);
  readLimit(scope, *http2, "connectionWindowSize", 65535, 0x7fffffff, limits.connectionWindowSize);
  readLimit(scope, *http2, "maxFrameSize", 16384, 16777215, limits.maxFrameSize);
  readLimit(scope, *http2, "maxHeaderListSize", 1024, 1 << 24, limits.maxHeaderListSize);
  readLimit(scope, *http2, "maxResetsPerSecond", 1, 1000000, limits.maxResetsPerSecond);
  limits.windowStallTimeout = scope.duration(http2->get("windowStallTimeout"), Duration(1))
                                  .value_or(limits.windowStallTimeout);
}

void parseHttp(Scope& scope, const Value& value, HttpLimits& limits) {
  auto http = scope.object(value, {"maxRequestHeadersBytes", "maxHeaders", "maxUrlBytes",
                                   "maxRequestBodyBytes", "bufferBytes", "headerTimeout",
                                   "idleTimeout", "drainTimeout", "streamIdleTimeout", "http2"});
  if (!http) return;
  readLimit(scope, *http, "maxRequestHeadersBytes", 1024, 1 << 20, limits.maxRequestHeadersBytes);
  readLimit(scope, *http, "maxHeaders", 1, 10000, limits.maxHeaders);
  readLimit(scope, *http, "maxUrlBytes", 64, 1 << 20, limits.maxUrlBytes);
  readLimit(scope, *http, "maxRequestBodyBytes", 0, INT64_MAX, limits.maxRequestBodyBytes);
  readLimit(scope, *http, "bufferBytes", 4096, 64 << 20, limits.bufferBytes);
  const Duration oneMs(1);
  limits.headerTimeout =
      scope.duration(http->get("headerTimeout"), oneMs).value_or(limits.headerTimeout);
  limits.idleTimeout = scope.duration(http->get("idleTimeout"), oneMs).value_or(limits.idleTimeout);
  limits.drainTimeout =
      scope.duration(http->get("drainTimeout"), oneMs).value_or(limits.drainTimeout);
  limits.streamIdleTimeout =
      scope.duration(http->get("streamIdleTimeout"), oneMs).value_or(limits.streamIdleTimeout);
  parseHttp2(scope, http->get("http2"), limits.http2);
}

void parseTcp(Scope& scope, const Value& value, ListenerDef& def) {
  auto tcp = scope.object(value, {"backendRef", "idleTimeout"});
  if (!tcp) return;
  def.tcpBackend =
      parseServiceRef(scope, scope.require(*tcp, "backendRef"), RefForm::Tcp, def.meta.ns);
  def.listener.tcpIdleTimeout =
      scope.duration(tcp->get("idleTimeout"), Duration(1)).value_or(def.listener.tcpIdleTimeout);
}

// The Service a listener serves (a sidecar's inbound side) and its TLS handshake deadline.
void parseInbound(Scope& scope, const Object& spec, ListenerDef& def) {
  Value service = spec.get("service");
  if (auto name = scope.string(service, 253)) {
    if (name->find('/') != std::string::npos) {
      scope.error(service, fmt::format("{} is not a Service name: the Service must be in the "
                                       "listener's namespace ({}), named without it",
                                       quote(*name), def.meta.ns));
    } else if (scope.check(service, syntax::checkDnsLabel(*name))) {
      def.service = def.meta.ns + "/" + *name;
      def.serviceAt = scope.at(service);
    }
  }
  Value timeout = spec.get("tlsHandshakeTimeout");
  if (timeout.present && !service.present) {
    scope.error(timeout,
                "is only valid with service (a listener that serves no Service speaks "
                "plaintext only)");
  } else {
    def.listener.tlsHandshakeTimeout =
        scope.duration(timeout, Duration(1)).value_or(def.listener.tlsHandshakeTimeout);
  }
}

}  // namespace

void parseListener(Scope& scope, ResourceMeta meta, const Value& specValue, Resources& out) {
  ListenerDef def;
  def.meta = std::move(meta);
  def.listener.name = def.meta.qualifiedName();
  auto spec =
      scope.object(specValue, {"address", "port", "protocol", "detectTimeout", "http", "tcp",
                               "connectionRateLimit", "service", "tlsHandshakeTimeout"});
  if (spec) {
    Value address = spec->get("address");
    if (auto text = scope.string(address, 64)) {
      if (auto canonical = syntax::canonicalIp(*text)) {
        def.listener.address = *canonical;
      } else {
        scope.error(address, fmt::format("{} is not an IPv4 or IPv6 address", quote(*text)));
      }
    }
    if (auto port = scope.integer(scope.require(*spec, "port"), 1, 65535)) {
      def.listener.port = static_cast<uint16_t>(*port);
    }
    Value protocolValue = spec->get("protocol");
    def.listener.protocol =
        scope
            .choice<ListenerProtocol>(protocolValue, {{"HTTP", ListenerProtocol::Http},
                                                      {"HTTP2", ListenerProtocol::Http2},
                                                      {"TCP", ListenerProtocol::Tcp},
                                                      {"AUTO", ListenerProtocol::Auto}})
            .value_or(ListenerProtocol::Http);
    const ListenerProtocol protocol = def.listener.protocol;
    Value detect = spec->get("detectTimeout");
    if (protocol == ListenerProtocol::Auto) {
      def.listener.detectTimeout =
          scope.duration(detect, Duration(1)).value_or(def.listener.detectTimeout);
    } else if (detect.present) {
      scope.error(detect, "is only valid with protocol AUTO");
    }
    Value http = spec->get("http");
    Value tcp = spec->get("tcp");
    if (def.listener.servesHttp()) {
      parseHttp(scope, http, def.listener.http);
    } else if (http.present) {
      scope.error(http, "is only valid with protocol HTTP, HTTP2 or AUTO");
    }
    if (def.listener.servesTcp()) {
      if (!tcp.present) {
        scope.error(tcp, fmt::format("missing required field (protocol {} needs tcp.backendRef)",
                                     protocol == ListenerProtocol::Tcp ? "TCP" : "AUTO"));
      }
      parseTcp(scope, tcp, def);
    } else if (tcp.present) {
      scope.error(tcp, "is only valid with protocol TCP or AUTO");
    }
    Value rateLimit = spec->get("connectionRateLimit");
    if (def.listener.servesTcp()) {
      def.listener.connectionRateLimit =
          parseRateLimit(scope, rateLimit, RateLimitForm::Connections);
    } else if (rateLimit.present) {
      scope.error(rateLimit, "is only valid with protocol TCP or AUTO");
    }
    parseInbound(scope, *spec, def);
  }
  out.listeners.push_back(std::move(def));
}

}  // namespace trellis::config
