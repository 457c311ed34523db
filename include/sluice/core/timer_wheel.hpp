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

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

/// One loop's wheel. NOT thread safe: used only on its loop's thread.
/// Precision is one tick (default 50 ms): a timeout fires no earlier than
/// asked and at most one tick late.
class TimerWheel {
 public:
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
        if (wheel_ != nullptr) --wheel_->size_;
        wheel_ = nullptr;
      }
    }
    Callback fn_;
    void* owner_;
    Entry* prev_ = nullptr;
    Entry* next_ = nullptr;
    TimerWheel* wheel_ = nullptr;
    std::uint64_t deadline_tick_ = 0;  // when it fires
    std::uint64_t slot_tick_ = 0;      // when its slot is looked at: never after deadline_tick_
  };

  TimerWheel(std::uint64_t tick_ms, std::size_t slots, std::uint64_t now_ms);
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  /// (Re)arms `entry` to fire `delay_ms` after `now_ms`. A later deadline than
  /// the one it is filed under costs no relinking (see the file comment).
  void schedule(Entry& entry, std::uint64_t now_ms, std::uint64_t delay_ms) noexcept;
  void cancel(Entry& entry) noexcept { entry.unlink(); }

  /// Fires every entry that is due at `now_ms`. Callbacks may schedule and
  /// cancel entries, including themselves.
  void advance(std::uint64_t now_ms);

  std::size_t size() const noexcept { return size_; }
  std::uint64_t tick_ms() const noexcept { return tick_ms_; }

 private:
  struct Sentinel : Entry {
    Sentinel() noexcept : Entry(nullptr, nullptr) {}
  };
  static void push_back(Entry& head, Entry& e) noexcept {
    e.prev_ = head.prev_;
    e.next_ = &head;
    head.prev_->next_ = &e;
    head.prev_ = &e;
  }

  std::uint64_t tick_ms_;
  std::uint64_t current_tick_;
  std::vector<Sentinel> slots_;
  std::size_t size_ = 0;
};

}  // namespace sluice
