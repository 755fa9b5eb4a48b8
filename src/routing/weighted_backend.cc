#include "routing/route_table.h"

namespace trellis::routing {

int pickWeightedBackend(std::span<const config::WeightedBackend> backends, uint64_t random) {
  uint64_t total = 0;  // 32-bit weights cannot overflow 64 bits for any realistic list
  for (const config::WeightedBackend& b : backends) total += b.weight;
  if (total == 0) return -1;
  uint64_t point = random % total;  // bias below 2^-32 for 32-bit totals: negligible
  for (size_t i = 0; i < backends.size(); ++i) {
    if (point < backends[i].weight) return static_cast<int>(i);
    point -= backends[i].weight;
  }
  return -1;  // unreachable: point < total
}

}  // namespace trellis::routing
