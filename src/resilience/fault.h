#pragma once
// Fault injection: whether this request is delayed and/or aborted, decided once per request from
// the rule's FaultInjection and two random draws (so the observed shares follow the configured
// percentages).

#include <cstdint>
#include <span>

#include "config/model.h"
#include "http/header_field.h"

namespace trellis::resilience {

struct FaultDecision {
  config::Duration delay{0};     // 0 = no delay
  uint16_t abortHttpStatus = 0;  // 0 = no abort
  int16_t abortGrpcStatus = -1;  // >= 0 with an abort: gRPC calls end with this grpc-status

  bool aborts() const { return abortHttpStatus != 0 || abortGrpcStatus >= 0; }
};

/// `delayDraw` and `abortDraw` are independent uniform random numbers.
FaultDecision decideFault(const config::FaultInjection& fault,
                          std::span<const http::HeaderField> headers, uint64_t delayDraw,
                          uint64_t abortDraw);

}  // namespace trellis::resilience
