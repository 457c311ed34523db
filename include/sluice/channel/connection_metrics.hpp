#pragma once
// What a loop's connections did: opened, refused, closed (and why), bytes
// (those counted in EventLoop::traffic()).

#include "sluice/core/event_loop.hpp"
#include "sluice/core/loop_metrics.hpp"

namespace sluice {

/// How a connection ended: the first of these that happened.
enum class CloseReason : std::uint8_t {
  unknown,  // not decided yet; counted as `server` when the channel closes
  server,   // this side closed it (a handler, a timeout, a shutdown)
  peer,     // the peer's EOF came first
  error,    // the socket failed (a reset, a broken pipe)
};

/// One loop's connection figures, written by the channels and transports
/// on that loop (their thread: see loop_metrics.hpp), read by a scrape. A loop
/// service, made on first use.
class ConnectionMetrics final : public LoopService {
 public:
  explicit ConnectionMetrics(EventLoop& loop) : loop_(&loop) {}

  /// The figures of `loop`. Loop thread.
  static ConnectionMetrics& of(EventLoop& loop) { return loop.service<ConnectionMetrics>(); }

  Counter accepted;          // by a server
  Counter refused_at_limit;  // over a server's max_connections

  /// A channel closed for `reason`. Loop thread.
  void closed(CloseReason reason) noexcept { closed_[static_cast<std::size_t>(reason)].add(); }

  void collect(MetricSink& sink) const override;

 private:
  EventLoop* loop_;
  std::array<Counter, 4> closed_{};  // by CloseReason
};

}  // namespace sluice
