// ResponseWriter and ChunkedWriter: thread-safe handles that post to the
// connection's loop.

#include "http_connection.hpp"

namespace sluice {

namespace {
template <class Fn>
void on_connection(const std::shared_ptr<detail::Exchange>& ex, Fn&& fn) {
  ex->loop->execute([ex, f = std::forward<Fn>(fn)]() mutable {
    if (auto connection = ex->connection.lock()) f(*connection, *ex);
  });
}
}  // namespace

void ResponseWriter::send(HttpResponse response) const {
  if (exchange_->answered.exchange(true, std::memory_order_acq_rel)) return;
  if (exchange_->loop->is_in_loop_thread()) {
    // The usual case, a handler answering at once: no closure, one move less.
    if (auto connection = exchange_->connection.lock()) connection->complete(*exchange_, std::move(response));
    return;
  }
  on_connection(exchange_, [r = std::move(response)](detail::HttpConnection& c, detail::Exchange& ex) mutable {
    c.complete(ex, std::move(r));
  });
}

ChunkedWriter ResponseWriter::begin_chunked(HttpResponse head) const {
  if (!exchange_->answered.exchange(true, std::memory_order_acq_rel)) {
    on_connection(exchange_, [h = std::move(head)](detail::HttpConnection& c, detail::Exchange& ex) mutable {
      c.begin_stream(ex, std::move(h));
    });
  }
  return ChunkedWriter(exchange_);
}

bool ResponseWriter::answered() const noexcept { return exchange_->answered.load(std::memory_order_acquire); }
EventLoop& ResponseWriter::loop() const noexcept { return *exchange_->loop; }

void ResponseWriter::before_send(std::function<void(HttpResponse&)> hook) const {
  exchange_->before_send.push_back(std::move(hook));
}
void ResponseWriter::after_send(std::function<void(int, std::size_t)> hook) const {
  exchange_->after_send.push_back(std::move(hook));
}

void ResponseWriter::at_deadline(std::uint64_t ms, std::function<void(const ResponseWriter&)> fn) const {
  exchange_->on_deadline = std::move(fn);
  if (exchange_->dispatching) {
    exchange_->deadline_noted = true;  // armed after dispatch, if still unanswered
    exchange_->deadline_ms = ms;
  } else {
    exchange_->loop->schedule_timeout(exchange_->deadline, ms);
  }
}

void ChunkedWriter::write(std::string_view bytes) const {
  if (!bytes.empty()) write(Buffer::copy_of(bytes));
}

void ChunkedWriter::write(Buffer bytes) const {
  on_connection(exchange_, [b = std::move(bytes)](detail::HttpConnection& c, detail::Exchange& ex) mutable {
    c.stream_write(ex, std::move(b));
  });
}

void ChunkedWriter::end() const {
  on_connection(exchange_, [](detail::HttpConnection& c, detail::Exchange& ex) { c.stream_end(ex); });
}

bool ChunkedWriter::writable() const noexcept {
  auto connection = exchange_->connection.lock();
  return connection && connection->writable(*exchange_);
}

void ChunkedWriter::on_writable(std::function<void()> fn) const {
  auto ex = exchange_;
  ex->loop->execute([ex, f = std::move(fn)]() mutable {
    if (auto connection = ex->connection.lock()) {
      connection->watch_writable(*ex, std::move(f));
    } else {
      f();  // the connection is gone: let the producer see closed() and stop
    }
  });
}

bool ChunkedWriter::closed() const noexcept {
  return exchange_->closed.load(std::memory_order_acquire) || exchange_->connection.expired();
}

std::shared_ptr<HttpHandler> make_handler(HandlerFunction fn) {
  class FunctionHandler final : public HttpHandler {
   public:
    explicit FunctionHandler(HandlerFunction f) : fn_(std::move(f)) {}
    void handle(HttpRequest& request, ResponseWriter response) override { fn_(request, std::move(response)); }

   private:
    HandlerFunction fn_;
  };
  return std::make_shared<FunctionHandler>(std::move(fn));
}

void Next::operator()(HttpRequest& request, ResponseWriter response) const {
  if (index_ < chain_->size()) {
    (*chain_)[index_]->handle(request, std::move(response), Next(chain_, index_ + 1, last_));
  } else if (last_ != nullptr) {
    last_->handle(request, std::move(response));
  } else {
    response.send(HttpResponse::error(404));
  }
}

}  // namespace sluice
