#pragma once
// Internal: one loop's WebSocket figures, written by that loop's sessions
// (see sluice/core/loop_metrics.hpp for the thread rule), read by a scrape.

#include <array>
#include <cstdint>
#include <string>

#include "sluice/core/event_loop.hpp"
#include "sluice/core/loop_metrics.hpp"

namespace sluice::detail {

class WebSocketMetrics final : public LoopService {
 public:
  explicit WebSocketMetrics(EventLoop&) {}
  /// The figures of `loop`, made on first use. Loop thread.
  static WebSocketMetrics& of(EventLoop& loop) { return loop.service<WebSocketMetrics>(); }

  Gauge open;              // sessions open (server and client side)
  Counter opened;
  Counter received_text;   // whole messages handed to handlers
  Counter received_binary;
  Counter sent;            // data messages queued (hub pushes included)
  Counter dropped;         // messages a slow consumer did not get (SlowConsumerPolicy::drop)

  /// A session ended with `code` (as its handler's on_close heard it). Loop thread.
  void closed(std::uint16_t code) noexcept {
    std::size_t i = 0;
    while (i + 1 < kCodes.size() && kCodes[i] != code) ++i;
    closed_[i].add();
  }

  void collect(MetricSink& sink) const override {
    auto value = [](const Counter& c) { return static_cast<double>(c.value()); };
    sink.gauge("sluice_websocket_connections_open", "WebSocket sessions open.", {},
               static_cast<double>(open.value()));
    sink.counter("sluice_websocket_connections_opened_total", "WebSocket sessions opened.", {}, value(opened));
    const char* received_help = "WebSocket messages received, by type.";
    sink.counter("sluice_websocket_messages_received_total", received_help, {{"type", "text"}},
                 value(received_text));
    sink.counter("sluice_websocket_messages_received_total", received_help, {{"type", "binary"}},
                 value(received_binary));
    sink.counter("sluice_websocket_messages_sent_total", "WebSocket data messages queued to send.", {}, value(sent));
    sink.counter("sluice_websocket_messages_dropped_total",
                 "Messages not sent to a consumer too slow to read them (the drop policy).", {}, value(dropped));
    const char* closed_help = "WebSocket sessions closed, by close code (1006: the connection ended without one).";
    for (std::size_t i = 0; i < kCodes.size(); ++i) {
      std::string code = kCodes[i] != 0 ? std::to_string(kCodes[i]) : "other";
      sink.counter("sluice_websocket_closed_total", closed_help, {{"code", code}}, value(closed_[i]));
    }
  }

 private:
  static constexpr std::array<std::uint16_t, 11> kCodes = {1000, 1001, 1002, 1003, 1005, 1006,
                                                           1007, 1008, 1009, 1011, 0};
  std::array<Counter, kCodes.size()> closed_{};
};

}  // namespace sluice::detail
