#include "sluice/http/http_server.hpp"

#include <stdexcept>

#include "http_connection.hpp"
#include "sluice/http/middleware.hpp"
#include "sluice/http/router.hpp"

namespace sluice {

HttpServer::HttpServer(EventLoopGroup& group, HttpServerOptions options, std::shared_ptr<HttpHandler> handler)
    : group_(group), options_(std::move(options)), handler_(std::move(handler)) {
  if (!handler_) throw std::invalid_argument("HttpServer: a null handler");
}

HttpServer& HttpServer::use(std::shared_ptr<Middleware> middleware) {
  if (tcp_) throw std::logic_error("HttpServer::use after start");
  if (!middleware) throw std::invalid_argument("HttpServer::use: a null middleware");
  user_middleware_.push_back(std::move(middleware));
  return *this;
}

std::function<void(Channel&)> http_pipeline(const HttpServerOptions& options, std::shared_ptr<HttpHandler> handler,
                                            const std::vector<std::shared_ptr<Middleware>>& middleware) {
  // Checked here, not when the first request meets a null pointer.
  if (!handler) throw std::invalid_argument("http_pipeline: a null handler");
  for (const auto& m : middleware) {
    if (!m) throw std::invalid_argument("http_pipeline: a null middleware");
  }
  auto app = std::make_shared<HttpApp>();
  std::shared_ptr<AccessLog> access_log;
  if (options.access_log) {
    AccessLogOptions log_options = options.access_log_options;
    log_options.trace = log_options.trace || options.trace_context;
    access_log = std::make_shared<AccessLog>(std::move(log_options));
    app->middleware.push_back(access_log);
  }
  if (options.trace_context) app->middleware.push_back(std::make_shared<TraceContext>());
  if (options.request_timeout_ms != 0) {
    app->middleware.push_back(std::make_shared<RequestTimeout>(options.request_timeout_ms));
  }
  for (const auto& m : middleware) app->middleware.push_back(m);
  app->handler = handler;

  HttpCodecOptions codec = options.codec;
  if (access_log) {
    // The middleware logs the application's answers; the connection's own
    // refusals reach no middleware, so the log takes them where every
    // answer is seen (their duration is not measured: "-").
    codec.on_answered = [access_log, chained = std::move(codec.on_answered)](const HttpRequest& request, int status,
                                                                             std::size_t bytes) {
      if (request.error_status != 0) access_log->record(request, status, bytes, -1);
      if (chained) chained(request, status, bytes);
    };
  }
  if (auto* router = dynamic_cast<Router*>(handler.get())) {
    // Refuse a body no route would take before the client sends it, and let
    // routes that stream their body have it piece by piece.
    if (!codec.continue_check) codec.continue_check = [router](const HttpRequest& head) { return router->check(head); };
    if (!codec.stream_body) codec.stream_body = [router](const HttpRequest& head) { return router->streams_body(head); };
  }
  // The connection is built in the channel's block; the dispatcher holds no
  // state of a connection, so one serves them all. The codec's options own
  // it: every connection holds those options (and, emplaced, lives as long
  // as its channel), so the channel can borrow the dispatcher without a
  // reference count of its own (16 bytes per connection).
  struct Shared {
    HttpCodecOptions codec;
    std::shared_ptr<HttpServerHandler> dispatcher;
  };
  auto shared = std::make_shared<Shared>(Shared{std::move(codec), HttpServerHandler::create(std::move(app))});
  std::shared_ptr<const HttpCodecOptions> shared_codec(shared, &shared->codec);
  HttpServerHandler* dispatcher = shared->dispatcher.get();
  return [shared_codec, dispatcher](Channel& channel) {
    channel.pipeline().emplace_last<detail::HttpConnection>("http-codec", shared_codec);
    channel.pipeline().add_last_borrowed("http-handler", *dispatcher);
  };
}

void HttpServer::start() {
  if (tcp_) throw std::logic_error("HttpServer::start called twice");
  ServerOptions listen = options_.listen;
  // A client may send its last request and shut down its side: the answers
  // still go out (the codec closes after them).
  listen.channel.allow_half_close = true;
  tcp_ = std::make_unique<TcpServer>(group_, listen, http_pipeline(options_, handler_, user_middleware_));
  tcp_->start();
}

}  // namespace sluice
