#pragma once
// An event loop driven by hand, for tests (EmbeddedChannel runs on one).

#include <cstdint>

#include "sluice/core/event_loop.hpp"

namespace sluice {

/// An EventLoop with no thread: it belongs to the thread that made it, which
/// runs what is ready with run_once() and moves its clock (which starts at
/// 0) with advance_clock(). Everything on it is deterministic: timers and
/// wheel timeouts fire when the test says time has passed. Owner thread only.
class ManualLoop final : public EventLoop {
 public:
  explicit ManualLoop(Options options = {}) : EventLoop(std::move(options), HandDriven{}) {}

  void start() = delete;  // there is no thread

  /// Runs posted tasks (and what they post, up to a bound), due timers and
  /// libuv's ready callbacks, without blocking.
  void run_once() { run_ready(); }
  /// Moves the clock forward, then run_once(): what fell due runs.
  void advance_clock(std::uint64_t ms) {
    move_clock(ms);
    run_ready();
  }
};

}  // namespace sluice
