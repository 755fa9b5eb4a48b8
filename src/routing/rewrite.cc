#include <string>

#include "routing/host_match.h"
#include "routing/route_table.h"
#include "routing/rule_match.h"

namespace trellis::routing {

namespace {

// Well-known port of a scheme, 0 when it has none we know.
uint16_t defaultPort(std::string_view scheme) {
  if (equalsFolded(scheme, "http")) return 80;
  if (equalsFolded(scheme, "https")) return 443;
  return 0;
}

uint16_t parsePort(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return 0;
  uint32_t value = 0;
  for (char c : digits) value = value * 10 + static_cast<uint32_t>(c - '0');
  return value > 65535 ? 0 : static_cast<uint16_t>(value);
}

}  // namespace

std::string rewritePath(config::PathRewriteType type, std::string_view replacement,
                        const config::PathMatch& match, std::string_view path) {
  switch (type) {
    case config::PathRewriteType::None:
      return std::string(path);
    case config::PathRewriteType::ReplaceFullPath:
      return replacement.empty() ? std::string("/") : std::string(replacement);
    case config::PathRewriteType::ReplacePrefixMatch:
      break;
  }
  // Only a PathPrefix (or, trivially, an Exact) match defines a matched prefix; validation
  // rejects ReplacePrefixMatch elsewhere, so a regex match leaves the path alone.
  if (match.type == config::PathMatchType::RegularExpression) return std::string(path);
  const std::string_view prefix = trimTrailingSlash(match.value);
  if (!pathPrefixMatches(prefix, path)) return std::string(path);
  // The remainder is empty or starts with '/', so trimming the replacement's trailing slash
  // joins the two with exactly one slash.
  const std::string_view rest = path.substr(prefix.size());
  std::string out(trimTrailingSlash(replacement));
  out.append(rest);
  if (out.empty()) out.push_back('/');
  return out;
}

std::string redirectLocation(const config::RequestRedirect& redirect,
                             const config::PathMatch& match, std::string_view scheme,
                             std::string_view host, std::string_view path, std::string_view query) {
  const HostAndPort request = splitHostPort(host);
  const std::string_view outScheme = redirect.scheme ? std::string_view(*redirect.scheme) : scheme;
  const std::string_view outHost =
      redirect.hostname ? std::string_view(*redirect.hostname) : request.host;

  // Gateway API: an explicit port wins; a scheme change implies the scheme's well-known port;
  // otherwise the listener's port, for which the port the client addressed stands in.
  uint16_t port = 0;
  if (redirect.port) {
    port = *redirect.port;
  } else if (redirect.scheme) {
    port = defaultPort(outScheme);
    if (port == 0) port = parsePort(request.port);
  } else {
    port = parsePort(request.port);
  }

  std::string location;
  location.reserve(outScheme.size() + outHost.size() + path.size() + query.size() + 16);
  location.append(outScheme).append("://");
  const bool ipv6 = outHost.find(':') != std::string_view::npos;
  if (ipv6) location.push_back('[');
  location.append(outHost);
  if (ipv6) location.push_back(']');
  if (port != 0 && port != defaultPort(outScheme)) {
    location.push_back(':');
    location.append(std::to_string(port));
  }
  std::string outPath = rewritePath(redirect.pathType, redirect.path, match, path);
  location.append(outPath.empty() ? std::string_view("/") : std::string_view(outPath));
  if (!query.empty()) location.append("?").append(query);
  return location;
}

}  // namespace trellis::routing
