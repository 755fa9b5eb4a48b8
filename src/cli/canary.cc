#include "cli/canary.h"

#include <yaml-cpp/yaml.h>

#include "cli/api_errors.h"
#include "cli/cli_error.h"
#include "cli/resource_text.h"
#include "cli/route_weights.h"

namespace trellis::cli {
namespace {

constexpr const char* kRouteKinds[] = {"HTTPRoute", "GRPCRoute"};

struct EditedRoute {
  ResourceKey key;
  std::optional<int64_t> version;  // nullopt: created
  RouteEdit edit;
};

/// The Service's stored document, or nullopt when it does not exist.
std::optional<YAML::Node> fetchService(ApiClient& api, const std::string& ns,
                                       const std::string& name) {
  ApiResponse response = api.get("/api/v1/resources/" + resourcePath("Service", ns, name));
  if (response.status == 404) return std::nullopt;
  if (response.status != 200)
    throwProblems(response, "cannot read Service " + ns + "/" + name + ":");
  try {
    return YAML::Load(scalarText(member(response.body, "document")));
  } catch (const YAML::Exception& e) {
    throw CliError("stored Service " + ns + "/" + name + " is not valid YAML: " + e.msg);
  }
}

std::vector<int> portsOf(const YAML::Node& service) {
  std::vector<int> ports;
  if (!service.IsMap() || !service["spec"].IsDefined() || !service["spec"].IsMap()) return ports;
  YAML::Node list = service["spec"]["ports"];
  if (!list.IsDefined() || !list.IsSequence()) return ports;
  for (const YAML::Node& port : list) {
    if (port.IsMap() && port["port"].IsDefined() && port["port"].IsScalar()) {
      try {
        ports.push_back(port["port"].as<int>());
      } catch (const YAML::Exception&) {
      }
    }
  }
  return ports;
}

CanaryPlan planOf(const CanaryOptions& options) {
  if (options.target.empty()) {
    throw CliError("--to TARGET is required: the Service that receives the canary traffic", 2);
  }
  if (options.target == options.service) throw CliError("--to must name another Service", 2);
  int modes = (options.weight ? 1 : 0) + (options.promote ? 1 : 0) + (options.abort ? 1 : 0);
  if (modes != 1) {
    throw CliError("give exactly one of --weight N (0-100), --promote or --abort", 2);
  }
  CanaryPlan plan;
  plan.service = options.service;
  plan.target = options.target;
  plan.ns = options.ns;
  plan.explicitPort = options.port;
  if (options.weight) {
    if (*options.weight < 0 || *options.weight > 100) {
      throw CliError(
          "--weight is a percentage: 0 to 100 (got " + std::to_string(*options.weight) + ")", 2);
    }
    plan.weight = *options.weight;
  }
  plan.action = options.promote ? CanaryAction::Promote
                : options.abort ? CanaryAction::Abort
                                : CanaryAction::SetWeight;
  return plan;
}

std::string verb(CanaryAction action) {
  switch (action) {
    case CanaryAction::Promote:
      return "promote";
    case CanaryAction::Abort:
      return "abort";
    case CanaryAction::SetWeight:
      break;
  }
  return "canary";
}

}  // namespace

int runCanary(ApiClient& api, const Io& io, const CanaryOptions& options) {
  CanaryPlan plan = planOf(options);
  std::string serviceName = plan.ns + "/" + plan.service;

  std::optional<YAML::Node> service = fetchService(api, plan.ns, plan.service);
  if (!service) {
    throw CliError("Service " + serviceName + " does not exist (list them with: trellisctl get " +
                   "services -n " + plan.ns + ")");
  }
  if (plan.action != CanaryAction::Abort) {
    // A missing backend is only a warning to the loader (its share gets 500): refuse it here.
    std::optional<YAML::Node> target = fetchService(api, plan.ns, plan.target);
    if (!target) {
      throw CliError("Service " + plan.ns + "/" + plan.target +
                     " does not exist: apply it (with its endpoints) before sending it traffic");
    }
    plan.targetPorts = portsOf(*target);
  }

  std::vector<EditedRoute> routes;
  bool nameTaken = false;
  for (const char* kind : kRouteKinds) {
    ApiResponse response = api.get(std::string("/api/v1/resources?kind=") + kind);
    if (response.status != 200) throwProblems(response, std::string("cannot list ") + kind + "s:");
    for (const auto& item : arrayMember(response.body, "items")) {
      ResourceKey key = itemKey(item);
      std::string document = scalarText(member(item, "document"));
      if (!routeAttachesToService(document, key.ns, plan.service, plan.ns)) {
        nameTaken =
            nameTaken || (key.kind == "HTTPRoute" && key.ns == plan.ns && key.name == plan.service);
        continue;
      }
      try {
        routes.push_back({key, itemVersion(item), editRouteWeights(document, key.ns, plan)});
      } catch (const CliError& error) {
        throw CliError(describe(key) + ": " + error.what());
      }
    }
  }
  if (routes.empty()) {
    if (plan.action != CanaryAction::SetWeight) {
      throw CliError("no HTTPRoute or GRPCRoute attaches to Service " + serviceName +
                     ": nothing to " + verb(plan.action));
    }
    if (nameTaken) {
      std::string parentRef = "{group: \"\", kind: Service, name: " + plan.service + "}";
      throw CliError("no route attaches to Service " + serviceName + ", and HTTPRoute " +
                     serviceName + " (the name canary would give one) is attached elsewhere: " +
                     "add the parentRef " + parentRef + " to the route that should carry it");
    }
    std::vector<int> servicePorts = portsOf(*service);
    std::optional<int> servicePort;
    if (!servicePorts.empty()) servicePort = servicePorts.front();  // the mesh's default port
    routes.push_back({ResourceKey{"HTTPRoute", plan.ns, plan.service}, std::nullopt,
                      newCanaryRoute(plan, servicePort)});
  }

  nlohmann::json files = nlohmann::json::array();
  for (const EditedRoute& route : routes) {
    if (!route.edit.changed) continue;
    files.push_back({{"name", "canary " + describe(route.key)},
                     {"content", setResourceVersion(route.edit.document, route.version)}});
  }
  nlohmann::json answer = nlohmann::json::object();
  if (!files.empty()) {
    ApiResponse response =
        api.post("/api/v1/apply", {{"files", files}, {"dryRun", options.dryRun}});
    if (response.status == 409) {
      throw CliError("conflict: " + response.errorMessage() +
                     "\nsomeone changed the route while canary was editing it: re-run the "
                     "command");
    }
    if (response.status != 200)
      throwProblems(response, verb(plan.action) + " refused, nothing was changed:");
    printWarnings(io.err, response.body);
    answer = response.body;
  }

  nlohmann::json report = nlohmann::json::array();
  for (const EditedRoute& route : routes) {
    std::string outcome =
        route.edit.changed ? (route.version ? "configured" : "created") : "unchanged";
    nlohmann::json rules = nlohmann::json::array();
    for (const RuleSplit& split : route.edit.splits) {
      nlohmann::json backends = nlohmann::json::array();
      for (const BackendShare& backend : split.backends) {
        backends.push_back({{"name", backend.name}, {"weight", backend.weight}});
      }
      rules.push_back({{"rule", split.rule}, {"backends", backends}});
    }
    report.push_back({{"kind", route.key.kind},
                      {"namespace", route.key.ns},
                      {"name", route.key.name},
                      {"outcome", outcome},
                      {"rules", rules}});
    if (io.format != OutputFormat::Table) continue;
    io.out << describe(route.key) << " " << outcome
           << (options.dryRun && route.edit.changed ? " (dry run)" : "") << "\n";
    for (const RuleSplit& split : route.edit.splits) {
      io.out << "  rule " << split.rule << ": " << describeSplit(split) << "\n";
    }
  }
  if (io.format != OutputFormat::Table) {
    printStructured(io.out, io.format,
                    {{"routes", report}, {"revision", member(answer, "revision")}});
  }
  return 0;
}

}  // namespace trellis::cli
