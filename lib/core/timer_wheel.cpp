#include "sluice/core/timer_wheel.hpp"

#include <algorithm>

namespace sluice {

TimerWheel::TimerWheel(std::uint64_t tick_ms, std::size_t slots, std::uint64_t now_ms)
    : tick_ms_(std::max<std::uint64_t>(tick_ms, 1)), current_tick_(now_ms / tick_ms_), slots_(std::max<std::size_t>(slots, 2)) {
  for (Sentinel& s : slots_) s.prev_ = s.next_ = &s;
}

TimerWheel::~TimerWheel() {
  // Entries outlive the wheel only during teardown; detach them so their
  // destructors do not touch freed sentinels.
  for (Sentinel& s : slots_) {
    Entry* e = s.next_;
    while (e != &s) {
      Entry* next = e->next_;
      e->prev_ = e->next_ = nullptr;
      e->wheel_ = nullptr;
      e = next;
    }
    s.prev_ = s.next_ = &s;
  }
}

void TimerWheel::schedule(Entry& entry, std::uint64_t now_ms, std::uint64_t delay_ms) noexcept {
  // Round up so the entry never fires early.
  std::uint64_t deadline = (now_ms + delay_ms + tick_ms_ - 1) / tick_ms_;
  if (deadline <= current_tick_) deadline = current_tick_ + 1;
  if (entry.wheel_ == this && entry.slot_tick_ <= deadline) {
    // Its slot is looked at no later than the new deadline; advance() moves
    // it on from there.
    entry.deadline_tick_ = deadline;
    return;
  }
  entry.unlink();
  entry.deadline_tick_ = entry.slot_tick_ = deadline;
  entry.wheel_ = this;
  push_back(slots_[deadline % slots_.size()], entry);
  ++size_;
}

void TimerWheel::advance(std::uint64_t now_ms) {
  std::uint64_t target = now_ms / tick_ms_;
  if (target <= current_tick_) return;
  std::uint64_t steps = std::min<std::uint64_t>(target - current_tick_, slots_.size());
  // Over a gap longer than a revolution every slot is visited once, as ticks
  // target-slots+1 .. target.
  for (std::uint64_t tick = target - steps + 1; tick <= target; ++tick) {
    // Keep current_tick_ at the tick being fired: schedule() from a callback
    // then files entries after it, never into a slot this advance has passed.
    current_tick_ = tick;
    Sentinel& slot = slots_[tick % slots_.size()];
    // Move the slot's entries to a private list first: callbacks may re-arm
    // entries into this very slot, and those must wait for a later turn.
    Sentinel pending;
    pending.prev_ = pending.next_ = &pending;
    if (slot.next_ != &slot) {
      pending.next_ = slot.next_;
      pending.prev_ = slot.prev_;
      pending.next_->prev_ = &pending;
      pending.prev_->next_ = &pending;
      slot.prev_ = slot.next_ = &slot;
    }
    while (pending.next_ != &pending) {
      Entry* e = pending.next_;
      // unlink from `pending` without touching size_: the entry stays counted
      // until it fires or is re-filed.
      e->prev_->next_ = e->next_;
      e->next_->prev_ = e->prev_;
      if (e->deadline_tick_ <= target) {
        e->prev_ = e->next_ = nullptr;
        e->wheel_ = nullptr;
        --size_;
        e->fn_(e->owner_);
      } else {
        // Not due: a later revolution, or pushed back since it was filed.
        e->slot_tick_ = e->deadline_tick_;
        push_back(slots_[e->deadline_tick_ % slots_.size()], *e);
      }
    }
  }
  current_tick_ = target;
}

}  // namespace sluice
