// MemoryBudget: levels with a gap on the way down, listeners, peak.
#include <catch2/catch.hpp>

#include <vector>

#include "sluice/core/memory_budget.hpp"

using sluice::MemoryBudget;
using Level = MemoryBudget::Level;

TEST_CASE("MemoryBudget: without a budget it stays normal whatever is held", "[memory_budget]") {
  MemoryBudget m;
  m.charge(1u << 30);
  CHECK(m.level() == Level::normal);
  CHECK(m.held() == 1u << 30);
  m.release(1u << 30);
  CHECK(m.held() == 0);
  CHECK(m.peak() == 1u << 30);
}

TEST_CASE("MemoryBudget: shedding at 3/4, full at the budget, normal again below 1/2", "[memory_budget]") {
  MemoryBudget m;
  std::vector<Level> told;
  m.on_level_change([&](Level l) { told.push_back(l); });
  m.set_budget(1000);
  m.charge(700);
  CHECK(m.level() == Level::normal);
  m.charge(50);  // 750
  CHECK(m.level() == Level::shedding);
  m.charge(250);  // 1000
  CHECK(m.level() == Level::full);
  m.release(100);  // 900: below the budget, above 3/4
  CHECK(m.level() == Level::shedding);
  m.release(300);  // 600: below 3/4, not yet below 1/2
  CHECK(m.level() == Level::shedding);
  m.release(101);  // 499
  CHECK(m.level() == Level::normal);
  CHECK(told == std::vector<Level>{Level::shedding, Level::full, Level::shedding, Level::normal});
  CHECK(m.peak() == 1000);
}

TEST_CASE("MemoryBudget: a budget set or lifted while bytes are held takes effect at once", "[memory_budget]") {
  MemoryBudget m;
  m.charge(900);
  m.set_budget(1000);
  CHECK(m.level() == Level::shedding);
  m.set_budget(0);
  CHECK(m.level() == Level::normal);
}
