#pragma once
// A watchdog for the loops of a group: reports a loop that has not gone back
// to poll within a threshold, with the stuck thread's stack.
//
// One thread wakes four times per threshold and reads each loop's
// EventLoop::busy_since_ns() (the loop pays two relaxed stores per
// iteration for it, nothing else). When a loop has been busy longer than
// the threshold, the watchdog signals the loop's thread; the signal handler
// takes the thread's backtrace into a buffer made beforehand and the
// watchdog symbolises it, then logs (sluice::log(), warn) once per stall:
//
//   loop http-0 stalled: 312 ms without going back to poll (threshold 100 ms); its stack:
//     #0 0x5598d2c4a1f3 heavy_handler(...)+0x23 (/usr/bin/sluice-http+0x4a1f3)
//     ...
//   loop http-0 is back: it stalled for 1204 ms
//
// Frames without a symbol give their module and offset for
// `addr2line -f -C -e MODULE OFFSET`; executables need -rdynamic (meson's
// export_dynamic) for their own functions to have names.
//
// The signal: SIGRTMIN + 3 (kStackSignalOffset) unless Options::signal
// says otherwise. The first start() in the process installs its handler with
// SA_SIGINFO | SA_RESTART (a system call interrupted by it is restarted),
// and it stays installed for the life of the process, so that a signal still
// in flight after stop() never meets the default action (which would end the
// process). start() refuses a signal that some other handler already has.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "sluice/core/event_loop_group.hpp"

namespace sluice {

namespace detail {
struct StackCapture;
}

/// Watches every loop of an EventLoopGroup for stalls (see above). start(),
/// stop() and the destructor: any thread but the group's loops and not
/// concurrently; the counters: any thread. It must not outlive the group: it
/// stops itself when the group's shutdown begins (a shutdown hook), before
/// the loops' threads end.
class StallDetector {
 public:
  /// How far above SIGRTMIN the default signal is (glibc keeps two
  /// real-time signals below SIGRTMIN for itself).
  static constexpr int kStackSignalOffset = 3;

  struct Options {
    std::uint64_t threshold_ms = 100;  // 0: off (start() does nothing)
    int signal = 0;                     // 0: SIGRTMIN + kStackSignalOffset
  };

  /// One loop's figures, for metrics (sluice_loop_stalls_total,
  /// sluice_loop_stalled_seconds_total).
  struct LoopStalls {
    std::uint64_t stalls = 0;      // stalls seen (each counted once, when it passes the threshold)
    std::uint64_t stalled_ns = 0;  // their time, from each stall's start; a stall still going counts so far
  };

  StallDetector(EventLoopGroup& group, Options options);
  ~StallDetector();  // stop()
  StallDetector(const StallDetector&) = delete;
  StallDetector& operator=(const StallDetector&) = delete;

  /// Starts the watchdog thread (nothing when the threshold is 0 or it runs
  /// already). Throws std::runtime_error when the signal has another handler.
  void start();
  /// Stops and joins the watchdog; a stall being watched is not reported
  /// again. Idempotent.
  void stop();
  bool running() const noexcept { return watchdog_.joinable(); }

  const Options& options() const noexcept { return options_; }
  const EventLoopGroup& group() const noexcept { return group_; }
  /// The signal it uses to take a loop thread's stack.
  int signal_number() const noexcept;

  /// The figures of loop `index` (as in EventLoopGroup::at). Any thread.
  LoopStalls loop_stalls(std::size_t index) const noexcept;
  /// All loops' figures summed. Any thread.
  LoopStalls total() const noexcept;

 private:
  /// Where the watchdog is with one loop.
  enum class Watch : std::uint8_t {
    on_time,  // the loop came back to poll within the threshold
    stalled,  // busy past the threshold since stall_start_ns: reported once
  };
  struct LoopWatch {
    EventLoop* loop = nullptr;
    Watch watch = Watch::on_time;
    std::uint64_t stall_start_ns = 0;  // the busy_since_ns() of the stall
    std::uint64_t finished_ns = 0;     // the time of the stalls that ended (watchdog only)
    std::unique_ptr<detail::StackCapture> capture;
    std::atomic<std::uint64_t> stalls{0};      // written by the watchdog only
    std::atomic<std::uint64_t> stalled_ns{0};  // written by the watchdog only
  };

  void run() noexcept;
  void check(LoopWatch& w, std::uint64_t now_ns);
  void report_stall(LoopWatch& w, std::uint64_t now_ns);

  EventLoopGroup& group_;
  Options options_;
  std::vector<std::unique_ptr<LoopWatch>> loops_;
  std::uint64_t shutdown_hook_ = 0;
  std::thread watchdog_;
  std::mutex mutex_;  // guards stop_requested_ for the condition variable
  std::condition_variable wake_;
  bool stop_requested_ = false;
};

}  // namespace sluice
