#include "sluice/http/http_server_handler.hpp"

#include "http_connection.hpp"

namespace sluice {

std::shared_ptr<HttpServerHandler> HttpServerHandler::create(std::shared_ptr<const HttpApp> app) {
  return std::make_shared<detail::HttpConnection>(std::move(app));
}

}  // namespace sluice
