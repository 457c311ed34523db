#pragma once
// A connection (or a socket-free test stand-in) and its pipeline.
//
// A Channel belongs to one EventLoop for its whole life; every handler of its
// pipeline runs on that loop. The methods marked "any thread" may be called
// from anywhere: off the loop they are posted to it, in call order, so a
// foreign thread can write to a channel without a lock or a data race.
//
// Outbound bytes wait in a per-channel queue until they reach the peer. Their
// count is pending_outbound_bytes(); above the high watermark the channel
// becomes unwritable (writability_changed(false)) and, by default, stops
// reading, so a peer that never reads cannot make us buffer without bound.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "sluice/channel/connection_metrics.hpp"
#include "sluice/channel/pipeline.hpp"
#include "sluice/core/buffer.hpp"
#include "sluice/core/event_loop.hpp"
#include "sluice/core/fifo.hpp"
#include "sluice/core/socket_address.hpp"
#include "sluice/core/timer_wheel.hpp"

namespace sluice {

/// Per-channel settings.
struct ChannelOptions {
  std::size_t write_high_watermark = 64 * 1024;
  std::size_t write_low_watermark = 32 * 1024;
  /// Stop reading while unwritable (the peer is not draining our writes).
  bool pause_reading_when_unwritable = true;
  /// Keep the channel open after the peer's EOF so it can still write.
  bool allow_half_close = false;
  /// close() and close_lingering() wait for flushed bytes to reach the peer,
  /// at most this long without progress; then they close anyway.
  std::uint64_t close_linger_ms = 5000;
  /// close_lingering(): after our FIN, how long the channel goes on reading
  /// (and dropping) what the peer still sends before it closes; the peer's
  /// own FIN ends it sooner. 0: close as soon as the flushed bytes have left.
  std::uint64_t lingering_close_ms = 2000;

  /// A low watermark above the high one is taken as the high one. Returns
  /// whether it changed anything.
  bool clamp_watermarks() noexcept {
    if (write_low_watermark <= write_high_watermark) return false;
    write_low_watermark = write_high_watermark;
    return true;
  }
};

/// A typed key for user data attached to a channel. Keys are identified by
/// their address: make them static (`static const AttributeKey<Session> kSession{"session"};`).
template <class T>
class AttributeKey {
 public:
  explicit AttributeKey(const char* name) noexcept : name_(name) {}
  const char* name() const noexcept { return name_; }

 private:
  const char* name_;
};

/// See the file comment. Created by transports (TcpServer, TcpClient) and by
/// EmbeddedChannel; handled through std::shared_ptr.
class Channel : public std::enable_shared_from_this<Channel> {
 public:
  virtual ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  EventLoop& loop() const noexcept { return *loop_; }
  Pipeline& pipeline() noexcept { return pipeline_; }
  const ChannelOptions& options() const noexcept { return *options_; }
  std::uint64_t id() const noexcept { return id_; }

  /// Writes `message` into the pipeline at its tail (it must be the type the
  /// last outbound handler takes, or Buffer when there is none). Any thread.
  template <class T>
  void write(T message) {
    run_on_loop([self = shared_from_this(), m = std::move(message)]() mutable {
      self->pipeline_.write(MessageRef::of(m));
    });
  }
  template <class T>
  void write_and_flush(T message) {
    run_on_loop([self = shared_from_this(), m = std::move(message)]() mutable {
      self->pipeline_.write(MessageRef::of(m));
      self->pipeline_.flush();
    });
  }
  void flush();           // any thread
  /// Closes once flushed bytes have left (at most close_linger_ms). For a
  /// peer that is not sending (an idle timeout); when it may be, use
  /// close_lingering(). Any thread.
  void close();
  /// Closes without destroying what the peer has not read yet (nginx's
  /// lingering close). A socket closed with unread input sends RST, and the
  /// peer's kernel then drops our answers it holds unread; so: flush, send
  /// FIN once the flushed bytes have left, then read and drop whatever the
  /// peer still sends until it closes its side or lingering_close_ms pass,
  /// then close. Nothing read after this call reaches the pipeline. When the
  /// peer has already closed its side, this is close(). Any thread.
  void close_lingering();
  /// Closes unless a handler takes charge: fires GracefulShutdownEvent, and
  /// when no handler called GracefulShutdownEvent::finish_first(), closes
  /// the channel with close_lingering() (after its pending writes). Loop thread.
  void shutdown_gracefully();
  /// Sends FIN after the flushed bytes; reading goes on. Any thread.
  void shutdown_output();
  /// Pauses (false) or resumes (true) reading from the peer. Any thread.
  void set_auto_read(bool on);

  bool is_active() const noexcept { return active_.load(std::memory_order_acquire); }       // any thread
  bool is_writable() const noexcept { return writable_.load(std::memory_order_acquire); }   // any thread
  /// Whether close() or close_lingering() has begun: input is no longer
  /// delivered and writes are dropped. Loop thread.
  bool is_closing() const noexcept { return close_requested_ || closed_; }
  std::size_t pending_outbound_bytes() const noexcept {                                     // any thread
    return pending_outbound_bytes_.load(std::memory_order_relaxed);
  }
  bool auto_read() const noexcept { return auto_read_; }
  bool is_reading() const noexcept { return reading_; }
  bool input_shutdown() const noexcept { return input_shutdown_; }

  /// Asked of the socket each time (an address every connection kept would
  /// cost memory that almost nothing reads): empty once the channel is
  /// closed, and for a channel without a socket. Loop thread.
  SocketAddress local_address() const { return transport_local_address(); }
  /// Kept from the start: logs name the peer even after the socket failed.
  const SocketAddress& remote_address() const noexcept { return remote_address_; }

  /// User data. Loop thread only.
  template <class T>
  T* attr(const AttributeKey<T>& key) const noexcept {
    if (!seldom_) return nullptr;
    for (const auto& a : seldom_->attributes) {
      if (a.key == &key) return static_cast<T*>(a.value.get());
    }
    return nullptr;
  }
  template <class T>
  T& set_attr(const AttributeKey<T>& key, T value) {
    remove_attr(key);
    auto& attributes = seldom().attributes;
    attributes.push_back(Attribute{&key, ErasedPtr(new T(std::move(value)), [](void* p) { delete static_cast<T*>(p); })});
    return *static_cast<T*>(attributes.back().value.get());
  }
  template <class T>
  void remove_attr(const AttributeKey<T>& key) noexcept {
    if (seldom_) std::erase_if(seldom_->attributes, [&](const Attribute& a) { return a.key == &key; });
  }

  /// Closes at once, dropping unsent bytes. Loop thread.
  void close_now();

  /// A handler's account of what it holds for this connection (a read
  /// cumulation, a body being read): pass the change. Counted, with the
  /// write queue, against the loop's MemoryBudget. What is still counted
  /// when the channel closes is released then. Loop thread.
  void account_memory(std::ptrdiff_t delta) noexcept;
  /// What this connection holds by that count (write queue and handlers).
  /// Loop thread.
  std::size_t held_bytes() const noexcept { return pending_outbound_bytes() + handler_held_; }
  /// Pauses (true) or resumes reading because the loop is short of memory
  /// (ChannelRegistry does it while the loop sheds load). Loop thread.
  void set_paused_for_memory(bool paused);
  bool paused_for_memory() const noexcept { return paused_for_memory_; }

  // Called by the pipeline's head; not for application code.
  void outbound_enqueue(MessageRef message);
  void outbound_flush();
  void outbound_close();
  virtual void inbound_unhandled(MessageRef message);
  void unhandled_user_event(const UserEvent& event);
  void unhandled_error(const std::exception& error);
  /// What the transport reads and writes: Buffer for a socket; nullptr for
  /// any type (EmbeddedChannel, where tests feed and read typed messages).
  /// Pipeline::validate checks both ends against it.
  virtual const std::type_info* transport_message_type() const noexcept { return &typeid(Buffer); }

 protected:
  /// `options` may be shared by many channels (a server's, say): they are
  /// read, never changed.
  Channel(EventLoop& loop, std::shared_ptr<const ChannelOptions> options);

  // The transport under the channel.
  virtual void transport_start_reading() = 0;
  virtual void transport_stop_reading() = 0;
  /// Sends what it can of the first `flushed_count_` buffers of `outbound_`
  /// and reports sent bytes through bytes_sent().
  virtual void transport_flush() = 0;
  virtual void transport_shutdown_output() = 0;
  /// Releases the transport; calls transport_closed() when done (maybe later).
  virtual void transport_close() = 0;
  /// The socket's own address; empty when there is none (any more).
  virtual SocketAddress transport_local_address() const { return {}; }
  /// A non-Buffer message reached the head: only EmbeddedChannel takes
  /// those; elsewhere it is a missing encoder and throws MessageTypeError.
  virtual void outbound_other(MessageRef message);

  // For transports.
  /// Validates the pipeline, fires channel_active and starts reading.
  void activate();
  void bytes_sent(std::size_t n);
  /// Bytes read from the peer: into the pipeline, or dropped once closing.
  void bytes_read(Buffer& bytes);
  void peer_shutdown_output();   // read EOF
  void transport_failed(const char* what, int uv_error);
  void transport_closed();
  bool closed() const noexcept { return closed_; }
  bool close_requested() const noexcept { return close_requested_; }
  bool shutdown_requested() const noexcept { return shutdown_requested_; }
  void update_reading();

  static constexpr std::size_t kCoalesceMaxBytes = 1024;
  static constexpr std::size_t kCoalesceBlockBytes = 16 * 1024;
  bool coalesce(Buffer& tail, Buffer& bytes);

  // Members are ordered to leave no padding: every connection has a channel
  // (tools/idle-conns measures what one costs).
  Fifo<Buffer> outbound_;           // oldest first; only owned buffers
  std::size_t flushed_count_ = 0;   // how many of outbound_'s front buffers were flushed
  SocketAddress remote_address_;    // 28 bytes

 private:
  friend class ChannelRegistry;
  static constexpr std::uint32_t kNotRegistered = static_cast<std::uint32_t>(-1);
  std::uint32_t registry_index_ = kNotRegistered;  // in its ChannelRegistry; beside the 28-byte address
  using ErasedPtr = std::unique_ptr<void, void (*)(void*)>;
  struct Attribute {
    const void* key;
    ErasedPtr value;
  };

  template <class F>
  void run_on_loop(F&& fn) {
    loop_->execute(std::forward<F>(fn));
  }
  void add_pending(std::size_t n);
  void charge(std::size_t n) noexcept;
  void maybe_finish_closing();
  void close_when_flushed(bool lingering);
  void arm_linger_timer(std::uint64_t ms);
  static void on_linger_timeout(void* self);

  EventLoop* loop_;
  std::shared_ptr<const ChannelOptions> options_;
  std::uint64_t id_;
  Pipeline pipeline_;
  // What most channels never need, made on first use: user data (set_attr)
  // and the timer of a close that waits for bytes to leave.
  struct Seldom {
    explicit Seldom(Channel* channel) noexcept : linger_timer(&Channel::on_linger_timeout, channel) {}
    std::vector<Attribute> attributes;
    TimerWheel::Entry linger_timer;
  };
  Seldom& seldom();
  std::unique_ptr<Seldom> seldom_;

  std::atomic<std::size_t> pending_outbound_bytes_{0};
  std::size_t handler_held_ = 0;  // account_memory()
  std::atomic<bool> active_{false};
  std::atomic<bool> writable_{true};
  bool auto_read_ = true;
  bool paused_for_backpressure_ = false;
  bool paused_for_memory_ = false;
  bool reading_ = false;
  bool input_shutdown_ = false;
  bool close_requested_ = false;
  bool lingering_ = false;  // close_lingering(): reading and dropping until the peer's FIN
  bool shutdown_requested_ = false;
  bool closed_ = false;
  bool inactive_fired_ = false;
  bool output_shutdown_ = false;
  bool error_logged_ = false;
  CloseReason close_reason_ = CloseReason::unknown;  // counted when it closes (ConnectionMetrics)
  // A transport's own flags may follow in the padding after these.
};

}  // namespace sluice
