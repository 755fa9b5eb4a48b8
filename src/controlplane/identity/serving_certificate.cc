#include "controlplane/identity/serving_certificate.h"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>

#include "common/logging.h"
#include "controlplane/identity/ca_files.h"
#include "tls/pki/spiffe_id.h"
#include "tls/pki/x509.h"

namespace trellis::controlplane {
namespace {

// A failed renewal (a full disk, say) is tried again this soon; the current one is still valid.
constexpr uint64_t kRetryMs = 60'000;

}  // namespace

ServingCertificate::ServingCertificate(EventLoop& loop, const CertificateService& certificates,
                                       std::string dir, std::string spiffeId)
    : loop_(loop),
      certificates_(certificates),
      dir_(std::move(dir)),
      spiffeId_(std::move(spiffeId)),
      identityFile_(dir_ + "/identity.pem"),
      rootsFile_(dir_ + "/roots.pem"),
      renewal_([this] { renew(); }) {}

std::string ServingCertificate::start() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return fmt::format("{}: {}", dir_, ec.message());
  ::chmod(dir_.c_str(), 0700);
  if (const std::optional<pki::CertInfo> previous = reusable()) {
    std::string error;
    // The bundle may have gained a root: client certificates of the new root must pass.
    if (!writeFile(rootsFile_, certificates_.bundlePem(), 0644, error)) return error;
    armRenewal(previous->notAfter, previous->notBefore);
    log::info("xDS TLS port: serving as {} with the certificate of the previous run, until {}",
              spiffeId_, previous->notAfter);
    return "";
  }
  return issueAndWrite();
}

std::optional<pki::CertInfo> ServingCertificate::reusable() const {
  std::string error;
  const auto identity = readFile(identityFile_, error);
  const auto id = pki::SpiffeId::parse(spiffeId_);
  const size_t chainStart =
      identity ? identity->find("-----BEGIN CERTIFICATE-----") : std::string::npos;
  if (chainStart == std::string::npos || !id) return std::nullopt;
  const std::string_view keyPem = std::string_view(*identity).substr(0, chainStart);
  const std::string_view chain = std::string_view(*identity).substr(chainStart);
  const int64_t now = std::time(nullptr);
  if (!pki::verifyChain(chain, certificates_.bundlePem(), now, id)) return std::nullopt;
  const pki::KeyPtr key = pki::parsePrivateKey(keyPem);
  const std::vector<pki::CertPtr> certs = pki::parseCertificates(chain);
  if (key == nullptr || certs.empty()) return std::nullopt;
  const std::string probe = "trellisd";  // the key must be the certificate's
  if (!pki::verifySignature(*certs.front(), probe, pki::sign(*key, probe))) return std::nullopt;
  pki::CertInfo info = pki::inspect(*certs.front());
  if (now >= info.notBefore + (info.notAfter - info.notBefore) / 2) return std::nullopt;
  return info;
}

void ServingCertificate::armRenewal(int64_t expiresAt, int64_t notBefore) {
  const int64_t now = std::time(nullptr);
  const int64_t renewAt = notBefore + (expiresAt - notBefore) / 2;
  renewal_.arm(loop_.timers(), static_cast<uint64_t>(std::max<int64_t>(1, renewAt - now)) * 1000);
}

std::string ServingCertificate::issueAndWrite() {
  std::string error;
  const auto id = pki::SpiffeId::parse(spiffeId_, &error);
  if (!id) return fmt::format("trellisd's identity {}: {}", spiffeId_, error);
  const pki::KeyPtr key = pki::generateKey();
  const std::string csr = pki::makeCsr(*key, *id);
  const auto ttl = std::max(certificates_.ttl(), kMinimumTtl);
  const auto chain = certificates_.issueOwn(csr, *id, ttl, &error);
  if (!chain) return fmt::format("trellisd's certificate for the xDS TLS port: {}", error);
  const std::vector<pki::CertPtr> issued = pki::parseCertificates(*chain);
  if (issued.empty()) return "trellisd's certificate for the xDS TLS port: nothing issued";
  // One file, one rename (see the header); a failed write leaves the previous pair in place.
  if (!writeFile(rootsFile_, certificates_.bundlePem(), 0644, error) ||
      !writeFile(identityFile_, pki::privateKeyPem(*key) + *chain, 0600, error)) {
    return error;
  }
  const pki::CertInfo info = pki::inspect(*issued.front());
  armRenewal(info.notAfter, info.notBefore);
  log::info("xDS TLS port: serving as {} until {}", spiffeId_, info.notAfter);
  return "";
}

void ServingCertificate::renew() {
  if (std::string error = issueAndWrite(); !error.empty()) {
    log::error("xDS TLS port: renewal failed, trying again in {} s: {}", kRetryMs / 1000, error);
    renewal_.arm(loop_.timers(), kRetryMs);
  }
}

}  // namespace trellis::controlplane
