#pragma once
// trellisd's own certificate, for the mutual-TLS xDS port: SPIFFE ID
// spiffe://<trust-domain>/ns/trellis-system/sa/trellisd, which sidecars insist on. Its key is
// made here and stays in <data-dir>/xds-tls/identity.pem (mode 0600) together with the chain,
// beside roots.pem; gRPC re-reads both files. It is renewed on the loop at half its lifetime.
//
// Key and chain share one file, replaced by one rename: gRPC 1.51's file watcher does not check
// that a key matches its certificate, only that a file did not change while it read it, so two
// files renamed one after the other could be read as a mismatched pair and break every handshake.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/event_loop.h"
#include "common/timer_wheel.h"
#include "controlplane/identity/certificate_service.h"
#include "tls/pki/x509.h"

namespace trellis::controlplane {

class ServingCertificate {
 public:
  /// Lifetime of the serving certificate: never shorter than a day, whatever --cert-ttl says
  /// (gRPC notices a renewal only when it next reads the files).
  static constexpr std::chrono::seconds kMinimumTtl{std::chrono::hours(24)};

  ServingCertificate(EventLoop& loop, const CertificateService& certificates, std::string dir,
                     std::string spiffeId);

  /// Keeps the certificate of the previous run if it is still trusted and not past half its
  /// lifetime (after a root change sidecars still trust it, and learn the new root from it by
  /// SDS); otherwise issues one. Writes the files. An error text, or "".
  std::string start();

  /// The private key and the chain (leaf first), in one PEM file: give it to gRPC as both.
  const std::string& identityFile() const { return identityFile_; }
  const std::string& rootsFile() const { return rootsFile_; }

 private:
  std::string issueAndWrite();
  /// The previous run's certificate, if start() may keep it.
  std::optional<pki::CertInfo> reusable() const;
  void armRenewal(int64_t expiresAt, int64_t notBefore);
  void renew();

  EventLoop& loop_;
  const CertificateService& certificates_;
  std::string dir_;
  std::string spiffeId_;
  std::string identityFile_;
  std::string rootsFile_;
  Timer renewal_;
};

}  // namespace trellis::controlplane
