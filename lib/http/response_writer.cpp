// ResponseWriter and ChunkedWriter: thread-safe handles that post to the
// connection's loop.

#include <stdexcept>

#include "http_connection.hpp"
#include "exchange.hpp"

namespace sluice {

namespace {
// Calls `op` on the exchange's connection with `args` (dropped if the
// connection is gone). On the loop it runs at once and the arguments are
// passed straight on: the usual handler answering in place pays for no
// closure and no extra move of its response. Elsewhere it is posted.
template <class Op, class... Args>
void on_connection(const std::shared_ptr<detail::Exchange>& ex, Op op, Args&&... args) {
  auto call = [op](const std::shared_ptr<detail::Exchange>& e, auto&&... a) {
    // An exchange closed or done may have outlived its connection (HTTP
    // leaves a channel that switches protocols), though not its channel.
    // Open and not done, on the loop: its connection is alive (Exchange::owner).
    // One that no connection took (a router driven by hand) answers nowhere.
    if (e->closed.load(std::memory_order_relaxed) || e->stage == detail::Exchange::Stage::done) return;
    if (e->owner != nullptr) (e->owner->*op)(*e, std::forward<decltype(a)>(a)...);
  };
  if (ex->loop->is_in_loop_thread()) {
    ex->loop->execute([&] { call(ex, std::forward<Args>(args)...); });
  } else {
    ex->loop->post(Task([ex, call, ... a = std::forward<Args>(args)]() mutable { call(ex, std::move(a)...); }));
  }
}
void arm_deadline(detail::Exchange& ex, std::uint64_t ms) {
  ex.deadline_ms = ms;
  if (!ex.dispatching) {  // during dispatch: armed after it, if still unanswered
    ex.loop->schedule_timeout(ex.deadline, ms);
  }
}
}  // namespace

void ResponseWriter::send(HttpResponse response) const {
  if (exchange_->answered.exchange(true, std::memory_order_acq_rel)) return;
  on_connection(exchange_, &detail::HttpConnection::complete, std::move(response));
}

void ResponseWriter::switch_protocols(HttpResponse response, ProtocolSwitch next) const {
  if (exchange_->answered.exchange(true, std::memory_order_acq_rel)) return;
  on_connection(exchange_, &detail::HttpConnection::complete_switching, std::move(response), std::move(next));
}

ChunkedWriter ResponseWriter::begin_chunked(HttpResponse head) const {
  if (!exchange_->answered.exchange(true, std::memory_order_acq_rel)) {
    on_connection(exchange_, &detail::HttpConnection::begin_stream, std::move(head));
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
  exchange_->on_deadline_plain = nullptr;
  exchange_->on_deadline = std::move(fn);
  arm_deadline(*exchange_, ms);
}

void ResponseWriter::at_deadline_plain(std::uint64_t ms, void (*fn)(const ResponseWriter&)) const {
  if (exchange_->on_deadline) exchange_->on_deadline = nullptr;
  exchange_->on_deadline_plain = fn;
  arm_deadline(*exchange_, ms);
}

void ChunkedWriter::write(std::string_view bytes) const {
  if (!bytes.empty()) write(Buffer::copy_of(bytes));
}

void ChunkedWriter::write(Buffer bytes) const {
  on_connection(exchange_, &detail::HttpConnection::stream_write, std::move(bytes));
}

void ChunkedWriter::end() const { on_connection(exchange_, &detail::HttpConnection::stream_end); }

bool ChunkedWriter::writable() const noexcept {
  auto connection = exchange_->connection.lock();  // holds the channel
  return connection && exchange_->writable();
}

void ChunkedWriter::on_writable(std::function<void()> fn) const {
  auto ex = exchange_;
  ex->loop->execute([ex, f = std::move(fn)]() mutable {
    bool over = ex->closed || ex->stage == detail::Exchange::Stage::done;  // see on_connection
    auto connection = over ? nullptr : ex->connection.lock();
    if (connection) {
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
  if (!fn) throw std::invalid_argument("make_handler: an empty function");
  return make_handler<HandlerFunction>(std::move(fn));  // the callable's wrapper, holding the std::function
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
