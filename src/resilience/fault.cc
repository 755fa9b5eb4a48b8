#include "resilience/fault.h"

#include "routing/rule_match.h"

namespace trellis::resilience {
namespace {

constexpr uint64_t kMillion = 1000000;

bool drawn(uint32_t perMillion, uint64_t draw) {
  return perMillion >= kMillion || draw % kMillion < perMillion;
}

}  // namespace

FaultDecision decideFault(const config::FaultInjection& fault,
                          std::span<const http::HeaderField> headers, uint64_t delayDraw,
                          uint64_t abortDraw) {
  FaultDecision decision;
  for (const config::ValueMatch& match : fault.headers) {
    if (!routing::headerMatches(headers, match.name, match.value, match.regex.get())) {
      return decision;
    }
  }
  if (fault.delay.count() > 0 && drawn(fault.delayPerMillion, delayDraw)) {
    decision.delay = fault.delay;
  }
  if ((fault.abortHttpStatus != 0 || fault.abortGrpcStatus >= 0) &&
      drawn(fault.abortPerMillion, abortDraw)) {
    decision.abortHttpStatus = fault.abortHttpStatus;
    decision.abortGrpcStatus = fault.abortGrpcStatus;
  }
  return decision;
}

}  // namespace trellis::resilience
