#pragma once
// What one loop's connections hold, against a budget, and the level of
// load shedding that follows from it.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace sluice {

/// Bytes a loop's connections hold (write queues, read cumulations, bodies
/// being read), counted by the channel layer and the codecs as they change,
/// against a budget. Each loop has one (EventLoop::memory()); 0 means no
/// budget. Three levels, with a gap on the way down so that shedding does
/// not flap:
///
///   held >= 3/4 budget  -> shedding: the loop refuses new connections and
///                          pauses reading on the connections holding most
///   held >= budget      -> full: besides, HTTP answers new requests with
///                          503 and Retry-After instead of queueing them
///   held <  1/2 budget  -> normal again: paused connections read again
///
/// charge/release and the listeners run on the loop thread; held(), peak()
/// and level() may be read from any thread.
class MemoryBudget {
 public:
  enum class Level : std::uint8_t { normal, shedding, full };
  using Listener = std::function<void(Level)>;

  /// Loop thread (or before the loop runs). 0: no budget, always normal.
  void set_budget(std::size_t bytes) noexcept;
  std::size_t budget() const noexcept { return budget_.load(std::memory_order_relaxed); }

  void charge(std::size_t bytes) noexcept {
    std::size_t now = held_.load(std::memory_order_relaxed) + bytes;
    held_.store(now, std::memory_order_relaxed);
    if (now > peak_.load(std::memory_order_relaxed)) peak_.store(now, std::memory_order_relaxed);
    if (now >= next_up_) update();
  }
  void release(std::size_t bytes) noexcept {
    std::size_t now = held_.load(std::memory_order_relaxed) - bytes;
    held_.store(now, std::memory_order_relaxed);
    if (now < next_down_) update();
  }

  std::size_t held() const noexcept { return held_.load(std::memory_order_relaxed); }
  /// The most held at once since the loop started.
  std::size_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }
  Level level() const noexcept { return level_.load(std::memory_order_relaxed); }
  /// Connections the loop refused while shedding (counted by transports).
  std::uint64_t refused_connections() const noexcept { return refused_.load(std::memory_order_relaxed); }
  void count_refused_connection() noexcept { refused_.fetch_add(1, std::memory_order_relaxed); }

  /// While not normal: a connection holding at least this much pauses
  /// reading as soon as it gets there (the channel layer sets it when
  /// shedding begins). Loop thread.
  void set_pause_threshold(std::size_t bytes) noexcept { pause_threshold_ = bytes; }
  std::size_t pause_threshold() const noexcept { return pause_threshold_; }

  /// Told of every level change, in the order added. Loop thread.
  void on_level_change(Listener listener) { listeners_.push_back(std::move(listener)); }

 private:
  void update() noexcept;
  void set_marks() noexcept;

  std::atomic<std::size_t> budget_{0};
  std::atomic<std::size_t> held_{0};
  std::atomic<std::size_t> peak_{0};
  std::atomic<Level> level_{Level::normal};
  std::atomic<std::uint64_t> refused_{0};
  // The held figures at which the level must be looked at again: charge()
  // and release() compare against these and nothing else.
  std::size_t next_up_ = SIZE_MAX;
  std::size_t next_down_ = 0;
  std::size_t pause_threshold_ = SIZE_MAX;
  std::vector<Listener> listeners_;
};

}  // namespace sluice
