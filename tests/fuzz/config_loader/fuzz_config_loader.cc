// Feeds arbitrary bytes to the configuration loader: it must never crash or throw, and must
// either produce a snapshot or errors, never both.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/dump.h"
#include "config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  trellis::config::LoadResult result = trellis::config::loadString(input, "fuzz.yaml");
  if (result.ok() == !result.errors.empty()) __builtin_trap();
  for (const auto& error : result.errors) (void)error.toString();
  for (const auto& warning : result.warnings) (void)warning.toString();
  if (result.ok()) {
    // Values may hold non-UTF-8 bytes (header values allow obs-text): dump with replacement.
    (void)trellis::config::toJson(*result.snapshot)
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return 0;
}
