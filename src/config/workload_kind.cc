// trellis.dev/v1alpha1 Workload: which Service a sidecar's instance serves and which Services it
// calls. trellisd gives each proxy exactly these (its own inbound side and its upstreams), so a
// sidecar's configuration does not grow with the size of the mesh. A static proxy ignores it.

#include <fmt/format.h>

#include <set>

#include "config/resources.h"
#include "config/syntax.h"

namespace trellis::config {
namespace {

constexpr size_t kMaxUpstreams = 256;

}  // namespace

std::vector<std::string> meshHostnames(const std::string& ns, const std::string& name) {
  return {name, name + "." + ns, name + "." + ns + ".svc", name + "." + ns + ".svc.cluster.local"};
}

void parseWorkload(Scope& scope, ResourceMeta meta, const Value& specValue, Resources& out) {
  WorkloadDef def;
  def.meta = std::move(meta);
  def.service = def.meta.name;
  auto spec = scope.object(specValue, {"service", "upstreams"});
  if (spec) {
    if (Value service = spec->get("service"); service.present) {
      auto text = scope.string(service, 63);
      if (text && scope.check(service, syntax::checkDnsLabel(*text))) def.service = *text;
    }
    std::set<std::string> seen;
    for (const Value& item : scope.list(spec->get("upstreams"), kMaxUpstreams)) {
      auto object = scope.object(item, {"name", "namespace"});
      if (!object) continue;
      WorkloadDef::Upstream upstream{scope.at(item), def.meta.ns, {}};
      Value name = scope.require(*object, "name");
      auto nameText = scope.string(name, 63);
      if (!nameText || !scope.check(name, syntax::checkDnsLabel(*nameText))) continue;
      upstream.name = *nameText;
      if (Value ns = object->get("namespace"); ns.present) {
        auto text = scope.string(ns, 63);
        if (!text || !scope.check(ns, syntax::checkDnsLabel(*text))) continue;
        upstream.ns = *text;
      }
      if (!seen.insert(upstream.ns + "/" + upstream.name).second) {
        scope.error(item, fmt::format("Service {}/{} is listed twice", upstream.ns, upstream.name));
        continue;
      }
      def.upstreams.push_back(std::move(upstream));
    }
  }
  out.workloads.push_back(std::move(def));
}

}  // namespace trellis::config
