#pragma once
// One libuv loop on one thread: the unit of concurrency in sluice.
//
// The thread waits in an epoll set of its own (poll_fd()) that holds the
// loop's sockets and libuv's descriptor: a turn that only has socket events
// runs them without a pass through libuv's phases, and libuv runs
// (uv_run(UV_RUN_NOWAIT)) when it has something due: a wake-up, a timer, a
// handle closing, a thread-pool completion.
//
// Everything a loop owns (its channels, timers, buffer pool, read slab) is
// touched only on its thread; the hot path takes no locks. Other threads talk
// to a loop only through post(), which is thread safe and coalesces wake-ups.

#include <pthread.h>
#include <time.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "sluice/core/buffer_pool.hpp"
#include "sluice/core/memory_budget.hpp"
#include "sluice/core/loop_metrics.hpp"
#include "sluice/core/task.hpp"
#include "sluice/core/timer_wheel.hpp"

namespace sluice {

/// State that a higher layer keeps per loop (the channel layer keeps its
/// registry of live channels here), so that the core knows nothing of
/// what it holds. Made on first use (EventLoop::service), destroyed with
/// the loop.
class LoopService {
 public:
  virtual ~LoopService() = default;
  /// A graceful shutdown of the loop's group begins. Loop thread.
  virtual void shutdown_gracefully() {}
  /// Work a graceful shutdown waits for (open connections). Any thread.
  virtual std::size_t open_count() const noexcept { return 0; }
  /// The loop stops: close what is open, at once. `deadline_passed`: a
  /// graceful shutdown gave up waiting for it. Loop thread.
  virtual void close_all(bool deadline_passed) noexcept { (void)deadline_passed; }
  /// Once a second: give back what a pool kept without needing it since
  /// the last call. Returns the bytes freed. Loop thread.
  virtual std::size_t trim() noexcept { return 0; }
  /// Writes this service's figures (see loop_metrics.hpp). Any thread.
  virtual void collect(MetricSink& sink) const { (void)sink; }
};

/// An event loop on its own thread (ManualLoop, in the channel layer, is one
/// driven by hand from the thread that made it, as EmbeddedChannel's).
/// Methods marked "any thread" are thread safe; the rest are loop-thread only.
class EventLoop {
 public:
  using TimerId = std::uint64_t;

  struct Options {
    std::string name = "loop";
    int cpu = -1;                       // pin the loop thread to this CPU (-1: no pinning)
    std::size_t read_slab_bytes = 64 * 1024;
    std::uint64_t wheel_tick_ms = 50;   // precision of connection timeouts
    std::size_t wheel_slots = 512;
  };

  struct Stats {
    std::uint64_t iterations = 0;
    std::uint64_t tasks_run = 0;
    std::uint64_t busy_ns = 0;          // time spent outside the poll wait (callbacks included)
  };

  EventLoop() : EventLoop(Options{}) {}
  explicit EventLoop(Options options);
  ~EventLoop();  // stops and joins the thread if still running
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Starts the loop thread. Any thread, once.
  void start();
  /// Force-closes every service's work (channels) and handle, runs the loop
  /// dry, joins the thread. `deadline_passed`: a graceful shutdown gave up
  /// waiting (services say what they close). Any thread except the loop's
  /// own; idempotent.
  void stop(bool deadline_passed = false);

  /// Runs `task` on the loop thread, in post order. Any thread. Many posts
  /// before the loop wakes cost one wake-up.
  void post(Task task);
  /// Runs `fn` now when called on the loop thread (no Task is made, nothing
  /// is allocated), else posts it. An exception is logged, as for post().
  /// Any thread.
  template <class F>
  void execute(F&& fn) {
    if (is_in_loop_thread()) {
      try {
        fn();
      } catch (...) {
        log_task_exception("task");
      }
    } else {
      post(Task(std::forward<F>(fn)));
    }
  }
  /// Runs `task` on this loop's thread once the callback now running has
  /// returned, before the loop next waits for events: "soon, but not inside
  /// me" (a transport releases a closed connection so, never under the frame
  /// that closed it). No lock, no wake-up. Loop thread.
  void defer(Task task) {
    assert_in_loop_thread("EventLoop::defer");
    deferred_.push_back(std::move(task));
  }
  /// Runs `task` on the loop and waits for it. Any thread but the loop's own
  /// (on the loop thread it just runs it).
  void run_sync(Task task);

  /// One-shot and periodic timers (millisecond precision). Any thread; the id
  /// is valid at once and cancel() of a fired or unknown id does nothing.
  TimerId run_after(std::uint64_t delay_ms, Task task);
  TimerId run_every(std::uint64_t period_ms, Task task);
  void cancel(TimerId id);

  /// Runs `work` on libuv's thread pool, then `done` on this loop. An
  /// exception thrown by `work` is logged and `done` still runs. Any thread.
  void offload(Task work, Task done);

  bool is_in_loop_thread() const noexcept;
  /// The loop running on the calling thread, or nullptr.
  static EventLoop* current() noexcept;

  /// Milliseconds on the loop's clock (libuv's cached time; a ManualLoop's
  /// own clock). Loop thread.
  std::uint64_t now() const noexcept;

  /// Connection timeouts on the loop's hashed wheel. Loop thread.
  void schedule_timeout(TimerWheel::Entry& entry, std::uint64_t delay_ms);
  void cancel_timeout(TimerWheel::Entry& entry) noexcept {
    assert_in_loop_thread("EventLoop::cancel_timeout");
    wheel_.cancel(entry);
  }

  /// The loop's read slab: lent to one read callback at a time. Loop thread.
  char* read_slab() noexcept { return read_slab_.get(); }
  std::size_t read_slab_size() const noexcept { return options_.read_slab_bytes; }
  BufferPool& buffer_pool() noexcept { return pool_; }
  /// What this loop's connections hold, against its budget. See MemoryBudget.
  MemoryBudget& memory() noexcept { return memory_; }
  /// Bytes the loop's connections read and wrote, counted by the channel
  /// layer. Kept here, beside memory(), so the count on every read and
  /// write is one add to a field the channel reaches anyway (through a
  /// service it cost about 20 instructions a call: tools/profile). Loop
  /// thread writes, any thread reads (loop_metrics.hpp).
  struct Traffic {
    Counter received_bytes;
    Counter sent_bytes;
  };
  Traffic& traffic() noexcept { return traffic_; }
  const Traffic& traffic() const noexcept { return traffic_; }
  /// The libuv loop, for libuv handles and requests of a loop's own (their
  /// callbacks run on the loop thread). Loop thread.
  uv_loop_t* uv() noexcept { return &loop_; }
  /// Internal (the transport's Poller): the epoll set the loop thread waits
  /// in. A descriptor added to it carries a detail::PollTarget* as its
  /// epoll data, called when it is ready. Loop thread.
  int poll_fd() const noexcept { return poll_fd_; }
  /// Internal (the transport's batch of reads): while the loop calls the
  /// targets a wait reported, how many that wait reported; 0 at any other
  /// time. Loop thread.
  int ready_in_wait() const noexcept { return ready_in_wait_; }
  const std::string& name() const noexcept { return options_.name; }

  /// This loop's S (a LoopService), made on the first call. Loop thread.
  template <class S>
  S& service() {
    // Each service type gets a slot number, the same in every loop, so
    // finding a service is one index: the channel counts its bytes through
    // here on every read and write (tools/profile: a search over the list
    // cost 20 instructions a request more).
    static const std::size_t slot = next_service_slot();
    if (slot < service_slots_.size() && service_slots_[slot] != nullptr) [[likely]] {
      return static_cast<S&>(*service_slots_[slot]);
    }
    return make_service<S>(slot);
  }
  /// Every service's open_count(). Any thread.
  std::size_t open_count() const noexcept;
  /// Tells every service a graceful shutdown begins. Loop thread.
  void shutdown_services_gracefully();
  /// Debug builds: aborts with `what` unless called on the loop thread (as
  /// muduo's assertInLoopThread), so a wrong-thread call fails in tests
  /// instead of racing. Release builds: nothing.
  void assert_in_loop_thread([[maybe_unused]] const char* what) const noexcept {
#ifndef NDEBUG
    if (!is_in_loop_thread()) wrong_thread(what);
#endif
  }

  Stats stats() const noexcept;  // any thread
  /// Writes the loop's figures (iterations, busy time, tasks, lag, memory)
  /// and every service's to `sink`. Any thread.
  void collect(MetricSink& sink) const;

  /// When (uv_hrtime() nanoseconds) the loop came back from its poll wait
  /// and started running callbacks; 0 while it waits in poll (or has no
  /// thread running). A watchdog on another thread reads it to tell a loop
  /// that has not gone back to poll for too long (StallDetector). Any thread.
  std::uint64_t busy_since_ns() const noexcept { return busy_since_ns_.load(std::memory_order_relaxed); }
  /// The loop's thread, for signalling it (pthread_kill). Any thread, once
  /// start() has returned and until stop() is called.
  pthread_t native_thread() const noexcept { return native_thread_; }
  /// uv_hrtime()'s clock (CLOCK_MONOTONIC, nanoseconds), read without
  /// libuv's wrapper: the loop reads it about three times a turn, and the
  /// wrapper's call cost 15 instructions a read more (tools/profile). Any
  /// thread.
  static std::uint64_t clock_ns() noexcept {
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(t.tv_nsec);
  }
  /// For callbacks that run outside the loop's own turn (a ManualLoop's
  /// libuv callbacks): the loop is back from poll and busy from now. Only
  /// the first call after a poll stamps the time. Loop thread.
  void note_back_from_poll() noexcept {
    if (woke_at_ns_ == 0) mark_busy(clock_ns());
  }
  /// When (uv_hrtime() nanoseconds) this iteration's callbacks began: when
  /// what they handle arrived, as near as the loop knows, for the price of
  /// no clock read. The clock itself outside an iteration (a ManualLoop, a
  /// loop not started). Loop thread.
  std::uint64_t woke_at_ns() const noexcept { return woke_at_ns_ != 0 ? woke_at_ns_ : clock_ns(); }


 protected:
  /// For ManualLoop: no thread; bound to the calling thread; a clock that
  /// starts at 0 and moves only by move_clock().
  struct HandDriven {};
  EventLoop(Options options, HandDriven);
  void move_clock(std::uint64_t ms) noexcept;
  /// Runs posted tasks, due timers and libuv's ready callbacks, without
  /// blocking. Owner thread.
  void run_ready();

 private:
  struct TimerRecord {
    std::uint64_t period_ms;
    Task task;
  };
  struct HeapItem {
    std::uint64_t deadline;
    TimerId id;
    bool operator>(const HeapItem& o) const noexcept {
      return deadline != o.deadline ? deadline > o.deadline : id > o.id;
    }
  };

  /// Inside a catch block: logs the exception in flight.
  static void log_task_exception(const char* what) noexcept;
  static void run_guarded(Task& task, const char* what) noexcept;
  void thread_main();
  void run_turns();
  /// Waits in the loop's epoll set up to `timeout_ms` (-1: no limit) and
  /// runs the sockets that are ready. Returns whether libuv should run:
  /// its descriptor was ready, or the wait ended with no event.
  bool wait_and_dispatch(int timeout_ms) noexcept;
  void bind_to_current_thread();
  void run_posted_tasks();
  void drain_posted_tasks();
  // Inline check: run twice an iteration, nearly always with nothing
  // deferred (tools/profile: about 40 instructions a read as a call).
  void run_deferred() noexcept {
    if (!deferred_.empty()) run_deferred_tasks();
  }
  void run_deferred_tasks() noexcept;
  void add_timer(TimerId id, std::uint64_t delay_ms, std::uint64_t period_ms, Task task);
  void run_due_timers();
  void arm_timer();
  void tick_wheel();
  void housekeep() noexcept;
  void close_everything();

  static void on_wakeup(uv_async_t* handle);
  static void on_timer(uv_timer_t* handle);

  Options options_;
  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  uv_timer_t timer_{};
  int poll_fd_ = -1;  // the epoll set the thread waits in
  std::thread thread_;
  std::atomic<std::thread::id> owner_{};
  std::atomic<bool> running_{false};
  bool stopping_ = false;

  std::mutex pending_mutex_;
  std::vector<Task> pending_;
  std::vector<Task> running_tasks_;
  std::atomic<bool> wakeup_pending_{false};
  std::atomic<bool> wakeup_closed_{false};
  std::vector<Task> deferred_;  // defer(): loop thread only
  std::vector<Task> deferred_spare_;

  std::atomic<TimerId> next_timer_id_{1};
  std::vector<HeapItem> timer_heap_;
  std::unordered_map<TimerId, TimerRecord> timers_;
  std::optional<std::uint64_t> hand_clock_ms_;  // a ManualLoop's clock
  TimerWheel wheel_;
  TimerId wheel_timer_ = 0;

  BufferPool pool_;
  MemoryBudget memory_;
  Traffic traffic_;
  std::unique_ptr<char[]> read_slab_;

  // Services are added on the loop thread and read from others
  // (open_count): additions and foreign reads take the mutex.
  static std::size_t next_service_slot() noexcept;
  // Out of line, so the lookup above stays small where it is inlined.
  template <class S>
  [[gnu::noinline]] S& make_service(std::size_t slot) {
    auto made = std::make_unique<S>(*this);
    S& ref = *made;
    add_service(slot, std::move(made));
    return ref;
  }
  void add_service(std::size_t slot, std::unique_ptr<LoopService> service);
  [[noreturn]] void wrong_thread(const char* what) const noexcept;
  mutable std::mutex services_mutex_;
  std::vector<LoopService*> service_slots_;             // by slot; loop thread only
  std::vector<std::unique_ptr<LoopService>> services_;  // in the order they were made
  bool deadline_passed_ = false;  // told to services at stop
  int ready_in_wait_ = 0;         // see ready_in_wait()

  std::atomic<std::uint64_t> iterations_{0};
  std::atomic<std::uint64_t> tasks_run_{0};
  std::atomic<std::uint64_t> busy_ns_{0};
  std::atomic<std::uint64_t> tasks_posted_{0};
  std::uint64_t first_post_ns_ = 0;  // when the oldest task waiting was posted (pending_mutex_)
  DurationHistogram lag_;            // how late timers and posted tasks run
  Gauge pool_cached_bytes_;          // the buffer pool's cache, as of the last housekeeping
  // Where the loop is, for a watchdog: when it came back from poll, or 0
  // while it waits there. The loop pays two relaxed stores per iteration
  // (one on the way back, one on the way in) and a clock read it makes
  // anyway for busy_ns_: nothing measurable. woke_at_ns_ is the loop's own
  // copy, so it never reads the atomic.
  void going_to_wait() noexcept;
  void mark_busy(std::uint64_t now_ns) noexcept {
    woke_at_ns_ = now_ns;
    busy_since_ns_.store(now_ns, std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> busy_since_ns_{0};
  std::uint64_t woke_at_ns_ = 0;
  pthread_t native_thread_{};
  std::size_t free_after_trim_ = 0;  // malloc's free bytes after housekeep's last malloc_trim
};

}  // namespace sluice
