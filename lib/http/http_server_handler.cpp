#include "sluice/http/http_server_handler.hpp"

#include "exchange.hpp"

namespace sluice {

namespace {

// Runs the application for each exchange the codec hands on.
class AppDispatcher final : public HttpServerHandler {
 public:
  explicit AppDispatcher(std::shared_ptr<const HttpApp> app) : app_(std::move(app)) {}

  void read(HandlerContext&, std::shared_ptr<detail::Exchange>& exchange) override {
    detail::Exchange& ex = *exchange;
    HttpRequest& request = *ex.request;
    if (request.error_status != 0) {
      HttpResponse refusal = HttpResponse::error(request.error_status, request.error_message);
      // The codec's 503 is load shedding (MemoryBudget): soon is fine.
      if (request.error_status == 503) refusal.headers.set("Retry-After", "1");
      ResponseWriter(exchange).send(std::move(refusal));
      return;
    }
    ex.dispatching = true;
    try {
      Next(&app_->middleware, 0, app_->handler.get())(request, ResponseWriter(exchange));
    } catch (...) {
      detail::answer_current_exception(request, ResponseWriter(exchange));
    }
    ex.dispatching = false;
    // A deadline asked for during dispatch (has_deadline(), not yet on the
    // wheel) is armed now, unless the answer already came.
    if (ex.has_deadline() && !ex.deadline.is_scheduled() && !ex.answered.load(std::memory_order_acquire) &&
        !ex.closed.load(std::memory_order_relaxed)) {
      ex.loop->schedule_timeout(ex.deadline, ex.deadline_ms);
    }
  }

 private:
  std::shared_ptr<const HttpApp> app_;
};

}  // namespace

std::shared_ptr<HttpServerHandler> HttpServerHandler::create(std::shared_ptr<const HttpApp> app) {
  return std::make_shared<AppDispatcher>(std::move(app));
}

}  // namespace sluice
