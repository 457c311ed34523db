#pragma once
// HTTP/1.1 server codec on llhttp: bytes -> requests, responses -> bytes.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "sluice/channel/pipeline.hpp"
#include "sluice/core/buffer.hpp"
#include "sluice/core/timer_wheel.hpp"
#include "sluice/http/http_request.hpp"
#include "sluice/http/http_response.hpp"

namespace sluice {

/// Limits and timeouts of one connection. Every limit has a safe default and
/// its own answer; after answering a broken request the connection closes.
struct HttpCodecOptions {
  std::size_t max_target_bytes = 8 * 1024;        // 414 URI Too Long
  std::size_t max_header_bytes = 32 * 1024;       // 431: request line + all fields
  std::size_t max_headers = 100;                  // 431
  std::size_t max_body_bytes = 1024 * 1024;       // 413, sent as soon as Content-Length says so
  /// A chunk-size line with its extensions (400 beyond): llhttp bounds
  /// neither leading zeros nor extensions.
  std::size_t max_chunk_line_bytes = 4096;
  std::uint64_t header_timeout_ms = 10'000;       // 408: the header section must arrive in time
  std::uint64_t body_timeout_ms = 60'000;         // 408: the body must arrive in time
  std::uint64_t keep_alive_timeout_ms = 60'000;   // an idle keep-alive connection closes
  /// A client that reads none of our answers for this long (the connection
  /// stays above its write high watermark) is cut off (nginx's send_timeout).
  std::uint64_t send_timeout_ms = 60'000;
  std::size_t max_requests_per_connection = 10'000;  // the last one is answered with Connection: close
  /// Requests parsed but not yet answered; beyond it the connection stops
  /// reading until responses drain. (Nor is a request taken while the
  /// channel is above its write high watermark.)
  std::size_t max_pipelined_requests = 16;
  std::string server_name = "sluice";             // the Server header; empty: none
  /// Consulted for "Expect: 100-continue" with the request head (no body
  /// yet): 0 sends "100 Continue" and reads the body; any other status is
  /// the final answer instead (and the connection closes). Default: continue.
  std::function<int(const HttpRequest&)> continue_check{};
  /// Consulted with the request head when a body follows: true hands the
  /// request on at once with HttpRequest::body_stream set, and the body
  /// arrives through it, up to max_streamed_body_bytes (413 beyond). Not
  /// consulted for a request without a body: body_stream stays null (a
  /// Router gives its streamed routes an ended stream then).
  std::function<bool(const HttpRequest&)> stream_body{};
  std::uint64_t max_streamed_body_bytes = 1024ULL * 1024 * 1024;
};

/// What HttpServerHandler writes to the codec: a whole response, or the
/// parts of a streamed (chunked) one.
struct HttpOutbound {
  enum class Kind : std::uint8_t { response, stream_head, stream_chunk, stream_end };
  Kind kind = Kind::response;
  HttpResponse* response = nullptr;  // response and stream_head
  Buffer chunk;                      // stream_chunk
};

/// The server side of HTTP/1.x framing (llhttp, strict mode). Inbound it
/// turns bytes into HttpRequestPtr, one per request, in order; a request that
/// breaks a rule arrives with error_status set (400, 408, 413, 414, 417, 431,
/// 501, 505) and is the last on its connection. Outbound it serialises
/// HttpOutbound in request order, adding Date, Server, framing and Connection,
/// and owns keep-alive, pipelining limits and the connection's timeouts.
/// One instance per channel; loop thread only.
///
/// An idle keep-alive connection holds no parser: the per-request state
/// (llhttp, field scratch, the in-flight queue) comes from a per-thread pool
/// when bytes arrive and goes back once the connection has been idle for
/// about 100 ms (every answer written, nothing buffered), as nginx frees its
/// request pool on keep-alive. A busy connection keeps it from one request
/// to the next; an idle one costs this object and its timer only.
class HttpServerCodec final : public Handler<Buffer, HttpRequestPtr, HttpOutbound, Buffer> {
 public:
  explicit HttpServerCodec(HttpCodecOptions options = {});
  /// Options shared by many connections (HttpServer makes one copy for all).
  explicit HttpServerCodec(std::shared_ptr<const HttpCodecOptions> options);
  ~HttpServerCodec() override;

  void read(HandlerContext& ctx, Buffer& bytes) override;
  void write(HandlerContext& ctx, HttpOutbound& message) override;
  void channel_active(HandlerContext& ctx) override;
  void channel_inactive(HandlerContext& ctx) override;
  void user_event(HandlerContext& ctx, const UserEvent& event) override;
  void writability_changed(HandlerContext& ctx, bool writable) override;
  void handler_added(HandlerContext& ctx) override;

  /// Requests handed on and not yet answered.
  std::size_t in_flight() const noexcept;
  /// Whether per-request state is held now (a request is being read or
  /// answered, or input waits); false on an idle keep-alive connection.
  bool holds_request_state() const noexcept { return state_ != nullptr; }
  const HttpCodecOptions& options() const noexcept { return *options_; }

  struct State;  // llhttp and the per-request bookkeeping (lib/http)

 private:
  class Entered;
  // keep_alive: idle, state still held; idle: idle, state given back.
  enum class Timer : std::uint8_t { none, header, body, keep_alive, idle };
  static constexpr std::uint64_t kKeepStateMs = 100;

  State& state() { return state_ != nullptr ? *state_ : take_state(); }
  State& take_state();
  void drop_state() noexcept;
  void arm(Timer kind, std::uint64_t ms);
  void arm_keep_alive();
  void disarm() noexcept;
  static void on_timer(void* self);

  std::shared_ptr<const HttpCodecOptions> options_;
  State* state_ = nullptr;  // from the pool; see the class comment
  HandlerContext* ctx_ = nullptr;
  // What outlives a request: the header/body/keep-alive timer, the request
  // count, and whether a graceful shutdown began.
  TimerWheel::Entry timer_{&HttpServerCodec::on_timer, this};
  std::uint64_t requests_ = 0;
  std::uint64_t idle_since_ = 0;  // loop time the last request ended
  Timer timer_kind_ = Timer::none;
  bool draining_ = false;
  bool inactive_ = false;
  bool input_follows_line_start_ = false;  // see State::on_header_value
  int depth_ = 0;  // entry points on the stack: the state goes back only at 0
};

}  // namespace sluice
