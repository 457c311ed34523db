#include "http_metrics.hpp"

#include <string>

namespace sluice::detail {

void HttpMetrics::collect(MetricSink& sink) const {
  const char* requests_help = "HTTP requests answered, by method and status class (the server's own answers too).";
  for (std::size_t m = 0; m < kMethods.size(); ++m) {
    for (std::size_t c = 0; c < kStatusClasses.size(); ++c) {
      sink.counter("sluice_http_requests_total", requests_help, {{"method", kMethods[m]}, {"status", kStatusClasses[c]}},
                   static_cast<double>(requests_[m][c].value()));
    }
  }
  sink.histogram("sluice_http_request_duration_seconds",
                 "From the loop waking to read a request to its answer's last byte being queued.", {},
                 duration_.snapshot());
  sink.gauge("sluice_http_requests_in_flight", "Requests read and not answered yet, pipelined ones included.", {},
             static_cast<double>(in_flight.value()));
  const char* refused_help = "Requests the server refused itself: bad syntax (400), timeouts (408), limits (413, "
                             "414, 431), unsupported (501, 505), load shedding and request timeouts (503), rate "
                             "limits (429).";
  for (std::size_t i = 0; i < kRefusedStatuses.size(); ++i) {
    std::string status = kRefusedStatuses[i] != 0 ? std::to_string(kRefusedStatuses[i]) : "other";
    sink.counter("sluice_http_refused_total", refused_help, {{"status", status}},
                 static_cast<double>(refused_[i].value()));
  }
  const char* timeouts_help = "Timeouts that ended a request or a connection, by kind.";
  for (std::size_t i = 0; i < kTimeouts.size(); ++i) {
    sink.counter("sluice_http_timeouts_total", timeouts_help, {{"kind", kTimeouts[i]}},
                 static_cast<double>(timeouts_[i].value()));
  }
}

}  // namespace sluice::detail
