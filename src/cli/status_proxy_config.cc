#include "cli/status_proxy_config.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "cli/api_errors.h"
#include "cli/cli_error.h"

namespace trellis::cli {
namespace {

struct XdsType {
  const char* column;
  const char* key;            // trellisd's key for it in "types"
  const char* messageSuffix;  // or a type URL ending with this
};

constexpr std::array<XdsType, 4> kTypes = {{{"LDS", "lds", ".Listener"},
                                            {"RDS", "rds", ".RouteConfiguration"},
                                            {"CDS", "cds", ".Cluster"},
                                            {"EDS", "eds", ".ClusterLoadAssignment"}}};

bool endsWith(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const nlohmann::json& typeState(const nlohmann::json& proxy, const XdsType& type) {
  static const nlohmann::json kNull;
  const nlohmann::json& types = member(proxy, "types");
  if (!types.is_object()) return kNull;
  for (auto it = types.begin(); it != types.end(); ++it) {
    if (it.key() == type.key || endsWith(it.key(), type.messageSuffix)) return it.value();
  }
  return kNull;
}

/// "ACK 7": the proxy runs version 7; "NACK 8": it refused 8, the latest sent (it keeps running
/// what it ACKed before); "SENT 8": waiting for the answer.
std::string versionCell(const nlohmann::json& state, std::string* nackReason) {
  if (!state.is_object()) return "";
  std::string sent = scalarText(member(state, "sent"));
  std::string acked = scalarText(member(state, "acked"));
  std::string nacked = scalarText(member(state, "nacked"));
  if (!nacked.empty() && (nacked == sent || sent.empty())) {
    *nackReason = scalarText(member(state, "error"));
    return "NACK " + nacked;
  }
  if (!sent.empty() && sent != acked) return "SENT " + sent;
  return acked.empty() ? "" : "ACK " + acked;
}

std::string yesNo(const nlohmann::json& value) {
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return scalarText(value);
}

/// A protobuf JSON field by its proto name ("virtual_hosts", as trellisd prints them), or by its
/// lowerCamelCase JSON name ("virtualHosts", protobuf's default).
const nlohmann::json& field(const nlohmann::json& message, std::string_view protoName) {
  const nlohmann::json& value = member(message, protoName);
  if (!value.is_null() || protoName.find('_') == std::string_view::npos) return value;
  std::string camel;
  bool upper = false;
  for (char c : protoName) {
    if (c == '_') {
      upper = true;
    } else {
      camel += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
      upper = false;
    }
  }
  return member(message, camel);
}

const nlohmann::json& fieldArray(const nlohmann::json& message, std::string_view protoName) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  const nlohmann::json& value = field(message, protoName);
  return value.is_array() ? value : kEmpty;
}

const nlohmann::json& path(const nlohmann::json& value,
                           std::initializer_list<std::string_view> keys) {
  const nlohmann::json* at = &value;
  for (std::string_view key : keys) at = &field(*at, key);
  return *at;
}

std::string socketAddress(const nlohmann::json& address) {
  const nlohmann::json& socket = field(address, "socket_address");
  std::string host = scalarText(field(socket, "address"));
  std::string port = scalarText(field(socket, "port_value"));
  if (host.empty() && port.empty()) return "";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + (port.empty() ? "0" : port);
}

void appendItem(std::string& list, const std::string& item, const char* separator = ",") {
  if (item.empty()) return;
  if (!list.empty()) list += separator;
  list += item;
}

std::string stringMatcher(const nlohmann::json& matcher) {
  if (!field(matcher, "exact").is_null()) return "=" + scalarText(field(matcher, "exact"));
  if (!field(matcher, "prefix").is_null()) return "^=" + scalarText(field(matcher, "prefix"));
  const nlohmann::json& regex = path(matcher, {"safe_regex", "regex"});
  if (!regex.is_null()) return "~" + scalarText(regex);
  return "";
}

std::string routeMatch(const nlohmann::json& match) {
  std::string text;
  if (!field(match, "path").is_null()) {
    text = "exact " + scalarText(field(match, "path"));
  } else if (!field(match, "path_separated_prefix").is_null()) {
    text = "prefix " + scalarText(field(match, "path_separated_prefix"));
  } else if (!field(match, "prefix").is_null()) {
    text = "prefix " + scalarText(field(match, "prefix"));
  } else if (!path(match, {"safe_regex", "regex"}).is_null()) {
    text = "regex " + scalarText(path(match, {"safe_regex", "regex"}));
  }
  for (const auto& header : fieldArray(match, "headers")) {
    std::string condition = scalarText(field(header, "name"));
    if (!field(header, "exact_match").is_null()) {
      condition += "=" + scalarText(field(header, "exact_match"));
    } else if (!path(header, {"safe_regex_match", "regex"}).is_null()) {
      condition += "~" + scalarText(path(header, {"safe_regex_match", "regex"}));
    } else {
      condition += stringMatcher(field(header, "string_match"));
    }
    appendItem(text, condition, " ");
  }
  for (const auto& query : fieldArray(match, "query_parameters")) {
    appendItem(text,
               "?" + scalarText(field(query, "name")) + stringMatcher(field(query, "string_match")),
               " ");
  }
  return text;
}

std::string routeAction(const nlohmann::json& route) {
  const nlohmann::json& action = field(route, "route");
  if (!field(action, "cluster").is_null()) return scalarText(field(action, "cluster"));
  if (!field(action, "weighted_clusters").is_null()) {
    std::string backends;
    for (const auto& cluster : fieldArray(field(action, "weighted_clusters"), "clusters")) {
      std::string weight = scalarText(field(cluster, "weight"));
      appendItem(backends,
                 scalarText(field(cluster, "name")) + "=" + (weight.empty() ? "0" : weight));
    }
    return backends;
  }
  if (!field(route, "direct_response").is_null()) {
    return "direct " + scalarText(path(route, {"direct_response", "status"}));
  }
  if (!field(route, "redirect").is_null()) return "redirect";
  return "";
}

std::string clusterProtocol(const nlohmann::json& cluster) {
  if (scalarText(path(cluster, {"metadata", "filter_metadata", "trellis.dev", "protocol"})) ==
      "TCP") {
    return "TCP";
  }
  const nlohmann::json& options = field(cluster, "typed_extension_protocol_options");
  if (options.is_object()) {
    for (auto it = options.begin(); it != options.end(); ++it) {
      const nlohmann::json& explicitConfig = field(it.value(), "explicit_http_config");
      if (!field(explicitConfig, "http2_protocol_options").is_null()) return "HTTP/2";
      if (!field(explicitConfig, "http_protocol_options").is_null()) return "HTTP/1.1";
    }
  }
  if (!field(cluster, "http2_protocol_options").is_null()) return "HTTP/2";
  return "HTTP/1.1";  // Envoy's default
}

}  // namespace

std::string renderStatusTable(const nlohmann::json& proxies) {
  Table table{{"ID", "SERVICE", "NAMESPACE", "CONNECTED", "LDS", "RDS", "CDS", "EDS"}, {}};
  std::vector<std::string> nackReasons;
  std::vector<std::string> buildErrors;  // trellisd could not build the proxy's configuration
  std::vector<std::string> identities;   // proved over mutual TLS
  std::vector<std::string> notServing;   // registered, but not admitted as its Service's endpoint
  for (const auto& proxy : proxies) {
    std::vector<std::string> row = {
        scalarText(member(proxy, "id")), scalarText(member(proxy, "service")),
        scalarText(member(proxy, "namespace")), yesNo(member(proxy, "connected"))};
    std::string reasons;
    for (const XdsType& type : kTypes) {
      std::string reason;
      row.push_back(versionCell(typeState(proxy, type), &reason));
      if (!reason.empty()) appendItem(reasons, std::string(type.column) + ": " + reason, "; ");
    }
    nackReasons.push_back(reasons);
    buildErrors.push_back(scalarText(member(proxy, "error")));
    identities.push_back(scalarText(member(proxy, "identity")));
    notServing.push_back(scalarText(member(proxy, "notAnEndpointBecause")));
    table.addRow(std::move(row));
  }
  // The last columns only when some proxy has something to say there.
  auto addColumn = [&](const char* header, const std::vector<std::string>& cells) {
    if (std::all_of(cells.begin(), cells.end(), [](const auto& cell) { return cell.empty(); })) {
      return;
    }
    table.headers.push_back(header);
    for (size_t i = 0; i < cells.size(); ++i) table.rows[i].push_back(cells[i]);
  };
  addColumn("IDENTITY (MTLS)", identities);
  addColumn("NACK REASON", nackReasons);
  addColumn("CONFIG ERROR", buildErrors);
  addColumn("NOT AN ENDPOINT BECAUSE", notServing);
  return renderTable(table);
}

std::string renderRoutes(const nlohmann::json& config) {
  Table table{{"ROUTE CONFIG", "VIRTUAL HOST", "DOMAINS", "MATCH", "BACKENDS"}, {}};
  for (const auto& routeConfig : fieldArray(config, "routes")) {
    std::string name = scalarText(field(routeConfig, "name"));
    for (const auto& host : fieldArray(routeConfig, "virtual_hosts")) {
      std::string domains;
      for (const auto& domain : fieldArray(host, "domains"))
        appendItem(domains, scalarText(domain));
      for (const auto& route : fieldArray(host, "routes")) {
        table.addRow({name, scalarText(field(host, "name")), domains,
                      routeMatch(field(route, "match")), routeAction(route)});
      }
    }
  }
  return renderTable(table);
}

std::string renderClusters(const nlohmann::json& config) {
  Table table{{"NAME", "TYPE", "LB", "PROTOCOL", "CONNECT TIMEOUT"}, {}};
  for (const auto& cluster : fieldArray(config, "clusters")) {
    std::string type = scalarText(field(cluster, "type"));
    std::string lb = scalarText(field(cluster, "lb_policy"));
    // Protobuf JSON leaves out enum fields at their default (STATIC, ROUND_ROBIN).
    table.addRow({scalarText(field(cluster, "name")), type.empty() ? "STATIC" : type,
                  lb.empty() ? "ROUND_ROBIN" : lb, clusterProtocol(cluster),
                  scalarText(field(cluster, "connect_timeout"))});
  }
  return renderTable(table);
}

std::string renderEndpoints(const nlohmann::json& config) {
  Table table{{"CLUSTER", "ADDRESS", "WEIGHT", "HEALTH"}, {}};
  for (const auto& assignment : fieldArray(config, "endpoints")) {
    std::string cluster = scalarText(field(assignment, "cluster_name"));
    bool any = false;
    for (const auto& locality : fieldArray(assignment, "endpoints")) {
      for (const auto& endpoint : fieldArray(locality, "lb_endpoints")) {
        std::string weight = scalarText(field(endpoint, "load_balancing_weight"));
        std::string health = scalarText(field(endpoint, "health_status"));
        table.addRow({cluster, socketAddress(path(endpoint, {"endpoint", "address"})),
                      weight.empty() ? "1" : weight, health.empty() ? "UNKNOWN" : health});
        any = true;
      }
    }
    if (!any) table.addRow({cluster, "(none)", "", ""});
  }
  return renderTable(table);
}

std::string renderListeners(const nlohmann::json& config) {
  Table table{{"NAME", "ADDRESS", "PROTOCOL", "ROUTES OR CLUSTER"}, {}};
  for (const auto& listener : fieldArray(config, "listeners")) {
    std::string protocols;
    std::string targets;
    for (const auto& chain : fieldArray(listener, "filter_chains")) {
      for (const auto& filter : fieldArray(chain, "filters")) {
        const nlohmann::json& typed = field(filter, "typed_config");
        std::string type = scalarText(field(typed, "@type"));
        if (endsWith(type, ".HttpConnectionManager")) {
          appendItem(protocols, "HTTP");
          std::string routes = scalarText(path(typed, {"rds", "route_config_name"}));
          if (routes.empty()) routes = scalarText(path(typed, {"route_config", "name"}));
          appendItem(targets, routes);
        } else if (endsWith(type, ".TcpProxy")) {
          appendItem(protocols, "TCP");
          appendItem(targets, scalarText(field(typed, "cluster")));
        } else {
          appendItem(protocols, scalarText(field(filter, "name")));
        }
      }
    }
    table.addRow({scalarText(field(listener, "name")), socketAddress(field(listener, "address")),
                  protocols, targets});
  }
  return renderTable(table);
}

int runStatus(ApiClient& api, const Io& io) {
  ApiResponse response = api.get("/api/v1/proxies");
  if (response.status != 200) throwProblems(response, "cannot read the proxies' status:");
  if (io.format != OutputFormat::Table) {
    printStructured(io.out, io.format, response.body);
    return 0;
  }
  const nlohmann::json& proxies = arrayMember(response.body, "items");
  if (proxies.empty()) {
    io.err << "No proxies have connected to trellisd at " << api.server()
           << " (start one with trellis-proxy --xds HOST:PORT ...).\n";
    return 0;
  }
  io.out << renderStatusTable(proxies);
  return 0;
}

int runProxyConfig(ApiClient& api, const Io& io, const ProxyConfigOptions& options) {
  using Renderer = std::string (*)(const nlohmann::json&);
  Renderer render = nullptr;
  if (options.section == "routes") render = renderRoutes;
  if (options.section == "clusters") render = renderClusters;
  if (options.section == "endpoints") render = renderEndpoints;
  if (options.section == "listeners") render = renderListeners;
  if (render == nullptr) {
    throw CliError("unknown section \"" + options.section +
                       "\" (expected routes, clusters, endpoints or listeners)",
                   2);
  }
  ApiResponse response = api.get("/api/v1/proxies/" + urlEncode(options.proxyId) + "/config");
  if (response.status == 404) {
    throw CliError("proxy \"" + options.proxyId +
                   "\" is not known to trellisd (IDs are INSTANCE.NAMESPACE; list them with: "
                   "trellisctl status)");
  }
  if (response.status != 200) throwProblems(response, "cannot read the proxy's config:");
  if (io.format != OutputFormat::Table) {
    printStructured(io.out, io.format, member(response.body, options.section));
    return 0;
  }
  io.out << render(response.body);
  return 0;
}

}  // namespace trellis::cli
