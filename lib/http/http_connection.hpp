#pragma once
// Internal: the one owner of an HTTP/1.x connection's state.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "exchange.hpp"
#include "http_metrics.hpp"
#include "request_decoder.hpp"
#include "sluice/channel/channel.hpp"
#include "sluice/channel/pipeline.hpp"
#include "sluice/core/timer_wheel.hpp"
#include "sluice/http/http_server_codec.hpp"

namespace sluice::detail {

class HttpConnection;

/// A connection's per-request state: taken from a bounded per-thread pool
/// when bytes arrive, given back when the connection is idle. The part that
/// keeps capacity (the decoder's scratch, the queue's links, the send
/// timer's entry) stays; the rest is reset whole (`fresh = {}`).
struct RequestState {
  RequestDecoder decoder;
  ExchangeQueue queue;  // the requests in flight, in request order; empty when pooled
  TimerWheel::Entry send_timer{&RequestState::send_timed_out, this};
  struct Fresh {
    HttpConnection* owner = nullptr;
    /// What exchanges hold to reach the connection from any thread: a weak
    /// reference to the channel, aliased to the connection.
    std::weak_ptr<HttpConnection> self;
    std::size_t in_flight = 0;   // exchanges in `queue`
    HttpMetrics* metrics = nullptr;  // the loop's (HttpMetrics::of, looked up once per state taken)
    Buffer held;                 // input not decoded yet while reading is stopped
    Buffer answers;              // answers written this turn, not yet handed to the channel
    std::size_t bodies_held = 0;  // the request bodies of the exchanges in `queue`
    bool continue_owed = false;  // "100 Continue" waits for earlier answers to leave
    bool last_keep_alive = true; // the request handed on last keeps the connection
    ProtocolSwitch protocol_switch;  // the upgrade answered with 101: taken at the outermost return
    /// Bytes told to the channel (HttpConnection::account_memory): 0 when
    /// the state goes back, as nothing is held then (or the channel has
    /// closed, which released the whole account).
    std::size_t accounted = 0;
    std::uint64_t idle_since = 0;  // loop time the last answer left (keep-alive)
    /// When the first answer of this turn (up to the outermost return) was
    /// done, uv_hrtime(); 0 before. The turn's other answers share it: one
    /// clock read per pipelined batch, not per answer (tools/profile:
    /// about 40 instructions a pipelined request).
    std::uint64_t answered_at_ns = 0;
    std::size_t input_bytes = 0;  // of the input being decoded: how big a batch of answers to expect
  } fresh;

  static void send_timed_out(void* self);

  /// At most this many spare states per thread; one given back beyond it
  /// is freed, so a burst leaves no lasting footprint.
  static constexpr std::size_t kPoolBound = 64;
  static std::unique_ptr<RequestState> take(HttpConnection& owner, const HttpCodecOptions& options,
                                            std::weak_ptr<HttpConnection> self);
  static void give(std::unique_ptr<RequestState>& state) noexcept;
};

/// What HttpServerCodec::create makes. See HttpServerCodec for what it does;
/// here is how.
///
/// The connection is always in one ConnState:
///
///   idle              between requests: nothing of the next one read yet.
///                     Timer: header (before the first request), keep-alive
///                     (once every answer left), none while answers are owed.
///   reading_head      part of a head has arrived.            Timer: header.
///   reading_body      a body is arriving (aggregated or streamed). Timer: body.
///   body_stopped      a streamed body's consumer is behind: not reading,
///                     input held.
///   awaiting_answers  max_pipelined_requests in flight, or the peer is not
///                     reading our answers: not reading, input held.
///   awaiting_upgrade  an upgrade request (HttpRequest::upgrade) was handed
///                     on: not reading, what follows it held, until its
///                     answer says which protocol that is.
///   closing           no more requests are read (a refused or closing
///                     request, the peer's EOF, a graceful shutdown): the
///                     answers owed leave, then a lingering close.
///   closed            the channel is inactive.
///   switching         the upgrade was answered 101: HTTP hands the
///                     connection over as the outermost entry point returns.
///   switched          another protocol has the connection; this handler
///                     has left the pipeline.
///
/// Transitions (each a named function below):
///
///   idle --bytes--> reading_head --head with a body--> reading_body
///   idle/reading_head --whole request--> idle (hand_on)
///   reading_body --body complete--> idle (hand_on / body_end)
///   idle --too many in flight / unwritable--> awaiting_answers (stop_reading)
///   awaiting_answers --answers drained, writable--> idle (resume_reading)
///   idle --upgrade request--> awaiting_upgrade --101--> switching --> switched
///   awaiting_upgrade --any other answer--> awaiting_answers (HTTP goes on)
///   reading_body --consumer behind--> body_stopped --consumer resumed--> reading_body
///   any reading state --refused / closing request / EOF / shutdown--> closing (begin_closing, fail)
///   any --channel inactive--> closed
///
/// Entry points (pipeline events, timers, writers' calls) are counted
/// (Entered): what they write is flushed once as the outermost one returns,
/// so the answers of one read leave in one writev, and the per-request state
/// goes back only then.
class HttpConnection final : public HttpServerCodec {
 public:
  enum class ConnState : std::uint8_t {
    idle, reading_head, reading_body, body_stopped, awaiting_answers, awaiting_upgrade, closing, closed,
    switching, switched
  };

  explicit HttpConnection(std::shared_ptr<const HttpCodecOptions> options) : options_(std::move(options)) {}
  ~HttpConnection() override;

  void read(HandlerContext& ctx, Buffer& bytes) override;
  void channel_active(HandlerContext& ctx) override;
  void channel_inactive(HandlerContext& ctx) override;
  void user_event(HandlerContext& ctx, const UserEvent& event) override;
  void writability_changed(HandlerContext& ctx, bool writable) override;
  void handler_added(HandlerContext& ctx) override { ctx_ = &ctx; }

  std::size_t in_flight() const noexcept override { return state_ != nullptr ? state_->fresh.in_flight : 0; }
  bool holds_request_state() const noexcept override { return state_ != nullptr; }
  const HttpCodecOptions& options() const noexcept override { return *options_; }

  // From the writers (ResponseWriter, ChunkedWriter), on the loop.
  void complete(Exchange& exchange, HttpResponse&& response);
  void complete_switching(Exchange& exchange, HttpResponse&& response, ProtocolSwitch&& next);
  void begin_stream(Exchange& exchange, HttpResponse&& head);
  void stream_write(Exchange& exchange, Buffer chunk);
  void stream_end(Exchange& exchange);
  void watch_writable(Exchange& exchange, std::function<void()> fn);
  /// Any thread.

  void send_timed_out();

 private:
  class Entered;
  // Which timeout runs. keep_alive: idle, state still held; idle: idle,
  // state given back.
  enum class Timer : std::uint8_t { none, header, body, keep_alive, idle };
  static constexpr std::uint64_t kKeepStateMs = 100;

  // The channel's loop, without HandlerContext::loop()'s call.
  EventLoop& loop() const noexcept { return ctx_->channel().loop(); }

  // ---- reading (http_connection.cpp) ----
  RequestState& state() { return state_ != nullptr ? *state_ : take_state(); }
  RequestState& take_state();
  void drop_state() noexcept;
  void decode(const char* data, std::size_t len);
  bool on_event(RequestDecoder::Event event, const char*& data, std::size_t& len);
  void on_head(const char*& data, std::size_t& len);
  void after_request(const char*& data, std::size_t& len);
  void on_body_flow(bool stop);
  void hand_on(HttpRequestPtr request);
  void stop_reading(ConnState why, const char*& data, std::size_t& len);
  bool may_resume() const;
  void resume_reading(ConnState into);
  void resume_when_writable();
  void switch_protocols();
  void fail(int status, std::string message);
  void begin_closing();
  void close_lingering();
  /// Tells the channel what this connection holds (MemoryBudget).
  void account_memory() noexcept;
  bool reading() const noexcept { return conn_state_ <= ConnState::reading_body; }

  // ---- timers (http_connection.cpp) ----
  void arm(Timer kind, std::uint64_t ms);
  void disarm() noexcept { timer_kind_ = Timer::none; }
  void arm_keep_alive_if_idle();
  static void on_timer(void* self);
  void timed_out(Timer kind);
  void keep_alive_passed();

  // ---- answering (http_connection_answers.cpp) ----
  void pump();
  bool may_write() const;
  bool writes_next(const Exchange& exchange) const;
  void answer_front(HttpResponse& response);
  bool pump_streaming(const std::shared_ptr<Exchange>& front);
  void write_response(Exchange& exchange, HttpResponse& response);
  void write_stream_head(Exchange& exchange);
  void write_chunk(Exchange& exchange, Buffer& chunk);
  Buffer& answers();
  void answer_written();
  void put(Buffer& bytes);
  void hand_answers();
  void flush_answers();
  void finish(Exchange& exchange);
  void observe_answer(const Exchange& exchange);
  void answered(Exchange& exchange);
  void send_continue_when_due();
  static void notify_writable(Exchange& exchange);
  void close_exchanges() noexcept;

  std::shared_ptr<const HttpCodecOptions> options_;
  RequestState* state_ = nullptr;  // from the pool; see HttpServerCodec
  HandlerContext* ctx_ = nullptr;
  // The header/body/keep-alive timer outlives the per-request state.
  TimerWheel::Entry timer_{&HttpConnection::on_timer, this};
  std::uint64_t requests_ = 0;  // requests read on this connection
  ConnState conn_state_ = ConnState::idle;
  Timer timer_kind_ = Timer::none;
  // Re-entry guards: an answer may be written while decoding (a handler
  // answering at once), and a write may close the channel under pump().
  bool decoding_ = false;
  bool pumping_ = false;
  bool wrote_ = false;  // written and not flushed yet: flushed as the outermost entry point returns
  std::uint16_t depth_ = 0;  // entry points on the stack
};

// Marks an entry point on the stack (a pipeline event, a timer, a writer's
// call). They nest (a handler answers from inside read): what was written
// is flushed, and a closed connection's state given back, only as the
// outermost one returns, when no frame below may be using it.
class HttpConnection::Entered {
 public:
  explicit Entered(HttpConnection& c) noexcept : c_(c) { ++c_.depth_; }
  ~Entered() {
    if (--c_.depth_ != 0) return;
    if (c_.state_ != nullptr) c_.state_->fresh.answered_at_ns = 0;
    if (c_.conn_state_ == ConnState::switching) {
      c_.switch_protocols();
      return;
    }
    if (c_.conn_state_ == ConnState::closed) {
      c_.drop_state();
      return;
    }
    c_.account_memory();
    if (c_.wrote_) c_.flush_answers();
  }
  Entered(const Entered&) = delete;
  Entered& operator=(const Entered&) = delete;

 private:
  HttpConnection& c_;
};

}  // namespace sluice::detail
