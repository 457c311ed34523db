#include "exchange.hpp"

#include "sluice/channel/channel.hpp"
#include "sluice/core/log.hpp"

namespace sluice::detail {

void Exchange::reset() noexcept {
  Recycler<HttpRequest>::give(request);
  loop = nullptr;
  channel = nullptr;
  connection.reset();
  owner = nullptr;
  answered.store(false, std::memory_order_relaxed);
  closed.store(false, std::memory_order_relaxed);
  queued_bytes.store(0, std::memory_order_relaxed);
  before_send.clear();
  after_send.clear();
  stage = Stage::waiting;
  // Field by field: the headers keep their arena for the next response.
  response.status = 200;
  response.headers.clear();
  response.body.release();
  chunks.clear();
  head_written = false;
  ended = false;
  keep_alive = true;
  chunked = false;
  body_bytes = 0;
  request_body_held = 0;
  read_at_ns = 0;
  on_writable = nullptr;
  protocol_switch = nullptr;
  drop_deadline();
  dispatching = false;
  deadline_ms = 0;
}

bool Exchange::writable() const noexcept {
  if (closed.load(std::memory_order_acquire)) return false;
  return channel->is_writable() && queued_bytes.load(std::memory_order_relaxed) < channel->options().write_high_watermark;
}

void answer_current_exception(const HttpRequest& request, const ResponseWriter& response) noexcept {
  try {
    throw;
  } catch (const HttpError& e) {
    response.send(HttpResponse::error(e.status(), e.what()));
  } catch (const std::exception& e) {
    // The text may hold internals: it goes to the log, not to the client.
    log().error("{} {}: handler threw: {}", request.method, request.target, e.what());
    response.send(HttpResponse::error(500));
  } catch (...) {
    log().error("{} {}: handler threw a non-standard exception", request.method, request.target);
    response.send(HttpResponse::error(500));
  }
}

}  // namespace sluice::detail
