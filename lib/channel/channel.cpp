#include "sluice/channel/channel.hpp"

#include <algorithm>

#include "sluice/channel/channel_registry.hpp"
#include "sluice/core/log.hpp"

namespace sluice {

namespace {
std::atomic<std::uint64_t> g_next_channel_id{1};
}

Channel::Channel(EventLoop& loop, std::shared_ptr<const ChannelOptions> options)
    : loop_(&loop),
      options_(std::move(options)),
      id_(g_next_channel_id.fetch_add(1, std::memory_order_relaxed)),
      pipeline_(*this) {
  // The shared options stay as given: this channel gets a corrected copy.
  if (ChannelOptions fixed = *options_; fixed.clamp_watermarks()) {
    options_ = std::make_shared<const ChannelOptions>(fixed);
  }
}

Channel::~Channel() = default;

void Channel::flush() {
  run_on_loop([self = shared_from_this()] { self->pipeline_.flush(); });
}

void Channel::close() {
  run_on_loop([self = shared_from_this()] { self->pipeline_.close(); });
}

void Channel::close_lingering() {
  run_on_loop([self = shared_from_this()] {
    self->pipeline_.flush();
    self->close_when_flushed(!self->input_shutdown_ && self->options_->lingering_close_ms != 0);
  });
}

void Channel::shutdown_gracefully() {
  GracefulShutdownEvent event;
  pipeline_.fire_user_event(event);
  if (!event.finishing_first() && !closed_) close_lingering();
}

void Channel::shutdown_output() {
  run_on_loop([self = shared_from_this()] {
    if (self->closed_) return;
    self->shutdown_requested_ = true;
    self->outbound_flush();
    self->maybe_finish_closing();
  });
}

void Channel::set_auto_read(bool on) {
  run_on_loop([self = shared_from_this(), on] {
    self->auto_read_ = on;
    self->update_reading();
  });
}

void Channel::update_reading() {
  // A lingering close reads (and drops) whatever the peer sends, whatever
  // the handlers asked: its input costs no memory, and not reading it would
  // end in a reset.
  bool want = active_.load(std::memory_order_relaxed) && !closed_ && !input_shutdown_ &&
              (lingering_ || (!close_requested_ && auto_read_ && !paused_for_backpressure_ && !paused_for_memory_));
  if (want == reading_) return;
  reading_ = want;
  if (want) {
    transport_start_reading();
  } else {
    transport_stop_reading();
  }
}

void Channel::activate() {
  if (closed_) return;
  try {
    pipeline_.validate();
  } catch (const std::exception& e) {
    log().error("channel {}: {}", id_, e.what());
    close_now();
    return;
  }
  active_.store(true, std::memory_order_release);
  pipeline_.fire_channel_active();
  update_reading();
}

void Channel::outbound_enqueue(MessageRef message) {
  loop_->assert_in_loop_thread("a channel's write (use Channel::write from other threads)");
  if (closed_ || close_requested_) {
    // Netty fails such a write's promise; with no promises, the bytes are
    // simply dropped (the peer is gone or going).
    if (message.is<Buffer>()) static_cast<Buffer*>(message.object)->retrieve_all();
    return;
  }
  if (!message.is<Buffer>()) {
    outbound_other(message);
    return;
  }
  Buffer& bytes = *static_cast<Buffer*>(message.object);
  std::size_t n = bytes.readable_bytes();
  if (n == 0) return;
  if (n <= kCoalesceMaxBytes && outbound_.size() > flushed_count_ && coalesce(outbound_.back(), bytes)) {
    add_pending(n);
    return;
  }
  if (!bytes.borrows()) {
    outbound_.push_back(std::move(bytes));  // its own or shared storage: queued as it is
  } else {
    // A borrowed buffer (the read slab) is reused by the next read.
    outbound_.push_back(Buffer::copy_of(bytes.view()));
    bytes.retrieve_all();
  }
  add_pending(n);
}

bool Channel::coalesce(Buffer& tail, Buffer& bytes) {
  // Small writes join the unflushed buffer at the tail: a pipelined batch of
  // answers leaves as one block and one iovec instead of one each, and
  // copying a few hundred bytes costs less than queueing, writing and
  // recycling another buffer. A tail that is full moves once into a block
  // big enough for the rest of the batch.
  std::size_t n = bytes.readable_bytes();
  if (!tail.owns_storage()) return false;
  if (tail.writable_bytes() < n) {
    // Sized so that the block, prependable room included, is the pool's 16 KiB class.
    std::size_t room = kCoalesceBlockBytes - Buffer::kCheapPrepend;
    if (tail.readable_bytes() + n > room) return false;
    Buffer bigger(room);
    bigger.append(tail.view());
    tail = std::move(bigger);
  }
  tail.append(bytes.view());
  bytes.release();
  return true;
}

void Channel::outbound_other(MessageRef message) {
  throw MessageTypeError("channel " + std::to_string(id_) + ": a " + type_name(message.type->type) +
                         " reached the socket, which takes Buffer (add an encoder)");
}

void Channel::outbound_flush() {
  if (closed_) return;
  flushed_count_ = outbound_.size();
  if (flushed_count_ != 0) transport_flush();
}

void Channel::outbound_close() { close_when_flushed(false); }

void Channel::close_when_flushed(bool lingering) {
  if (closed_ || close_requested_) return;
  outbound_flush();
  close_requested_ = true;
  lingering_ = lingering;
  update_reading();
  if (pending_outbound_bytes() != 0) {
    arm_linger_timer(options_->close_linger_ms);
  } else if (lingering_ && output_shutdown_) {
    arm_linger_timer(options_->lingering_close_ms);  // FIN already sent: just drain
  }
  maybe_finish_closing();
}

void Channel::arm_linger_timer(std::uint64_t ms) {
  loop_->schedule_timeout(seldom().linger_timer, ms);
}

Channel::Seldom& Channel::seldom() {
  if (!seldom_) seldom_ = std::make_unique<Seldom>(this);
  return *seldom_;
}

void Channel::on_linger_timeout(void* self) { static_cast<Channel*>(self)->close_now(); }

void Channel::charge(std::size_t n) noexcept {
  MemoryBudget& memory = loop_->memory();
  memory.charge(n);
  // Shedding load: a connection that now holds a heavy share stops reading.
  if (memory.level() != MemoryBudget::Level::normal && !paused_for_memory_ &&
      held_bytes() >= memory.pause_threshold()) {
    set_paused_for_memory(true);
  }
}

void Channel::add_pending(std::size_t n) {
  std::size_t pending = pending_outbound_bytes_.fetch_add(n, std::memory_order_relaxed) + n;
  charge(n);
  if (pending > options_->write_high_watermark && writable_.load(std::memory_order_relaxed)) {
    writable_.store(false, std::memory_order_release);
    if (options_->pause_reading_when_unwritable) {
      paused_for_backpressure_ = true;
      update_reading();
    }
    pipeline_.fire_writability_changed(false);
  }
}

void Channel::bytes_sent(std::size_t n) {
  loop_->traffic().sent_bytes.add(n);
  loop_->memory().release(n);
  std::size_t pending = pending_outbound_bytes_.fetch_sub(n, std::memory_order_relaxed) - n;
  if (pending <= options_->write_low_watermark && !writable_.load(std::memory_order_relaxed)) {
    writable_.store(true, std::memory_order_release);
    paused_for_backpressure_ = false;
    update_reading();
    pipeline_.fire_writability_changed(true);
  }
  if (close_requested_ && pending != 0) arm_linger_timer(options_->close_linger_ms);  // progress: wait on
  maybe_finish_closing();
}

void Channel::maybe_finish_closing() {
  if (closed_ || pending_outbound_bytes() != 0) return;
  if (close_requested_ && (!lingering_ || input_shutdown_)) {
    close_now();
    return;
  }
  if ((close_requested_ || shutdown_requested_) && !output_shutdown_) {
    output_shutdown_ = true;
    transport_shutdown_output();
    // Lingering: the peer sees our FIN and closes its side; if it does not,
    // stop waiting after a while.
    if (close_requested_) arm_linger_timer(options_->lingering_close_ms);
  }
}

void Channel::bytes_read(Buffer& bytes) {
  if (close_requested_) {
    bytes.retrieve_all();  // closing: nothing more is for the handlers
    return;
  }
  loop_->traffic().received_bytes.add(bytes.readable_bytes());
  pipeline_.fire_read(MessageRef::of(bytes));
  if (!closed_) pipeline_.fire_read_complete();
}

void Channel::peer_shutdown_output() {
  if (input_shutdown_ || closed_) return;
  input_shutdown_ = true;
  if (!close_requested_ && close_reason_ == CloseReason::unknown) close_reason_ = CloseReason::peer;
  update_reading();
  if (close_requested_) {
    maybe_finish_closing();  // a lingering close ends here once flushed
    return;
  }
  pipeline_.fire_user_event(InputShutdownEvent{});
  if (!options_->allow_half_close) outbound_close();
}

void Channel::transport_failed(const char* what, int uv_error) {
  // Resets and broken pipes are routine for a server: not worth an error line.
  log().debug("channel {} ({}): {} failed: {}", id_, remote_address_.to_string(), what, uv_strerror(uv_error));
  if (close_reason_ == CloseReason::unknown) close_reason_ = CloseReason::error;
  close_now();
}

void Channel::close_now() {
  loop_->assert_in_loop_thread("Channel::close_now");
  if (closed_) return;
  closed_ = true;
  ConnectionMetrics::of(*loop_).closed(close_reason_);
  active_.store(false, std::memory_order_release);
  if (seldom_) seldom_->linger_timer.cancel();
  if (reading_) {
    reading_ = false;
    transport_stop_reading();
  }
  outbound_.clear();
  flushed_count_ = 0;
  loop_->memory().release(pending_outbound_bytes_.exchange(0, std::memory_order_relaxed) + handler_held_);
  handler_held_ = 0;
  transport_close();
}

void Channel::account_memory(std::ptrdiff_t delta) noexcept {
  if (closed_ || delta == 0) return;  // closing released the whole account
  if (delta > 0) {
    handler_held_ += static_cast<std::size_t>(delta);
    charge(static_cast<std::size_t>(delta));
  } else {
    auto less = std::min(static_cast<std::size_t>(-delta), handler_held_);
    handler_held_ -= less;
    loop_->memory().release(less);
  }
}

void Channel::set_paused_for_memory(bool paused) {
  paused_for_memory_ = paused;
  update_reading();
}

void Channel::transport_closed() {
  if (inactive_fired_) return;
  inactive_fired_ = true;
  pipeline_.fire_channel_inactive();
  ChannelRegistry::of(*loop_).remove(*this);
}

void Channel::inbound_unhandled(MessageRef message) {
  log().trace("channel {}: a {} reached the end of the pipeline unhandled", id_, type_name(message.type->type));
  if (message.is<Buffer>()) static_cast<Buffer*>(message.object)->retrieve_all();
}

void Channel::unhandled_user_event(const UserEvent&) {}

void Channel::unhandled_error(const std::exception& error) {
  if (!error_logged_) {
    error_logged_ = true;
    log().warn("channel {} ({}): unhandled error, closing: {}", id_, remote_address_.to_string(), error.what());
  }
  outbound_close();
}

}  // namespace sluice
