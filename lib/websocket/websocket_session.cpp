#include "websocket_session.hpp"

#include <algorithm>
#include <limits>

#include "hub_memberships.hpp"
#include "websocket_metrics.hpp"
#include "sluice/channel/channel.hpp"
#include "sluice/core/log.hpp"

namespace sluice {

void WebSocketHandler::on_open(WebSocket&) {}
void WebSocketHandler::on_message(WebSocket&, const WebSocketMessage&) {}
void WebSocketHandler::on_close(WebSocket&, std::uint16_t, std::string_view) {}
void WebSocketHandler::on_writable(WebSocket&) {}

EventLoop& WebSocket::loop() noexcept { return channel().loop(); }

}  // namespace sluice

namespace sluice::detail {

namespace {
constexpr std::size_t kMaxControlPayload = 125;
constexpr std::size_t kMaxCloseReason = kMaxControlPayload - 2;
}  // namespace

WebSocketSession::WebSocketSession(std::shared_ptr<const SessionConfig> config,
                                   std::shared_ptr<WebSocketHandler> handler, int subprotocol) noexcept
    : config_(std::move(config)),
      handler_(std::move(handler)),
      decoder_(config_->role, config_->options.max_message_bytes),
      subprotocol_(static_cast<std::int8_t>(subprotocol)) {}

static_assert(sizeof(WebSocketSession) <= 128, "see the comment on the session's fields");

WebSocketSession::~WebSocketSession() {
  if (memberships_) leave_all(*this);
}

WebSocketSession& WebSocketSession::install(Channel& channel, Buffer rest, std::shared_ptr<const SessionConfig> config,
                                            std::shared_ptr<WebSocketHandler> handler, int subprotocol) {
  auto& session =
      channel.pipeline().emplace_last<WebSocketSession>("ws", std::move(config), std::move(handler), subprotocol);
  session.open();
  if (!rest.empty() && session.state_ == State::open) {
    // Frames that came in the handshake's read: decoded as if just read.
    try {
      session.read(*session.ctx_, rest);
    } catch (const std::exception& e) {
      session.error(*session.ctx_, e);
    }
    session.read_complete(*session.ctx_);
  }
  return session;
}

void WebSocketSession::open() {
  auto& metrics = WebSocketMetrics::of(ctx_->loop());
  metrics.opened.add();
  metrics.open.add(1);
  if (options().ping_interval_ms != 0) arm(Timer::ping_due, options().ping_interval_ms);
  handler_->on_open(*this);
}

// ---- inbound ----

void WebSocketSession::read(HandlerContext& ctx, Buffer& bytes) {
  HeldBytesAccount account(decoder_, ctx.channel());
  in_read_ = true;
  while (auto message = decoder_.next(bytes)) take(*message);
}

void WebSocketSession::handler_removed(HandlerContext& ctx) {
  HeldBytesAccount account(decoder_, ctx.channel());
  decoder_.drop_held();
}

void WebSocketSession::take(const WebSocketMessage& message) {
  heard_ = true;
  switch (message.opcode) {
    case WebSocketOpcode::text:
    case WebSocketOpcode::binary:
      if (state_ == State::open) {
        auto& metrics = WebSocketMetrics::of(ctx_->loop());
        (message.opcode == WebSocketOpcode::text ? metrics.received_text : metrics.received_binary).add();
        handler_->on_message(*this, message);
      }
      break;
    case WebSocketOpcode::ping:
      if (state_ == State::open) write_frame(WebSocketOpcode::pong, Buffer::copy_of(message.data));
      break;
    case WebSocketOpcode::close: peer_closed(message.data); break;
    default: break;  // a pong: heard_ is all it says
  }
}

void WebSocketSession::read_complete(HandlerContext& ctx) {
  in_read_ = false;
  if (flush_owed_) {
    flush_owed_ = false;
    ctx.flush();
  }
  ctx.fire_read_complete();
}

void WebSocketSession::peer_closed(std::string_view payload) {
  std::uint16_t code = close_code::no_status;
  std::string_view reason;
  if (payload.size() >= 2) {  // the decoder has checked the code and the reason
    code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                      static_cast<unsigned char>(payload[1]));
    reason = payload.substr(2);
  }
  if (state_ == State::open) {
    // Answered with the same code (none when it had none), then the server
    // closes the TCP connection (section 7.1.1).
    write_close(code == close_code::no_status ? 0 : code, {});
  }
  if (state_ != State::closed) finish(code, reason, false);
}

void WebSocketSession::channel_inactive(HandlerContext& ctx) {
  if (state_ != State::closed) {
    state_ = State::closed;
    ctx.loop().cancel_timeout(timer_);
    timer_kind_ = Timer::none;
    if (memberships_) leave_all(*this);
    report_close(close_code::abnormal, {});
  }
  ctx.fire_channel_inactive();
}

void WebSocketSession::user_event(HandlerContext& ctx, const UserEvent& event) {
  if (const auto* shutdown = dynamic_cast<const GracefulShutdownEvent*>(&event)) {
    // Every connection hears 1001 and has close_timeout_ms (within the
    // group's deadline) to answer it.
    shutdown->finish_first();
    if (state_ == State::open) close(close_code::going_away, "server shutting down");
  } else if (dynamic_cast<const InputShutdownEvent*>(&event) != nullptr) {
    // The peer stopped sending without a close frame.
    if (state_ != State::closed) finish(close_code::abnormal, {}, true);
  }
  ctx.fire_user_event(event);
}

void WebSocketSession::writability_changed(HandlerContext& ctx, bool writable) {
  if (writable && state_ == State::open) handler_->on_writable(*this);
  ctx.fire_writability_changed(writable);
}

void WebSocketSession::error(HandlerContext&, const std::exception& error) {
  if (const auto* violation = dynamic_cast<const WebSocketProtocolError*>(&error)) {
    log().debug("channel {}: WebSocket closed {}: {}", channel().id(), violation->code(), violation->what());
    fail(violation->code(), violation->what());
    return;
  }
  // The application's callback threw: logged, and the peer told no more
  // than that.
  log().error("channel {}: WebSocket handler failed: {}", channel().id(), error.what());
  fail(close_code::internal_error, "internal error");
}

// ---- outbound ----

void WebSocketSession::send(WebSocketOpcode opcode, std::string_view payload) {
  send(opcode, Buffer::copy_of(payload));
}

void WebSocketSession::send(WebSocketOpcode opcode, Buffer payload) {
  EventLoop& loop = ctx_->loop();
  if (loop.is_in_loop_thread()) {
    send_now(opcode, std::move(payload));
    return;
  }
  loop.post([self = shared(), opcode, p = std::move(payload)]() mutable {
    static_cast<WebSocketSession&>(*self).send_now(opcode, std::move(p));
  });
}

void WebSocketSession::send_now(WebSocketOpcode opcode, Buffer payload) {
  if (state_ != State::open || !admit_message()) return;
  WebSocketMetrics::of(ctx_->loop()).sent.add();
  write_frame(opcode, std::move(payload));
}

void WebSocketSession::send_framed(const Buffer& frame) {
  if (state_ != State::open || !admit_message()) return;
  WebSocketMetrics::of(ctx_->loop()).sent.add();
  Buffer shared = frame.share();
  ctx_->write(shared);
  flush_soon();
}

// The slow-consumer policy: a peer that is not reading what we send (the
// write queue is above the high watermark) gets no more of it.
bool WebSocketSession::admit_message() {
  if (ctx_->channel().is_writable()) return true;
  if (options().slow_consumer == SlowConsumerPolicy::drop) {
    if (std::uint32_t d = dropped_.load(std::memory_order_relaxed); d != std::numeric_limits<std::uint32_t>::max()) {
      dropped_.store(d + 1, std::memory_order_relaxed);  // the loop is its only writer
    }
    WebSocketMetrics::of(ctx_->loop()).dropped.add();
  } else {
    fail(close_code::policy_violation, "too slow to read its messages");
  }
  return false;
}

void WebSocketSession::write_frame(WebSocketOpcode opcode, Buffer payload) {
  Buffer frame = encode_frame(opcode, true, std::move(payload), config_->role);
  ctx_->write(frame);
  flush_soon();
}

void WebSocketSession::write_close(std::uint16_t code, std::string_view reason) {
  Buffer body(2 + kMaxCloseReason);
  if (code != 0) {
    char be[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    body.append(be, 2);
    body.append(reason.substr(0, kMaxCloseReason));
  }
  write_frame(WebSocketOpcode::close, std::move(body));
}

// Inside a read, writes wait for read_complete: the answers to one read
// leave in one write.
void WebSocketSession::flush_soon() {
  if (in_read_) {
    flush_owed_ = true;
  } else {
    ctx_->flush();
  }
}

void WebSocketSession::ping(std::string_view payload) {
  Buffer p = Buffer::copy_of(payload.substr(0, std::min(payload.size(), kMaxControlPayload)));
  ctx_->loop().execute([self = shared(), p = std::move(p)]() mutable {
    auto& s = static_cast<WebSocketSession&>(*self);
    if (s.state_ == State::open) s.write_frame(WebSocketOpcode::ping, std::move(p));
  });
}

void WebSocketSession::close(std::uint16_t code, std::string_view reason) {
  if (!ctx_->loop().is_in_loop_thread()) {
    ctx_->loop().post([self = shared(), code, r = std::string(reason)] { self->close(code, r); });
    return;
  }
  if (state_ != State::open) return;
  write_close(code, reason);
  state_ = State::closing;
  arm(Timer::close_due, options().close_timeout_ms);
}

void WebSocketSession::fail(std::uint16_t code, std::string_view reason) {
  if (state_ == State::closed) return;
  if (state_ == State::open) write_close(code, reason);
  finish(code, reason, false);
}

void WebSocketSession::finish(std::uint16_t code, std::string_view reason, bool cut) {
  state_ = State::closed;
  ctx_->loop().cancel_timeout(timer_);
  timer_kind_ = Timer::none;
  if (memberships_) leave_all(*this);
  Channel& ch = ctx_->channel();
  if (cut) {
    ch.close_now();
  } else {
    flush_owed_ = false;
    ctx_->flush();
    ch.close_lingering();  // our close frame and what precedes it reach the peer
  }
  report_close(code, reason);
}

// The last callback; then the session lets go of its handler, so a handler
// that keeps its connection (shared()) makes no cycle that outlives it.
void WebSocketSession::report_close(std::uint16_t code, std::string_view reason) {
  auto& metrics = WebSocketMetrics::of(ctx_->loop());
  metrics.open.add(-1);
  metrics.closed(code);
  std::shared_ptr<WebSocketHandler> handler = std::move(handler_);
  handler->on_close(*this, code, reason);
}

bool WebSocketSession::writable() const noexcept { return ctx_->channel().is_writable(); }

std::shared_ptr<WebSocket> WebSocketSession::shared() {
  return std::shared_ptr<WebSocket>(ctx_->channel().shared_from_this(), static_cast<WebSocket*>(this));
}

Channel& WebSocketSession::channel() noexcept { return ctx_->channel(); }

std::string_view WebSocketSession::subprotocol() const noexcept {
  if (subprotocol_ < 0) return {};
  return options().subprotocols[static_cast<std::size_t>(subprotocol_)];
}

// ---- timers ----

void WebSocketSession::arm(Timer kind, std::uint64_t ms) {
  timer_kind_ = kind;
  ctx_->loop().schedule_timeout(timer_, ms == 0 ? 1 : ms);
}

void WebSocketSession::on_timer(void* self) {
  auto& s = *static_cast<WebSocketSession*>(self);
  s.timer_fired(std::exchange(s.timer_kind_, Timer::none));
}

void WebSocketSession::timer_fired(Timer kind) {
  switch (kind) {
    case Timer::ping_due:
      if (heard_) {
        heard_ = false;  // alive this interval: no ping needed
        arm(Timer::ping_due, options().ping_interval_ms);
      } else {
        write_frame(WebSocketOpcode::ping, Buffer(0));
        arm(Timer::pong_due, options().pong_timeout_ms);
      }
      break;
    case Timer::pong_due:
      if (heard_) {
        heard_ = false;
        arm(Timer::ping_due, options().ping_interval_ms);
      } else {
        log().debug("channel {}: WebSocket peer silent after a ping: closing", channel().id());
        finish(close_code::abnormal, "no pong", true);
      }
      break;
    case Timer::close_due:
      finish(close_code::abnormal, "close timeout", true);  // the peer never answered our close frame
      break;
    case Timer::none: break;
  }
}

}  // namespace sluice::detail
