// --mode idle: the server's RSS per idle WebSocket connection (see modes.hpp).

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "client.hpp"
#include "measure.hpp"
#include "modes.hpp"

namespace ws_bench {

namespace {

class IdleBench final : public Client {
 public:
  using Client::Client;

  void run() {
    message_ = masked_frame(kText, "idle", random_mask());
    warm_up();
    run_for(0.5);
    std::uint64_t before = rss_bytes(options_.server_pid);
    std::uint64_t start = now_ns();
    open_all(options_.connections, "/ws/echo");
    double opened_s = static_cast<double>(now_ns() - start) / 1e9;
    auto [after, settled_s, stable] = settle();

    double per_connection = (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(count());
    Result r;
    r.add("mode", "idle");
    r.add("connections", static_cast<double>(count()));
    r.add("opened_s", opened_s, 1);
    r.add("rss_before_mb", static_cast<double>(before) / 1e6, 1);
    r.add("rss_after_mb", static_cast<double>(after) / 1e6, 1);
    r.add("bytes_per_connection", per_connection);
    r.add("settled_s", settled_s, 1);
    r.add("stable", stable ? 1 : 0);
    r.add("open", static_cast<double>(count() - closed()));
    r.add("closed", static_cast<double>(closed()));
    if (closed() != 0) r.add("first_close", first_loss_);
    r.print(options_.json);
  }

 private:
  // RSS is stable when three samples half a second apart lie within 1% of
  // it (at least 64 KiB), and 3 s have passed: a Go GC or a late free has
  // finished, and what a server keeps only while reads come (sluice's batch
  // read slots, returned a second or two after the last read) has gone.
  // Returns (RSS, seconds it took, whether it settled within 30 s).
  std::tuple<std::uint64_t, double, bool> settle() {
    constexpr double kSampleS = 0.5;
    constexpr double kMinS = 3;
    constexpr double kMaxS = 30;
    std::uint64_t start = now_ns();
    std::vector<std::uint64_t> samples;
    std::uint64_t baseline = rss_bytes(options_.server_pid);
    for (double waited = 0; waited < kMaxS; waited += kSampleS) {
      run_for(kSampleS);
      samples.push_back(rss_bytes(options_.server_pid));
      if (samples.size() >= 3 && waited + kSampleS >= kMinS) {
        auto last = samples.end() - 3;
        auto [low, high] = std::minmax_element(last, samples.end());
        std::uint64_t tolerance = std::max<std::uint64_t>(64 * 1024, (std::max(*high, baseline) / 100));
        if (*high - *low <= tolerance) return {samples.back(), static_cast<double>(now_ns() - start) / 1e9, true};
      }
    }
    return {samples.back(), static_cast<double>(now_ns() - start) / 1e9, false};
  }

  // One echo on a connection of its own before the baseline, so the server's
  // first-connection allocations are not counted per idle connection.
  void warm_up() {
    IdleBench warm(options_);
    warm.message_ = message_;
    warm.open_all(1, "/ws/echo");
  }

  void on_open(Connection& c) override { send(c, message_); }

  void on_message(Connection& c, std::uint8_t opcode, std::string_view payload) override {
    if (opcode != kText || payload != "idle") fail("the echo of `idle` came back as something else");
    mark_ready(c);
  }

  std::string message_;
};

}  // namespace

void run_idle(const Options& options) { IdleBench(options).run(); }

}  // namespace ws_bench
