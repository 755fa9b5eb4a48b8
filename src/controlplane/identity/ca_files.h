#pragma once
// Where trellisd's CA lives on disk, and the trust bundle it hands out.
//
// On first start trellisd creates a root under <data-dir>/ca/ (root.pem, and root-key.pem with
// mode 0600: the key never leaves this machine), or uses the certificate and key the operator
// gives (--ca-cert/--ca-key: a root or an intermediate). When the signing CA changes (a new
// --ca-cert, or the files replaced), the previous root stays trusted for an overlap period
// (previous-roots.pem), so that certificates it signed keep working while proxies renew: the
// trust bundle holds both roots until the overlap ends.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "tls/pki/certificate_authority.h"

namespace trellis::controlplane {

struct CaOptions {
  std::string dataDir;
  std::string caCertPath;  // both or neither: operator-supplied signing CA (PEM chain)
  std::string caKeyPath;
  std::string trustDomain = "trellis.local";
  std::chrono::seconds rootValidity{std::chrono::hours(24 * 365 * 10)};
  std::chrono::seconds rootOverlap{std::chrono::hours(48)};  // previous roots stay trusted
};

struct LoadedCa {
  pki::CertificateAuthority ca;
  std::string bundlePem;  // every trusted root: the current one, then previous ones in overlap
  bool created = false;   // a new root was made on this start
};

/// The whole file, or nullopt and `error` naming it.
std::optional<std::string> readFile(const std::string& path, std::string& error);

/// Writes `text` to `path` with `mode` (fsynced), replacing it atomically. False and `error`
/// naming the file otherwise.
bool writeFile(const std::string& path, const std::string& text, mode_t mode, std::string& error);

/// Loads or creates the CA as above. A key file readable by group or others, a key that does
/// not match its certificate, or an expired CA is an error naming the file.
std::optional<LoadedCa> loadOrCreateCa(const CaOptions& options, std::string& error);

}  // namespace trellis::controlplane
