#pragma once
// The HTTP/1.1 server side of a connection on llhttp: bytes -> requests,
// answers -> bytes, and the connection's life (keep-alive, limits, timeouts).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "sluice/channel/pipeline.hpp"
#include "sluice/core/buffer.hpp"
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
  /// Called on the loop once for every answer, as its last byte goes to the
  /// channel: the application's answers and the connection's own refusals
  /// (request.error_status != 0, which no middleware sees) alike, with the
  /// status and the body bytes sent. Not called for an answer the
  /// connection's closing cut short. HttpServer feeds its access log the
  /// refusals from here. Empty (the default): one branch per answer.
  std::function<void(const HttpRequest& request, int status, std::size_t body_bytes)> on_answered{};
};

namespace detail {
struct Exchange;
}

/// The server side of one HTTP/1.x connection (llhttp, strict mode): reads
/// requests from the bytes, hands each on (to HttpServerHandler) in order,
/// and writes the answers in request order, adding Date, Server, framing
/// and Connection. Owns everything about the connection: keep-alive,
/// pipelining limits, the header/body/keep-alive/send timeouts, Expect:
/// 100-continue, graceful shutdown, and the lingering close after a refused
/// or closing request. A request that breaks a rule is answered with its
/// status (400, 408, 413, 414, 417, 431, 501, 505) and is the last on its
/// connection. One instance per channel, made by create(); loop thread only.
///
/// An idle keep-alive connection holds no per-request state: the parser,
/// its scratch and the queue of requests in flight come from a bounded
/// per-thread pool (at most 64 spare states per thread; one given back to
/// a full pool is freed) when bytes arrive, and go back once the
/// connection has been idle for about 100 ms, as nginx frees its request
/// pool on keep-alive.
class HttpServerCodec : public InboundHandler<Buffer, std::shared_ptr<detail::Exchange>> {
 public:
  static std::shared_ptr<HttpServerCodec> create(HttpCodecOptions options = {});
  /// Options shared by many connections (HttpServer makes one copy for all).
  static std::shared_ptr<HttpServerCodec> create(std::shared_ptr<const HttpCodecOptions> options);

  /// Requests handed on and not yet answered. Loop thread.
  virtual std::size_t in_flight() const noexcept = 0;
  /// Whether per-request state is held now (a request is being read or
  /// answered, or input waits); false on an idle keep-alive connection.
  /// Loop thread.
  virtual bool holds_request_state() const noexcept = 0;
  /// Any thread (immutable).
  virtual const HttpCodecOptions& options() const noexcept = 0;

 protected:
  HttpServerCodec() = default;
};

}  // namespace sluice
