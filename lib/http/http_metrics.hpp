#pragma once
// Internal: one loop's HTTP figures, written by that loop's connections
// (see sluice/core/loop_metrics.hpp for the thread rule), read by a scrape.

#include <array>
#include <cstdint>
#include <string_view>

#include "sluice/core/event_loop.hpp"
#include "sluice/core/loop_metrics.hpp"

namespace sluice::detail {

class HttpMetrics final : public LoopService {
 public:
  explicit HttpMetrics(EventLoop&) {}
  /// The figures of `loop`, made on first use. Loop thread.
  static HttpMetrics& of(EventLoop& loop) { return loop.service<HttpMetrics>(); }

  /// A timeout that ended a request or a connection.
  enum class Timeout : std::uint8_t { header, body, keep_alive, send, request };

  /// An answer has left (the application's or the server's own): counted by
  /// method and status class, its time since the request was read into the
  /// duration histogram. Loop thread.
  void answered(std::string_view method, int status, std::uint64_t duration_ns) noexcept {
    requests_[method_class(method)][status_class(status)].add();
    duration_.observe(duration_ns);
  }
  /// The server refused a request with `status` (a limit, bad syntax, a
  /// timeout, load shedding, a rate limit). Loop thread.
  void refused(int status) noexcept { refused_[refused_index(status)].add(); }
  void timed_out(Timeout kind) noexcept { timeouts_[static_cast<std::size_t>(kind)].add(); }

  /// Requests read and not answered yet (pipelined ones included).
  Gauge in_flight;

  void collect(MetricSink& sink) const override;

 private:
  static constexpr std::array<std::string_view, 8> kMethods = {"GET",    "HEAD",  "POST",    "PUT",
                                                               "DELETE", "PATCH", "OPTIONS", "other"};
  static constexpr std::array<std::string_view, 5> kStatusClasses = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  // The statuses the server gives itself, and the rest as "other".
  static constexpr std::array<int, 10> kRefusedStatuses = {400, 408, 413, 414, 429, 431, 501, 503, 505, 0};
  static constexpr std::array<std::string_view, 5> kTimeouts = {"header", "body", "keep_alive", "send", "request"};

  static std::size_t method_class(std::string_view method) noexcept {
    for (std::size_t i = 0; i + 1 < kMethods.size(); ++i) {
      if (method == kMethods[i]) return i;
    }
    return kMethods.size() - 1;
  }
  static std::size_t status_class(int status) noexcept {
    int c = status / 100 - 1;
    return c < 0 ? 4 : c > 4 ? 4 : static_cast<std::size_t>(c);
  }
  static std::size_t refused_index(int status) noexcept {
    std::size_t i = 0;
    while (i + 1 < kRefusedStatuses.size() && kRefusedStatuses[i] != status) ++i;
    return i;
  }

  std::array<std::array<Counter, kStatusClasses.size()>, kMethods.size()> requests_{};
  DurationHistogram duration_;
  std::array<Counter, kRefusedStatuses.size()> refused_{};
  std::array<Counter, kTimeouts.size()> timeouts_{};
};

}  // namespace sluice::detail
