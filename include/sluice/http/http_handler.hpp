#pragma once
// The application API: handler classes, middleware classes, and the writer
// a handler answers through. Callbacks only: a handler may answer at once,
// later on its loop, or from another thread.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <type_traits>
#include <vector>

#include "sluice/http/http_request.hpp"
#include "sluice/http/http_response.hpp"

namespace sluice {

class Channel;
class EventLoop;
class ChunkedWriter;
namespace detail {
struct Exchange;
}

/// What takes a connection over after "101 Switching Protocols": called on
/// the connection's loop, on the turn after the 101 is written and HTTP has
/// left the pipeline (its codec and every handler after it, gone by then,
/// so the next protocol's handlers take their room in the connection's
/// memory), with the bytes the client sent after the upgrade request. It
/// adds the next protocol's handlers and gives them `rest`; reading resumes
/// when it returns. Not called if the connection closed in between.
using ProtocolSwitch = std::function<void(Channel& channel, Buffer rest)>;

/// How a handler answers one request. A cheap copyable handle; every method
/// may be called from any thread (off the loop, work is posted to it). The
/// first send() or begin_chunked() answers; later calls are ignored.
/// Responses leave in request order whatever order handlers finish in.
class ResponseWriter {
 public:
  explicit ResponseWriter(std::shared_ptr<detail::Exchange> exchange) noexcept : exchange_(std::move(exchange)) {}

  void send(HttpResponse response) const;
  /// Answers an upgrade request (HttpRequest::upgrade) with `response`,
  /// status 101 with its Upgrade field (the server adds "Connection:
  /// Upgrade"), then hands the connection to `next` (see ProtocolSwitch).
  /// Anything else (another status, a request that asked for no upgrade)
  /// is a handler bug: answered 500, and logged.
  void switch_protocols(HttpResponse response, ProtocolSwitch next) const;
  /// Starts a chunked response; the body follows through the ChunkedWriter.
  ChunkedWriter begin_chunked(HttpResponse head) const;
  /// Whether send() or begin_chunked() was called.
  bool answered() const noexcept;
  /// The loop of the request's connection.
  EventLoop& loop() const noexcept;

  /// Middleware hooks, run on the loop in the order added: `before` just
  /// before the head is serialised (may change the response), `after` once
  /// the response is complete (status and body bytes, e.g. for an access log).
  /// Loop thread only (middleware adds them before calling next).
  void before_send(std::function<void(HttpResponse&)> hook) const;
  void after_send(std::function<void(int status, std::size_t body_bytes)> hook) const;
  /// Runs `fn` on the loop once `ms` have passed, unless the answer is
  /// complete by then (one per request; a later call replaces it). `fn` is
  /// handed a writer for this request, so it need not capture one (a
  /// captureless callback costs no allocation). It lives on the loop's timer
  /// wheel inside the request's own state: no timer heap per request;
  /// precision is one wheel tick (50 ms). Loop thread only.
  void at_deadline(std::uint64_t ms, std::function<void(const ResponseWriter&)> fn) const;

 private:
  friend class ChunkedWriter;
  friend class RequestTimeout;  // at_deadline with a plain function: no std::function per request
  void at_deadline_plain(std::uint64_t ms, void (*fn)(const ResponseWriter&)) const;
  std::shared_ptr<detail::Exchange> exchange_;
};

/// The body of a streamed response, written in chunks. Copyable; any thread.
/// Honour writable(): while it is false the connection holds a high
/// watermark of unsent bytes, and on_writable() says when to go on, so a
/// large body is never buffered whole.
class ChunkedWriter {
 public:
  explicit ChunkedWriter(std::shared_ptr<detail::Exchange> exchange) noexcept : exchange_(std::move(exchange)) {}

  void write(std::string_view bytes) const;
  void write(Buffer bytes) const;
  /// Ends the body (the terminating zero-length chunk).
  void end() const;
  /// False while the connection (or this response's queue, when it is
  /// waiting behind earlier responses) is above its high watermark.
  bool writable() const noexcept;
  /// Runs `fn` once on the loop when writable() turns true again (at once,
  /// on the loop, if it already is). Also runs, with writable() false, if
  /// the connection closes, so a producer can stop.
  void on_writable(std::function<void()> fn) const;
  /// Whether the connection is gone (further writes are dropped).
  bool closed() const noexcept;

 private:
  std::shared_ptr<detail::Exchange> exchange_;
};

/// Answers requests. Called on the connection's loop.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void handle(HttpRequest& request, ResponseWriter response) = 0;
};

using HandlerFunction = std::function<void(HttpRequest&, ResponseWriter)>;
/// Wraps a std::function as a handler (an empty one throws std::invalid_argument).
std::shared_ptr<HttpHandler> make_handler(HandlerFunction fn);

/// A callable that handles a request: `fn(request, response)`.
template <class F>
concept HandlerCallable = std::is_invocable_v<F&, HttpRequest&, ResponseWriter>;

/// Wraps a lambda (any callable but a std::function) as a handler, called
/// directly: no std::function between the router and it.
template <HandlerCallable F>
std::shared_ptr<HttpHandler> make_handler(F fn) {
  class CallableHandler final : public HttpHandler {
   public:
    explicit CallableHandler(F f) : fn_(std::move(f)) {}
    void handle(HttpRequest& request, ResponseWriter response) override { fn_(request, std::move(response)); }

   private:
    F fn_;
  };
  return std::make_shared<CallableHandler>(std::move(fn));
}

class Middleware;

/// The rest of a middleware chain, as a middleware sees it. Cheap to copy;
/// valid as long as the server (keep it to call later, e.g. after offload).
class Next {
 public:
  Next(const std::vector<std::shared_ptr<Middleware>>* chain, std::size_t index, HttpHandler* last) noexcept
      : chain_(chain), index_(index), last_(last) {}
  void operator()(HttpRequest& request, ResponseWriter response) const;

 private:
  const std::vector<std::shared_ptr<Middleware>>* chain_;
  std::size_t index_;
  HttpHandler* last_;
};

/// Wraps the handlers after it: may act before (inspect, reject, answer
/// early), after (ResponseWriter::before_send / after_send hooks), and may
/// call `next` later from a callback. Called on the connection's loop.
class Middleware {
 public:
  virtual ~Middleware() = default;
  virtual void handle(HttpRequest& request, ResponseWriter response, const Next& next) = 0;
};

}  // namespace sluice
