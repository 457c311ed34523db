#include "http_connection.hpp"

#include <algorithm>
#include <cassert>

#include "body_stream_feed.hpp"
#include "recycler.hpp"
#include "sluice/core/log.hpp"

namespace sluice {

std::shared_ptr<HttpServerCodec> HttpServerCodec::create(HttpCodecOptions options) {
  return create(std::make_shared<const HttpCodecOptions>(std::move(options)));
}

std::shared_ptr<HttpServerCodec> HttpServerCodec::create(std::shared_ptr<const HttpCodecOptions> options) {
  return std::make_shared<detail::HttpConnection>(std::move(options));
}

}  // namespace sluice

namespace sluice::detail {

// What an idle keep-alive connection holds of its own (the per-request
// state is pooled meanwhile): kept small, as a server holds many.
static_assert(sizeof(void*) != 8 || sizeof(HttpConnection) <= 96, "an idle HTTP connection grew");

// ---- the pooled per-request state ----

namespace {
using StatePool = FreeList<std::unique_ptr<RequestState>, RequestState::kPoolBound>;
}

std::unique_ptr<RequestState> RequestState::take(HttpConnection& owner, const HttpCodecOptions& options,
                                                 std::weak_ptr<HttpConnection> self) {
  std::unique_ptr<RequestState> s = StatePool::take();
  if (!s) s = std::make_unique<RequestState>();
  s->decoder.start(options);
  s->fresh.owner = &owner;
  s->fresh.self = std::move(self);
  return s;
}

void RequestState::give(std::unique_ptr<RequestState>& s) noexcept {
  s->send_timer.cancel();
  s->decoder.reset();  // ends a streamed body (499); frees scratch not worth keeping
  s->queue.clear();
  s->fresh = {};
  StatePool::put(s);
}

void RequestState::send_timed_out(void* self) { static_cast<RequestState*>(self)->fresh.owner->send_timed_out(); }

HttpConnection::~HttpConnection() {
  if (state_ != nullptr) close_exchanges();
  drop_state();
}

RequestState& HttpConnection::take_state() {
  // Exchanges reach the connection through the channel: an aliasing weak
  // reference (the channel's count, this object's address).
  std::shared_ptr<HttpConnection> self(ctx_->channel().shared_from_this(), this);
  state_ = RequestState::take(*this, *options_, self).release();
  state_->fresh.metrics = &HttpMetrics::of(loop());
  return *state_;
}

void HttpConnection::drop_state() noexcept {
  if (state_ == nullptr) return;
  std::unique_ptr<RequestState> s(std::exchange(state_, nullptr));
  RequestState::give(s);
}

// ---- pipeline events ----

void HttpConnection::channel_active(HandlerContext& ctx) {
  ctx_ = &ctx;
  // A connection must start its first request within the header timeout.
  arm(Timer::header, options_->header_timeout_ms);
  ctx.fire_channel_active();
}

void HttpConnection::channel_inactive(HandlerContext& ctx) {
  // Whatever was under way is over: the state goes back (its timers
  // cancelled, its input dropped) as the outermost entry point returns.
  Entered entered(*this);
  conn_state_ = ConnState::closed;
  disarm();
  timer_.cancel();
  if (state_ != nullptr) {
    // A body being streamed learns that the client went away.
    if (state_->decoder.body_stream()) state_->decoder.end_body_stream(499);
    close_exchanges();
  }
  ctx.fire_channel_inactive();
}

void HttpConnection::read(HandlerContext& ctx, Buffer& bytes) {
  Entered entered(*this);
  ctx_ = &ctx;
  RequestState& s = state();
  if (conn_state_ == ConnState::body_stopped || conn_state_ == ConnState::awaiting_answers ||
      conn_state_ == ConnState::awaiting_upgrade) {
    s.fresh.held.append(bytes.view());
  } else if (reading()) {
    if (timer_kind_ == Timer::keep_alive || timer_kind_ == Timer::idle) disarm();
    decode(bytes.peek(), bytes.readable_bytes());
  }  // closing or closed: a lingering close drops what arrives
  bytes.retrieve_all();
}

void HttpConnection::user_event(HandlerContext& ctx, const UserEvent& event) {
  Entered entered(*this);
  ctx_ = &ctx;
  if (const auto* shutdown = dynamic_cast<const GracefulShutdownEvent*>(&event)) {
    // Idle (or half a request): close now. Busy: the last answer says
    // Connection: close, and nothing more is read.
    shutdown->finish_first();
    begin_closing();
  } else if (dynamic_cast<const InputShutdownEvent*>(&event) != nullptr) {
    RequestState& s = state();
    if (s.decoder.in_message() && s.fresh.in_flight == 0) {
      fail(400, "Bad Request: the request ended early");
    } else {
      begin_closing();
    }
  }
  ctx.fire_user_event(event);
}

void HttpConnection::writability_changed(HandlerContext& ctx, bool writable) {
  Entered entered(*this);
  ctx_ = &ctx;
  if (writable) {
    if (state_ != nullptr) {
      ctx.loop().cancel_timeout(state_->send_timer);
      resume_when_writable();
      // A streamed answer being written may go on.
      if (!state_->queue.empty()) {
        Exchange& front = *state_->queue.front();
        if (front.stage == Exchange::Stage::streaming && front.head_written) notify_writable(front);
      }
    }
  } else if (options_->send_timeout_ms != 0) {
    // Held answers and held requests run no other timer: this one bounds
    // how long a client that never reads keeps its connection.
    ctx.loop().schedule_timeout(state().send_timer, options_->send_timeout_ms);
  }
  ctx.fire_writability_changed(writable);
}

// ---- decoding: idle / reading_head / reading_body ----

void HttpConnection::decode(const char* data, std::size_t len) {
  RequestDecoder& decoder = state_->decoder;
  state_->fresh.input_bytes = len;
  decoding_ = true;
  while (len > 0 && reading()) {
    if (!on_event(decoder.decode(data, len), data, len)) break;
  }
  decoding_ = false;
  if (!reading()) return;
  if (decoder.in_head()) {
    conn_state_ = ConnState::reading_head;
    if (timer_kind_ != Timer::header) arm(Timer::header, options_->header_timeout_ms);
  } else if (!decoder.in_message()) {
    conn_state_ = ConnState::idle;
    arm_keep_alive_if_idle();  // once for every answer given while decoding
  }
}

// Acts on what the decoder found; false: decode no further now.
bool HttpConnection::on_event(RequestDecoder::Event event, const char*& data, std::size_t& len) {
  using Event = RequestDecoder::Event;
  if ((event == Event::head || event == Event::request) &&
      loop().memory().level() == MemoryBudget::Level::full) {
    // The loop holds its whole memory budget: a new request is refused
    // rather than queued (the answer says when to try again).
    fail(503, "Service Unavailable");
    return false;
  }
  switch (event) {
    case Event::need_more: return true;
    case Event::head: on_head(data, len); break;
    case Event::body_stopped: stop_reading(ConnState::body_stopped, data, len); break;
    case Event::body_end:
      disarm();
      conn_state_ = ConnState::idle;
      after_request(data, len);
      break;
    case Event::request: {
      disarm();
      conn_state_ = ConnState::idle;
      HttpRequestPtr request = state_->decoder.take_request();
      // What follows an upgrade request may be another protocol's bytes:
      // held before the handler can answer (it may answer at once).
      if (request->upgrade) stop_reading(ConnState::awaiting_upgrade, data, len);
      hand_on(std::move(request));
      after_request(data, len);
      break;
    }
    case Event::error: fail(state_->decoder.error_status(), state_->decoder.error_message()); return false;
  }
  return ctx_->channel().is_active();
}

// A head whose body follows: "100 Continue" if asked for, the body timer,
// and a streamed body's request goes to its handler now.
void HttpConnection::on_head(const char*& data, std::size_t& len) {
  RequestDecoder& decoder = state_->decoder;
  conn_state_ = ConnState::reading_body;
  disarm();
  if (decoder.expects_continue()) send_continue_when_due();
  arm(Timer::body, options_->body_timeout_ms);
  if (const auto& stream = decoder.body_stream()) {
    // Cleared when the stream ends, which is before this state lets go of it.
    BodyStreamFeed::set_flow(*stream, [this](bool stop) { on_body_flow(stop); });
    hand_on(decoder.take_request());
    if (conn_state_ == ConnState::reading_body && decoder.body_stream() &&
        BodyStreamFeed::wants_stop(*decoder.body_stream())) {
      stop_reading(ConnState::body_stopped, data, len);
    }
  }
}

// After a request was handed on: a closing one ends reading; too many in
// flight (or answers the peer is not reading) stop it for now.
void HttpConnection::after_request(const char*& data, std::size_t& len) {
  RequestState& s = *state_;
  if (!reading()) return;
  if (!s.fresh.last_keep_alive) {
    conn_state_ = ConnState::closing;  // nothing after a closing request is read
    len = 0;
    return;
  }
  if (s.fresh.in_flight >= options_->max_pipelined_requests || !ctx_->channel().is_writable()) {
    stop_reading(ConnState::awaiting_answers, data, len);
  }
}

// The streamed body's consumer asks to stop (true) or to go on (false).
void HttpConnection::on_body_flow(bool stop) {
  Entered entered(*this);
  if (stop) {
    if (timer_kind_ == Timer::body) disarm();  // the client is not the slow one
    return;
  }
  if (timer_kind_ == Timer::none && state_->decoder.in_message()) arm(Timer::body, options_->body_timeout_ms);
  if (conn_state_ == ConnState::body_stopped && !decoding_) resume_reading(ConnState::reading_body);
}

void HttpConnection::hand_on(HttpRequestPtr request) {
  RequestState& s = *state_;
  request->sequence = requests_++;
  request->remote_address = ctx_->channel().remote_address();
  std::uint64_t max_requests = options_->max_requests_per_connection;
  if (conn_state_ == ConnState::closing || (max_requests != 0 && requests_ >= max_requests)) {
    request->keep_alive = false;
  }
  std::shared_ptr<Exchange> exchange = Recycler<Exchange>::take();
  exchange->keep_alive = request->keep_alive && request->error_status == 0;
  s.fresh.last_keep_alive = exchange->keep_alive;
  exchange->request_body_held = request->body.size();
  s.fresh.bodies_held += exchange->request_body_held;
  exchange->request = std::move(request);
  exchange->loop = &loop();
  exchange->channel = &ctx_->channel();
  exchange->connection = s.fresh.self;
  exchange->owner = this;
  exchange->read_at_ns = loop().woke_at_ns();
  s.queue.push_back(exchange);
  ++s.fresh.in_flight;
  s.fresh.metrics->in_flight.add(1);
  ctx_->fire_read(exchange);
  // Answered at once (the usual case): the last owner is here.
  if (exchange->stage == Exchange::Stage::done) Recycler<Exchange>::give(exchange);
}

// ---- body_stopped / awaiting_answers ----

// Stops decoding: the rest of this input waits in `held`, and the socket
// is not read, until resume_reading().
void HttpConnection::stop_reading(ConnState why, const char*& data, std::size_t& len) {
  conn_state_ = why;
  state_->fresh.held.append(data, len);
  data += len;
  len = 0;
  ctx_->channel().set_auto_read(false);
}

bool HttpConnection::may_resume() const {
  return conn_state_ == ConnState::awaiting_answers && !decoding_ &&
         state_->fresh.in_flight < options_->max_pipelined_requests && ctx_->channel().is_active() &&
         ctx_->channel().is_writable();
}

void HttpConnection::resume_reading(ConnState into) {
  conn_state_ = into;
  Buffer pending = std::move(state_->fresh.held);
  if (!pending.empty()) {
    decode(pending.peek(), pending.readable_bytes());  // arms the timer its end calls for
  } else if (into == ConnState::idle) {
    arm_keep_alive_if_idle();  // nothing held: idle from now, unless answers are still owed
  }
  if (reading()) ctx_->channel().set_auto_read(true);
}

// The channel is writable again, or a refused upgrade lets HTTP go on:
// take the held requests on a later turn (we are inside the transport's
// flush, or inside decode(), here).
void HttpConnection::resume_when_writable() {
  if (conn_state_ != ConnState::awaiting_answers) return;
  loop().post([weak = state_->fresh.self] {
    auto self = weak.lock();
    if (!self || self->state_ == nullptr) return;
    Entered entered(*self);
    if (self->may_resume()) self->resume_reading(ConnState::idle);
  });
}

// ---- switching protocols ----

// The upgrade was answered 101 and nothing of ours is on the stack: HTTP
// leaves the pipeline (this codec and the handlers after it, the HTTP
// application's end) and the next protocol takes the connection with what
// the client sent after its upgrade request.
//
// This connection is released, not just removed: nothing can reach it once
// its exchanges are closed (a writer checks that before calling in), so it
// is destroyed at the top of the next turn and its room in the channel's
// block is free again. The next protocol is placed after that, on the same
// turn, where HTTP was: an idle WebSocket then costs about what the idle
// HTTP connection it came from did, instead of that plus the heap.
void HttpConnection::switch_protocols() {
  RequestState& s = *state_;
  ProtocolSwitch next = std::move(s.fresh.protocol_switch);
  Buffer rest = std::move(s.fresh.held);
  conn_state_ = ConnState::switched;
  disarm();
  loop().cancel_timeout(timer_);
  close_exchanges();
  account_memory();  // nothing held now but `rest`, which the next protocol accounts for
  hand_answers();  // the 101, flushed first below
  drop_state();
  ctx_->flush();
  Channel& channel = ctx_->channel();
  Pipeline& pipeline = ctx_->pipeline();
  std::vector<std::string> names = pipeline.names();
  auto self = std::find(names.begin(), names.end(), ctx_->name());
  for (auto it = names.end(); it != self;) {  // from the last back to this codec
    --it;
    if (it == self) {
      pipeline.release(*it);  // `this` goes on the next turn
    } else {
      pipeline.remove(*it);
    }
  }
  // Posted after the release, so it runs after HTTP's handlers are gone.
  channel.loop().post([keep = channel.shared_from_this(), next = std::move(next), rest = std::move(rest)]() mutable {
    Channel& ch = *keep;
    if (!ch.is_active() || ch.is_closing()) return;  // the client left meanwhile
    try {
      next(ch, std::move(rest));
    } catch (const std::exception& e) {
      log().error("channel {}: switching protocols failed: {}", ch.id(), e.what());
      ch.close_now();
      return;
    }
    if (ch.is_active() && !ch.is_closing()) ch.set_auto_read(true);
  });
}

// ---- closing ----

// A refused request: answered in order, then a lingering close.
void HttpConnection::account_memory() noexcept {
  // What this connection holds that the channel does not count: input held
  // back, the body being read, and the bodies of requests in flight.
  // Without the per-request state it holds nothing, and has told so.
  if (state_ == nullptr) return;
  RequestState::Fresh& f = state_->fresh;
  std::size_t held = f.held.readable_bytes() + state_->decoder.body_bytes() + f.bodies_held;
  if (held == f.accounted) return;
  ctx_->channel().account_memory(static_cast<std::ptrdiff_t>(held) - static_cast<std::ptrdiff_t>(f.accounted));
  f.accounted = held;
}

void HttpConnection::fail(int status, std::string message) {
  if (conn_state_ >= ConnState::closing) return;
  HttpMetrics::of(loop()).refused(status);
  conn_state_ = ConnState::closing;
  disarm();
  RequestState& s = state();
  s.fresh.held.release();
  if (s.decoder.body_stream()) {
    // Its handler already runs: it learns of the failure from the stream
    // and answers; the connection closes after that answer.
    s.decoder.end_body_stream(status);
    if (s.queue.empty()) {
      close_lingering();  // it has been answered already
    } else {
      s.queue.back().keep_alive = false;
    }
    return;
  }
  hand_on(s.decoder.take_refused(status, std::move(message)));
}

// No more requests are taken (the peer's EOF, or a graceful shutdown):
// answer what is in flight, then close.
void HttpConnection::begin_closing() {
  if (conn_state_ == ConnState::closed) return;
  RequestState& s = state();
  if (s.fresh.in_flight == 0) {
    close_lingering();  // after the peer's EOF, a plain close
    return;
  }
  conn_state_ = ConnState::closing;
  s.queue.back().keep_alive = false;
  s.fresh.held.release();
}

void HttpConnection::close_lingering() {
  if (conn_state_ != ConnState::closed) conn_state_ = ConnState::closing;
  flush_answers();
  ctx_->channel().close_lingering();
}

// ---- timers ----

inline void HttpConnection::arm(Timer kind, std::uint64_t ms) {
  timer_kind_ = kind;
  if (ms == 0) {
    loop().cancel_timeout(timer_);
    return;
  }
  loop().schedule_timeout(timer_, ms);
}

// Keep-alive: the state is kept for a moment, so a busy connection never
// pays for giving it back and taking it again, then goes back to the pool;
// the connection closes when the whole timeout has passed.
void HttpConnection::arm_keep_alive_if_idle() {
  RequestState& s = *state_;
  if (conn_state_ != ConnState::idle || s.fresh.in_flight != 0 || !s.fresh.held.empty()) return;
  s.fresh.idle_since = loop().now();
  std::uint64_t total = options_->keep_alive_timeout_ms;
  if (total != 0 && total <= kKeepStateMs) {
    arm(Timer::idle, total);
  } else {
    arm(Timer::keep_alive, kKeepStateMs);
  }
}

// The entry stays in the wheel when disarmed: re-arming a filed entry for
// later costs no relinking (TimerWheel::schedule). If it fires while
// disarmed, on_timer finds no kind.
void HttpConnection::on_timer(void* self) {
  auto& c = *static_cast<HttpConnection*>(self);
  Entered entered(c);
  Timer kind = std::exchange(c.timer_kind_, Timer::none);
  if (c.ctx_ == nullptr || !c.ctx_->channel().is_active()) return;
  if (kind == Timer::keep_alive) {
    c.keep_alive_passed();
  } else if (kind == Timer::idle) {
    HttpMetrics::of(c.loop()).timed_out(HttpMetrics::Timeout::keep_alive);
    c.ctx_->close();  // an idle keep-alive connection just goes, as in nginx
  } else if (kind == Timer::header || kind == Timer::body) {
    c.timed_out(kind);
  }
}

// Idle for a moment: the state goes back (unless an answer is still
// leaving), the rest of the keep-alive timeout runs on.
void HttpConnection::keep_alive_passed() {
  // Armed with the state held (arm_keep_alive_if_idle), which only this
  // timer and the channel's closing give back.
  assert(state_ != nullptr);
  RequestState& s = *state_;
  std::uint64_t idle_since = s.fresh.idle_since;
  if (conn_state_ == ConnState::idle && s.fresh.in_flight == 0 && s.fresh.held.empty() &&
      !s.send_timer.is_scheduled() && !s.decoder.in_message()) {
    assert(s.fresh.accounted == 0);  // told at the last entry point's return: nothing held
    drop_state();
  }
  std::uint64_t total = options_->keep_alive_timeout_ms;
  if (total == 0) return;  // no keep-alive timeout
  std::uint64_t idle_for = loop().now() - idle_since;
  if (idle_for < total) {
    arm(Timer::idle, total - idle_for);
  } else {
    HttpMetrics::of(loop()).timed_out(HttpMetrics::Timeout::keep_alive);
    ctx_->close();  // the timer fired late: the whole timeout has passed
  }
}

// The header or body timer ran out.
void HttpConnection::timed_out(Timer kind) {
  HttpMetrics::of(loop()).timed_out(kind == Timer::header ? HttpMetrics::Timeout::header
                                                                 : HttpMetrics::Timeout::body);
  RequestState& s = state();
  if (kind == Timer::header && requests_ == 0 && !s.decoder.in_message() && s.fresh.held.empty()) {
    ctx_->close();  // a connection that never sent a byte: nothing to answer
    return;
  }
  fail(408, "Request Timeout");
}

void HttpConnection::send_timed_out() {
  Entered entered(*this);
  HttpMetrics::of(loop()).timed_out(HttpMetrics::Timeout::send);
  log().debug("channel {}: the client read nothing for {} ms: closing", ctx_->channel().id(),
              options_->send_timeout_ms);
  ctx_->channel().close_now();
}

}  // namespace sluice::detail
