#pragma once
// The end of an HTTP pipeline: requests in, through middleware to a handler,
// answers out in request order.

#include <memory>
#include <vector>

#include "sluice/http/http_handler.hpp"
#include "sluice/http/http_server_codec.hpp"

namespace sluice {

/// What every connection of a server runs: the middleware chain, outermost
/// first, around one handler (usually a Router). Shared, immutable once the
/// server starts.
struct HttpApp {
  std::vector<std::shared_ptr<Middleware>> middleware;
  std::shared_ptr<HttpHandler> handler;
};

/// Sits after HttpServerCodec: runs each request through the middleware
/// chain to the handler with a ResponseWriter. A request the codec refused
/// (error_status) is answered with that status without reaching the
/// application. An exception from a handler becomes 500 (an HttpError its
/// status), with nothing of its text sent unless it is an HttpError. Holds
/// no state of its own: answers go back to the codec, which writes them in
/// request order. One instance may serve every connection (http_pipeline
/// shares one); made by create(); callbacks on each channel's loop.
class HttpServerHandler : public InboundHandler<std::shared_ptr<detail::Exchange>> {
 public:
  static std::shared_ptr<HttpServerHandler> create(std::shared_ptr<const HttpApp> app);

 protected:
  HttpServerHandler() = default;
};

}  // namespace sluice
