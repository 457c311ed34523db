#pragma once
// Hashed timer wheel for per-connection timeouts (idle, header read,
// keep-alive). Thousands of connections each re-arm a timeout on every read;
// a wheel makes that O(1) with no allocation, because the entry lives inside
// the object it times (as in h2o) and is only relinked.
//
// Pushing a deadline later does not even relink: the entry stays in the slot
// it sits in, which comes due first, and is moved on from there (as Netty's
// IdleStateHandler re-checks its deadline when its task runs). A busy
// connection that re-arms on every request then touches no list at all.
//
// An entry is kept small (40 bytes on 64-bit targets), since every idle
// connection holds one or more:
//
//   Entry: [fn_ | owner_ | prev_ | next_ | deadline_tick_:32 | slot_tick_:32]
//
// - It does not point back at its wheel, so the wheel keeps no count of its
//   entries (an entry unlinks itself, from its destructor or cancel(),
//   without the wheel at hand): size() and empty() look at the slots.
// - Its ticks are the low 32 bits of tick numbers, read as the nearest tick
//   to the wheel's own 64-bit current tick (full_tick). That is exact while
//   every tick an entry holds is within 2^31 - 1 ticks of the current one:
//   a delay is capped at kMaxDelayTicks, and an advance() over a longer gap
//   (the loop stopped for 3.4 years at 50 ms ticks, 24.8 days at 1 ms)
//   fires every entry, all of them being due, without reading their ticks.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace sluice {

/// One loop's wheel. NOT thread safe: used only on its loop's thread.
/// Precision is one tick (default 50 ms): a timeout fires no earlier than
/// asked and at most one tick late. An entry belongs to one wheel while it
/// is scheduled: cancel it before scheduling it on another.
class TimerWheel {
 public:
  /// The longest delay, in ticks: about 3.4 years at the default 50 ms tick,
  /// 24.8 days at 1 ms. A longer delay fires at this bound (see above).
  static constexpr std::uint64_t kMaxDelayTicks = std::numeric_limits<std::int32_t>::max();

  /// A timeout embedded in its owner. Unlinks itself when destroyed.
  class Entry {
   public:
    using Callback = void (*)(void* owner);
    Entry(Callback fn, void* owner) noexcept : fn_(fn), owner_(owner) {}
    ~Entry() { unlink(); }
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

    bool is_scheduled() const noexcept { return next_ != nullptr; }
    /// Unschedules it (as TimerWheel::cancel, without the wheel at hand).
    void cancel() noexcept { unlink(); }

   private:
    friend class TimerWheel;
    void unlink() noexcept {
      if (next_ != nullptr) {
        prev_->next_ = next_;
        next_->prev_ = prev_;
        prev_ = next_ = nullptr;
      }
    }
    Callback fn_;
    void* owner_;
    Entry* prev_ = nullptr;
    Entry* next_ = nullptr;
    // Low 32 bits of tick numbers (TimerWheel::full_tick reads them).
    std::uint32_t deadline_tick_ = 0;  // when it fires
    std::uint32_t slot_tick_ = 0;      // when its slot is looked at: never after deadline_tick_
  };

  TimerWheel(std::uint64_t tick_ms, std::size_t slots, std::uint64_t now_ms);
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  /// (Re)arms `entry` to fire `delay_ms` after `now_ms` (at most
  /// kMaxDelayTicks ticks). A later deadline than the one it is filed under
  /// costs no relinking (see the file comment).
  void schedule(Entry& entry, std::uint64_t now_ms, std::uint64_t delay_ms) noexcept;
  void cancel(Entry& entry) noexcept { entry.unlink(); }

  /// Fires every entry that is due at `now_ms`. Callbacks may schedule and
  /// cancel entries, including themselves.
  void advance(std::uint64_t now_ms);

  /// Whether no entry is scheduled. Looks at the slots from the one that
  /// held an entry when last asked, which usually still does: O(1) on a busy
  /// wheel, O(slots) on an empty one.
  bool empty() const noexcept;
  /// The entries scheduled. Counts them: O(slots + entries), for tests and
  /// statistics.
  std::size_t size() const noexcept;
  std::uint64_t tick_ms() const noexcept { return tick_ms_; }

 private:
  struct Sentinel : Entry {
    Sentinel() noexcept : Entry(nullptr, nullptr) { prev_ = next_ = this; }
    bool holds_entries() const noexcept { return next_ != this; }
  };
  static void push_back(Entry& head, Entry& e) noexcept {
    e.prev_ = head.prev_;
    e.next_ = &head;
    head.prev_->next_ = &e;
    head.prev_ = &e;
  }
  static void move_all_to_back(Sentinel& to, Sentinel& from) noexcept;
  static void detach_all(Sentinel& list) noexcept;

  /// The tick whose low 32 bits are `low` nearest to the current tick.
  std::uint64_t full_tick(std::uint32_t low) const noexcept {
    auto ahead = static_cast<std::int32_t>(low - static_cast<std::uint32_t>(current_tick_));
    return current_tick_ + static_cast<std::uint64_t>(static_cast<std::int64_t>(ahead));
  }
  void schedule_far(Entry& entry, std::uint64_t now_ms, std::uint64_t deadline) noexcept;
  void rearm(Entry& entry, std::uint64_t deadline) noexcept;
  void file(Entry& entry, std::uint64_t slot_tick) noexcept;
  void advance_to(std::uint64_t target);
  void jump_to(std::uint64_t target);
  void fire_due(std::uint64_t target);

  std::uint64_t tick_ms_;
  std::uint64_t max_delay_ms_;  // kMaxDelayTicks ticks
  std::uint64_t current_tick_;
  std::vector<Sentinel> slots_;
  Sentinel due_;  // the entries of the slot being fired, while advance() runs
  mutable std::size_t occupied_hint_ = 0;  // a slot that held an entry (empty())
};

}  // namespace sluice
