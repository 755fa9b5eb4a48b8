#pragma once
// Allocation counting for tests: alloc_counter.cc replaces the global operator new.

namespace trellis::testing {

/// Allocations made through operator new by the calling thread so far.
long allocationCount();

}  // namespace trellis::testing
