// TimerWheel: precision, re-arming, cancelling, self-unlinking entries and
// callbacks that change the wheel while it advances. The clock is a plain
// integer the test moves by hand.

#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "sluice/core/timer_wheel.hpp"

using sluice::TimerWheel;

namespace {

// An object timed by the wheel, as a connection would be: the entry lives in it.
struct Probe {
  explicit Probe(const std::uint64_t& clock) : clock(&clock) {}

  const std::uint64_t* clock;
  int fired = 0;
  std::uint64_t fired_at = 0;
  std::vector<std::uint64_t> history;
  std::function<void(Probe&)> then;  // runs inside the callback
  TimerWheel::Entry entry{&Probe::on_fire, this};

  static void on_fire(void* self) {
    auto* p = static_cast<Probe*>(self);
    ++p->fired;
    p->fired_at = *p->clock;
    p->history.push_back(*p->clock);
    if (p->then) p->then(*p);
  }
};

// Moves `now` forward one millisecond at a time up to `until`, advancing the wheel.
void step_to(TimerWheel& wheel, std::uint64_t& now, std::uint64_t until, std::uint64_t step = 1) {
  while (now < until) {
    now = std::min(now + step, until);
    wheel.advance(now);
  }
}

}  // namespace

TEST_CASE("TimerWheel: a timeout fires no earlier than asked and at most one tick late", "[timer_wheel]") {
  const std::uint64_t tick = 10;
  for (std::uint64_t start : {0, 3, 9, 10, 17}) {
    for (std::uint64_t delay : {0, 1, 9, 10, 11, 25, 99, 160, 161, 400}) {
      CAPTURE(start, delay);
      std::uint64_t now = 0;
      TimerWheel wheel(tick, 16, now);
      Probe p(now);
      step_to(wheel, now, start);
      wheel.schedule(p.entry, now, delay);
      CHECK(p.entry.is_scheduled());
      step_to(wheel, now, start + delay + 3 * tick);
      REQUIRE(p.fired == 1);
      CHECK(p.fired_at >= start + delay);
      CHECK(p.fired_at <= start + delay + tick);
      CHECK_FALSE(p.entry.is_scheduled());
      CHECK(wheel.size() == 0);
    }
  }
}

TEST_CASE("TimerWheel: a wheel whose clock does not start at zero", "[timer_wheel]") {
  std::uint64_t now = 1'000'003;
  TimerWheel wheel(10, 8, now);
  Probe p(now);
  wheel.schedule(p.entry, now, 25);
  step_to(wheel, now, now + 24);
  CHECK(p.fired == 0);
  step_to(wheel, now, 1'000'003 + 25 + 10);
  CHECK(p.fired == 1);
  CHECK(p.fired_at >= 1'000'003 + 25);
}

TEST_CASE("TimerWheel: tick and slot count are clamped to usable values", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(0, 0, now);
  CHECK(wheel.tick_ms() == 1);
  Probe p(now);
  wheel.schedule(p.entry, now, 5);
  step_to(wheel, now, 4);
  CHECK(p.fired == 0);
  step_to(wheel, now, 6);
  CHECK(p.fired == 1);
}

TEST_CASE("TimerWheel: delays longer than one revolution fire at the right time", "[timer_wheel]") {
  const std::uint64_t tick = 10;
  const std::size_t slots = 8;  // one revolution is 80 ms
  for (std::uint64_t delay : {79, 80, 81, 159, 250, 800, 1234}) {
    CAPTURE(delay);
    std::uint64_t now = 0;
    TimerWheel wheel(tick, slots, now);
    Probe p(now);
    wheel.schedule(p.entry, now, delay);
    step_to(wheel, now, delay - 1);
    CHECK(p.fired == 0);
    step_to(wheel, now, delay + tick);
    CHECK(p.fired == 1);
    CHECK(p.fired_at >= delay);
    CHECK(p.fired_at <= delay + tick);
  }
}

TEST_CASE("TimerWheel: entries sharing a slot on different revolutions fire separately", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe first(now), second(now), third(now);
  wheel.schedule(first.entry, now, 30);
  wheel.schedule(second.entry, now, 30 + 80);
  wheel.schedule(third.entry, now, 30 + 160);
  CHECK(wheel.size() == 3);

  step_to(wheel, now, 100);
  CHECK(first.fired == 1);
  CHECK(second.fired == 0);
  CHECK(third.fired == 0);
  CHECK(wheel.size() == 2);

  step_to(wheel, now, 180);
  CHECK(second.fired == 1);
  CHECK(third.fired == 0);

  step_to(wheel, now, 200);
  CHECK(third.fired == 1);
  CHECK(wheel.size() == 0);
}

TEST_CASE("TimerWheel: one advance over a long gap fires what fell due and keeps the rest", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe soon(now), later(now), much_later(now);
  wheel.schedule(soon.entry, now, 25);
  wheel.schedule(later.entry, now, 500);
  wheel.schedule(much_later.entry, now, 5000);

  now = 1000;  // more than ten revolutions at once
  wheel.advance(now);
  CHECK(soon.fired == 1);
  CHECK(later.fired == 1);
  CHECK(much_later.fired == 0);
  CHECK(wheel.size() == 1);

  step_to(wheel, now, 4999);
  CHECK(much_later.fired == 0);
  step_to(wheel, now, 5010);
  CHECK(much_later.fired == 1);
}

TEST_CASE("TimerWheel: coarse advances fire at the first advance past the deadline", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe p(now);
  wheel.schedule(p.entry, now, 130);
  step_to(wheel, now, 700, 35);  // steps longer than a tick
  REQUIRE(p.fired == 1);
  CHECK(p.fired_at >= 130);
  CHECK(p.fired_at < 130 + 35);
}

TEST_CASE("TimerWheel: advancing to the same or an earlier time does nothing", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe p(now);
  step_to(wheel, now, 100);
  wheel.schedule(p.entry, now, 10);
  wheel.advance(100);
  wheel.advance(50);
  CHECK(p.fired == 0);
  CHECK(wheel.size() == 1);
  step_to(wheel, now, 110);
  CHECK(p.fired == 1);
}

TEST_CASE("TimerWheel: size counts scheduled entries", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe a(now), b(now), c(now);
  CHECK(wheel.size() == 0);
  wheel.schedule(a.entry, now, 10);
  wheel.schedule(b.entry, now, 50);
  wheel.schedule(c.entry, now, 500);
  CHECK(wheel.size() == 3);
  wheel.schedule(b.entry, now, 60);  // re-arming does not add
  CHECK(wheel.size() == 3);
  wheel.cancel(c.entry);
  CHECK(wheel.size() == 2);
  step_to(wheel, now, 20);
  CHECK(wheel.size() == 1);
  step_to(wheel, now, 80);
  CHECK(wheel.size() == 0);
}

TEST_CASE("TimerWheel: re-scheduling moves an entry later", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe p(now);
  wheel.schedule(p.entry, now, 30);
  step_to(wheel, now, 20);
  wheel.schedule(p.entry, now, 200);  // pushed back before it was due
  CHECK(wheel.size() == 1);
  step_to(wheel, now, 219);
  CHECK(p.fired == 0);
  step_to(wheel, now, 400);
  CHECK(p.fired == 1);
  CHECK(p.fired_at >= 220);
  CHECK(p.fired_at <= 230);
}

TEST_CASE("TimerWheel: re-scheduling moves an entry earlier", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe p(now);
  wheel.schedule(p.entry, now, 500);
  wheel.schedule(p.entry, now, 40);
  step_to(wheel, now, 600);
  CHECK(p.fired == 1);
  CHECK(p.fired_at >= 40);
  CHECK(p.fired_at <= 50);
}

TEST_CASE("TimerWheel: a deadline pushed later stays put, and still fires on time", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);  // one revolution is 80 ms
  Probe p(now);

  SECTION("pushed later, then earlier again but after where it was filed") {
    wheel.schedule(p.entry, now, 100);
    wheel.schedule(p.entry, now, 5000);
    wheel.schedule(p.entry, now, 200);
    step_to(wheel, now, 199);
    CHECK(p.fired == 0);
    step_to(wheel, now, 6000);
    CHECK(p.history == std::vector<std::uint64_t>{200});
  }
  SECTION("pushed later, then before where it was filed") {
    wheel.schedule(p.entry, now, 300);
    wheel.schedule(p.entry, now, 1000);
    wheel.schedule(p.entry, now, 50);
    step_to(wheel, now, 49);
    CHECK(p.fired == 0);
    step_to(wheel, now, 2000);
    CHECK(p.history == std::vector<std::uint64_t>{50});
  }
  SECTION("re-armed every millisecond with short and long deadlines in turn, as a busy connection does") {
    for (int i = 0; i < 1000; ++i) {
      wheel.schedule(p.entry, now, i % 2 == 0 ? 100 : 60000);
      step_to(wheel, now, now + 1);
    }
    CHECK(p.fired == 0);
    CHECK(wheel.size() == 1);
    // The last arm asked for 60 s from 999 ms.
    step_to(wheel, now, 60998);
    CHECK(p.fired == 0);
    step_to(wheel, now, 62000);
    REQUIRE(p.fired == 1);
    CHECK(p.fired_at >= 60999);
    CHECK(p.fired_at <= 61009);
    CHECK(wheel.size() == 0);
  }
  SECTION("cancelled after being pushed later") {
    wheel.schedule(p.entry, now, 30);
    wheel.schedule(p.entry, now, 500);
    wheel.cancel(p.entry);
    CHECK(wheel.size() == 0);
    step_to(wheel, now, 1000);
    CHECK(p.fired == 0);
  }
}

TEST_CASE("TimerWheel: a fired entry can be scheduled again", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe p(now);
  wheel.schedule(p.entry, now, 10);
  step_to(wheel, now, 30);
  REQUIRE(p.fired == 1);
  wheel.schedule(p.entry, now, 10);
  step_to(wheel, now, 60);
  CHECK(p.fired == 2);
  CHECK(p.fired_at >= 40);
}

TEST_CASE("TimerWheel: a cancelled entry does not fire", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe p(now), other(now);
  wheel.schedule(p.entry, now, 30);
  wheel.schedule(other.entry, now, 30);  // same slot
  wheel.cancel(p.entry);
  CHECK_FALSE(p.entry.is_scheduled());
  CHECK(wheel.size() == 1);
  step_to(wheel, now, 500);
  CHECK(p.fired == 0);
  CHECK(other.fired == 1);
}

TEST_CASE("TimerWheel: cancelling an idle or already fired entry is harmless", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe p(now), other(now);
  wheel.schedule(other.entry, now, 100);
  wheel.cancel(p.entry);  // never scheduled
  CHECK(wheel.size() == 1);
  wheel.schedule(p.entry, now, 10);
  step_to(wheel, now, 30);
  REQUIRE(p.fired == 1);
  wheel.cancel(p.entry);  // already fired
  wheel.cancel(p.entry);
  CHECK(wheel.size() == 1);
  step_to(wheel, now, 120);
  CHECK(other.fired == 1);
}

TEST_CASE("TimerWheel: an entry destroyed while scheduled unlinks itself", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe before(now), after(now);
  auto doomed = std::make_unique<Probe>(now);
  // Three neighbours in one slot: the middle one goes away.
  wheel.schedule(before.entry, now, 40);
  wheel.schedule(doomed->entry, now, 40);
  wheel.schedule(after.entry, now, 40);
  CHECK(wheel.size() == 3);

  doomed.reset();
  CHECK(wheel.size() == 2);
  step_to(wheel, now, 100);
  CHECK(before.fired == 1);
  CHECK(after.fired == 1);
  CHECK(wheel.size() == 0);
}

TEST_CASE("TimerWheel: entries outliving their wheel are detached", "[timer_wheel]") {
  std::uint64_t now = 0;
  Probe p(now);
  {
    TimerWheel wheel(10, 8, now);
    wheel.schedule(p.entry, now, 100);
    REQUIRE(p.entry.is_scheduled());
  }
  CHECK_FALSE(p.entry.is_scheduled());
  // p's destructor must not touch the freed wheel (checked by sanitizers / no crash).
}

TEST_CASE("TimerWheel: a callback can re-arm its own entry", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe p(now);
  p.then = [&](Probe& self) { wheel.schedule(self.entry, now, 30); };
  wheel.schedule(p.entry, now, 30);
  step_to(wheel, now, 1000);

  REQUIRE(p.history.size() >= 1000 / 40);
  CHECK(p.history.front() >= 30);
  for (std::size_t i = 1; i < p.history.size(); ++i) {
    CAPTURE(i);
    CHECK(p.history[i] - p.history[i - 1] >= 30);
    CHECK(p.history[i] - p.history[i - 1] <= 40);
  }
  CHECK(wheel.size() == 1);
}

TEST_CASE("TimerWheel: a callback re-arming with no delay fires on a later advance, one tick on", "[timer_wheel]") {
  const std::uint64_t tick = 10;
  for (std::uint64_t first_delay : {10, 15}) {  // the first firing on and off a tick boundary
    CAPTURE(first_delay);
    std::uint64_t now = 0;
    TimerWheel wheel(tick, 8, now);
    Probe p(now);
    p.then = [&](Probe& self) {
      if (self.fired < 3) wheel.schedule(self.entry, now, 0);
    };
    wheel.schedule(p.entry, now, first_delay);
    step_to(wheel, now, 200);
    REQUIRE(p.history.size() == 3);
    for (std::size_t i = 1; i < p.history.size(); ++i) {
      CAPTURE(i);
      // Never twice in one advance, and never more than one tick after it was asked for.
      CHECK(p.history[i] > p.history[i - 1]);
      CHECK(p.history[i] <= p.history[i - 1] + tick);
    }
  }
}

TEST_CASE("TimerWheel: a callback re-arming with no delay during a long advance does not loop and fires on the next advance", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe p(now);
  p.then = [&](Probe& self) { wheel.schedule(self.entry, now, 0); };
  wheel.schedule(p.entry, now, 10);
  now = 50;  // a tick boundary
  wheel.advance(now);
  // It may fire again in this advance (it is due at 50), but not endlessly.
  const int after_first_advance = p.fired;
  CHECK(after_first_advance >= 1);
  CHECK(after_first_advance <= 2);
  CHECK(wheel.size() == 1);
  now = 60;
  wheel.advance(now);
  CHECK(p.fired == after_first_advance + 1);
}

TEST_CASE("TimerWheel: two entries due together that cancel each other: exactly one fires", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe a(now), b(now);
  a.then = [&](Probe&) { wheel.cancel(b.entry); };
  b.then = [&](Probe&) { wheel.cancel(a.entry); };
  wheel.schedule(a.entry, now, 20);
  wheel.schedule(b.entry, now, 20);
  step_to(wheel, now, 100);
  CHECK(a.fired + b.fired == 1);
  CHECK(wheel.size() == 0);
}

TEST_CASE("TimerWheel: a callback can cancel an entry due later in the same advance", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe first(now), second(now);
  first.then = [&](Probe&) { wheel.cancel(second.entry); };
  wheel.schedule(first.entry, now, 20);
  wheel.schedule(second.entry, now, 50);
  now = 70;  // both fall due in this one advance
  wheel.advance(now);
  CHECK(first.fired == 1);
  CHECK(second.fired == 0);
  CHECK(wheel.size() == 0);
}

TEST_CASE("TimerWheel: a callback can destroy another entry due in the same slot", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe killer(now), survivor(now);
  auto victim = std::make_unique<Probe>(now);
  killer.then = [&](Probe&) { victim.reset(); };
  wheel.schedule(killer.entry, now, 30);
  wheel.schedule(victim->entry, now, 30);
  wheel.schedule(survivor.entry, now, 30);
  step_to(wheel, now, 100);
  CHECK(killer.fired == 1);
  CHECK(victim == nullptr);
  CHECK(survivor.fired == 1);
  CHECK(wheel.size() == 0);
}

TEST_CASE("TimerWheel: a callback can re-arm another entry that was about to fire", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe first(now), postponed(now);
  first.then = [&](Probe&) { wheel.schedule(postponed.entry, now, 100); };
  wheel.schedule(first.entry, now, 30);
  wheel.schedule(postponed.entry, now, 30);  // same slot, after `first`
  step_to(wheel, now, 129);
  CHECK(first.fired == 1);
  CHECK(postponed.fired == 0);
  CHECK(wheel.size() == 1);
  step_to(wheel, now, 300);
  CHECK(postponed.fired == 1);
  CHECK(postponed.fired_at >= first.fired_at + 100);
}

TEST_CASE("TimerWheel: a callback can schedule new entries", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe starter(now), follower(now);
  starter.then = [&](Probe&) { wheel.schedule(follower.entry, now, 45); };
  wheel.schedule(starter.entry, now, 20);
  step_to(wheel, now, 300);
  REQUIRE(starter.fired == 1);
  REQUIRE(follower.fired == 1);
  CHECK(follower.fired_at >= starter.fired_at + 45);
  CHECK(follower.fired_at <= starter.fired_at + 45 + 10);
}

TEST_CASE("TimerWheel: an entry is five words: two links, the callback, its owner and two 32-bit ticks", "[timer_wheel]") {
  STATIC_REQUIRE(sizeof(TimerWheel::Entry) == 4 * sizeof(void*) + 2 * sizeof(std::uint32_t));
  if constexpr (sizeof(void*) == 8) STATIC_REQUIRE(sizeof(TimerWheel::Entry) == 40);
}

TEST_CASE("TimerWheel: empty and size look at every slot, and at the tick being fired", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  CHECK(wheel.empty());
  CHECK(wheel.size() == 0);
  for (std::uint64_t delay : {10, 35, 70, 79, 500}) {  // slots all round the wheel, and a later revolution
    CAPTURE(delay);
    Probe p(now);
    wheel.schedule(p.entry, now, delay);
    CHECK_FALSE(wheel.empty());
    CHECK(wheel.size() == 1);
    p.entry.cancel();
    CHECK(wheel.empty());
  }

  SECTION("emptied by firing, by cancelling and by destruction, in turn") {
    Probe fires(now), cancelled(now);
    auto destroyed = std::make_unique<Probe>(now);
    wheel.schedule(fires.entry, now, 20);
    wheel.schedule(cancelled.entry, now, 40);
    wheel.schedule(destroyed->entry, now, 60);
    CHECK(wheel.size() == 3);
    CHECK_FALSE(wheel.empty());  // remembers where it found one
    step_to(wheel, now, 30);
    CHECK(fires.fired == 1);
    CHECK_FALSE(wheel.empty());
    cancelled.entry.cancel();
    CHECK_FALSE(wheel.empty());
    destroyed.reset();
    CHECK(wheel.empty());
    CHECK(wheel.size() == 0);
  }
  SECTION("entries due in the same tick count until each has fired") {
    Probe first(now), second(now);
    std::size_t size_seen = 0;
    bool empty_seen = true;
    first.then = [&](Probe&) {
      size_seen = wheel.size();
      empty_seen = wheel.empty();
    };
    wheel.schedule(first.entry, now, 30);
    wheel.schedule(second.entry, now, 30);
    step_to(wheel, now, 40);
    CHECK(size_seen == 1);  // `second`, waiting its turn in this tick
    CHECK_FALSE(empty_seen);
    CHECK(second.fired == 1);
    CHECK(wheel.empty());
  }
}

TEST_CASE("TimerWheel: ticks past 2^32 (an entry's 32 bits wrap) fire on time", "[timer_wheel]") {
  // A 1 ms tick on a clock that has run 49.7 days: entries' low 32 bits
  // wrap while they wait.
  const std::uint64_t start = (std::uint64_t{1} << 32) - 40;
  std::uint64_t now = start;
  TimerWheel wheel(1, 16, now);
  Probe before(now), across(now), long_after(now), pushed(now);
  wheel.schedule(before.entry, now, 20);       // fires before the wrap
  wheel.schedule(across.entry, now, 60);       // after it
  wheel.schedule(long_after.entry, now, 5000);  // many revolutions after it
  wheel.schedule(pushed.entry, now, 10);
  wheel.schedule(pushed.entry, now, 100);  // pushed later across the wrap: stays in its slot
  step_to(wheel, now, start + 19);
  CHECK(before.fired == 0);
  step_to(wheel, now, start + 59);
  CHECK(before.history == std::vector<std::uint64_t>{start + 20});
  CHECK(across.fired == 0);
  step_to(wheel, now, start + 6000);
  CHECK(across.history == std::vector<std::uint64_t>{start + 60});
  CHECK(pushed.history == std::vector<std::uint64_t>{start + 100});
  CHECK(long_after.history == std::vector<std::uint64_t>{start + 5000});
  CHECK(wheel.empty());
}

TEST_CASE("TimerWheel: a delay longer than kMaxDelayTicks fires at that bound", "[timer_wheel]") {
  const std::uint64_t bound = TimerWheel::kMaxDelayTicks;  // at a 1 ms tick, 24.8 days
  std::uint64_t now = 1000;
  TimerWheel wheel(1, 8, now);
  Probe capped(now), longest(now);
  wheel.schedule(capped.entry, now, std::numeric_limits<std::uint64_t>::max());  // no overflow either
  wheel.schedule(longest.entry, now, bound);
  now += bound - 1;
  wheel.advance(now);
  CHECK(capped.fired == 0);
  CHECK(longest.fired == 0);
  now += 1;
  wheel.advance(now);
  CHECK(capped.fired == 1);
  CHECK(longest.fired == 1);
  CHECK(wheel.empty());
}

TEST_CASE("TimerWheel: one advance over a gap of many times kMaxDelayTicks", "[timer_wheel]") {
  std::uint64_t now = 7;
  TimerWheel wheel(1, 8, now);
  Probe soon(now), latest(now), rearming(now);
  wheel.schedule(soon.entry, now, 5);
  wheel.schedule(latest.entry, now, TimerWheel::kMaxDelayTicks);
  // Re-armed from its callback, for 1000 ms after the new time.
  rearming.then = [&](Probe& self) { wheel.schedule(self.entry, now, 1000); };
  wheel.schedule(rearming.entry, now, 3);
  now += 5 * TimerWheel::kMaxDelayTicks + 12345;
  wheel.advance(now);
  CHECK(soon.fired == 1);
  CHECK(latest.fired == 1);
  CHECK(rearming.fired == 1);
  CHECK(wheel.size() == 1);  // `rearming`, 1000 ms after `now`
  // Ticks are read right after the jump: entries fire on time.
  Probe after(now);
  const std::uint64_t armed_at = now;
  wheel.schedule(after.entry, now, 30);
  step_to(wheel, now, armed_at + 29);
  CHECK(after.fired == 0);
  step_to(wheel, now, armed_at + 2000);
  CHECK(after.history == std::vector<std::uint64_t>{armed_at + 30});
  CHECK(rearming.history == std::vector<std::uint64_t>{armed_at, armed_at + 1000, armed_at + 2000});
}

TEST_CASE("TimerWheel: a callback may advance the wheel itself", "[timer_wheel]") {
  std::uint64_t now = 0;
  TimerWheel wheel(10, 8, now);
  Probe first(now), second(now), third(now), later(now);
  first.then = [&](Probe&) { wheel.advance(now); };  // the rest of this tick, and on to `now`
  for (Probe* p : {&first, &second, &third}) wheel.schedule(p->entry, now, 20);
  wheel.schedule(later.entry, now, 60);
  now = 70;  // the three fire at tick 2 of 7: `first`'s advance does ticks 2 to 7
  wheel.advance(now);
  CHECK(first.fired == 1);
  CHECK(second.fired == 1);
  CHECK(third.fired == 1);
  CHECK(later.fired == 1);
  CHECK(wheel.empty());
}

TEST_CASE("TimerWheel: a wheel left alone while empty schedules from the caller's clock", "[timer_wheel]") {
  // EventLoop stops advancing an empty wheel; its clock may be far behind.
  for (std::uint64_t idle_for : {std::uint64_t{5000}, 3 * TimerWheel::kMaxDelayTicks}) {
    CAPTURE(idle_for);
    std::uint64_t now = 0;
    TimerWheel wheel(1, 8, now);
    now += idle_for;
    Probe p(now);
    wheel.schedule(p.entry, now, 100);
    step_to(wheel, now, now + 99);
    CHECK(p.fired == 0);
    step_to(wheel, now, now + 10);
    CHECK(p.history == std::vector<std::uint64_t>{idle_for + 100});
  }
}
