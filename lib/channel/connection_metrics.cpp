#include "sluice/channel/connection_metrics.hpp"

namespace sluice {

void ConnectionMetrics::collect(MetricSink& sink) const {
  auto value = [](const Counter& c) { return static_cast<double>(c.value()); };
  sink.counter("sluice_connections_accepted_total", "Connections a server accepted.", {}, value(accepted));
  const char* refused_help = "Connections a server closed at once: over its connection limit, or while the "
                             "loop's memory budget was full.";
  sink.counter("sluice_connections_refused_total", refused_help, {{"reason", "limit"}}, value(refused_at_limit));
  sink.counter("sluice_connections_refused_total", refused_help, {{"reason", "memory"}},
               static_cast<double>(loop_->memory().refused_connections()));
  const char* closed_help = "Connections closed, by who ended them first: this side, the peer's EOF, a socket error.";
  sink.counter("sluice_connections_closed_total", closed_help, {{"reason", "server"}},
               value(closed_[static_cast<std::size_t>(CloseReason::server)]) +
                   value(closed_[static_cast<std::size_t>(CloseReason::unknown)]));
  sink.counter("sluice_connections_closed_total", closed_help, {{"reason", "peer"}},
               value(closed_[static_cast<std::size_t>(CloseReason::peer)]));
  sink.counter("sluice_connections_closed_total", closed_help, {{"reason", "error"}},
               value(closed_[static_cast<std::size_t>(CloseReason::error)]));
  sink.counter("sluice_received_bytes_total", "Bytes read from the loop's sockets.", {}, value(loop_->traffic().received_bytes));
  sink.counter("sluice_sent_bytes_total", "Bytes written to the loop's sockets.", {}, value(loop_->traffic().sent_bytes));
}

}  // namespace sluice
