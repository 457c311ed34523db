#pragma once
// What a running server exposes to its operators: every loop's figures and
// the process's, as Prometheus text (/metrics) or as the JSON behind the
// status page (/status).

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/core/event_loop_group.hpp"
#include "sluice/core/loop_metrics.hpp"

namespace sluice {

class StallDetector;

/// Gathers the figures of the loops it was given (each loop's own and its
/// services': connections, HTTP, WebSocket...; see loop_metrics.hpp), the
/// sources added to it, and the process's (RSS, descriptors, CPU time,
/// start time, build). A scrape reads what the loops wrote without
/// stopping or waiting for them, so it answers even when a loop is stuck.
///
/// Every method may be called from any thread. The groups and loops given
/// must outlive the Metrics (or the scrapes).
class Metrics {
 public:
  Metrics();

  /// Every loop of `group`, labelled with its name (`loop="http-0"`).
  void add(const EventLoopGroup& group);
  void add(const EventLoop& loop);
  /// `detector`'s stall counts, per loop of its group (add the group too).
  void add(const StallDetector& detector);
  /// Figures about `loop` kept outside it (a StallDetector's): `collect`
  /// runs on each scrape with that loop's sink.
  void add_loop_source(const EventLoop& loop, std::function<void(MetricSink&)> collect);
  /// Figures that belong to no loop: `collect` runs on each scrape.
  void add_source(std::function<void(MetricSink&)> collect);

  /// The Prometheus text exposition format (version 0.0.4), one family per
  /// metric name with HELP and TYPE, the loop as a label.
  std::string prometheus() const;
  static constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

  /// What the status page draws: {"version", "uptime_seconds", "process":
  /// {name: value}, "loops": [{"loop": name, name: value, ...}]}, where a
  /// counter or gauge with labels is summed over them, and a histogram is
  /// {"count", "sum"} (seconds).
  nlohmann::json status() const;

 private:
  struct LoopEntry {
    const EventLoop* loop;
    std::vector<std::function<void(MetricSink&)>> sources;
  };
  LoopEntry& entry_for(const EventLoop& loop);  // mutex_ held

  mutable std::mutex mutex_;
  std::vector<LoopEntry> loops_;
  std::vector<std::function<void(MetricSink&)>> sources_;
};

}  // namespace sluice
