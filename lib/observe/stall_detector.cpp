#include "sluice/observe/stall_detector.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "sluice/core/log.hpp"

namespace sluice {

namespace detail {

/// Where one loop's stack goes: filled by the signal handler on the loop's
/// thread, read by the watchdog. `state` hands the buffer over:
///
///   watchdog: idle -> requested, signal --> handler: requested -> writing,
///   backtrace(), -> taken --> watchdog reads frames, -> idle
///
/// Nothing is allocated in the handler: the frames live here, made before.
struct StackCapture {
  enum class State : std::uint8_t { idle, requested, writing, taken };
  static constexpr int kMaxFrames = 64;

  std::atomic<State> state{State::idle};
  std::array<void*, kMaxFrames> frames{};
  int depth = 0;
};

}  // namespace detail

namespace {

using detail::StackCapture;
using CaptureState = StackCapture::State;

// How long the watchdog waits for a stuck thread to take its signal before
// it reports the stall without a stack. (ThreadSanitizer delays a signal
// until the thread next enters the runtime; a thread spinning in pure
// computation never takes it there.)
constexpr auto kCaptureWait = std::chrono::milliseconds(100);

// The handler: async-signal-safe work only. backtrace() is safe here once
// libgcc's unwinder has been loaded (start() calls it once for that), and
// glibc >= 2.35 with GCC >= 12 unwinds through _dl_find_object without a
// lock. The capture is reached through the signal's value (sigqueue), not a
// thread-local or a global table.
void take_stack(int, siginfo_t* info, void*) {
  if (info == nullptr || info->si_code != SI_QUEUE) return;  // not one of ours
  auto* capture = static_cast<StackCapture*>(info->si_value.sival_ptr);
  if (capture == nullptr) return;
  auto expected = CaptureState::requested;
  if (!capture->state.compare_exchange_strong(expected, CaptureState::writing, std::memory_order_acq_rel)) return;
  int saved_errno = errno;
  capture->depth = ::backtrace(capture->frames.data(), StackCapture::kMaxFrames);
  errno = saved_errno;
  capture->state.store(CaptureState::taken, std::memory_order_release);
}

// A capture whose signal the watchdog stopped waiting for may still be in
// flight: it is kept for the life of the process (its handler will find it
// idle and leave it alone), never freed under a pending signal.
void keep_for_process_lifetime(std::unique_ptr<StackCapture> capture) {
  static std::mutex mutex;
  static auto* kept = new std::vector<std::unique_ptr<StackCapture>>();  // reachable: no leak report
  std::lock_guard lock(mutex);
  kept->push_back(std::move(capture));
}

// Installs take_stack for `signal` once per process; refuses a signal that
// another handler already has.
void install_handler(int signal) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  struct sigaction old {};
  if (::sigaction(signal, nullptr, &old) != 0) throw std::runtime_error("stall detector: bad signal number");
  bool ours = (old.sa_flags & SA_SIGINFO) != 0 && old.sa_sigaction == &take_stack;
  if (ours) return;
  if ((old.sa_flags & SA_SIGINFO) != 0 || (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
    throw std::runtime_error("stall detector: signal " + std::to_string(signal) + " already has a handler");
  }
  struct sigaction action {};
  action.sa_sigaction = &take_stack;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (::sigaction(signal, &action, nullptr) != 0) throw std::runtime_error("stall detector: sigaction failed");
  // The first backtrace() loads libgcc_s (dlopen, malloc): do it here, not
  // in a signal handler.
  std::array<void*, 4> warm_up{};
  ::backtrace(warm_up.data(), static_cast<int>(warm_up.size()));
}

std::string demangle(const char* name) {
  int status = 0;
  char* readable = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || readable == nullptr) return name;
  std::string out(readable);
  std::free(readable);
  return out;
}

// "0xADDR function+0xOFF (module+0xOFF)": the symbol where dladdr knows one
// (exported: executables need -rdynamic), the module and offset always, for
// addr2line. A return address is looked up one byte back, inside the call.
std::string describe_frame(void* frame) {
  auto address = reinterpret_cast<std::uintptr_t>(frame);
  Dl_info info{};
  if (address == 0 || ::dladdr(reinterpret_cast<void*>(address - 1), &info) == 0 || info.dli_fname == nullptr) {
    return fmt::format("{:#x} ??", address);
  }
  std::string symbol = "??";
  if (info.dli_sname != nullptr && info.dli_saddr != nullptr) {
    symbol = fmt::format("{}+{:#x}", demangle(info.dli_sname), address - reinterpret_cast<std::uintptr_t>(info.dli_saddr));
  }
  return fmt::format("{:#x} {} ({}+{:#x})", address, symbol, info.dli_fname,
                     address - reinterpret_cast<std::uintptr_t>(info.dli_fbase));
}

// Frame 0 is take_stack itself: left out.
std::string describe_stack(const StackCapture& capture) {
  std::string out;
  for (int i = 1; i < capture.depth; ++i) {
    out += fmt::format("\n  #{} {}", i - 1, describe_frame(capture.frames[static_cast<std::size_t>(i)]));
  }
  return out;
}

std::uint64_t to_ms(std::uint64_t ns) { return ns / 1'000'000; }

}  // namespace

StallDetector::StallDetector(EventLoopGroup& group, Options options) : group_(group), options_(options) {
  for (std::size_t i = 0; i < group_.size(); ++i) {
    auto watch = std::make_unique<LoopWatch>();
    watch->loop = &group_.at(i);
    watch->capture = std::make_unique<StackCapture>();
    loops_.push_back(std::move(watch));
  }
}

StallDetector::~StallDetector() { stop(); }

int StallDetector::signal_number() const noexcept {
  return options_.signal != 0 ? options_.signal : SIGRTMIN + kStackSignalOffset;
}

void StallDetector::start() {
  if (options_.threshold_ms == 0 || running() || group_.is_shut_down()) return;
  install_handler(signal_number());
  stop_requested_ = false;
  // The loops' threads end when the group shuts down: the watchdog must not
  // signal them after that, so it stops first.
  shutdown_hook_ = group_.add_shutdown_hook([this] { stop(); });
  watchdog_ = std::thread([this] { run(); });
  log().info("stall detector: threshold {} ms, stacks taken with signal {}", options_.threshold_ms, signal_number());
}

void StallDetector::stop() {
  if (!running()) return;
  {
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
  }
  wake_.notify_all();
  watchdog_.join();
  group_.remove_shutdown_hook(shutdown_hook_);
}

StallDetector::LoopStalls StallDetector::loop_stalls(std::size_t index) const noexcept {
  if (index >= loops_.size()) return {};
  const LoopWatch& w = *loops_[index];
  return {w.stalls.load(std::memory_order_relaxed), w.stalled_ns.load(std::memory_order_relaxed)};
}

StallDetector::LoopStalls StallDetector::total() const noexcept {
  LoopStalls sum;
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    LoopStalls one = loop_stalls(i);
    sum.stalls += one.stalls;
    sum.stalled_ns += one.stalled_ns;
  }
  return sum;
}

void StallDetector::run() noexcept {
  // Process-directed signals (SIGINT, SIGTERM) are for other threads.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  pthread_setname_np(pthread_self(), "stall-watchdog");
  // Four looks per threshold: a stall is seen at most a quarter late.
  auto period = std::chrono::milliseconds(std::max<std::uint64_t>(1, options_.threshold_ms / 4));
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return stop_requested_; })) {
    lock.unlock();
    std::uint64_t now_ns = uv_hrtime();
    for (auto& w : loops_) {
      try {
        check(*w, now_ns);
      } catch (...) {
        // Logging or formatting failed (out of memory): the next look retries.
      }
    }
    lock.lock();
  }
}

void StallDetector::check(LoopWatch& w, std::uint64_t now_ns) {
  const std::uint64_t threshold_ns = options_.threshold_ms * 1'000'000;
  std::uint64_t busy_since = w.loop->busy_since_ns();
  // busy_since may be newer than now_ns (stamped since): not late then.
  std::uint64_t busy_for = busy_since != 0 && now_ns > busy_since ? now_ns - busy_since : 0;
  switch (w.watch) {
    case Watch::on_time:
      if (busy_for < threshold_ns) return;
      w.watch = Watch::stalled;
      w.stall_start_ns = busy_since;
      w.stalls.store(w.stalls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      w.stalled_ns.store(w.finished_ns + busy_for, std::memory_order_relaxed);
      report_stall(w, now_ns);
      return;
    case Watch::stalled: {
      if (busy_since == w.stall_start_ns) {  // the same stall, still going
        w.stalled_ns.store(w.finished_ns + busy_for, std::memory_order_relaxed);
        return;
      }
      // Back in poll (or in a later iteration): seen within a quarter
      // threshold, so the duration is as precise as that.
      std::uint64_t lasted = now_ns - w.stall_start_ns;
      w.finished_ns += lasted;
      w.stalled_ns.store(w.finished_ns, std::memory_order_relaxed);
      w.watch = Watch::on_time;
      log().warn("loop {} is back: it stalled for {} ms", w.loop->name(), to_ms(lasted));
      return;
    }
  }
}

void StallDetector::report_stall(LoopWatch& w, std::uint64_t now_ns) {
  StackCapture& capture = *w.capture;
  capture.depth = 0;
  capture.state.store(CaptureState::requested, std::memory_order_release);
  sigval value{};
  value.sival_ptr = &capture;
  bool sent = ::pthread_sigqueue(w.loop->native_thread(), signal_number(), value) == 0;
  auto deadline = std::chrono::steady_clock::now() + kCaptureWait;
  while (sent && capture.state.load(std::memory_order_acquire) != CaptureState::taken &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  auto expected = CaptureState::requested;
  bool given_up = capture.state.compare_exchange_strong(expected, CaptureState::idle, std::memory_order_acq_rel);
  if (!given_up) {
    // The handler has it (writing or taken): it finishes in microseconds.
    while (capture.state.load(std::memory_order_acquire) != CaptureState::taken) std::this_thread::yield();
  }
  std::string stack = given_up ? std::string(sent ? " (its thread did not take the stack signal in time)"
                                                  : " (its thread could not be signalled)")
                               : "; its stack:" + describe_stack(capture);
  capture.state.store(CaptureState::idle, std::memory_order_release);
  if (given_up && sent) {
    keep_for_process_lifetime(std::move(w.capture));
    w.capture = std::make_unique<StackCapture>();
  }
  log().warn("loop {} stalled: {} ms without going back to poll (threshold {} ms){}", w.loop->name(),
             to_ms(now_ns - w.stall_start_ns), options_.threshold_ms, stack);
}

}  // namespace sluice
