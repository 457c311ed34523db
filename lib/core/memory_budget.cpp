#include "sluice/core/memory_budget.hpp"

#include "sluice/core/log.hpp"

namespace sluice {

void MemoryBudget::set_budget(std::size_t bytes) noexcept {
  budget_.store(bytes, std::memory_order_relaxed);
  update();
}

void MemoryBudget::update() noexcept {
  std::size_t budget = budget_.load(std::memory_order_relaxed);
  std::size_t held = held_.load(std::memory_order_relaxed);
  Level was = level_.load(std::memory_order_relaxed);
  Level now = was;
  if (budget == 0) {
    now = Level::normal;
  } else if (held >= budget) {
    now = Level::full;
  } else if (held >= budget / 4 * 3) {
    // Up to shedding, or down from full (still above the low mark).
    now = Level::shedding;
  } else if (held < budget / 2) {
    now = Level::normal;
  } else if (was == Level::full) {
    now = Level::shedding;
  }
  level_.store(now, std::memory_order_relaxed);
  set_marks();
  if (now == was) return;
  if (now > was) {
    log().warn("memory budget: {} bytes held of {}: {}", held, budget,
               now == Level::full ? "refusing new requests" : "shedding load");
  } else if (now == Level::normal) {
    log().info("memory budget: {} bytes held of {}: back to normal", held, budget);
  }
  for (auto& listener : listeners_) listener(now);
}

void MemoryBudget::set_marks() noexcept {
  std::size_t budget = budget_.load(std::memory_order_relaxed);
  if (budget == 0) {
    next_up_ = SIZE_MAX;
    next_down_ = 0;
    return;
  }
  switch (level_.load(std::memory_order_relaxed)) {
    case Level::normal:
      next_up_ = budget / 4 * 3;
      next_down_ = 0;
      break;
    case Level::shedding:
      next_up_ = budget;
      next_down_ = budget / 2;
      break;
    case Level::full:
      next_up_ = SIZE_MAX;
      next_down_ = budget;
      break;
  }
}

}  // namespace sluice
