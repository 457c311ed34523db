#pragma once
// Internal: a WebSocket connection after the handshake, between the socket
// and the application.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "sluice/channel/handler.hpp"
#include "sluice/channel/pipeline.hpp"
#include "frame_coding.hpp"
#include "sluice/core/timer_wheel.hpp"
#include "sluice/websocket/websocket.hpp"

namespace sluice::detail {

struct HubMemberships;

/// What a session is made with: shared by every connection of an endpoint
/// (or a client).
struct SessionConfig {
  WebSocketOptions options;
  WebSocketRole role = WebSocketRole::server;
};

/// The protocol's side of a connection (framing, control frames, the close
/// handshake, the heartbeat, the slow-consumer policy) and the WebSocket
/// the application holds. Takes the socket's bytes itself, through a
/// FrameDecoder, rather than after a WebSocketFrameCodec: one handler and
/// one context fewer per connection (96 bytes of an idle connection's
/// 573) and one pipeline step fewer per message. Loop thread, except the
/// WebSocket methods marked "any thread".
///
/// The connection is in one State:
///
///   open     messages flow both ways.            Timer: heartbeat.
///   closing  our close frame is sent; only the peer's close frame is
///            awaited (messages are dropped).     Timer: close timeout.
///   closed   over: on_close has been called; the TCP connection closes
///            (or has).                           Timer: none.
///
///   open --close() / shutdown--> closing --peer's close / timeout--> closed
///   open --peer's close (answered) / violation / EOF / no pong--> closed
///
/// The heartbeat needs no clock reading per message: each message sets
/// `heard_`; the timer, every ping_interval, clears it if it was set, or
/// else pings and waits pong_timeout for anything to set it.
class WebSocketSession final : public InboundHandler<Buffer>, public WebSocket {
 public:
  enum class State : std::uint8_t { open, closing, closed };

  WebSocketSession(std::shared_ptr<const SessionConfig> config, std::shared_ptr<WebSocketHandler> handler,
                   int subprotocol) noexcept;
  ~WebSocketSession() override;

  /// Puts a session on `channel` (at the end of its pipeline), calls
  /// on_open, and decodes `rest` (bytes that came with the handshake).
  /// Loop thread.
  static WebSocketSession& install(Channel& channel, Buffer rest, std::shared_ptr<const SessionConfig> config,
                                   std::shared_ptr<WebSocketHandler> handler, int subprotocol);

  // The pipeline's events.
  void read(HandlerContext& ctx, Buffer& bytes) override;
  void read_complete(HandlerContext& ctx) override;
  void channel_inactive(HandlerContext& ctx) override;
  void user_event(HandlerContext& ctx, const UserEvent& event) override;
  void writability_changed(HandlerContext& ctx, bool writable) override;
  void error(HandlerContext& ctx, const std::exception& error) override;
  void handler_added(HandlerContext& ctx) override { ctx_ = &ctx; }
  void handler_removed(HandlerContext& ctx) override;

  // WebSocket. Its close(code, reason) is not the pipeline's outbound
  // close(ctx), which stays reachable (clang's -Woverloaded-virtual).
  using InboundHandler<Buffer>::close;
  using WebSocket::send;
  void send(WebSocketOpcode opcode, std::string_view payload) override;
  void send(WebSocketOpcode opcode, Buffer payload) override;
  void ping(std::string_view payload) override;
  void close(std::uint16_t code, std::string_view reason) override;
  bool writable() const noexcept override;
  bool is_open() const noexcept override { return state_.load(std::memory_order_relaxed) == State::open; }
  std::uint64_t dropped_messages() const noexcept override { return dropped_.load(std::memory_order_relaxed); }
  std::shared_ptr<WebSocket> shared() override;
  Channel& channel() noexcept override;
  std::string_view subprotocol() const noexcept override;
  WebSocketHandler* handler() noexcept override { return handler_.get(); }

  /// A whole server frame shared by many recipients (the hub's): queued
  /// under the slow-consumer policy and flushed. Loop thread.
  void send_framed(const Buffer& frame);
  State state() const noexcept { return state_; }
  /// The hub's record of this connection's topics (null: none).
  std::unique_ptr<HubMemberships>& memberships() noexcept { return memberships_; }

 private:
  enum class Timer : std::uint8_t { none, ping_due, pong_due, close_due };

  void open();
  void take(const WebSocketMessage& message);
  void send_now(WebSocketOpcode opcode, Buffer payload);
  bool admit_message();
  void write_frame(WebSocketOpcode opcode, Buffer payload);
  void write_close(std::uint16_t code, std::string_view reason);
  void flush_soon();
  void peer_closed(std::string_view payload);
  /// Ends the session: on_close once, then the TCP connection closes
  /// lingering (after what is queued) or at once.
  void finish(std::uint16_t code, std::string_view reason, bool cut);
  /// Fails the connection: our close frame with `code`, then finish().
  void fail(std::uint16_t code, std::string_view reason);
  void report_close(std::uint16_t code, std::string_view reason);
  void arm(Timer kind, std::uint64_t ms);
  static void on_timer(void* self);
  void timer_fired(Timer kind);
  const WebSocketOptions& options() const noexcept { return config_->options; }

  // The order and widths below keep a session at 128 bytes (a
  // static_assert says so): a WebSocket's channel, its control block and
  // the session with its context then come to 440 bytes, one 448-byte
  // malloc chunk; at 136 they took 464 (ws-bench --mode idle: 508 bytes a
  // connection against 493). The decoder's tail padding holds the small
  // fields that follow it ([[no_unique_address]]).
  HandlerContext* ctx_ = nullptr;
  std::shared_ptr<const SessionConfig> config_;
  std::shared_ptr<WebSocketHandler> handler_;
  std::unique_ptr<HubMemberships> memberships_;
  TimerWheel::Entry timer_{&WebSocketSession::on_timer, this};
  [[no_unique_address]] FrameDecoder decoder_;
  std::atomic<State> state_{State::open};  // read from any thread (is_open); written on the loop
  Timer timer_kind_ = Timer::none;
  std::int8_t subprotocol_;     // index into the options' subprotocols, -1: none
  bool heard_ = false;          // a frame arrived since the heartbeat last looked
  bool in_read_ = false;        // inside a read: writes are flushed at read_complete
  bool flush_owed_ = false;
  // Read from any thread (dropped_messages); written on the loop, where it
  // stops at its largest value rather than wrap.
  std::atomic<std::uint32_t> dropped_{0};
};

}  // namespace sluice::detail
