// What ws-bench measures besides latency: time, CPU and memory, and the
// one result line every mode prints.

#pragma once

#include <time.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ws_bench {

constexpr std::uint64_t kNsPerS = 1'000'000'000;

// CLOCK_MONOTONIC in ns: the clock the broadcast timestamps use too.
inline std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * kNsPerS + static_cast<std::uint64_t>(ts.tv_nsec);
}

// This process's CPU time (user + system) so far, in seconds.
double cpu_seconds();

// CPU seconds (user + system) of process `pid` and all its threads so far
// (/proc/PID/stat, in clock ticks: 10 ms steps, 0.1% of a 10 s window).
double process_cpu_seconds(long pid);

// VmRSS of `pid` in bytes, from /proc/PID/status.
std::uint64_t rss_bytes(long pid);

// One result: printed as `ws-bench: key=value ...` or, with --json, as a JSON object.
class Result {
 public:
  void add(const std::string& key, double value, int decimals = 0);
  void add(const std::string& key, const std::string& text) { fields_.emplace_back(key, "\"" + text + "\""); }
  void append(const Result& other) { fields_.insert(fields_.end(), other.fields_.begin(), other.fields_.end()); }
  void print(bool json) const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// The server's CPU over a window, when --server-pid names it: a server
// below 100% was waiting for the client, and its CPU per message is then
// the figure that compares servers.
class ServerCpu {
 public:
  explicit ServerCpu(long pid) : pid_(pid), start_s_(pid ? process_cpu_seconds(pid) : 0), start_ns_(now_ns()) {}
  // Adds server_cpu_pct and server_cpu_us_per_message since construction (nothing without a pid).
  void add_to(Result& result, double messages) const;

 private:
  long pid_;
  double start_s_;
  std::uint64_t start_ns_;
};

}  // namespace ws_bench
