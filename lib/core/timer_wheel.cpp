#include "sluice/core/timer_wheel.hpp"

#include <algorithm>
#include <limits>

namespace sluice {

TimerWheel::TimerWheel(std::uint64_t tick_ms, std::size_t slots, std::uint64_t now_ms)
    : tick_ms_(std::max<std::uint64_t>(tick_ms, 1)),
      // No overflow in schedule()'s sums with a huge tick either.
      max_delay_ms_(std::min(kMaxDelayTicks, std::numeric_limits<std::uint64_t>::max() / 2 / tick_ms_) * tick_ms_),
      current_tick_(now_ms / tick_ms_),
      slots_(std::max<std::size_t>(slots, 2)) {}

TimerWheel::~TimerWheel() {
  // Entries outlive the wheel only during teardown; detach them so their
  // destructors do not touch freed sentinels.
  for (Sentinel& s : slots_) detach_all(s);
  detach_all(due_);
}

void TimerWheel::detach_all(Sentinel& list) noexcept {
  Entry* e = list.next_;
  while (e != &list) {
    Entry* next = e->next_;
    e->prev_ = e->next_ = nullptr;
    e = next;
  }
  list.prev_ = list.next_ = &list;
}

void TimerWheel::move_all_to_back(Sentinel& to, Sentinel& from) noexcept {
  if (!from.holds_entries()) return;
  from.next_->prev_ = to.prev_;
  to.prev_->next_ = from.next_;
  from.prev_->next_ = &to;
  to.prev_ = from.prev_;
  from.prev_ = from.next_ = &from;
}

void TimerWheel::file(Entry& entry, std::uint64_t slot_tick) noexcept {
  entry.slot_tick_ = static_cast<std::uint32_t>(slot_tick);
  push_back(slots_[slot_tick % slots_.size()], entry);
}

inline void TimerWheel::rearm(Entry& entry, std::uint64_t deadline) noexcept {
  entry.deadline_tick_ = static_cast<std::uint32_t>(deadline);
  // Its slot is looked at no later than the new deadline: advance() moves
  // it on from there.
  if (entry.is_scheduled() && full_tick(entry.slot_tick_) <= deadline) return;
  entry.unlink();
  file(entry, deadline);
}

void TimerWheel::schedule(Entry& entry, std::uint64_t now_ms, std::uint64_t delay_ms) noexcept {
  // Round up so the entry never fires early.
  std::uint64_t deadline = (now_ms + std::min(delay_ms, max_delay_ms_) + tick_ms_ - 1) / tick_ms_;
  if (deadline > current_tick_ + kMaxDelayTicks) return schedule_far(entry, now_ms, deadline);
  rearm(entry, std::max(deadline, current_tick_ + 1));
}

// Apart from schedule(): with this call inside it, every schedule() set up
// a frame for it (tools/profile: 12 instructions a call).
void TimerWheel::schedule_far(Entry& entry, std::uint64_t now_ms, std::uint64_t deadline) noexcept {
  // A wheel left alone while it held nothing (EventLoop stops advancing it
  // then) may be far behind `now_ms`: with nothing to fire, its clock just
  // moves on. Else the delay was longer than the cap.
  if (empty()) current_tick_ = std::max(current_tick_, now_ms / tick_ms_);
  rearm(entry, std::clamp(deadline, current_tick_ + 1, current_tick_ + kMaxDelayTicks));
}

void TimerWheel::advance(std::uint64_t now_ms) {
  std::uint64_t target = now_ms / tick_ms_;
  if (target <= current_tick_) return;
  if (target - current_tick_ > kMaxDelayTicks) {
    jump_to(target);
  } else {
    advance_to(target);
  }
}

void TimerWheel::advance_to(std::uint64_t target) {
  std::uint64_t steps = std::min<std::uint64_t>(target - current_tick_, slots_.size());
  // Over a gap longer than a revolution every slot is visited once, as ticks
  // target-slots+1 .. target.
  for (std::uint64_t tick = target - steps + 1; tick <= target; ++tick) {
    // Keep current_tick_ at the tick being fired: schedule() from a callback
    // then files entries after it, never into a slot this advance has passed.
    current_tick_ = tick;
    move_all_to_back(due_, slots_[tick % slots_.size()]);
    fire_due(target);
  }
  current_tick_ = target;
}

// Over a gap longer than the longest delay every entry is due, and its
// ticks could not be read across it (full_tick): all are taken, marked due
// at `target`, and fired there.
void TimerWheel::jump_to(std::uint64_t target) {
  for (Sentinel& s : slots_) move_all_to_back(due_, s);
  for (Entry* e = due_.next_; e != &due_; e = e->next_) {
    e->deadline_tick_ = e->slot_tick_ = static_cast<std::uint32_t>(target);
  }
  current_tick_ = target;
  fire_due(target);
}

// Fires what waits in due_ and is due at `target`, and files the rest
// further on. The entries wait in due_ rather than in their slot because
// callbacks may re-arm entries into that very slot, and those must wait
// for a later turn.
void TimerWheel::fire_due(std::uint64_t target) {
  while (due_.holds_entries()) {
    Entry* e = due_.next_;
    e->unlink();
    std::uint64_t deadline = full_tick(e->deadline_tick_);
    if (deadline <= target) {
      e->fn_(e->owner_);
    } else {
      // Not due: a later revolution, or pushed back since it was filed.
      file(*e, deadline);
    }
  }
}

bool TimerWheel::empty() const noexcept {
  if (due_.holds_entries()) return false;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    std::size_t slot = (occupied_hint_ + i) % slots_.size();
    if (slots_[slot].holds_entries()) {
      occupied_hint_ = slot;
      return false;
    }
  }
  return true;
}

std::size_t TimerWheel::size() const noexcept {
  std::size_t n = 0;
  auto count = [&n](const Sentinel& list) {
    for (const Entry* e = list.next_; e != &list; e = e->next_) ++n;
  };
  for (const Sentinel& s : slots_) count(s);
  count(due_);
  return n;
}

}  // namespace sluice
