// trellis.dev/v1alpha1 Listener: an address:port with HTTP limits, or a TCP pass-through.

#include <fmt/format.h>

#include "config/resources.h"
#include "config/syntax.h"

namespace trellis::config {
namespace {

template <typename T>
void readLimit(Scope& scope, const Object& http, std::string_view key, int64_t min, int64_t max,
               T& target) {
  if (auto value = scope.integer(http.get(key), min, max)) target = static_cast<T>(*value);
}

void parseHttp(Scope& scope, const Value& value, HttpLimits& limits) {
  auto http = scope.object(
      value, {"maxRequestHeadersBytes", "maxHeaders", "maxUrlBytes", "maxRequestBodyBytes",
              "bufferBytes", "headerTimeout", "idleTimeout", "drainTimeout"});
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
}

void parseTcp(Scope& scope, const Value& value, ListenerDef& def) {
  auto tcp = scope.object(value, {"backendRef", "idleTimeout"});
  if (!tcp) return;
  def.tcpBackend =
      parseServiceRef(scope, scope.require(*tcp, "backendRef"), RefForm::Tcp, def.meta.ns);
  def.listener.tcpIdleTimeout =
      scope.duration(tcp->get("idleTimeout"), Duration(1)).value_or(def.listener.tcpIdleTimeout);
}

}  // namespace

void parseListener(Scope& scope, ResourceMeta meta, const Value& specValue, Resources& out) {
  ListenerDef def;
  def.meta = std::move(meta);
  def.listener.name = def.meta.qualifiedName();
  auto spec = scope.object(specValue, {"address", "port", "protocol", "http", "tcp"});
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
    def.listener.protocol =
        scope
            .choice<ListenerProtocol>(spec->get("protocol"), {{"HTTP", ListenerProtocol::Http},
                                                              {"TCP", ListenerProtocol::Tcp}})
            .value_or(ListenerProtocol::Http);
    Value http = spec->get("http");
    Value tcp = spec->get("tcp");
    if (def.listener.protocol == ListenerProtocol::Http) {
      parseHttp(scope, http, def.listener.http);
      if (tcp.present) scope.error(tcp, "is only valid with protocol TCP");
    } else {
      if (http.present) scope.error(http, "is only valid with protocol HTTP");
      if (!tcp.present) {
        scope.error(tcp, "missing required field (protocol TCP needs tcp.backendRef)");
      }
      parseTcp(scope, tcp, def);
    }
  }
  out.listeners.push_back(std::move(def));
}

}  // namespace trellis::config
