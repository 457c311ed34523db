// The HTTP route that turns a request into a WebSocket connection.
#include "handshake.hpp"
#include "sluice/core/log.hpp"
#include "sluice/http/router.hpp"
#include "websocket_session.hpp"

namespace sluice {

namespace {

class WebSocketEndpoint final : public HttpHandler {
 public:
  WebSocketEndpoint(WebSocketFactory factory, WebSocketOptions options)
      : factory_(std::move(factory)), config_(std::make_shared<detail::SessionConfig>()) {
    if (!factory_) throw std::invalid_argument("websocket_endpoint: a null factory");
    if (options.subprotocols.size() > 127) throw std::invalid_argument("websocket_endpoint: too many subprotocols");
    config_->options = std::move(options);
    config_->role = WebSocketRole::server;
  }

  void handle(HttpRequest& request, ResponseWriter response) override {
    detail::HandshakeVerdict verdict = detail::check_handshake(request);
    if (!verdict.ok()) {
      HttpResponse refusal = HttpResponse::error(verdict.status, verdict.why);
      if (verdict.status == 426) {
        refusal.header("Sec-WebSocket-Version", "13").header("Upgrade", "websocket");
      }
      response.send(std::move(refusal));
      return;
    }
    const WebSocketOptions& options = config_->options;
    if (options.check_origin && !options.check_origin(request.headers.get("Origin").value_or(""))) {
      response.send(HttpResponse::error(403, "origin not allowed"));
      return;
    }
    std::shared_ptr<WebSocketHandler> handler = factory_(request);  // an HttpError refuses with its status
    if (!handler) {
      response.send(HttpResponse::error(403));
      return;
    }
    int subprotocol = detail::choose_subprotocol(request.headers, options.subprotocols);
    HttpResponse accept(101);
    accept.header("Upgrade", "websocket");
    accept.header("Sec-WebSocket-Accept", detail::accept_key(*request.headers.get("Sec-WebSocket-Key")));
    if (subprotocol >= 0) {
      accept.header("Sec-WebSocket-Protocol", options.subprotocols[static_cast<std::size_t>(subprotocol)]);
    }
    response.switch_protocols(std::move(accept), [config = config_, handler = std::move(handler), subprotocol](
                                                     Channel& channel, Buffer rest) mutable {
      detail::WebSocketSession::install(channel, std::move(rest), std::move(config), std::move(handler), subprotocol);
    });
  }

 private:
  WebSocketFactory factory_;
  std::shared_ptr<detail::SessionConfig> config_;
};

}  // namespace

std::shared_ptr<HttpHandler> websocket_endpoint(WebSocketFactory factory, WebSocketOptions options) {
  return std::make_shared<WebSocketEndpoint>(std::move(factory), std::move(options));
}

std::shared_ptr<WebSocket> start_websocket(Channel& channel, std::shared_ptr<WebSocketHandler> handler,
                                           WebSocketOptions options, WebSocketRole role) {
  if (!handler) throw std::invalid_argument("start_websocket: a null handler");
  auto config = std::make_shared<detail::SessionConfig>();
  config->options = std::move(options);
  config->role = role;
  return detail::WebSocketSession::install(channel, Buffer(), std::move(config), std::move(handler), -1).shared();
}

Router& add_websocket_route(Router& router, std::string_view pattern, WebSocketFactory factory,
                            WebSocketOptions options) {
  return router.add("GET", pattern, websocket_endpoint(std::move(factory), std::move(options)));
}

}  // namespace sluice
