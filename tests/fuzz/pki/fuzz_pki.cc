// Feeds arbitrary bytes to what trellisd parses from untrusted callers before any credential is
// checked: the SPIFFE ID parser (hand-written, per the SPIFFE-ID spec), CSRs and certificate
// chains in PEM (OpenSSL underneath, our handling around it). Nothing may crash or leak; a
// parsed SPIFFE ID must print back to a string that parses to the same ID.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tls/pki/spiffe_id.h"
#include "tls/pki/x509.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (auto id = trellis::pki::SpiffeId::parse(input, &error)) {
    auto again = trellis::pki::SpiffeId::parse(id->uri());
    if (!again || !(*again == *id)) __builtin_trap();
    (void)id->workloadNamespace();
    (void)id->serviceAccount();
  }
  if (auto csr = trellis::pki::parseCsr(input, &error)) {
    for (const auto& uri : csr->uriSans) (void)trellis::pki::SpiffeId::parse(uri);
  }
  for (const auto& cert : trellis::pki::parseCertificates(input, &error)) {
    (void)trellis::pki::inspect(*cert);
  }
  return 0;
}
