#include "sluice/observe/metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <spdlog/fmt/fmt.h>

#include "sluice/observe/stall_detector.hpp"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

namespace sluice {

namespace {

// ---- the process's figures (Prometheus' standard process_* names) ----

struct ProcessFigures {
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double cpu_seconds = 0;
  double start_time_seconds = 0;  // since the Unix epoch
};

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(4096, '\n');
  }
  return 0;
}

// Read once: a process does not move its start.
double process_start_time_seconds() {
  static const double start = [] {
    std::ifstream in("/proc/self/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The command name (field 2) may hold spaces: count fields after its ')'.
    auto close = text.rfind(')');
    if (close == std::string::npos) return 0.0;
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    double start_ticks = 0;
    for (int i = 3; i <= 22 && fields >> field; ++i) {
      if (i == 22) start_ticks = std::stod(field);
    }
    return boot_time_seconds() + start_ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }();
  return start;
}

ProcessFigures process_figures() {
  ProcessFigures p;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long size = 0;
    unsigned long resident = 0;
    if (std::fscanf(f, "%lu %lu", &size, &resident) == 2) {
      auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
      p.virtual_bytes = static_cast<double>(size) * page;
      p.resident_bytes = static_cast<double>(resident) * page;
    }
    std::fclose(f);
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    std::size_t n = 0;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    p.open_fds = static_cast<double>(n - 1);  // not the one reading the directory
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) p.max_fds = static_cast<double>(limit.rlim_cur);
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {
    p.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                    static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  }
  p.start_time_seconds = process_start_time_seconds();
  return p;
}

void collect_process(MetricSink& sink) {
  ProcessFigures p = process_figures();
  sink.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", {}, p.resident_bytes);
  sink.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", {}, p.virtual_bytes);
  sink.gauge("process_open_fds", "Number of open file descriptors.", {}, p.open_fds);
  sink.gauge("process_max_fds", "Maximum number of open file descriptors.", {}, p.max_fds);
  sink.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", {}, p.cpu_seconds);
  sink.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", {},
             p.start_time_seconds);
  sink.gauge("sluice_build_info", "The sluice library this process runs (always 1).", {{"version", SLUICE_VERSION}},
             1);
}

double seconds_since_epoch() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// ---- Prometheus text ----

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9e15) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);  // the shortest text that reads back as v
}

void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

enum class Kind { counter, gauge, histogram };
const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::counter: return "counter";
    case Kind::gauge: return "gauge";
    case Kind::histogram: return "histogram";
  }
  return "untyped";
}

/// Samples grouped by family, families in the order first met: the text
/// format wants each family's samples together, and a scrape meets them
/// loop by loop.
class PrometheusText final : public MetricSink {
 public:
  void set_loop(std::string_view loop) { loop_ = loop; }

  void counter(std::string_view name, std::string_view help, MetricLabels labels, double value) override {
    sample(family(name, help, Kind::counter), name, labels, {}, value);
  }
  void gauge(std::string_view name, std::string_view help, MetricLabels labels, double value) override {
    sample(family(name, help, Kind::gauge), name, labels, {}, value);
  }
  void histogram(std::string_view name, std::string_view help, MetricLabels labels,
                 const DurationHistogram::Snapshot& snapshot) override {
    std::string& out = family(name, help, Kind::histogram);
    std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < snapshot.buckets.size(); ++i) {
      cumulative += snapshot.buckets[i];
      std::uint64_t bound = DurationHistogram::kBoundsNs[i];
      std::string le = bound == UINT64_MAX ? "+Inf" : number(static_cast<double>(bound) / 1e9);
      sample(out, bucket, labels, le, static_cast<double>(cumulative));
    }
    sample(out, std::string(name) + "_sum", labels, {}, static_cast<double>(snapshot.sum_ns) / 1e9);
    sample(out, std::string(name) + "_count", labels, {}, static_cast<double>(cumulative));
  }

  std::string text() const {
    std::string out;
    for (const Family& f : families_) {
      out += "# HELP " + f.name + " ";
      append_escaped(out, f.help, false);
      out += "\n# TYPE " + f.name + " " + kind_name(f.kind) + "\n";
      out += f.samples;
    }
    return out;
  }

 private:
  struct Family {
    std::string name;
    std::string help;
    Kind kind;
    std::string samples;
  };

  std::string& family(std::string_view name, std::string_view help, Kind kind) {
    auto [it, added] = index_.try_emplace(std::string(name), families_.size());
    if (added) families_.push_back(Family{std::string(name), std::string(help), kind, {}});
    return families_[it->second].samples;
  }

  void sample(std::string& out, std::string_view name, MetricLabels labels, std::string_view le, double value) {
    out += name;
    bool any = false;
    auto label = [&](std::string_view key, std::string_view v) {
      out += any ? "," : "{";
      any = true;
      out += key;
      out += "=\"";
      append_escaped(out, v, true);
      out += '"';
    };
    if (!loop_.empty()) label("loop", loop_);
    for (const MetricLabel& l : labels) label(l.name, l.value);
    if (!le.empty()) label("le", le);
    if (any) out += '}';
    out += ' ';
    out += number(value);
    out += '\n';
  }

  std::string_view loop_;
  std::vector<Family> families_;
  std::unordered_map<std::string, std::size_t> index_;
};

// ---- the status page's JSON ----

/// One object per loop (or the process): a labelled family summed over its
/// labels; a histogram as its count and sum.
class StatusJson final : public MetricSink {
 public:
  explicit StatusJson(nlohmann::json& into) : into_(into) {}

  void counter(std::string_view name, std::string_view, MetricLabels, double value) override { add(name, value); }
  void gauge(std::string_view name, std::string_view, MetricLabels, double value) override { add(name, value); }
  void histogram(std::string_view name, std::string_view, MetricLabels,
                 const DurationHistogram::Snapshot& snapshot) override {
    nlohmann::json& h = into_[std::string(name)];
    if (h.is_null()) h = {{"count", 0}, {"sum", 0.0}, {"buckets", nlohmann::json::array()}};
    h["count"] = h["count"].get<std::uint64_t>() + snapshot.count();
    h["sum"] = h["sum"].get<double>() + static_cast<double>(snapshot.sum_ns) / 1e9;
    nlohmann::json& buckets = h["buckets"];
    for (std::size_t i = 0; i < snapshot.buckets.size(); ++i) {
      if (buckets.size() <= i) buckets.push_back(0);
      buckets[i] = buckets[i].get<std::uint64_t>() + snapshot.buckets[i];
    }
  }

 private:
  void add(std::string_view name, double value) {
    nlohmann::json& v = into_[std::string(name)];
    v = (v.is_null() ? 0.0 : v.get<double>()) + value;
  }
  nlohmann::json& into_;
};

}  // namespace

Metrics::Metrics() { process_start_time_seconds(); }

Metrics::LoopEntry& Metrics::entry_for(const EventLoop& loop) {
  for (LoopEntry& e : loops_) {
    if (e.loop == &loop) return e;
  }
  loops_.push_back(LoopEntry{&loop, {}});
  return loops_.back();
}

void Metrics::add(const EventLoopGroup& group) {
  for (std::size_t i = 0; i < group.size(); ++i) add(group.at(i));
}

void Metrics::add(const EventLoop& loop) {
  std::lock_guard lock(mutex_);
  entry_for(loop);
}

void Metrics::add(const StallDetector& detector) {
  for (std::size_t i = 0; i < detector.group().size(); ++i) {
    add_loop_source(detector.group().at(i), [&detector, i](MetricSink& sink) {
      StallDetector::LoopStalls s = detector.loop_stalls(i);
      sink.counter("sluice_loop_stalls_total", "Times the loop did not go back to poll within the stall threshold.",
                   {}, static_cast<double>(s.stalls));
      sink.counter("sluice_loop_stalled_seconds_total", "Time the loop spent in stalls, from each one's start.", {},
                   static_cast<double>(s.stalled_ns) / 1e9);
    });
  }
}

void Metrics::add_loop_source(const EventLoop& loop, std::function<void(MetricSink&)> collect) {
  std::lock_guard lock(mutex_);
  entry_for(loop).sources.push_back(std::move(collect));
}

void Metrics::add_source(std::function<void(MetricSink&)> collect) {
  std::lock_guard lock(mutex_);
  sources_.push_back(std::move(collect));
}

std::string Metrics::prometheus() const {
  PrometheusText text;
  collect_process(text);
  std::lock_guard lock(mutex_);
  for (const auto& source : sources_) source(text);
  for (const LoopEntry& e : loops_) {
    text.set_loop(e.loop->name());
    e.loop->collect(text);
    for (const auto& source : e.sources) source(text);
  }
  return text.text();
}

nlohmann::json Metrics::status() const {
  nlohmann::json process = nlohmann::json::object();
  StatusJson process_sink(process);
  collect_process(process_sink);
  nlohmann::json loops = nlohmann::json::array();
  std::lock_guard lock(mutex_);
  for (const auto& source : sources_) source(process_sink);
  for (const LoopEntry& e : loops_) {
    nlohmann::json loop = {{"loop", e.loop->name()}};
    StatusJson sink(loop);
    e.loop->collect(sink);
    for (const auto& source : e.sources) source(sink);
    loops.push_back(std::move(loop));
  }
  nlohmann::json bounds = nlohmann::json::array();
  for (std::uint64_t b : DurationHistogram::kBoundsNs) {
    if (b != UINT64_MAX) bounds.push_back(static_cast<double>(b) / 1e9);
  }
  return {{"version", SLUICE_VERSION},
          {"time", seconds_since_epoch()},
          {"uptime_seconds", seconds_since_epoch() - process_start_time_seconds()},
          {"histogram_bounds_seconds", std::move(bounds)},
          {"process", std::move(process)},
          {"loops", std::move(loops)}};
}

}  // namespace sluice
