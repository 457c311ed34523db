#include "sluice/core/event_loop.hpp"

#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cassert>
#include <cerrno>
#include <functional>
#include <future>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "sluice/core/detail/poll_target.hpp"
#include "sluice/core/log.hpp"

namespace sluice {

namespace {

thread_local EventLoop* t_current_loop = nullptr;

// How often a loop trims its pools, and how much malloc must hold free
// beyond the last time for the loop to ask it to give pages back.
constexpr std::uint64_t kHousekeepingMs = 1000;
// 256 KiB: 10,000 idle HTTP connections opened one by one leave about
// 500 KiB free behind them, 30 bytes a connection that malloc_trim returns
// (tools/idle-conns); a trim walks the heap, so not for less.
constexpr std::size_t kReturnToSystemBytes = 256 * 1024;

void check_uv(int rc, const char* what) {
  if (rc != 0) throw std::runtime_error(std::string(what) + ": " + uv_strerror(rc));
}

// Events taken per wait. More stay in the set, which stays readable, so
// the next turn takes them after libuv's due work had its turn.
constexpr int kWaitBatch = 256;
// AddressSanitizer or ThreadSanitizer replaces malloc (GCC says so with
// these macros; clang with __has_feature).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizedAllocator = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitizedAllocator = true;
#else
constexpr bool kSanitizedAllocator = false;
#endif
#else
constexpr bool kSanitizedAllocator = false;
#endif
constexpr long kSigsetBytes = 8;  // the kernel's sigset_t (no mask is passed)

}  // namespace

EventLoop::EventLoop(Options options)
    : options_(std::move(options)),
      wheel_(options_.wheel_tick_ms, options_.wheel_slots, 0),
      read_slab_(new char[options_.read_slab_bytes]) {
  check_uv(uv_loop_init(&loop_), "uv_loop_init");
  loop_.data = this;
  check_uv(uv_async_init(&loop_, &wakeup_, &EventLoop::on_wakeup), "uv_async_init");
  wakeup_.data = this;
  check_uv(uv_timer_init(&loop_, &timer_), "uv_timer_init");
  timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  poll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (poll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  // libuv's own descriptor (its epoll set) in ours: readable when libuv
  // has an event to run. Its data is null, which no PollTarget is.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  if (::epoll_ctl(poll_fd_, EPOLL_CTL_ADD, uv_backend_fd(&loop_), &ev) != 0) {
    int error = errno;
    ::close(poll_fd_);
    throw std::system_error(error, std::generic_category(), "epoll_ctl(libuv's descriptor)");
  }
  // The wheel's clock starts where the loop's does.
  wheel_.~TimerWheel();
  new (&wheel_) TimerWheel(options_.wheel_tick_ms, options_.wheel_slots, now());
}

EventLoop::EventLoop(Options options, HandDriven) : EventLoop(std::move(options)) {
  // The wheel's clock starts where this loop's does: at 0.
  hand_clock_ms_ = 0;
  wheel_.~TimerWheel();
  new (&wheel_) TimerWheel(options_.wheel_tick_ms, options_.wheel_slots, now());
  bind_to_current_thread();
}

EventLoop::~EventLoop() {
  stop();
  if (thread_.joinable() || running_.load() || stopping_) return;
  // Never started (or driven by hand): close our own handles on this thread.
  close_everything();
  uv_run(&loop_, UV_RUN_DEFAULT);
  drain_posted_tasks();
  if (uv_loop_close(&loop_) != 0) log().error("loop {}: handles left open at destruction", options_.name);
  ::close(poll_fd_);
  if (t_current_loop == this) t_current_loop = nullptr;
  if (BufferPool::local() == &pool_) BufferPool::set_local(nullptr);
}

void EventLoop::bind_to_current_thread() {
  owner_.store(std::this_thread::get_id());
  t_current_loop = this;
  BufferPool::set_local(&pool_);
}

void EventLoop::start() {
  if (hand_clock_ms_) throw std::logic_error("a ManualLoop has no thread to start");
  if (running_.exchange(true)) return;
  std::promise<void> started;
  auto started_future = started.get_future();
  thread_ = std::thread([this, &started] {
    bind_to_current_thread();
    if (options_.cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(options_.cpu, &set);
      if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        log().warn("loop {}: could not pin to CPU {}", options_.name, options_.cpu);
      }
    }
    pthread_setname_np(pthread_self(), options_.name.substr(0, 15).c_str());
    started.set_value();
    thread_main();
  });
  started_future.wait();
  native_thread_ = thread_.native_handle();
}

void EventLoop::thread_main() {
  uv_update_time(&loop_);
  run_every(kHousekeepingMs, [this] { housekeep(); });
  mark_busy(uv_hrtime());  // the first iteration runs timers before it polls
  run_turns();
  // stop() closed every handle; one more run delivers the close callbacks,
  // and what those posted (channel releases) runs here, on this thread.
  uv_run(&loop_, UV_RUN_DEFAULT);
  run_deferred();
  drain_posted_tasks();
  run_deferred();
  int rc = uv_loop_close(&loop_);
  if (rc != 0) {
    log().error("loop {}: uv_loop_close: {} (a handle was left open)", options_.name, uv_strerror(rc));
  }
  ::close(std::exchange(poll_fd_, -1));
  BufferPool::set_local(nullptr);
  t_current_loop = nullptr;
}

// A turn: libuv's phase when it has work due, then the wait in the loop's
// own epoll set. A turn whose only events are sockets' (a server under
// load: a read, an answer, its write) costs one epoll_wait and the
// sockets' callbacks; through uv_run it cost two epoll_waits (libuv's set,
// then the sockets' set nested in it) and libuv's phases around them
// (tools/profile --depth 1: about 450 instructions a request).
void EventLoop::run_turns() {
  bool libuv_due = true;
  for (;;) {
    if (libuv_due && uv_run(&loop_, UV_RUN_NOWAIT) == 0) return;  // nothing left alive: stop() closed it all
    run_deferred();  // what libuv's callbacks deferred
    // 0 when libuv has work now: a handle closing, a callback pending, a
    // watcher that a socket's callback started and that libuv gives to
    // epoll only in its own poll (libuv 1.44 counts those, libuv PR 3466).
    int timeout_ms = uv_backend_timeout(&loop_);
    std::uint64_t timer_due_ms = timeout_ms > 0 ? uv_now(&loop_) + static_cast<std::uint64_t>(timeout_ms) : 0;
    going_to_wait();
    libuv_due = wait_and_dispatch(timeout_ms);  // runs the sockets that are ready
    run_deferred();  // what the sockets' callbacks deferred
    // A timer due while sockets kept the loop busy (the clock moved on in
    // wait_and_dispatch).
    if (timeout_ms == 0 || (timeout_ms > 0 && uv_now(&loop_) >= timer_due_ms)) libuv_due = true;
  }
}

void EventLoop::going_to_wait() noexcept {
  // About to block: the time since the last wake-up was busy time.
  std::uint64_t t = clock_ns();
  if (woke_at_ns_ != 0) busy_ns_.fetch_add(t - woke_at_ns_, std::memory_order_relaxed);
  woke_at_ns_ = 0;
  busy_since_ns_.store(0, std::memory_order_relaxed);
}

bool EventLoop::wait_and_dispatch(int timeout_ms) noexcept {
  epoll_event events[kWaitBatch];
  // Through syscall(): glibc's epoll_wait is a thread cancellation point and
  // pays for it on every call (as TcpChannel's reads and writes).
  auto n = static_cast<int>(::syscall(SYS_epoll_pwait, poll_fd_, events, kWaitBatch, timeout_ms, nullptr, kSigsetBytes));
  note_back_from_poll();
  iterations_.fetch_add(1, std::memory_order_relaxed);
  uv_update_time(&loop_);  // as libuv does after its own wait: now() and the timers count from here
  // Timed out (a timer is due) or interrupted: libuv's turn, to be sure.
  bool libuv_due = n <= 0;
  ready_in_wait_ = std::max(n, 0);
  for (int i = 0; i < n; ++i) {
    auto* target = static_cast<detail::PollTarget*>(events[i].data.ptr);
    if (target == nullptr) {
      libuv_due = true;
    } else {
      target->ready(events[i].events);
    }
  }
  ready_in_wait_ = 0;
  return libuv_due;
}

void EventLoop::stop(bool deadline_passed) {
  if (!running_.load()) return;
  if (is_in_loop_thread()) throw std::logic_error("EventLoop::stop() called on its own thread");
  post([this, deadline_passed] {
    deadline_passed_ = deadline_passed;
    close_everything();
  });
  if (thread_.joinable()) thread_.join();
  running_.store(false);
}

void EventLoop::close_everything() {
  if (stopping_) return;
  stopping_ = true;
  // By index: closing a channel may make a service (its first use), which
  // grows the vector.
  for (std::size_t i = 0; i < services_.size(); ++i) services_[i]->close_all(deadline_passed_);
  // Run what the closes deferred and posted before the wake-up handle goes away.
  run_deferred();
  run_posted_tasks();
  timers_.clear();
  timer_heap_.clear();
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    wakeup_closed_.store(true, std::memory_order_release);
  }
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&wakeup_), reinterpret_cast<uv_handle_t*>(&timer_)}) {
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  }
}

bool EventLoop::is_in_loop_thread() const noexcept {
  // The thread's current loop answers without pthread_self(): a writer's
  // every call asks this (tools/profile: 19 instructions a request fewer).
  // Another loop driven by hand on the same thread is found by its owner.
  return t_current_loop == this || owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
}

EventLoop* EventLoop::current() noexcept { return t_current_loop; }

std::uint64_t EventLoop::now() const noexcept { return hand_clock_ms_ ? *hand_clock_ms_ : uv_now(&loop_); }

void EventLoop::post(Task task) {
  std::lock_guard<std::mutex> lock(pending_mutex_);
  pending_.push_back(std::move(task));
  tasks_posted_.fetch_add(1, std::memory_order_relaxed);
  // Only the first post since the loop last drained the queue pays for a
  // wake-up. The send happens under the lock that close_everything() takes
  // to mark the handle closed, so it can never reach a closed loop.
  if (!wakeup_pending_.exchange(true, std::memory_order_acq_rel) && !wakeup_closed_.load(std::memory_order_acquire)) {
    first_post_ns_ = uv_hrtime();  // one clock read per wake-up, not per post
    uv_async_send(&wakeup_);
  }
}

// Exceptions must never unwind into libuv: log and keep the loop alive.
void EventLoop::run_guarded(Task& task, const char* what) noexcept {
  try {
    task();
  } catch (...) {
    log_task_exception(what);
  }
}

void EventLoop::log_task_exception(const char* what) noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    log().error("{} threw: {}", what, e.what());
  } catch (...) {
    log().error("{} threw a non-standard exception", what);
  }
}

void EventLoop::run_sync(Task task) {
  if (is_in_loop_thread()) {
    run_guarded(task, "task");
    return;
  }
  std::promise<void> done;
  auto finished = done.get_future();
  post([&task, &done] {
    run_guarded(task, "task");
    done.set_value();
  });
  finished.wait();
}

void EventLoop::on_wakeup(uv_async_t* handle) {
  auto* self = static_cast<EventLoop*>(handle->data);
  self->note_back_from_poll();
  self->run_posted_tasks();
}

void EventLoop::drain_posted_tasks() {
  for (int round = 0; round < 1000; ++round) {
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      if (pending_.empty()) return;
    }
    run_posted_tasks();
  }
}

void EventLoop::run_deferred_tasks() noexcept {
  // A deferred task may defer more: they run in this pass too. Swapped out
  // first, so a task that defers never grows the vector being walked.
  while (!deferred_.empty()) {
    std::vector<Task> batch = std::move(deferred_spare_);  // lends its capacity
    batch.clear();
    batch.swap(deferred_);
    for (Task& t : batch) run_guarded(t, "deferred task");
    batch.clear();
    deferred_spare_ = std::move(batch);
  }
}

void EventLoop::run_posted_tasks() {
  wakeup_pending_.store(false, std::memory_order_release);
  // The batch is a local: a task may re-enter (close_everything(), posted by
  // stop(), runs the queue), and must not swap out the vector being iterated.
  // running_tasks_ only lends its capacity.
  std::vector<Task> batch = std::move(running_tasks_);
  running_tasks_.clear();
  std::uint64_t posted_ns = 0;
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    batch.swap(pending_);
    posted_ns = std::exchange(first_post_ns_, 0);
  }
  if (posted_ns != 0) {
    std::uint64_t t = uv_hrtime();
    lag_.observe(t > posted_ns ? t - posted_ns : 0);
  }
  for (Task& t : batch) run_guarded(t, "posted task");
  tasks_run_.fetch_add(batch.size(), std::memory_order_relaxed);
  batch.clear();
  running_tasks_ = std::move(batch);
}

EventLoop::TimerId EventLoop::run_after(std::uint64_t delay_ms, Task task) {
  TimerId id = next_timer_id_.fetch_add(1, std::memory_order_relaxed);
  execute([this, id, delay_ms, t = std::move(task)]() mutable { add_timer(id, delay_ms, 0, std::move(t)); });
  return id;
}

EventLoop::TimerId EventLoop::run_every(std::uint64_t period_ms, Task task) {
  TimerId id = next_timer_id_.fetch_add(1, std::memory_order_relaxed);
  period_ms = std::max<std::uint64_t>(period_ms, 1);
  execute([this, id, period_ms, t = std::move(task)]() mutable { add_timer(id, period_ms, period_ms, std::move(t)); });
  return id;
}

void EventLoop::cancel(TimerId id) {
  execute([this, id] {
    timers_.erase(id);  // its heap item is skipped when it surfaces
    arm_timer();
  });
}

void EventLoop::add_timer(TimerId id, std::uint64_t delay_ms, std::uint64_t period_ms, Task task) {
  if (stopping_) return;
  timers_.emplace(id, TimerRecord{period_ms, std::move(task)});
  // now() is libuv's cached time, truncated to the millisecond and as old as
  // this loop iteration: counting from it fires a timer before `delay_ms` has
  // passed since the call. Count from the current time, rounded up.
  std::uint64_t start = hand_clock_ms_ ? now() : (uv_hrtime() + 999'999) / 1'000'000;
  timer_heap_.push_back(HeapItem{start + delay_ms, id});
  std::push_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>{});
  arm_timer();
}

void EventLoop::arm_timer() {
  if (stopping_) return;
  // Drop cancelled items from the top so we never wake for nothing.
  while (!timer_heap_.empty() && !timers_.contains(timer_heap_.front().id)) {
    std::pop_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>{});
    timer_heap_.pop_back();
  }
  if (timer_heap_.empty()) {
    uv_timer_stop(&timer_);
    return;
  }
  std::uint64_t deadline = timer_heap_.front().deadline;
  std::uint64_t t = now();
  uv_timer_start(&timer_, &EventLoop::on_timer, deadline > t ? deadline - t : 0, 0);
  // A pending timer keeps the loop alive like any other work.
  uv_ref(reinterpret_cast<uv_handle_t*>(&timer_));
}

void EventLoop::on_timer(uv_timer_t* handle) {
  auto* self = static_cast<EventLoop*>(handle->data);
  self->run_due_timers();
  self->arm_timer();
}

void EventLoop::run_due_timers() {
  std::uint64_t t = now();
  while (!timer_heap_.empty() && timer_heap_.front().deadline <= t) {
    HeapItem item = timer_heap_.front();
    std::pop_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>{});
    timer_heap_.pop_back();
    auto it = timers_.find(item.id);
    if (it == timers_.end()) continue;
    lag_.observe((t - item.deadline) * 1'000'000);  // the loop's clock counts milliseconds
    if (it->second.period_ms != 0) {
      timer_heap_.push_back(HeapItem{t + it->second.period_ms, item.id});
      std::push_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>{});
      // The task may cancel itself, which erases its record: run it from a
      // local so it is not destroyed while it runs, and put it back after.
      Task task = std::move(it->second.task);
      run_guarded(task, "periodic timer");
      auto again = timers_.find(item.id);
      if (again != timers_.end()) again->second.task = std::move(task);
    } else {
      Task task = std::move(it->second.task);
      timers_.erase(it);
      run_guarded(task, "timer");
    }
  }
}

void EventLoop::schedule_timeout(TimerWheel::Entry& entry, std::uint64_t delay_ms) {
  assert_in_loop_thread("EventLoop::schedule_timeout");
  wheel_.schedule(entry, now(), delay_ms);
  if (wheel_timer_ == 0 && !stopping_) {
    wheel_timer_ = next_timer_id_.fetch_add(1, std::memory_order_relaxed);
    add_timer(wheel_timer_, wheel_.tick_ms(), wheel_.tick_ms(), [this] { tick_wheel(); });
  }
}

void EventLoop::tick_wheel() {
  wheel_.advance(now());
  // An empty wheel stops ticking so an idle loop can sleep.
  if (wheel_.empty() && wheel_timer_ != 0) {
    timers_.erase(wheel_timer_);
    wheel_timer_ = 0;
  }
}

void EventLoop::housekeep() noexcept {
  pool_.trim();
  pool_cached_bytes_.set(static_cast<std::int64_t>(pool_.stats().cached_bytes));
  for (std::size_t i = 0; i < services_.size(); ++i) services_[i]->trim();  // by index: see close_everything
  // What a burst took and gave back stays in malloc's free lists, counted
  // in the process's RSS, until malloc is asked to return the whole pages
  // among them (tools/idle-conns --burst: +30% per connection without). A
  // walk of the heap, so only when the free bytes grew by a good amount
  // since the last time: fragments that cannot go back stay counted.
  //
  // Not under a sanitizer: its allocator takes every malloc, so there is
  // nothing of glibc's heap to return, and glibc's mallinfo2 (which the
  // sanitizers leave to glibc) walks a heap the program never used. It
  // crashed an AddressSanitizer build of sluice-http in int_mallinfo once
  // (test-http, 2026-12-02).
  if constexpr (!kSanitizedAllocator) {
    std::size_t free_now = ::mallinfo2().fordblks;
    if (free_now >= free_after_trim_ + kReturnToSystemBytes) {
      ::malloc_trim(0);
      free_after_trim_ = ::mallinfo2().fordblks;
    } else if (free_now < free_after_trim_) {
      free_after_trim_ = free_now;
    }
  }
}

std::size_t EventLoop::next_service_slot() noexcept {
  static std::atomic<std::size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void EventLoop::add_service(std::size_t slot, std::unique_ptr<LoopService> service) {
  assert_in_loop_thread("EventLoop::service");
  if (slot >= service_slots_.size()) service_slots_.resize(slot + 1, nullptr);
  service_slots_[slot] = service.get();
  std::lock_guard lock(services_mutex_);
  services_.push_back(std::move(service));
}

std::size_t EventLoop::open_count() const noexcept {
  std::lock_guard lock(services_mutex_);
  std::size_t n = 0;
  for (const auto& entry : services_) n += entry->open_count();
  return n;
}

void EventLoop::shutdown_services_gracefully() {
  assert_in_loop_thread("EventLoop::shutdown_services_gracefully");
  for (std::size_t i = 0; i < services_.size(); ++i) services_[i]->shutdown_gracefully();
}

void EventLoop::wrong_thread(const char* what) const noexcept {
  std::fprintf(stderr, "sluice: %s called off the thread of loop '%s'\n", what, options_.name.c_str());
  std::abort();
}

EventLoop::Stats EventLoop::stats() const noexcept {
  return Stats{iterations_.load(std::memory_order_relaxed), tasks_run_.load(std::memory_order_relaxed),
               busy_ns_.load(std::memory_order_relaxed)};
}

void EventLoop::collect(MetricSink& sink) const {
  Stats s = stats();
  sink.counter("sluice_loop_iterations_total", "Times the loop came back from waiting for events.", {},
               static_cast<double>(s.iterations));
  sink.counter("sluice_loop_busy_seconds_total", "Time the loop spent running callbacks (not waiting).", {},
               static_cast<double>(s.busy_ns) / 1e9);
  sink.counter("sluice_loop_tasks_posted_total", "Tasks posted to the loop (EventLoop::post, from any thread).", {},
               static_cast<double>(tasks_posted_.load(std::memory_order_relaxed)));
  sink.counter("sluice_loop_tasks_run_total", "Posted tasks the loop ran.", {}, static_cast<double>(s.tasks_run));
  sink.histogram("sluice_loop_lag_seconds", "How late the loop ran its timers and posted tasks.", {},
                 lag_.snapshot());
  sink.gauge("sluice_memory_held_bytes", "Bytes the loop's connections hold (write queues, input, bodies).", {},
             static_cast<double>(memory_.held()));
  sink.gauge("sluice_memory_held_peak_bytes", "The most the loop's connections held at once.", {},
             static_cast<double>(memory_.peak()));
  sink.gauge("sluice_memory_budget_bytes", "What the loop's connections may hold before it sheds load.", {},
             static_cast<double>(memory_.budget()));
  sink.gauge("sluice_buffer_pool_cached_bytes", "Free buffers the loop keeps for reuse (as of its last trim).", {},
             static_cast<double>(pool_cached_bytes_.value()));
  std::lock_guard lock(services_mutex_);
  for (const auto& entry : services_) entry->collect(sink);
}

void EventLoop::offload(Task work, Task done) {
  struct Work {
    uv_work_t req;
    Task work;
    Task done;
  };
  auto* w = new Work{{}, std::move(work), std::move(done)};
  w->req.data = w;
  execute([this, w] {
    int rc = uv_queue_work(
        &loop_, &w->req, [](uv_work_t* req) { run_guarded(static_cast<Work*>(req->data)->work, "offloaded work"); },
        [](uv_work_t* req, int) {
          // Runs from the poll phase (libuv's thread-pool wake-up).
          if (auto* loop = static_cast<EventLoop*>(req->loop->data)) loop->note_back_from_poll();
          std::unique_ptr<Work> owned(static_cast<Work*>(req->data));
          if (owned->done) run_guarded(owned->done, "offload completion");
        });
    if (rc != 0) {
      log().error("uv_queue_work: {}", uv_strerror(rc));
      std::unique_ptr<Work> owned(w);
    }
  });
}

void EventLoop::run_ready() {
  // Tasks may post more tasks; drain until quiet (bounded, to expose a task storm).
  for (int round = 0; round < 1000 && wakeup_pending_.load(); ++round) run_posted_tasks();
  run_due_timers();
  uv_run(&loop_, UV_RUN_NOWAIT);
  run_deferred();
  going_to_wait();
  if (wait_and_dispatch(0)) uv_run(&loop_, UV_RUN_NOWAIT);
  run_deferred();
}

void EventLoop::move_clock(std::uint64_t ms) noexcept { *hand_clock_ms_ += ms; }

}  // namespace sluice
