// StallDetector: a loop blocked on purpose is reported once, naming the loop
// and the blocking function, then "back" once, and counted; a loop busy in
// many short callbacks is never reported; the sample servers take
// --stall-threshold-ms.
//
// Nothing here sleeps to let something happen: every wait polls for an
// event (a log line, a counter) against a generous deadline.

#include <catch2/catch.hpp>
#include <spdlog/sinks/base_sink.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/event_loop_group.hpp"
#include "sluice/core/log.hpp"
#include "sluice/observe/stall_detector.hpp"
#include "support/child_server.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;
using sluice::EventLoopGroup;
using sluice::StallDetector;
using sluice::test::wait_until;
using Clock = std::chrono::steady_clock;

namespace sluice::test {

// Blocks the loop it runs on until `release` is set (or a minute passes).
// Not inlined and with external linkage: the stall report must name it
// (the test executable is linked with export_dynamic for dladdr). It sleeps
// in short steps rather than spinning, so that ThreadSanitizer, which
// delivers a signal when the thread next enters its runtime, delivers the
// stack signal promptly too.
[[gnu::noinline]] void block_this_loop_on_purpose(const std::atomic<bool>& release) {
  auto give_up = Clock::now() + 60s;
  while (!release.load() && Clock::now() < give_up) std::this_thread::sleep_for(1ms);
  asm volatile("" ::: "memory");  // keeps the frame (no tail call into nothing)
}

}  // namespace sluice::test

namespace {

// Collects what the "sluice" logger writes while it is installed. Install it
// before the test's loops start and let it go after they stopped: the
// logger's sink list is not meant to change while others log.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<Sink>()) { sluice::log().sinks().push_back(sink_); }
  ~LogCapture() {
    auto& sinks = sluice::log().sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  /// The messages that contain `text`.
  std::vector<std::string> matching(const std::string& text) const {
    std::lock_guard<std::mutex> lock(sink_->lines_mutex);
    std::vector<std::string> out;
    for (const auto& line : sink_->lines) {
      if (line.find(text) != std::string::npos) out.push_back(line);
    }
    return out;
  }
  std::string all() const {
    std::lock_guard<std::mutex> lock(sink_->lines_mutex);
    std::string out;
    for (const auto& line : sink_->lines) out += line + "\n";
    return out;
  }

 private:
  struct Sink : spdlog::sinks::base_sink<std::mutex> {
    mutable std::mutex lines_mutex;
    std::vector<std::string> lines;

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      std::lock_guard<std::mutex> lock(lines_mutex);
      lines.emplace_back(msg.payload.data(), msg.payload.size());
    }
    void flush_() override {}
  };
  std::shared_ptr<Sink> sink_;
};

constexpr std::uint64_t kThresholdMs = 50;

StallDetector::Options threshold(std::uint64_t ms) {
  StallDetector::Options options;
  options.threshold_ms = ms;
  return options;
}

}  // namespace

TEST_CASE("StallDetector: a loop blocked past the threshold is reported once with its stack, then back, and counted",
          "[stall]") {
  LogCapture logs;
  std::atomic<bool> release{false};
  {
    EventLoopGroup group({2, false, "stall"});
    StallDetector detector(group, threshold(kThresholdMs));
    detector.start();
    REQUIRE(detector.running());

    group.at(1).post([&release] { sluice::test::block_this_loop_on_purpose(release); });
    bool reported = wait_until([&] { return !logs.matching("loop stall-1 stalled").empty(); });
    INFO(logs.all());
    REQUIRE(reported);
    // Blocked for several thresholds in all before it is let go: still one report.
    CHECK(wait_until([&] { return detector.loop_stalls(1).stalled_ns >= 4 * kThresholdMs * 1'000'000; }));
    release = true;
    CHECK(wait_until([&] { return !logs.matching("loop stall-1 is back").empty(); }));

    auto reports = logs.matching("stalled:");
    REQUIRE(reports.size() == 1);
    const std::string& report = reports[0];
    CHECK_THAT(report, Catch::Matchers::Contains("loop stall-1 stalled: "));
    CHECK_THAT(report, Catch::Matchers::Contains("without going back to poll (threshold 50 ms); its stack:"));
    CHECK_THAT(report, Catch::Matchers::Contains("block_this_loop_on_purpose"));
    // Every frame gives its module and offset for addr2line.
    CHECK_THAT(report, Catch::Matchers::Contains("test-observe+0x"));

    auto back = logs.matching("is back");
    REQUIRE(back.size() == 1);
    CHECK_THAT(back[0], Catch::Matchers::Contains("loop stall-1 is back: it stalled for "));

    StallDetector::LoopStalls stalled = detector.loop_stalls(1);
    CHECK(stalled.stalls == 1);
    CHECK(stalled.stalled_ns >= 4 * kThresholdMs * 1'000'000);
    CHECK(detector.loop_stalls(0).stalls == 0);
    CHECK(detector.loop_stalls(0).stalled_ns == 0);
    CHECK(detector.total().stalls == 1);
    CHECK(logs.matching("loop stall-0").empty());

    // A second stall is a second report.
    release = false;
    group.at(1).post([&release] { sluice::test::block_this_loop_on_purpose(release); });
    CHECK(wait_until([&] { return logs.matching("stalled:").size() == 2; }));
    release = true;
    CHECK(wait_until([&] { return logs.matching("is back").size() == 2; }));
    CHECK(detector.loop_stalls(1).stalls == 2);
    detector.stop();
    CHECK_FALSE(detector.running());
  }
}

TEST_CASE("StallDetector: a loop busy in many short callbacks, each under the threshold, is never reported",
          "[stall]") {
  LogCapture logs;
  // Generous: on a loaded machine a callback may be preempted for a while.
  constexpr std::uint64_t kThreshold = 250;
  constexpr int kCallbacks = 400;  // about 2 ms each: 800 ms busy, three thresholds
  std::atomic<int> done{0};
  {
    EventLoopGroup group({1, false, "busy"});
    StallDetector detector(group, threshold(kThreshold));
    detector.start();
    sluice::EventLoop& loop = group.at(0);
    // Each callback posts the next, so the loop goes back to poll between them.
    std::function<void()> step = [&] {
      auto until = Clock::now() + 2ms;
      while (Clock::now() < until) {
      }
      if (++done < kCallbacks) loop.post([&step] { step(); });
    };
    loop.post([&step] { step(); });
    REQUIRE(wait_until([&] { return done.load() == kCallbacks; }, 60s));
    CHECK(detector.loop_stalls(0).stalls == 0);
    CHECK(detector.loop_stalls(0).stalled_ns == 0);
    detector.stop();
  }
  INFO(logs.all());
  CHECK(logs.matching("stalled").empty());
}

TEST_CASE("StallDetector: a threshold of 0 is off: no thread", "[stall]") {
  EventLoopGroup group({1, false, "off"});
  StallDetector detector(group, threshold(0));
  detector.start();
  CHECK_FALSE(detector.running());
  CHECK(detector.total().stalls == 0);
}

TEST_CASE("StallDetector: the group's shutdown stops it before the loops end", "[stall]") {
  EventLoopGroup group({2, false, "down"});
  StallDetector detector(group, threshold(kThresholdMs));
  detector.start();
  REQUIRE(detector.running());
  group.shutdown_gracefully(0, 1000);
  CHECK_FALSE(detector.running());
}

TEST_CASE("StallDetector: a signal with another handler is refused", "[stall]") {
  EventLoopGroup group({1, false, "sig"});
  StallDetector::Options options;
  options.threshold_ms = kThresholdMs;
  options.signal = SIGRTMIN + 5;
  struct sigaction other {};
  other.sa_handler = [](int) {};
  sigemptyset(&other.sa_mask);
  struct sigaction previous {};
  REQUIRE(::sigaction(options.signal, &other, &previous) == 0);
  StallDetector detector(group, options);
  CHECK_THROWS_WITH(detector.start(), Catch::Matchers::Contains("already has a handler"));
  CHECK_FALSE(detector.running());
  ::sigaction(options.signal, &previous, nullptr);
}

TEST_CASE("StallDetector: the sample servers start it from --stall-threshold-ms", "[stall][samples]") {
  {
    sluice::test::ChildServer http(SLUICE_HTTP_BINARY, "sluice-http", {"--loops", "1", "--stall-threshold-ms", "40"});
    CHECK_THAT(http.log(), Catch::Matchers::Contains("stall detector: threshold 40 ms"));
    CHECK(http.terminate_gracefully());
  }
  {
    sluice::test::ChildServer ws(SLUICE_WS_BINARY, "sluice-ws", {"--loops", "1", "--stall-threshold-ms", "0"});
    CHECK_THAT(ws.log(), !Catch::Matchers::Contains("stall detector: threshold"));
    CHECK(ws.terminate_gracefully());
  }
}
