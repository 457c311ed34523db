#pragma once
// Per-loop metrics: counters, gauges and histograms that one loop writes
// and any thread reads.
//
// A loop's figures are written only by its own thread, so an update is a
// relaxed load and a relaxed store (a plain add on x86: no lock prefix, no
// read-modify-write), and a scrape from another thread reads them without
// stopping the loop, even when the loop is stuck. A value read during an
// update is the one before or after it, never torn.
//
// Each layer keeps its loop's figures in a LoopService (the core's are in
// EventLoop) and writes them out through collect(MetricSink&), so the layer
// that exposes them (observe: Prometheus text, the status page's JSON)
// knows every figure by name without the lower layers knowing it.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace sluice {

/// A count that only goes up. add(): the owning thread only; value(): any thread.
class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down. set()/add(): the owning thread only;
/// value(): any thread.
class Gauge {
 public:
  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n) noexcept { set(value() + n); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

/// A distribution of durations in fixed buckets (Prometheus' cumulative
/// `le` buckets are made from them when written out): 50 µs to 10 s, in
/// 1-2.5-5 steps, then +Inf. observe(): the owning thread only;
/// snapshot(): any thread (the buckets, sum and count are read one by one,
/// so a snapshot taken during an update may be off by that one update).
class DurationHistogram {
 public:
  static constexpr std::array<std::uint64_t, 18> kBoundsNs = {
      50'000,      100'000,     250'000,       500'000,       1'000'000,     2'500'000,
      5'000'000,   10'000'000,  25'000'000,    50'000'000,    100'000'000,   250'000'000,
      500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000, UINT64_MAX};

  void observe(std::uint64_t ns) noexcept {
    std::size_t i = 0;
    while (ns > kBoundsNs[i]) ++i;  // the last bound takes everything
    buckets_[i].add();
    sum_ns_.add(ns);
  }

  struct Snapshot {
    std::array<std::uint64_t, kBoundsNs.size()> buckets{};  // per bucket, not cumulative
    std::uint64_t sum_ns = 0;
    std::uint64_t count() const noexcept {
      std::uint64_t n = 0;
      for (auto b : buckets) n += b;
      return n;
    }
  };
  Snapshot snapshot() const noexcept {
    Snapshot s;
    for (std::size_t i = 0; i < buckets_.size(); ++i) s.buckets[i] = buckets_[i].value();
    s.sum_ns = sum_ns_.value();
    return s;
  }

 private:
  std::array<Counter, kBoundsNs.size()> buckets_{};
  Counter sum_ns_;
};

/// One label of a sample ({"reason", "peer"}). The views must live until
/// the sink's call returns.
struct MetricLabel {
  std::string_view name;
  std::string_view value;
};
using MetricLabels = std::initializer_list<MetricLabel>;

/// Where a LoopService writes its figures (the observe layer's
/// exposition). Names follow Prometheus' conventions: a `sluice_` prefix,
/// base units (`_seconds`, `_bytes`), `_total` for counters. The sink adds
/// the loop's label. Called on the scraping thread.
class MetricSink {
 public:
  virtual void counter(std::string_view name, std::string_view help, MetricLabels labels, double value) = 0;
  virtual void gauge(std::string_view name, std::string_view help, MetricLabels labels, double value) = 0;
  virtual void histogram(std::string_view name, std::string_view help, MetricLabels labels,
                         const DurationHistogram::Snapshot& snapshot) = 0;

 protected:
  ~MetricSink() = default;
};

}  // namespace sluice
