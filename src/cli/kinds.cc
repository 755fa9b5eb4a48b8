#include "cli/kinds.h"

#include <algorithm>
#include <cctype>

#include "cli/cli_error.h"

namespace trellis::cli {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

/// Levenshtein distance, for "did you mean".
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

const std::vector<KindInfo>& knownKinds() {
  static const std::vector<KindInfo> kinds = {
      {"Listener", "listeners", {"listener", "listeners", "lis"}},
      {"Service", "services", {"service", "services", "svc"}},
      {"Workload", "workloads", {"workload", "workloads", "wl"}},
      {"HTTPRoute", "httproutes", {"httproute", "httproutes", "hr"}},
      {"GRPCRoute", "grpcroutes", {"grpcroute", "grpcroutes", "gr"}},
      {"BackendPolicy", "backendpolicies", {"backendpolicy", "backendpolicies", "bp"}},
      {"RoutePolicy", "routepolicies", {"routepolicy", "routepolicies", "rp"}},
      {"AuthorizationPolicy",
       "authorizationpolicies",
       {"authorizationpolicy", "authorizationpolicies", "authz", "ap"}},
      {"PeerAuthentication",
       "peerauthentications",
       {"peerauthentication", "peerauthentications", "pa"}},
  };
  return kinds;
}

std::optional<std::string> resolveKind(std::string_view typed) {
  std::string wanted = lower(typed);
  for (const KindInfo& info : knownKinds()) {
    for (std::string_view alias : info.aliases) {
      if (alias == wanted) return std::string(info.kind);
    }
  }
  return std::nullopt;
}

std::string requireKind(std::string_view typed) {
  if (auto kind = resolveKind(typed)) return *kind;
  std::string wanted = lower(typed);
  std::string known;
  std::string_view closest;
  size_t best = 3;  // suggest only near misses
  for (const KindInfo& info : knownKinds()) {
    if (!known.empty()) known += ", ";
    known += std::string(info.plural) + " (" + std::string(info.aliases.back()) + ")";
    for (std::string_view alias : info.aliases) {
      size_t distance = editDistance(wanted, alias);
      if (distance < best) {
        best = distance;
        closest = info.plural;
      }
    }
  }
  std::string message = "unknown resource kind \"" + std::string(typed) + "\"";
  if (!closest.empty()) message += " (did you mean \"" + std::string(closest) + "\"?)";
  throw CliError(message + "; known kinds: " + known);
}

std::string pluralOf(std::string_view kind) {
  for (const KindInfo& info : knownKinds()) {
    if (info.kind == kind) return std::string(info.plural);
  }
  return lower(kind) + "s";
}

}  // namespace trellis::cli
