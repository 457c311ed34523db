#pragma once
// A channel with no socket, for testing handlers and codecs (Netty's
// EmbeddedChannel): push bytes or messages in, read what the pipeline wrote,
// run posted tasks and timers by hand on a manual loop with its own clock.

#include <deque>
#include <functional>
#include <stdexcept>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/channel/channel.hpp"
#include "sluice/channel/manual_loop.hpp"

namespace sluice {

/// Owns a ManualLoop and one channel on it. Everything runs on the
/// thread that made it, synchronously. Not thread safe.
class EmbeddedChannel {
 public:
  /// `initializer` builds the pipeline; the channel is active on return.
  explicit EmbeddedChannel(const std::function<void(Channel&)>& initializer, ChannelOptions options = {});
  ~EmbeddedChannel();
  EmbeddedChannel(const EmbeddedChannel&) = delete;
  EmbeddedChannel& operator=(const EmbeddedChannel&) = delete;

  Channel& channel() noexcept;
  Pipeline& pipeline() noexcept { return channel().pipeline(); }
  ManualLoop& loop() noexcept { return *loop_; }

  /// Feeds bytes as one socket read (a borrowed Buffer, like the read slab),
  /// then read_complete, then runs posted tasks.
  void write_inbound(std::string_view bytes);
  /// Feeds a typed message at the head.
  template <class T>
  void write_inbound_message(T message) {
    channel().pipeline().fire_read(MessageRef::of(message));
    run_pending_tasks();
  }
  /// The peer's EOF.
  void shutdown_inbound();

  /// Messages that reached the end of the pipeline, oldest first.
  template <class T>
  std::optional<T> read_inbound() {
    if (inbound_.empty()) return std::nullopt;
    return take<T>(inbound_);
  }
  std::size_t inbound_count() const noexcept { return inbound_.size(); }

  /// Writes a message at the tail and flushes (as Channel::write_and_flush).
  template <class T>
  void write_outbound(T message) {
    channel().pipeline().write(MessageRef::of(message));
    channel().pipeline().flush();
    run_pending_tasks();
  }
  /// Every byte flushed to the "socket" since the last call.
  std::string read_outbound_bytes();
  /// Non-Buffer messages that reached the head (a pipeline with no encoder).
  template <class T>
  std::optional<T> read_outbound() {
    if (outbound_messages_.empty()) return std::nullopt;
    return take<T>(outbound_messages_);
  }

  /// While false, flushed bytes stay pending as if the peer stopped reading
  /// (watermarks and backpressure apply); true drains them.
  void set_peer_reading(bool reading);

  void run_pending_tasks();
  /// Moves the loop's clock forward and runs timers and wheel timeouts due.
  void advance_time(std::uint64_t ms);

  bool is_open() const noexcept;
  bool output_shutdown() const noexcept;

 private:
  class Impl;
  template <class T>
  static std::optional<T> take(std::deque<BoxedMessage>& queue) {
    BoxedMessage front = std::move(queue.front());
    queue.pop_front();
    if (T* value = front.get<T>()) return std::move(*value);
    throw std::logic_error("EmbeddedChannel: the next message is a " + type_name(*front.type) + ", not a " +
                           type_name(typeid(T)));
  }
  std::unique_ptr<ManualLoop> loop_;
  std::shared_ptr<Impl> channel_;
  std::deque<BoxedMessage> inbound_;
  std::deque<BoxedMessage> outbound_messages_;
  std::string outbound_bytes_;
  std::string read_scratch_;
  bool reading_ = false;
  friend class Impl;
};

}  // namespace sluice
