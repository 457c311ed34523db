#pragma once
// Internal: an exchange (one request and the state of its answer) and a
// connection's queue of them, written out in request order.

#include <atomic>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "sluice/core/buffer.hpp"
#include "sluice/core/event_loop.hpp"
#include "sluice/core/timer_wheel.hpp"
#include "sluice/core/fifo.hpp"
#include "recycler.hpp"
#include "sluice/http/http_handler.hpp"

namespace sluice::detail {

class HttpConnection;

/// One request and everything about its answer. Shared by the connection
/// and every ResponseWriter/ChunkedWriter handed out for it.
struct Exchange : std::enable_shared_from_this<Exchange> {
  enum class Stage { waiting, ready, streaming, done };

  HttpRequestPtr request;
  std::shared_ptr<Exchange> next_in_queue;  // ExchangeQueue's ring; loop thread
  EventLoop* loop = nullptr;
  Channel* channel = nullptr;  // alive while `connection` can be locked
  // The connection, aliasing its channel's ownership: what another thread
  // locks to look at the channel. Called into only on the loop and only
  // while `closed` is false: a connection that switched protocols is
  // destroyed before its channel.
  std::weak_ptr<HttpConnection> connection;
  // The same connection for calls on the loop, which need no lock: while
  // `closed` is false it is alive (it closes every exchange it queued
  // before it goes), and a channel is freed on a later turn than the one
  // that closes it (tools/profile: the lock cost about 30 instructions a
  // request).
  HttpConnection* owner = nullptr;
  std::atomic<bool> answered{false};
  std::atomic<bool> closed{false};             // the connection is gone
  std::atomic<std::size_t> queued_bytes{0};    // streamed bytes waiting behind earlier answers

  // Loop thread only.
  std::vector<std::function<void(HttpResponse&)>> before_send;
  std::vector<std::function<void(int, std::size_t)>> after_send;
  Stage stage = Stage::waiting;
  HttpResponse response;
  Fifo<Buffer> chunks;  // streamed body parts not written yet
  bool head_written = false;
  bool ended = false;
  bool keep_alive = true;  // false: the connection closes after this answer
  bool chunked = false;    // a streamed answer framed in chunks (HTTP/1.1)
  std::size_t body_bytes = 0;
  std::size_t request_body_held = 0;  // the request's body as counted against the memory budget
  std::uint64_t read_at_ns = 0;       // when the loop woke to read the request (uv_hrtime)
  std::function<void()> on_writable;
  ProtocolSwitch protocol_switch;  // switch_protocols(): what takes over after this 101
  // What runs at the deadline (ResponseWriter::at_deadline): a plain
  // function when the caller has one (the server's RequestTimeout), else
  // a std::function; at most one is set. The plain one costs no
  // std::function made, moved and destroyed per request (tools/profile:
  // about 50 instructions).
  void (*on_deadline_plain)(const ResponseWriter&) = nullptr;
  std::function<void(const ResponseWriter&)> on_deadline;
  TimerWheel::Entry deadline{&Exchange::deadline_passed, this};
  // While the application is first called (dispatch), a deadline is only
  // noted: most requests are answered before dispatch returns, and then
  // never touch the wheel.
  bool dispatching = false;
  std::uint64_t deadline_ms = 0;

  bool has_deadline() const noexcept { return on_deadline_plain != nullptr || on_deadline != nullptr; }
  void drop_deadline() noexcept {
    on_deadline_plain = nullptr;
    if (on_deadline) on_deadline = nullptr;
  }

  static void deadline_passed(void* self) {
    auto* ex = static_cast<Exchange*>(self);
    auto plain = std::exchange(ex->on_deadline_plain, nullptr);
    auto fn = std::move(ex->on_deadline);
    ex->on_deadline = nullptr;
    if (ex->stage == Stage::done || ex->closed.load(std::memory_order_relaxed)) return;
    if (plain != nullptr) {
      plain(ResponseWriter(ex->shared_from_this()));
    } else if (fn) {
      fn(ResponseWriter(ex->shared_from_this()));
    }
  }

  /// Whether a streamed answer may write more now: open, the channel
  /// writable, and not too much held behind earlier answers. Any thread,
  /// with the channel kept alive (`connection` locked).
  bool writable() const noexcept;

  /// For reuse (Recycler): as new, with the request given back to its pool.
  /// Only when finished (its deadline unlinked) and no writer remains.
  void reset() noexcept;
};

/// Inside a catch block: answers the exception in flight (an HttpError with
/// its status and text, anything else with a bare 500 and a log line).
void answer_current_exception(const HttpRequest& request, const ResponseWriter& response) noexcept;

/// A connection's exchanges in request order: a ring linked through
/// Exchange::next_in_queue, in which each exchange owns the next and the
/// last owns the first (a lone one owns itself). The queue itself is one
/// pointer to the last, and holds no storage: a vector would keep its
/// capacity on every idle connection, and freeing it would cost an
/// allocation per request. Loop thread only.
///
///   last_ --> [C] --owns--> [A] --owns--> [B] --owns--> [C]
///              back          front
class ExchangeQueue {
 public:
  ExchangeQueue() = default;
  ExchangeQueue(ExchangeQueue&& other) noexcept : last_(std::exchange(other.last_, nullptr)) {}
  ExchangeQueue& operator=(ExchangeQueue&&) = delete;
  ~ExchangeQueue() { clear(); }

  bool empty() const noexcept { return last_ == nullptr; }
  const std::shared_ptr<Exchange>& front() const noexcept { return last_->next_in_queue; }
  void push_back(std::shared_ptr<Exchange> exchange) noexcept {
    Exchange* added = exchange.get();
    if (last_ == nullptr) {
      added->next_in_queue = std::move(exchange);
    } else {
      added->next_in_queue = std::move(last_->next_in_queue);
      last_->next_in_queue = std::move(exchange);
    }
    last_ = added;
  }
  std::shared_ptr<Exchange> pop_front() noexcept {
    std::shared_ptr<Exchange> first = std::move(last_->next_in_queue);
    if (first.get() == last_) {
      last_ = nullptr;
    } else {
      last_->next_in_queue = std::move(first->next_in_queue);
    }
    return first;
  }
  template <class Fn>
  void for_each(Fn fn) {
    if (last_ == nullptr) return;
    Exchange* e = last_;
    do {
      e = e->next_in_queue.get();
      fn(*e);
    } while (e != last_);
  }
  void clear() noexcept {
    while (!empty()) pop_front();
  }
  /// The last exchange (the newest request). Not empty.
  Exchange& back() noexcept { return *last_; }

 private:
  Exchange* last_ = nullptr;
};

}  // namespace sluice::detail
