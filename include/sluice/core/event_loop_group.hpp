#pragma once
// N event loops, one thread each: the process's reactor.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "sluice/core/event_loop.hpp"

namespace sluice {

/// Owns N started EventLoops (default: one per online CPU). Thread safe,
/// except that shutdown_gracefully() must not be called from one of its loops.
class EventLoopGroup {
 public:
  struct Options {
    std::size_t loops = 0;  // 0: one per online CPU
    bool pin = false;       // pin loop i to CPU i (modulo the CPU count)
    std::string name = "sluice";
  };

  EventLoopGroup() : EventLoopGroup(Options{}) {}
  explicit EventLoopGroup(Options options);
  ~EventLoopGroup();  // shutdown_gracefully(0, 0) if not done already
  EventLoopGroup(const EventLoopGroup&) = delete;
  EventLoopGroup& operator=(const EventLoopGroup&) = delete;

  std::size_t size() const noexcept { return loops_.size(); }
  EventLoop& at(std::size_t i) { return *loops_.at(i); }
  const EventLoop& at(std::size_t i) const { return *loops_.at(i); }
  /// Round-robin over the loops. Any thread.
  EventLoop& next() noexcept;

  /// Called when a graceful shutdown begins, before the loops' services
  /// (channels) are told (servers register here to stop accepting). Returns a handle to pass to
  /// remove_shutdown_hook. Any thread.
  std::uint64_t add_shutdown_hook(std::function<void()> hook);
  void remove_shutdown_hook(std::uint64_t id);

  /// Stops accepting (shutdown hooks), tells every loop's services (the
  /// channel registry sends GracefulShutdownEvent to every channel), waits
  /// until nothing is open and the loops have been quiet for
  /// `quiet_period_ms`, at most `timeout_ms`, then force-closes what is
  /// left, stops the loops and joins their threads. Idempotent; any thread
  /// but a loop's own.
  void shutdown_gracefully(std::uint64_t quiet_period_ms = 100, std::uint64_t timeout_ms = 5000);
  /// Whether a shutdown has begun. Any thread.
  bool is_shut_down() const noexcept { return shut_down_.load(std::memory_order_acquire); }

  /// What the loops' services hold open (connections). Any thread.
  std::size_t open_count() const noexcept;

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::atomic<std::size_t> next_{0};
  std::mutex hooks_mutex_;
  std::vector<std::pair<std::uint64_t, std::function<void()>>> hooks_;
  std::uint64_t next_hook_id_ = 1;
  std::mutex shutdown_mutex_;  // one shutdown at a time
  // Set under shutdown_mutex_; read without it by is_shut_down() (TcpServer::
  // stop asks it from any thread, while a shutdown may run on another).
  std::atomic<bool> shut_down_{false};
};

}  // namespace sluice
