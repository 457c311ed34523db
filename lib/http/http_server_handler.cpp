#include "sluice/http/http_server_handler.hpp"

#include "http_connection.hpp"

namespace sluice {

HttpServerHandler::HttpServerHandler(std::shared_ptr<const HttpApp> app)
    : connection_(std::make_shared<detail::HttpConnection>(std::move(app))) {}

HttpServerHandler::~HttpServerHandler() { connection_->detach(); }

void HttpServerHandler::read(HandlerContext& ctx, HttpRequestPtr& request) {
  connection_->on_request(ctx, std::move(request));
}

void HttpServerHandler::read_complete(HandlerContext& ctx) {
  connection_->on_read_complete();
  ctx.fire_read_complete();
}

void HttpServerHandler::writability_changed(HandlerContext& ctx, bool writable) {
  connection_->on_writability_changed(writable);
  ctx.fire_writability_changed(writable);
}

void HttpServerHandler::channel_inactive(HandlerContext& ctx) {
  connection_->detach();
  ctx.fire_channel_inactive();
}

}  // namespace sluice
