#pragma once
// The live channels of one loop.

#include <cstddef>
#include <memory>
#include <vector>

#include "sluice/core/event_loop.hpp"

namespace sluice {

class Channel;

/// Every open channel of a loop, kept alive until it closes. A loop's stop
/// closes them; a group's graceful shutdown tells each of them
/// (Channel::shutdown_gracefully). While the loop's MemoryBudget sheds load
/// it pauses reading on the channels that hold the most (at least the mean
/// and 16 KiB), looked at again every second, and resumes them all when the
/// budget is back to normal. A loop service: the core loop holds it
/// without knowing what a channel is.
class ChannelRegistry final : public LoopService {
 public:
  explicit ChannelRegistry(EventLoop& loop);
  ~ChannelRegistry() override;

  /// The registry of `loop`. Loop thread.
  static ChannelRegistry& of(EventLoop& loop) { return loop.service<ChannelRegistry>(); }

  /// Channels call these when they start and close. Loop thread.
  void add(std::shared_ptr<Channel> channel);
  void remove(Channel& channel) noexcept;

  /// Open channels. Any thread.
  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }
  /// Calls `fn` on every channel open now (a snapshot: `fn` may close
  /// channels). Loop thread.
  template <class Fn>
  void for_each(Fn&& fn) {
    loop_->assert_in_loop_thread("ChannelRegistry::for_each");
    auto snapshot = channels_;
    for (auto& c : snapshot) fn(*c);
  }

  // LoopService
  void shutdown_gracefully() override;
  std::size_t open_count() const noexcept override { return size(); }
  void close_all(bool deadline_passed) noexcept override;
  std::size_t trim() noexcept override;
  void collect(MetricSink& sink) const override {
    sink.gauge("sluice_connections_open", "Connections open on the loop.", {}, static_cast<double>(size()));
  }

 private:
  void on_memory_level(MemoryBudget::Level level);
  void pause_heaviest();

  EventLoop* loop_;
  std::vector<std::shared_ptr<Channel>> channels_;
  std::atomic<std::size_t> count_{0};
};

}  // namespace sluice
