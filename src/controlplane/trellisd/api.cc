#include "controlplane/trellisd/api.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/crypto.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/logging.h"
#include "config/syntax.h"
#include "controlplane/resources/documents.h"

namespace trellis::controlplane {
namespace {

using nlohmann::json;

http::ControlResponse jsonResponse(int status, const json& body) {
  return {status, "application/json", body.dump(2) + "\n"};
}

http::ControlResponse error(int status, std::string message) {
  return jsonResponse(status, json{{"error", std::move(message)}});
}

// "a=1&b=2" → the value of `name`, if present (values here are plain names and numbers).
std::optional<std::string> queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

std::optional<int64_t> number(const std::optional<std::string>& text) {
  if (!text || text->empty() || text->size() > 18) return std::nullopt;
  int64_t value = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

/// body[name] when it is a string, else "".
std::string stringField(const json& body, const char* name) {
  return body.is_object() && body.contains(name) && body[name].is_string()
             ? body[name].get<std::string>()
             : std::string();
}

json item(const StoredResource& resource) {
  return {{"kind", resource.key.kind},
          {"namespace", resource.key.ns},
          {"name", resource.key.name},
          {"resourceVersion", resource.resourceVersion},
          {"document", withResourceVersion(resource.document, resource.resourceVersion)}};
}

json errorJson(const config::LoadError& e) {
  return {{"file", e.file},         {"line", e.line},   {"column", e.column},
          {"resource", e.resource}, {"field", e.field}, {"message", e.message},
          {"text", e.toString()}};
}

http::ControlResponse reportResponse(const WriteReport& report) {
  json warnings = json::array();
  for (const auto& w : report.warnings) warnings.push_back(errorJson(w));
  switch (report.result) {
    case WriteReport::Result::Invalid: {
      json errors = json::array();
      for (const auto& e : report.errors) errors.push_back(errorJson(e));
      return jsonResponse(400, {{"errors", errors}, {"warnings", warnings}});
    }
    case WriteReport::Result::Conflict:
      return jsonResponse(409, {{"error", report.message}});
    case WriteReport::Result::NotFound:
      return jsonResponse(404, {{"error", report.message}});
    case WriteReport::Result::Ok:
      break;
  }
  json results = json::array();
  for (const auto& i : report.items) {
    results.push_back({{"kind", i.key.kind},
                       {"namespace", i.key.ns},
                       {"name", i.key.name},
                       {"outcome", i.outcome},
                       {"resourceVersion", i.resourceVersion}});
  }
  return jsonResponse(
      200, {{"revision", report.revision}, {"results", results}, {"warnings", warnings}});
}

template <typename Message>
json toJson(const std::vector<Message>& messages) {
  json out = json::array();
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  for (const Message& message : messages) {
    std::string text;
    if (google::protobuf::util::MessageToJsonString(message, &text, options).ok()) {
      out.push_back(json::parse(text));
    }
  }
  return out;
}

std::string shortType(const std::string& typeUrl) {
  if (typeUrl == xds::kListenerType) return "lds";
  if (typeUrl == xds::kRouteType) return "rds";
  if (typeUrl == xds::kClusterType) return "cds";
  if (typeUrl == xds::kEndpointType) return "eds";
  return typeUrl;
}

}  // namespace

bool Api::authorized(const http::ControlRequest& request) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (!request.authorization.starts_with(kBearer)) return false;
  std::string_view given = request.authorization.substr(kBearer.size());
  return given.size() == token_.size() &&
         CRYPTO_memcmp(given.data(), token_.data(), token_.size()) == 0;
}

http::ControlResponse Api::handle(const http::ControlRequest& request) {
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (request.path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (request.path == "/ready") return {200, "text/plain; charset=utf-8", "ready\n"};
  if (request.path == "/metrics" && read) return metrics();
  std::vector<std::string_view> parts = segments(request.path);
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1") {
    return error(404, fmt::format("no such endpoint: {} {}", request.method, request.path));
  }
  if (isCertificateRequest(request)) return issueCertificate(request);
  if (!read && !authorized(request)) {
    return error(401,
                 "this request changes the mesh: send Authorization: Bearer <token> (trellisd "
                 "wrote the token to <data-dir>/api-token)");
  }
  const std::string_view what = parts[2];
  if (what == "resources") return resources(request);
  if (what == "apply" && request.method == "POST" && parts.size() == 3) return apply(request);
  if ((what == "history" || what == "rollback") && parts.size() == 6) {
    ResourceKey key{std::string(parts[3]), std::string(parts[4]), std::string(parts[5])};
    if (what == "history" && read) return history(key);
    if (what == "rollback" && request.method == "POST") {
      std::optional<std::string> to = queryParam(request.query, "to");
      std::optional<int64_t> revision = number(to);
      if (to && !revision) return error(400, "to: expected a revision number");
      return reportResponse(controlPlane_.rollback(key, revision));
    }
  }
  if (what == "identity" && parts.size() == 4) {
    if (parts[3] == "bundle" && read) return trustBundle();
    if (parts[3] == "tokens" && request.method == "POST") return createJoinToken(request);
  }
  if (what == "proxies" && read) {
    if (parts.size() == 3) return proxies();
    if (parts.size() == 5 && parts[4] == "config") return proxyConfig(std::string(parts[3]));
  }
  return error(404, fmt::format("no such endpoint: {} {}", request.method, request.path));
}

http::ControlResponse Api::resources(const http::ControlRequest& request) {
  std::vector<std::string_view> parts = segments(request.path);
  Store& store = controlPlane_.store();
  if (parts.size() == 3 && request.method == "GET") {
    std::string kind = queryParam(request.query, "kind").value_or("");
    std::string ns = queryParam(request.query, "namespace").value_or("");
    json items = json::array();
    for (const StoredResource& resource : store.list(kind, ns)) items.push_back(item(resource));
    return jsonResponse(200, {{"revision", store.revision()}, {"items", items}});
  }
  if (parts.size() != 6) return error(404, "expected /api/v1/resources/{kind}/{namespace}/{name}");
  ResourceKey key{std::string(parts[3]), std::string(parts[4]), std::string(parts[5])};
  if (request.method == "GET") {
    auto resource = store.get(key);
    if (!resource) {
      return error(404, fmt::format("{} {}/{} not found", key.kind, key.ns, key.name));
    }
    return jsonResponse(200, item(*resource));
  }
  if (request.method == "DELETE") {
    std::optional<std::string> expected = queryParam(request.query, "resourceVersion");
    if (expected && !number(expected)) return error(400, "resourceVersion: expected a number");
    return reportResponse(controlPlane_.remove(key, number(expected)));
  }
  return error(405, "resources accept GET and DELETE; use POST /api/v1/apply to write");
}

http::ControlResponse Api::apply(const http::ControlRequest& request) {
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("files") ||
      !body["files"].is_array()) {
    return error(400,
                 "expected {\"files\": [{\"name\": ..., \"content\": ...}], \"dryRun\": "
                 "false}");
  }
  std::vector<SourceFile> files;
  for (const json& file : body["files"]) {
    if (!file.is_object() || !file.contains("content") || !file["content"].is_string()) {
      return error(400, "each file needs a string \"content\" (and a \"name\")");
    }
    std::string name = file.contains("name") && file["name"].is_string()
                           ? file["name"].get<std::string>()
                           : "<request>";
    files.push_back(SourceFile{std::move(name), file["content"].get<std::string>()});
  }
  const bool dryRun =
      body.contains("dryRun") && body["dryRun"].is_boolean() && body["dryRun"].get<bool>();
  return reportResponse(controlPlane_.apply(files, dryRun));
}

http::ControlResponse Api::history(const ResourceKey& key) {
  json items = json::array();
  for (const HistoryEntry& entry : controlPlane_.store().history(key)) {
    items.push_back(
        {{"revision", entry.revision}, {"deleted", entry.deleted}, {"document", entry.document}});
  }
  if (items.empty()) {
    return error(404, fmt::format("{} {}/{} has no history", key.kind, key.ns, key.name));
  }
  return jsonResponse(200, {{"items", items}});
}

http::ControlResponse Api::proxies() {
  json items = json::array();
  const auto& nodes = controlPlane_.nodes();
  for (const ProxyStatus& status : controlPlane_.adsStatus()) {
    json types = json::object();
    for (const auto& [typeUrl, type] : status.types) {
      types[shortType(typeUrl)] = {{"sent", type.sentVersion},
                                   {"acked", type.ackedVersion},
                                   {"nacked", type.nackedVersion},
                                   {"error", type.nackMessage}};
    }
    json entry = {
        {"id", status.node.id},
        {"service", status.node.service},
        {"namespace", status.node.ns},
        {"instance", status.node.instance},
        {"address", status.node.inboundAddress},
        {"userAgent", status.node.userAgent},
        {"identity", status.identity},
        {"connected", status.connected},
        {"since",
         std::chrono::duration_cast<std::chrono::seconds>(status.since.time_since_epoch()).count()},
        {"types", types}};
    if (auto it = nodes.find(status.node.id); it != nodes.end()) {
      entry["notes"] = it->second.notes;
      entry["notAnEndpointBecause"] = it->second.admissionProblem;
      entry["error"] = it->second.error;
    }
    items.push_back(std::move(entry));
  }
  return jsonResponse(200, {{"items", items}});
}

http::ControlResponse Api::proxyConfig(const std::string& id) {
  std::string problem;
  std::optional<xds::Resources> built = controlPlane_.resourcesOf(id, problem);
  if (!built) return error(404, fmt::format("no proxy {} (trellisctl status lists them)", id));
  if (!problem.empty()) return error(500, "its configuration cannot be built: " + problem);
  const xds::Resources& resources = *built;
  return jsonResponse(200, {{"listeners", toJson(resources.listeners)},
                            {"routes", toJson(resources.routes)},
                            {"clusters", toJson(resources.clusters)},
                            {"endpoints", toJson(resources.endpoints)}});
}

http::ControlResponse Api::createJoinToken(const http::ControlRequest& request) {
  json body = json::parse(request.body, nullptr, false);
  auto field = [&body](const char* name) { return stringField(body, name); };
  const std::string ns = field("namespace");
  const std::string serviceAccount = field("serviceAccount");
  std::string ttlText = field("ttl");
  if (ttlText.empty()) ttlText = "1h";
  std::string problem;
  if (!pki::SpiffeId::forWorkload(certificates_.trustDomain(), ns, serviceAccount, &problem)) {
    return error(400,
                 "expected {\"namespace\", \"serviceAccount\", \"ttl\"} naming a "
                 "workload: " +
                     problem);
  }
  auto ttl = config::syntax::parseDuration(ttlText);
  if (!ttl || ttl->count() < 1000 || *ttl > std::chrono::hours(24 * 30)) {
    return error(400, "ttl: expected a duration from 1s to 720h, e.g. \"1h\"");
  }
  const int64_t now = std::time(nullptr);
  auto issued = joinTokens_.create(
      ns, serviceAccount, std::chrono::duration_cast<std::chrono::seconds>(*ttl), now, problem);
  if (!issued) return error(500, problem);
  log::info("join token {} created for {}/{} (expires {})", issued->record.id, ns, serviceAccount,
            issued->record.expiresAt);
  return jsonResponse(200, {{"token", issued->token},
                            {"id", issued->record.id},
                            {"namespace", ns},
                            {"serviceAccount", serviceAccount},
                            {"expiresAt", issued->record.expiresAt}});
}

http::ControlResponse Api::issueCertificate(const http::ControlRequest& request) {
  json body = json::parse(request.body, nullptr, false);
  auto field = [&body](const char* name) { return stringField(body, name); };
  CertificateRequest certificateRequest{field("csr"), field("joinToken"), field("certificateChain"),
                                        field("signature")};
  if (certificateRequest.csrPem.empty()) {
    return error(400,
                 "expected {\"csr\": PEM, \"joinToken\": ...} or {\"csr\", "
                 "\"certificateChain\", \"signature\"} to renew");
  }
  CertificateResponse issued = certificates_.issue(certificateRequest, std::time(nullptr));
  if (issued.status != 200) {
    return jsonResponse(issued.status, {{"error", issued.error}, {"reason", issued.reason}});
  }
  return jsonResponse(200, {{"identity", issued.identity},
                            {"certificateChain", issued.chainPem},
                            {"trustBundle", issued.bundlePem},
                            {"expiresAt", issued.expiresAt}});
}

http::ControlResponse Api::trustBundle() {
  return jsonResponse(200, {{"trustDomain", certificates_.trustDomain()},
                            {"trustBundle", certificates_.bundlePem()}});
}

http::ControlResponse Api::metrics() {
  AdsServer::Counters counters = controlPlane_.adsCounters();
  size_t connected = 0;
  for (const auto& [id, node] : controlPlane_.nodes()) connected += node.connected ? 1 : 0;
  std::string out;
  auto metric = [&out](std::string_view name, std::string_view type, std::string_view help,
                       uint64_t value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  metric("trellisd_proxies_connected", "gauge", "Nodes with an open ADS stream.", connected);
  metric("trellisd_registry_instances", "gauge",
         "Workload instances in the registry (connected or in their grace period).",
         controlPlane_.registrySize());
  metric("trellisd_store_revision", "gauge", "The store's revision.",
         static_cast<uint64_t>(controlPlane_.store().revision()));
  metric("trellisd_xds_responses_total", "counter", "DiscoveryResponses sent.", counters.responses);
  metric("trellisd_xds_acks_total", "counter", "DiscoveryRequests that ACKed a response.",
         counters.acks);
  metric("trellisd_xds_nacks_total", "counter", "DiscoveryRequests that NACKed a response.",
         counters.nacks);
  metric("trellisd_xds_streams_active", "gauge", "Open ADS streams.", counters.streamsActive);
  metric("trellisd_xds_streams_total", "counter", "ADS streams opened.", counters.streamsTotal);
  metric("trellisd_xds_nodes_refused_total", "counter",
         "ADS streams ended because the node claimed what its connection did not prove.",
         counters.nodesRefused);
  metric("trellisd_config_builds_total", "counter", "Per-node configurations built.",
         controlPlane_.rebuilds());
  out +=
      "# HELP trellisd_certificate_requests_total Certificate requests by outcome (issued, or "
      "why they were refused).\n# TYPE trellisd_certificate_requests_total counter\n";
  for (const auto& [outcome, count] : certificates_.outcomes()) {
    out +=
        fmt::format("trellisd_certificate_requests_total{{outcome=\"{}\"}} {}\n", outcome, count);
  }
  return {200, "text/plain; version=0.0.4; charset=utf-8", out};
}

}  // namespace trellis::controlplane
