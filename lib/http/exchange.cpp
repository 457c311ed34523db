#include "http_connection.hpp"

#include "sluice/core/log.hpp"

namespace sluice::detail {

void HttpConnection::read(HandlerContext& ctx, HttpRequestPtr& request) {
  ctx_ = &ctx;
  in_read_ = true;
  std::shared_ptr<Exchange> exchange = Recycler<Exchange>::take();
  exchange->request = std::move(request);
  exchange->loop = &ctx.loop();
  exchange->connection = weak_from_this();
  if (channel_.expired()) channel_ = ctx.channel().weak_from_this();
  queue_.push_back(exchange);
  dispatch(exchange);
  // Answered at once (the usual case): the last owner is here.
  if (exchange->stage == Exchange::Stage::done) Recycler<Exchange>::give(exchange);
}

void Exchange::reset() noexcept {
  Recycler<HttpRequest>::give(request);
  loop = nullptr;
  connection.reset();
  answered.store(false, std::memory_order_relaxed);
  closed.store(false, std::memory_order_relaxed);
  queued_bytes.store(0, std::memory_order_relaxed);
  before_send.clear();
  after_send.clear();
  stage = Stage::waiting;
  // Field by field: the headers keep their arena for the next response.
  response.status = 200;
  response.headers.clear();
  response.body.release();
  chunks.clear();
  head_written = false;
  ended = false;
  body_bytes = 0;
  on_writable = nullptr;
  on_deadline = nullptr;
  dispatching = false;
  deadline_ms = 0;
}

void HttpConnection::dispatch(const std::shared_ptr<Exchange>& exchange) {
  HttpRequest& request = *exchange->request;
  if (request.error_status != 0) {
    ResponseWriter(exchange).send(HttpResponse::error(request.error_status, request.error_message));
    return;
  }
  exchange->dispatching = true;
  try {
    Next(&app_->middleware, 0, app_->handler.get())(request, ResponseWriter(exchange));
  } catch (...) {
    answer_current_exception(request, ResponseWriter(exchange));
  }
  exchange->dispatching = false;
  // A deadline asked for during dispatch (on_deadline set, not yet on the
  // wheel) is armed now, unless the answer already came.
  if (exchange->on_deadline && !exchange->deadline.is_scheduled() &&
      !exchange->answered.load(std::memory_order_acquire) && !exchange->closed) {
    exchange->loop->schedule_timeout(exchange->deadline, exchange->deadline_ms);
  }
}

void answer_current_exception(const HttpRequest& request, const ResponseWriter& response) noexcept {
  try {
    throw;
  } catch (const HttpError& e) {
    response.send(HttpResponse::error(e.status(), e.what()));
  } catch (const std::exception& e) {
    // The text may hold internals: it goes to the log, not to the client.
    log().error("{} {}: handler threw: {}", request.method, request.target, e.what());
    response.send(HttpResponse::error(500));
  } catch (...) {
    log().error("{} {}: handler threw a non-standard exception", request.method, request.target);
    response.send(HttpResponse::error(500));
  }
}

void HttpConnection::complete(Exchange& exchange, HttpResponse response) {
  if (exchange.stage != Exchange::Stage::waiting || exchange.closed) return;
  for (auto& hook : exchange.before_send) hook(response);
  exchange.response = std::move(response);
  exchange.body_bytes = exchange.response.body.readable_bytes();
  exchange.stage = Exchange::Stage::ready;
  pump();
}

void HttpConnection::begin_stream(Exchange& exchange, HttpResponse head) {
  if (exchange.stage != Exchange::Stage::waiting || exchange.closed) return;
  for (auto& hook : exchange.before_send) hook(head);
  exchange.response = std::move(head);
  exchange.stage = Exchange::Stage::streaming;
  pump();
}

void HttpConnection::stream_write(Exchange& exchange, Buffer chunk) {
  if (exchange.stage != Exchange::Stage::streaming || exchange.ended || exchange.closed || chunk.empty()) return;
  exchange.body_bytes += chunk.readable_bytes();
  if (exchange.head_written) {
    HttpOutbound part{HttpOutbound::Kind::stream_chunk, nullptr, std::move(chunk)};
    write_part(part);
    flush_unless_reading();
  } else {
    // Still behind earlier answers: hold it, and count it against writable().
    exchange.queued_bytes.fetch_add(chunk.readable_bytes(), std::memory_order_relaxed);
    exchange.chunks.push_back(std::move(chunk));
  }
}

void HttpConnection::stream_end(Exchange& exchange) {
  if (exchange.stage != Exchange::Stage::streaming || exchange.ended) return;
  exchange.ended = true;
  pump();
}

bool HttpConnection::writable(const Exchange& exchange) const noexcept {
  auto channel = channel_.lock();
  if (!channel || exchange.closed) return false;
  return channel->is_writable() &&
         exchange.queued_bytes.load(std::memory_order_relaxed) < channel->options().write_high_watermark;
}

void HttpConnection::watch_writable(Exchange& exchange, std::function<void()> fn) {
  exchange.on_writable = std::move(fn);
  if (writable(exchange) || exchange.closed) notify_writable(exchange);
}

void HttpConnection::notify_writable(Exchange& exchange) {
  if (!exchange.on_writable) return;
  // Run on a later turn: the producer may write at once, and we may be deep
  // inside a write or a flush here.
  auto fn = std::move(exchange.on_writable);
  exchange.on_writable = nullptr;
  exchange.loop->post(std::move(fn));
}

void HttpConnection::pump() {
  if (pumping_ || ctx_ == nullptr) return;
  pumping_ = true;
  while (!queue_.empty() && ctx_ != nullptr && ctx_->channel().is_active()) {
    // Held here too: a write may close the channel and empty the queue.
    std::shared_ptr<Exchange> front = queue_.front();
    Exchange& ex = *front;
    if (ex.stage == Exchange::Stage::ready) {
      HttpOutbound part{HttpOutbound::Kind::response, &ex.response, Buffer()};
      queue_.pop_front();
      write_part(part);
      finish(ex);
      Recycler<Exchange>::give(front);
      continue;
    }
    if (ex.stage != Exchange::Stage::streaming) break;
    if (!ex.head_written) {
      ex.head_written = true;
      HttpOutbound head{HttpOutbound::Kind::stream_head, &ex.response, Buffer()};
      write_part(head);
      while (!ex.chunks.empty()) {
        HttpOutbound part{HttpOutbound::Kind::stream_chunk, nullptr, std::move(ex.chunks.front())};
        ex.chunks.pop_front();
        write_part(part);
      }
      ex.queued_bytes.store(0, std::memory_order_relaxed);
      if (writable(ex)) notify_writable(ex);
    }
    if (!ex.ended) break;  // later answers wait for this body
    HttpOutbound end{HttpOutbound::Kind::stream_end, nullptr, Buffer()};
    queue_.pop_front();
    write_part(end);
    finish(ex);
    Recycler<Exchange>::give(front);
  }
  pumping_ = false;
  flush_unless_reading();
}

void HttpConnection::write_part(HttpOutbound& part) {
  ctx_->write(part);
  wrote_in_read_ = true;
}

void HttpConnection::finish(Exchange& exchange) {
  exchange.stage = Exchange::Stage::done;
  exchange.loop->cancel_timeout(exchange.deadline);
  exchange.on_deadline = nullptr;
  for (auto& hook : exchange.after_send) hook(exchange.response.status, exchange.body_bytes);
  exchange.after_send.clear();
  exchange.before_send.clear();
}

void HttpConnection::flush_unless_reading() {
  // Answers finished while a read is being handled leave together at
  // read_complete: one writev for a whole pipelined batch.
  if (in_read_ || !wrote_in_read_ || ctx_ == nullptr) return;
  wrote_in_read_ = false;
  ctx_->flush();
}

void HttpConnection::read_complete(HandlerContext& ctx) {
  in_read_ = false;
  flush_unless_reading();
  ctx.fire_read_complete();
}

void HttpConnection::writability_changed(HandlerContext& ctx, bool writable) {
  if (writable && !queue_.empty()) {
    Exchange& front = *queue_.front();
    if (front.stage == Exchange::Stage::streaming && front.head_written) notify_writable(front);
  }
  ctx.fire_writability_changed(writable);
}

void HttpConnection::channel_inactive(HandlerContext& ctx) {
  detach();
  ctx.fire_channel_inactive();
}

HttpConnection::~HttpConnection() {
  if (queue_.empty()) return;
  EventLoop* loop = queue_.front()->loop;
  if (loop->is_in_loop_thread()) {
    close_exchanges(queue_);
    return;
  }
  // The last owner was a writer on another thread (ChunkedWriter::writable
  // holds the connection while it looks), after the pipeline let this
  // handler go while answers were still due: the exchanges are closed on
  // their loop, where their timers and callbacks live.
  loop->post([queue = std::move(queue_)]() mutable { close_exchanges(queue); });
}

void HttpConnection::detach() {
  close_exchanges(queue_);
  ctx_ = nullptr;
}

void HttpConnection::close_exchanges(ExchangeQueue& queue) {
  queue.for_each([](Exchange& ex) {
    ex.closed = true;
    // Unlinked here, on the loop: the last writer may drop the exchange on
    // another thread.
    ex.loop->cancel_timeout(ex.deadline);
    ex.on_deadline = nullptr;
    notify_writable(ex);  // a producer learns the connection is gone
  });
  queue.clear();
}

}  // namespace sluice::detail
