// HttpConnection, the answering side: the writers' calls, the answers
// written in request order, and what the connection does after each.
#include "http_connection.hpp"

#include <algorithm>

#include "recycler.hpp"
#include "response_encoder.hpp"
#include "sluice/core/log.hpp"

namespace sluice::detail {

namespace {
// A body this small is copied in after the head: one buffer and one iovec
// instead of two costs less than the copy.
constexpr std::size_t kInlineBodyBytes = 1024;
// The answers of one turn (a pipelined batch) are written one after the
// other into one buffer, which goes to the channel as the turn ends, or as
// soon as it holds kHandOverBytes, so that the channel's watermarks see
// what a long batch writes. tools/profile, /plaintext pipelined x16: a
// buffer taken, queued, copied and given back per answer fewer (4,710 ->
// 4,389 instructions a request). It starts at 1 KiB, what one answer
// needs: a reader too slow to take its answer holds no more for it. An
// input of more than kBatchInputBytes is a pipelined batch (one request's
// head is rarely that long), and its answers start at 4 KiB, which
// sixteen small answers fill without the buffer growing on the way
// (tools/profile, pipelined x16: about 40 instructions a request).
constexpr std::size_t kAnswersBlockBytes = 1024;
constexpr std::size_t kBatchInputBytes = 512;
constexpr std::size_t kBatchAnswersBlockBytes = 4096;
constexpr std::size_t kHandOverBytes = 3072;
}  // namespace

// ---- the writers' calls ----

void HttpConnection::complete(Exchange& exchange, HttpResponse&& response) {
  if (exchange.stage != Exchange::Stage::waiting || exchange.closed) return;
  Entered entered(*this);
  for (auto& hook : exchange.before_send) hook(response);
  exchange.body_bytes = response.body.readable_bytes();
  exchange.stage = Exchange::Stage::ready;
  if (writes_next(exchange)) {
    // First in line (the usual case): written from where it is, not moved
    // into the exchange to wait (tools/profile: about 60 instructions a
    // request). The exchange keeps the status for finish().
    exchange.response.status = response.status;
    pumping_ = true;
    answer_front(response);
    pumping_ = false;
  } else {
    exchange.response = std::move(response);
  }
  pump();  // what was ready behind it
}

void HttpConnection::complete_switching(Exchange& exchange, HttpResponse&& response, ProtocolSwitch&& next) {
  if (exchange.stage != Exchange::Stage::waiting || exchange.closed) return;
  if (response.status != 101 || !exchange.request->upgrade || !next) {
    log().error("channel {}: switch_protocols needs status 101, an upgrade request and a next protocol",
                ctx_->channel().id());
    complete(exchange, HttpResponse::error(500));
    return;
  }
  exchange.protocol_switch = std::move(next);
  complete(exchange, std::move(response));
}

void HttpConnection::begin_stream(Exchange& exchange, HttpResponse&& head) {
  if (exchange.stage != Exchange::Stage::waiting || exchange.closed) return;
  Entered entered(*this);
  for (auto& hook : exchange.before_send) hook(head);
  exchange.response = std::move(head);
  exchange.stage = Exchange::Stage::streaming;
  pump();
}

void HttpConnection::stream_write(Exchange& exchange, Buffer chunk) {
  if (exchange.stage != Exchange::Stage::streaming || exchange.ended || exchange.closed || chunk.empty()) return;
  Entered entered(*this);
  exchange.body_bytes += chunk.readable_bytes();
  if (exchange.head_written) {
    write_chunk(exchange, chunk);
  } else {
    // Still behind earlier answers: hold it, and count it against writable().
    exchange.queued_bytes.fetch_add(chunk.readable_bytes(), std::memory_order_relaxed);
    exchange.chunks.push_back(std::move(chunk));
  }
}

void HttpConnection::stream_end(Exchange& exchange) {
  if (exchange.stage != Exchange::Stage::streaming || exchange.ended || exchange.closed) return;
  Entered entered(*this);
  exchange.ended = true;
  pump();
}

void HttpConnection::watch_writable(Exchange& exchange, std::function<void()> fn) {
  exchange.on_writable = std::move(fn);
  if (exchange.writable() || exchange.closed) notify_writable(exchange);
}

void HttpConnection::notify_writable(Exchange& exchange) {
  if (!exchange.on_writable) return;
  // Run on a later turn: the producer may write at once, and we may be deep
  // inside a write or a flush here.
  auto fn = std::move(exchange.on_writable);
  exchange.on_writable = nullptr;
  exchange.loop->post(std::move(fn));
}

// ---- answers in request order ----

void HttpConnection::pump() {
  if (pumping_ || state_ == nullptr) return;
  pumping_ = true;
  ExchangeQueue& queue = state_->queue;
  while (may_write()) {
    Exchange& first = *queue.front();
    if (first.stage == Exchange::Stage::ready) {
      answer_front(first.response);
      continue;
    }
    // Held here too: a write may close the channel and empty the queue.
    std::shared_ptr<Exchange> front = queue.front();
    if (!pump_streaming(front)) break;  // later answers wait for this one
    finish(*front);
    answered(*front);
    Recycler<Exchange>::give(front);
  }
  pumping_ = false;
}

// Whether an answer may be written now: one is owed, and the connection
// and its channel are open.
bool HttpConnection::may_write() const {
  return state_ != nullptr && !state_->queue.empty() && conn_state_ != ConnState::closed &&
         ctx_->channel().is_active();
}

// Whether `exchange`, ready, is written at once: it is first in line, and
// nothing else is being written.
bool HttpConnection::writes_next(const Exchange& exchange) const {
  return !pumping_ && may_write() && state_->queue.front().get() == &exchange;
}

// The first exchange in line is ready with `response` (its own, or the
// one its writer just gave): written, finished, and let go.
void HttpConnection::answer_front(HttpResponse& response) {
  // Out of the queue, and held here: a write may close the channel.
  std::shared_ptr<Exchange> front = state_->queue.pop_front();
  write_response(*front, response);
  finish(*front);
  answered(*front);
  Recycler<Exchange>::give(front);
}

// The front answer streams: its head and held chunks go out once; true when
// its body has ended too (it is then out of the queue).
bool HttpConnection::pump_streaming(const std::shared_ptr<Exchange>& front) {
  Exchange& ex = *front;
  if (ex.stage != Exchange::Stage::streaming) return false;
  if (!ex.head_written) {
    ex.head_written = true;
    write_stream_head(ex);
    while (!ex.chunks.empty()) {
      Buffer chunk = std::move(ex.chunks.front());
      ex.chunks.pop_front();
      write_chunk(ex, chunk);
    }
    ex.queued_bytes.store(0, std::memory_order_relaxed);
    if (ex.writable()) notify_writable(ex);
  }
  if (!ex.ended) return false;
  state_->queue.pop_front();
  if (ex.chunked && !ex.request->is_head()) {
    answers().append(kLastChunk);
    answer_written();
  }
  return true;
}

void HttpConnection::write_response(Exchange& ex, HttpResponse& r) {
  bool body_allowed = !status_has_no_body(r.status);
  std::size_t body_bytes = r.body.readable_bytes();
  bool send_body = !ex.request->is_head() && body_allowed && body_bytes != 0;
  bool inline_body = send_body && body_bytes <= kInlineBodyBytes;
  ResponseFraming framing{ResponseFraming::Body::content_length, body_allowed ? body_bytes : 0, ex.keep_alive,
                          ex.request->version_minor == 0, ex.protocol_switch != nullptr};
  Buffer& out = answers();
  append_head(out, r, framing, options_->server_name, http_date(loop()), inline_body ? body_bytes : 0);
  if (inline_body) out.append(r.body.view());
  answer_written();
  if (send_body && !inline_body) put(r.body);
}

void HttpConnection::write_stream_head(Exchange& ex) {
  bool http10 = ex.request->version_minor == 0;
  // HTTP/1.0 has no chunked encoding: the body ends when the connection does.
  ex.chunked = !http10;
  if (http10) ex.keep_alive = false;
  ResponseFraming framing{ex.chunked ? ResponseFraming::Body::chunked : ResponseFraming::Body::until_close, 0,
                          ex.keep_alive, http10};
  append_head(answers(), ex.response, framing, options_->server_name, http_date(loop()));
  answer_written();
}

void HttpConnection::write_chunk(Exchange& ex, Buffer& chunk) {
  if (ex.request->is_head() || chunk.empty()) return;
  if (ex.chunked) frame_chunk(chunk);
  put(chunk);
}

Buffer& HttpConnection::answers() {
  Buffer& out = state_->fresh.answers;
  if (!out.owns_storage()) {
    std::size_t block = state_->fresh.input_bytes > kBatchInputBytes ? kBatchAnswersBlockBytes : kAnswersBlockBytes;
    out = Buffer(block - Buffer::kCheapPrepend);
  }
  return out;
}

void HttpConnection::answer_written() {
  wrote_ = true;  // flushed as the outermost entry point returns
  // Also handed over when, in the channel's queue, they would pass its
  // high watermark: the channel turns unwritable then, as it would for
  // each answer written alone, and reading stops at once (after_request).
  std::size_t gathered = state_->fresh.answers.readable_bytes();
  Channel& channel = ctx_->channel();
  if (gathered >= kHandOverBytes ||
      channel.pending_outbound_bytes() + gathered > channel.options().write_high_watermark) {
    hand_answers();
  }
}

// A buffer of its own (a body, a chunk): after the answers before it.
void HttpConnection::put(Buffer& bytes) {
  hand_answers();
  ctx_->write(bytes);
  wrote_ = true;
}

void HttpConnection::hand_answers() {
  if (state_ == nullptr || state_->fresh.answers.empty()) return;
  ctx_->write(state_->fresh.answers);
  state_->fresh.answers.release();  // the channel took it (unless it was closed)
}

void HttpConnection::flush_answers() {
  wrote_ = false;
  hand_answers();
  ctx_->flush();
}

void HttpConnection::finish(Exchange& exchange) {
  exchange.stage = Exchange::Stage::done;
  exchange.loop->cancel_timeout(exchange.deadline);
  exchange.drop_deadline();
  std::uint64_t& answered_at = state_->fresh.answered_at_ns;
  if (answered_at == 0) answered_at = EventLoop::clock_ns();
  state_->fresh.metrics->answered(exchange.request->method, exchange.response.status,
                                  answered_at - std::min(answered_at, exchange.read_at_ns));
  for (auto& hook : exchange.after_send) hook(exchange.response.status, exchange.body_bytes);
  exchange.after_send.clear();
  exchange.before_send.clear();
  if (options_->on_answered) observe_answer(exchange);
}

// The one place every answer is seen complete, the application's and the
// connection's own refusals alike (the access log takes the refusals here).
void HttpConnection::observe_answer(const Exchange& exchange) {
  options_->on_answered(*exchange.request, exchange.response.status, exchange.body_bytes);
}

// An answer has left: the connection closes after it, or goes on.
void HttpConnection::answered(Exchange& exchange) {
  if (state_ == nullptr || conn_state_ == ConnState::closed) return;
  RequestState& s = *state_;
  --s.fresh.in_flight;
  s.fresh.metrics->in_flight.add(-1);
  s.fresh.bodies_held -= exchange.request_body_held;
  if (conn_state_ == ConnState::awaiting_upgrade && exchange.keep_alive) {
    if (exchange.protocol_switch) {
      s.fresh.protocol_switch = std::move(exchange.protocol_switch);
      conn_state_ = ConnState::switching;  // see Entered
      return;
    }
    conn_state_ = ConnState::awaiting_answers;  // refused: HTTP goes on with what follows
    resume_when_writable();
    return;
  }
  if (!exchange.keep_alive || (conn_state_ == ConnState::closing && s.fresh.in_flight == 0)) {
    // The client may have sent more (pipelined requests, the rest of a
    // refused body): a lingering close, so it reads this answer rather
    // than a reset.
    close_lingering();
    return;
  }
  if (s.fresh.continue_owed && s.fresh.in_flight == 0) {
    s.fresh.continue_owed = false;
    send_continue_when_due();
  }
  if (may_resume()) resume_reading(ConnState::idle);
  // While decoding, the next request may follow at once: decode() arms the
  // keep-alive timer as it returns, once for them all (tools/profile: about
  // 95 instructions per pipelined request).
  if (!decoding_) arm_keep_alive_if_idle();
}

void HttpConnection::send_continue_when_due() {
  if (state_->fresh.in_flight == 0) {
    answers().append("HTTP/1.1 100 Continue\r\n\r\n");
    flush_answers();
  } else {
    state_->fresh.continue_owed = true;
  }
}

void HttpConnection::close_exchanges() noexcept {
  ExchangeQueue& queue = state_->queue;
  queue.for_each([](Exchange& ex) {
    ex.closed = true;
    // Unlinked here, on the loop: the last writer may drop the exchange on
    // another thread.
    ex.loop->cancel_timeout(ex.deadline);
    ex.drop_deadline();
    notify_writable(ex);  // a producer learns the connection is gone
  });
  queue.clear();
  state_->fresh.metrics->in_flight.add(-static_cast<std::int64_t>(state_->fresh.in_flight));
  state_->fresh.in_flight = 0;
  state_->fresh.bodies_held = 0;
}

}  // namespace sluice::detail
