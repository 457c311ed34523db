#pragma once
// An HTTP/1.1 server: TcpServer + HttpServerCodec + HttpServerHandler.

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "sluice/http/http_server_handler.hpp"
#include "sluice/http/middleware.hpp"
#include "sluice/transport/tcp_server.hpp"

namespace sluice {

/// Everything an HTTP server can be told.
struct HttpServerOptions {
  ServerOptions listen{};  // host, port, backlog, connection limit, watermarks
  HttpCodecOptions codec{};  // limits and timeouts of each connection
  /// A handler that has not answered by then gets 503 (0: never).
  std::uint64_t request_timeout_ms = 30'000;
  /// One line per answer, the connection's own refusals (400, 408, 413,
  /// 414, 417, 431, 501, 503, 505) included, as access_log_options says
  /// (default: stdout, combined format plus the duration).
  bool access_log = false;
  AccessLogOptions access_log_options{};
  /// W3C traceparent taken or made for each request, answered and logged
  /// (TraceContext; the combined access log gets its traceparent field).
  bool trace_context = false;
};

/// The pipeline HttpServer puts on each connection (codec, then handler
/// with the built-in middleware from `options` and then `middleware`). For
/// custom transports and for tests on an EmbeddedChannel.
std::function<void(Channel&)> http_pipeline(const HttpServerOptions& options, std::shared_ptr<HttpHandler> handler,
                                            const std::vector<std::shared_ptr<Middleware>>& middleware = {});

/// Serves `handler` (usually a Router) on every loop of a group. Add
/// middleware with use() before start(); they run outermost first, inside the
/// built-in ones (access log, trace context, then request timeout). start()/stop() as
/// TcpServer. A graceful group shutdown finishes requests in flight, answers
/// them with Connection: close, and closes idle keep-alive connections at once.
class HttpServer {
 public:
  HttpServer(EventLoopGroup& group, HttpServerOptions options, std::shared_ptr<HttpHandler> handler);
  HttpServer& use(std::shared_ptr<Middleware> middleware);

  void start();
  void stop() { tcp_->stop(); }
  std::uint16_t port() const noexcept { return tcp_->port(); }
  TcpServer& tcp() noexcept { return *tcp_; }
  const HttpServerOptions& options() const noexcept { return options_; }

 private:
  EventLoopGroup& group_;
  HttpServerOptions options_;
  std::shared_ptr<HttpHandler> handler_;
  std::vector<std::shared_ptr<Middleware>> user_middleware_;
  std::unique_ptr<TcpServer> tcp_;
};

}  // namespace sluice
