#include "controlplane/identity/ca_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace trellis::controlplane {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

/// The key must be the operator's and trellisd's alone.
bool keyFileIsPrivate(const std::string& path, std::string& error) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    error = fmt::format("{}: {}", path, std::strerror(errno));
    return false;
  }
  if ((info.st_mode & 077) != 0) {
    error = fmt::format(
        "{}: the CA key is readable by others (mode {:o}); chmod 600 it (the key signs every "
        "workload identity of the mesh)",
        path, info.st_mode & 0777);
    return false;
  }
  return true;
}

bool selfSigned(X509& cert) {
  return X509_NAME_cmp(X509_get_subject_name(&cert), X509_get_issuer_name(&cert)) == 0 &&
         X509_verify(&cert, X509_get0_pubkey(&cert)) == 1;
}

/// The root at the top of `chainPem`, which must end with one.
std::optional<std::string> rootOf(const std::string& chainPem, const std::string& what,
                                  std::string& error) {
  std::string parseError;
  std::vector<pki::CertPtr> chain = pki::parseCertificates(chainPem, &parseError);
  if (chain.empty()) {
    error = fmt::format("{}: no certificate ({})", what, parseError);
    return std::nullopt;
  }
  if (!selfSigned(*chain.back())) {
    error = fmt::format(
        "{}: the chain does not end with its root; put the signing certificate first, then its "
        "intermediates, then the self-signed root (the root goes into the trust bundle)",
        what);
    return std::nullopt;
  }
  return pki::certificatePem(*chain.back());
}

/// Previous roots still inside their overlap, and the record of the root in use.
struct RootHistory {
  json previous = json::array();  // [{"pem": ..., "trustedUntil": unix seconds}]
  std::string current;            // PEM of the root in use at the last start
};

}  // namespace

std::optional<std::string> readFile(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = fmt::format("{}: cannot read it ({})", path, std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool writeFile(const std::string& path, const std::string& text, mode_t mode, std::string& error) {
  const std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    error = fmt::format("{}: cannot create it ({})", temporary, std::strerror(errno));
    return false;
  }
  const bool written = ::fchmod(fd, mode) == 0 &&
                       ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    error = fmt::format("{}: cannot write it ({})", path, std::strerror(errno));
    ::unlink(temporary.c_str());
    return false;
  }
  return true;
}

std::optional<LoadedCa> loadOrCreateCa(const CaOptions& options, std::string& error) {
  const fs::path dir = fs::path(options.dataDir) / "ca";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    error = fmt::format("{}: {}", dir.string(), ec.message());
    return std::nullopt;
  }
  ::chmod(dir.c_str(), 0700);
  if (options.caCertPath.empty() != options.caKeyPath.empty()) {
    error = "--ca-cert and --ca-key go together: give both, or neither to use trellisd's own CA";
    return std::nullopt;
  }

  std::string certPath = options.caCertPath;
  std::string keyPath = options.caKeyPath;
  bool created = false;
  if (certPath.empty()) {
    certPath = (dir / "root.pem").string();
    keyPath = (dir / "root-key.pem").string();
    if (!fs::exists(certPath, ec)) {
      pki::CertificateAuthority root =
          pki::CertificateAuthority::createRoot(options.trustDomain, options.rootValidity);
      // The key first: a root certificate without its key would be unusable.
      if (!writeFile(keyPath, root.keyPem(), 0600, error) ||
          !writeFile(certPath, root.chainPem(), 0644, error)) {
        return std::nullopt;
      }
      created = true;
    }
  }
  if (!keyFileIsPrivate(keyPath, error)) return std::nullopt;
  auto chainPem = readFile(certPath, error);
  auto keyPem = chainPem ? readFile(keyPath, error) : std::nullopt;
  if (!chainPem || !keyPem) return std::nullopt;
  std::string loadError;
  auto ca = pki::CertificateAuthority::load(*chainPem, *keyPem, &loadError);
  if (!ca) {
    error = fmt::format("CA {} with key {}: {}", certPath, keyPath, loadError);
    return std::nullopt;
  }
  auto root = rootOf(*chainPem, certPath, error);
  if (!root) return std::nullopt;

  // Root rotation: a root that was in use before and is no longer stays trusted for the
  // overlap, so certificates it signed keep working until their proxies renew.
  const int64_t now = std::time(nullptr);
  const std::string historyPath = (dir / "roots.json").string();
  RootHistory history;
  if (fs::exists(historyPath, ec)) {
    auto text = readFile(historyPath, error);
    if (!text) return std::nullopt;
    json parsed = json::parse(*text, nullptr, false);
    if (parsed.is_object()) {
      if (parsed.contains("previous") && parsed["previous"].is_array()) {
        history.previous = parsed["previous"];
      }
      if (parsed.contains("current") && parsed["current"].is_string()) {
        history.current = parsed["current"].get<std::string>();
      }
    }
  }
  if (!history.current.empty() && history.current != *root) {
    history.previous.push_back(
        {{"pem", history.current}, {"trustedUntil", now + options.rootOverlap.count()}});
  }
  history.current = *root;
  std::string bundle = *root;
  json kept = json::array();
  for (const json& entry : history.previous) {
    if (!entry.is_object() || !entry.contains("pem") || !entry.contains("trustedUntil")) continue;
    if (entry["trustedUntil"].get<int64_t>() <= now || entry["pem"] == *root) continue;
    bundle += entry["pem"].get<std::string>();
    kept.push_back(entry);
  }
  if (!writeFile(historyPath, json{{"current", history.current}, {"previous", kept}}.dump(2), 0644,
                 error)) {
    return std::nullopt;
  }
  return LoadedCa{std::move(*ca), std::move(bundle), created};
}

}  // namespace trellis::controlplane
