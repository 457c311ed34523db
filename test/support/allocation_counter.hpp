#pragma once
// Counting heap allocations: the executable that links allocation_counter.cpp
// replaces the global operator new (its own binary, so no other suite is
// affected; not under ThreadSanitizer, which replaces it too).
//
// SLUICE_ALLOC_TRACE=1 prints a backtrace for every allocation counted, to
// find the one that crept in.

#include <cstddef>

namespace sluice::test {

/// Counts the allocations made while it lives (this thread and any other).
class AllocationCounter {
 public:
  AllocationCounter();
  ~AllocationCounter();
  AllocationCounter(const AllocationCounter&) = delete;
  AllocationCounter& operator=(const AllocationCounter&) = delete;
  std::size_t count() const noexcept;
};

}  // namespace sluice::test
