#pragma once
// AuthorizationPolicies over xDS (internal to the codec). Envoy's RBAC filter cannot say what the
// model says without loss (AUDIT is a shadow policy with other semantics, the TCP rules of Istio
// are applied by istiod before it writes RBAC), so the policies of the Service a listener serves
// travel in the listener's metadata["trellis.dev"] under "authorization", field for field:
//
//   authorization: [{name, namespace, action: ALLOW|DENY|AUDIT, rules?: [rule]}]
//   rule:      {from?: [source], to?: [operation], when?: [condition]}
//   source:    {principals?, notPrincipals?, namespaces?, notNamespaces?: values}
//   operation: {methods?, notMethods?, paths?, notPaths?: values, ports?, notPorts?: [port]}
//   condition: {key: "request.headers[<name>]" | "source.principal" | "source.namespace",
//               values?, notValues?: values}
//            | {key: "destination.port", ports?, notPorts?: [port]}
//   values:    {exact?, prefixes?, suffixes?: [string], present?: true}
//
// Absent keys are empty fields; lists that are present are not empty. AuthzRule::usesHttp is
// not carried: decode derives it from the rule, as the loader does.

#include <span>
#include <string>
#include <vector>

#include "config/model.h"
#include "xds/codec/trellis_metadata.h"

namespace trellis::xds::detail {

/// Writes "authorization" into a listener's Trellis metadata (nothing for no policy).
void encodeAuthorization(std::span<const config::AuthorizationPolicy> policies, Struct& metadata);

/// Reads "authorization" when present into `out`; `service` is the listener's (the key needs
/// one). False after recording an error that names the field.
bool decodeAuthorization(FieldsReader& settings, const std::string& service,
                         std::vector<config::AuthorizationPolicy>& out);

/// Whether two policy lists encode alike (two listeners serving one Service must agree).
bool sameAuthorization(std::span<const config::AuthorizationPolicy> a,
                       std::span<const config::AuthorizationPolicy> b);

}  // namespace trellis::xds::detail
