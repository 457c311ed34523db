#include "sluice/channel/idle_state_handler.hpp"

#include <algorithm>

#include "sluice/channel/channel.hpp"

namespace sluice {

IdleStateHandler::IdleStateHandler(Options options) noexcept : options_(options) {
  reader_.timeout_ms = options.reader_idle_ms;
  writer_.timeout_ms = options.writer_idle_ms;
  all_.timeout_ms = options.all_idle_ms;
}

void IdleStateHandler::handler_added(HandlerContext& ctx) {
  ctx_ = &ctx;
  // Added to a channel that is already running: start watching now.
  if (ctx.channel().is_active()) start(ctx);
}

void IdleStateHandler::handler_removed(HandlerContext&) { stop(); }

void IdleStateHandler::start(HandlerContext& ctx) {
  if (started_) return;
  started_ = true;
  last_read_ms_ = last_write_ms_ = ctx.loop().now();
  for (Watch* w : {&reader_, &writer_, &all_}) {
    if (w->timeout_ms != 0) arm(*w, w->timeout_ms);
  }
}

void IdleStateHandler::channel_active(HandlerContext& ctx) {
  start(ctx);
  ctx.fire_channel_active();
}

void IdleStateHandler::channel_inactive(HandlerContext& ctx) {
  stop();
  ctx.fire_channel_inactive();
}

void IdleStateHandler::read_erased(HandlerContext& ctx, MessageRef message) {
  last_read_ms_ = ctx.loop().now();
  ctx.fire_read_erased(message);
}

void IdleStateHandler::write_erased(HandlerContext& ctx, MessageRef message) {
  last_write_ms_ = ctx.loop().now();
  ctx.write_erased(message);
}

std::uint64_t IdleStateHandler::last_activity(const Watch& w) const noexcept {
  switch (w.kind) {
    case IdleStateEvent::Kind::reader_idle: return last_read_ms_;
    case IdleStateEvent::Kind::writer_idle: return last_write_ms_;
    case IdleStateEvent::Kind::all_idle: return std::max(last_read_ms_, last_write_ms_);
  }
  return 0;
}

void IdleStateHandler::arm(Watch& w, std::uint64_t delay_ms) { ctx_->loop().schedule_timeout(w.entry, delay_ms); }

void IdleStateHandler::Watch::fired(void* self) {
  auto* w = static_cast<Watch*>(self);
  w->owner->check(*w);
}

void IdleStateHandler::check(Watch& w) {
  if (ctx_ == nullptr || !ctx_->channel().is_active()) return;
  std::uint64_t now = ctx_->loop().now();
  std::uint64_t idle_for = now - last_activity(w);
  if (idle_for < w.timeout_ms) {
    arm(w, w.timeout_ms - idle_for);  // there was activity: wait for the rest
    return;
  }
  IdleStateEvent event(w.kind);
  ctx_->fire_user_event(event);
  if (options_.close_on_idle) {
    ctx_->close();
  } else {
    arm(w, w.timeout_ms);
  }
}

void IdleStateHandler::stop() noexcept {
  for (Watch* w : {&reader_, &writer_, &all_}) {
    if (ctx_ != nullptr) ctx_->loop().cancel_timeout(w->entry);
  }
}

}  // namespace sluice
