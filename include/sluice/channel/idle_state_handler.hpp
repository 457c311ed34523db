#pragma once
// Detects idle connections (Netty's IdleStateHandler) on the loop's timer wheel.

#include <cstdint>

#include "sluice/channel/handler.hpp"
#include "sluice/core/timer_wheel.hpp"

namespace sluice {

/// Fired when a channel has been idle for the configured time.
struct IdleStateEvent final : UserEvent {
  enum class Kind { reader_idle, writer_idle, all_idle };
  explicit IdleStateEvent(Kind k) noexcept : kind(k) {}
  Kind kind;
};

/// Watches reads and writes and fires an IdleStateEvent after a quiet
/// period; by default it then closes the channel. Place it first in the
/// pipeline. Loop thread only; one instance per channel.
///
/// A read or write only stores a timestamp; the wheel entry is re-armed when
/// it fires early, so a busy connection costs no timer work per message.
class IdleStateHandler final : public HandlerBase {
 public:
  struct Options {
    std::uint64_t reader_idle_ms = 0;  // 0: not watched
    std::uint64_t writer_idle_ms = 0;
    std::uint64_t all_idle_ms = 0;
    bool close_on_idle = true;
  };
  explicit IdleStateHandler(Options options) noexcept;

  void handler_added(HandlerContext& ctx) override;
  void handler_removed(HandlerContext& ctx) override;
  void channel_active(HandlerContext& ctx) override;
  void channel_inactive(HandlerContext& ctx) override;
  void read_erased(HandlerContext& ctx, MessageRef message) override;
  void write_erased(HandlerContext& ctx, MessageRef message) override;

 private:
  struct Watch {
    IdleStateHandler* owner;
    IdleStateEvent::Kind kind;
    std::uint64_t timeout_ms;
    TimerWheel::Entry entry;
    Watch(IdleStateHandler* o, IdleStateEvent::Kind k, std::uint64_t t) noexcept
        : owner(o), kind(k), timeout_ms(t), entry(&Watch::fired, this) {}
    static void fired(void* self);
  };
  void start(HandlerContext& ctx);
  void arm(Watch& w, std::uint64_t delay_ms);
  void check(Watch& w);
  void stop() noexcept;
  std::uint64_t last_activity(const Watch& w) const noexcept;

  Options options_;
  HandlerContext* ctx_ = nullptr;
  std::uint64_t last_read_ms_ = 0;
  std::uint64_t last_write_ms_ = 0;
  bool started_ = false;
  Watch reader_{this, IdleStateEvent::Kind::reader_idle, 0};
  Watch writer_{this, IdleStateEvent::Kind::writer_idle, 0};
  Watch all_{this, IdleStateEvent::Kind::all_idle, 0};
};

}  // namespace sluice
