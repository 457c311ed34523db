#include "sluice/http/http_server.hpp"

#include "sluice/http/middleware.hpp"
#include "sluice/http/router.hpp"

namespace sluice {

HttpServer::HttpServer(EventLoopGroup& group, HttpServerOptions options, std::shared_ptr<HttpHandler> handler)
    : group_(group), options_(std::move(options)), handler_(std::move(handler)) {}

HttpServer& HttpServer::use(std::shared_ptr<Middleware> middleware) {
  if (tcp_) throw std::logic_error("HttpServer::use after start");
  user_middleware_.push_back(std::move(middleware));
  return *this;
}

void HttpServer::start() {
  if (tcp_) throw std::logic_error("HttpServer::start called twice");
  auto app = std::make_shared<HttpApp>();
  if (options_.access_log) app->middleware.push_back(std::make_shared<AccessLog>());
  if (options_.request_timeout_ms != 0) {
    app->middleware.push_back(std::make_shared<RequestTimeout>(options_.request_timeout_ms));
  }
  for (auto& m : user_middleware_) app->middleware.push_back(m);
  app->handler = handler_;

  HttpCodecOptions codec = options_.codec;
  if (auto* router = dynamic_cast<Router*>(handler_.get())) {
    // Refuse a body no route would take before the client sends it, and let
    // routes that stream their body have it piece by piece.
    if (!codec.continue_check) codec.continue_check = [router](const HttpRequest& head) { return router->check(head); };
    if (!codec.stream_body) codec.stream_body = [router](const HttpRequest& head) { return router->streams_body(head); };
  }
  ServerOptions listen = options_.listen;
  // A client may send its last request and shut down its side: the answers
  // still go out (the codec closes after them).
  listen.channel.allow_half_close = true;
  std::shared_ptr<const HttpApp> shared_app = app;
  tcp_ = std::make_unique<TcpServer>(group_, listen, [codec, shared_app](Channel& channel) {
    channel.pipeline()
        .add_last("http-codec", std::make_shared<HttpServerCodec>(codec))
        .add_last("http-handler", std::make_shared<HttpServerHandler>(shared_app));
  });
  tcp_->start();
}

}  // namespace sluice
