// EventLoop on its own thread (posting, timers, offloading, failures, stop)
// and driven by hand (ManualLoop: run_once()/advance_clock() from the test).
//
// Nothing here sleeps to let something happen: every wait is on a future, or
// polls an atomic against a generous deadline. Timing is only asserted as a
// lower bound (a timer never fires early), never as an upper bound.

#include <catch2/catch.hpp>
#include <spdlog/sinks/base_sink.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sluice/channel/manual_loop.hpp"
#include "sluice/core/buffer_pool.hpp"
#include "sluice/core/detail/poll_target.hpp"
#include "sluice/core/event_loop.hpp"
#include "sluice/core/log.hpp"
#include "sluice/core/timer_wheel.hpp"

using namespace std::chrono_literals;
using sluice::BufferPool;
using sluice::EventLoop;
using sluice::TimerWheel;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kWait = 10s;

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = kWait) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

template <class T>
bool ready(std::future<T>& f) {
  return f.wait_for(kWait) == std::future_status::ready;
}

// Collects what the "sluice" logger writes while it is installed. Install it
// before any loop of the test starts and let it go after they stopped: the
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

  bool contains(const std::string& text) const {
    std::lock_guard<std::mutex> lock(sink_->lines_mutex);
    return std::any_of(sink_->lines.begin(), sink_->lines.end(),
                       [&](const std::string& line) { return line.find(text) != std::string::npos; });
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

// Runs on the loop thread; its destructor runs when that thread exits.
struct ThreadExitProbe {
  std::atomic<bool>* exited = nullptr;
  ~ThreadExitProbe() {
    if (exited != nullptr) exited->store(true);
  }
};
thread_local ThreadExitProbe t_exit_probe;

std::thread::id loop_thread_id(EventLoop& loop) {
  std::thread::id id;
  loop.run_sync([&id] { id = std::this_thread::get_id(); });
  return id;
}

EventLoop::Options manual_options(std::uint64_t wheel_tick_ms = 50) {
  EventLoop::Options o;
  o.name = "manual";
  o.wheel_tick_ms = wheel_tick_ms;
  return o;
}

struct WheelProbe {
  explicit WheelProbe(EventLoop& loop) : loop(&loop) {}
  EventLoop* loop;
  int fired = 0;
  std::uint64_t fired_at = 0;
  std::promise<std::uint64_t> first_fire;
  TimerWheel::Entry entry{&WheelProbe::on_fire, this};
  static void on_fire(void* self) {
    auto* p = static_cast<WheelProbe*>(self);
    p->fired_at = p->loop->now();
    if (++p->fired == 1) p->first_fire.set_value(p->fired_at);
  }
};

}  // namespace

// ---- the loop thread --------------------------------------------------------

TEST_CASE("EventLoop: a posted task runs on the loop thread, which owns the loop", "[event_loop]") {
  struct Seen {
    std::thread::id thread;
    bool in_loop_thread = false;
    bool current_is_loop = false;
    bool pool_is_loops = false;
  };
  std::promise<Seen> seen;
  auto f = seen.get_future();
  EventLoop loop;
  loop.start();
  loop.post([&] {
    seen.set_value(Seen{std::this_thread::get_id(), loop.is_in_loop_thread(), EventLoop::current() == &loop,
                        BufferPool::local() == &loop.buffer_pool()});
  });
  REQUIRE(ready(f));
  Seen s = f.get();
  CHECK(s.thread != std::this_thread::get_id());
  CHECK(s.in_loop_thread);
  CHECK(s.current_is_loop);
  CHECK(s.pool_is_loops);
  CHECK_FALSE(loop.is_in_loop_thread());
  CHECK(EventLoop::current() != &loop);
}

TEST_CASE("EventLoop: posts from many threads run exactly once each, in per-thread order", "[event_loop]") {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<int>> seen(kThreads);  // touched only on the loop thread
  std::atomic<int> ran{0};
  std::atomic<int> off_loop{0};
  EventLoop loop;
  loop.start();

  std::latch go(kThreads);
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      go.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        loop.post([&, t, i] {
          seen[static_cast<std::size_t>(t)].push_back(i);
          if (!loop.is_in_loop_thread()) ++off_loop;
          ++ran;
        });
      }
    });
  }
  for (auto& p : posters) p.join();

  REQUIRE(eventually([&] { return ran.load() == kThreads * kPerThread; }));
  loop.run_sync([] {});  // everything the posters sent ran before this
  CHECK(off_loop.load() == 0);
  for (int t = 0; t < kThreads; ++t) {
    CAPTURE(t);
    const auto& got = seen[static_cast<std::size_t>(t)];
    REQUIRE(got.size() == kPerThread);
    bool in_order = true;
    for (int i = 0; i < kPerThread; ++i) in_order = in_order && got[static_cast<std::size_t>(i)] == i;
    CHECK(in_order);
  }
  // The count is published after each batch: wait for it, then check it exactly.
  const std::uint64_t expected = kThreads * kPerThread + 1;  // + the run_sync task
  CHECK(eventually([&] { return loop.stats().tasks_run >= expected; }));
  CHECK(loop.stats().tasks_run == expected);
}

TEST_CASE("EventLoop: a task posted from a loop task runs after the current one", "[event_loop]") {
  std::vector<std::string> order;
  std::promise<void> done;
  auto f = done.get_future();
  EventLoop loop;
  loop.start();
  loop.post([&] {
    loop.post([&] {
      order.push_back("inner");
      done.set_value();
    });
    order.push_back("outer finished");
  });
  REQUIRE(ready(f));
  CHECK(order == std::vector<std::string>{"outer finished", "inner"});
}

TEST_CASE("EventLoop: execute runs inline on the loop thread and posts from elsewhere", "[event_loop]") {
  bool ran_before_execute_returned = false;
  std::promise<bool> from_outside;
  auto f = from_outside.get_future();
  EventLoop loop;
  loop.start();

  loop.run_sync([&] {
    bool ran = false;
    loop.execute([&ran] { ran = true; });
    ran_before_execute_returned = ran;
  });
  CHECK(ran_before_execute_returned);

  loop.execute([&] { from_outside.set_value(loop.is_in_loop_thread()); });
  REQUIRE(ready(f));
  CHECK(f.get());
}

TEST_CASE("EventLoop: defer runs after the current callback, in order, before the next posted task", "[event_loop]") {
  std::vector<std::string> order;
  std::promise<void> done;
  auto f = done.get_future();
  EventLoop loop;
  loop.start();
  loop.post([&] {
    loop.defer([&] {
      order.push_back("deferred 1");
      loop.defer([&] { order.push_back("deferred by a deferred"); });
    });
    loop.defer([&] { order.push_back("deferred 2"); });
    loop.post([&] {
      order.push_back("posted");
      done.set_value();
    });
    order.push_back("task finished");
  });
  REQUIRE(ready(f));
  CHECK(order == std::vector<std::string>{"task finished", "deferred 1", "deferred 2", "deferred by a deferred", "posted"});
}

TEST_CASE("EventLoop: a task deferred from a timer runs before the loop waits again", "[event_loop]") {
  // Nothing else is due: if the deferred task waited for the next wake-up,
  // it would not run until the far timer below.
  std::promise<void> done;
  auto f = done.get_future();
  EventLoop loop;
  loop.start();
  loop.run_after(3600 * 1000, [] {});
  loop.run_after(1, [&] { loop.defer([&] { done.set_value(); }); });
  REQUIRE(ready(f));
}

TEST_CASE("EventLoop: stop runs what close_all deferred", "[event_loop]") {
  struct Deferring final : sluice::LoopService {
    explicit Deferring(EventLoop& l) : loop(l) {}
    void close_all(bool) noexcept override {
      loop.defer([this] { ran = true; });
    }
    EventLoop& loop;
    bool ran = false;
  };
  std::atomic<bool> ran{false};
  {
    EventLoop loop;
    loop.start();
    Deferring* service = nullptr;
    loop.run_sync([&] { service = &loop.service<Deferring>(); });
    loop.stop();
    ran = service->ran;
  }
  CHECK(ran.load());
}

TEST_CASE("EventLoop: run_sync runs the task on the loop and waits for it", "[event_loop]") {
  int value = 0;  // plain int: run_sync's return orders the accesses
  std::thread::id ran_on;
  EventLoop loop;
  loop.start();
  loop.run_sync([&] {
    value = 42;
    ran_on = std::this_thread::get_id();
  });
  CHECK(value == 42);
  CHECK(ran_on != std::this_thread::get_id());
}

TEST_CASE("EventLoop: run_sync on the loop thread runs the task inline", "[event_loop]") {
  bool nested_ran_inline = false;
  EventLoop loop;
  loop.start();
  loop.run_sync([&] {
    bool ran = false;
    loop.run_sync([&ran] { ran = true; });  // would deadlock if it posted and waited
    nested_ran_inline = ran;
  });
  CHECK(nested_ran_inline);
}

TEST_CASE("EventLoop: is_in_loop_thread is true only on the loop thread", "[event_loop]") {
  std::promise<bool> on_other_thread;
  EventLoop loop;
  loop.start();
  CHECK_FALSE(loop.is_in_loop_thread());
  bool inside = false;
  loop.run_sync([&] { inside = loop.is_in_loop_thread(); });
  CHECK(inside);
  std::thread([&] { on_other_thread.set_value(loop.is_in_loop_thread()); }).join();
  CHECK_FALSE(on_other_thread.get_future().get());
}

TEST_CASE("EventLoop: stats are readable from another thread while the loop works", "[event_loop]") {
  constexpr int kTasks = 20000;
  std::atomic<int> ran{0};
  EventLoop loop;
  loop.start();
  std::thread poster([&] {
    for (int i = 0; i < kTasks; ++i) loop.post([&ran] { ++ran; });
  });

  std::uint64_t last = 0;
  bool monotonic = true;
  const bool finished = eventually([&] {
    EventLoop::Stats s = loop.stats();
    monotonic = monotonic && s.tasks_run >= last;
    last = s.tasks_run;
    return s.tasks_run == kTasks;
  });
  poster.join();
  REQUIRE(finished);
  CHECK(monotonic);
  CHECK(ran.load() == kTasks);
  // Counted after the poll phase that ran the last tasks: it may be later.
  CHECK(eventually([&] { return loop.stats().iterations >= 1; }));
}

TEST_CASE("EventLoop: busy_since_ns is 0 while the loop waits in poll, and set while a posted task runs",
          "[event_loop][stall]") {
  EventLoop loop;
  loop.start();
  // Idle: waiting in poll (the first iteration's stamp is cleared once it polls).
  CHECK(eventually([&] { return loop.busy_since_ns() == 0; }));
  // A posted task runs from libuv's poll phase, before the check handle:
  // the wake-up must say the loop is back from poll, or a loop stuck in one
  // would look idle to a watchdog.
  std::uint64_t before = uv_hrtime();
  std::uint64_t seen_inside = 0;
  std::uint64_t busy_ns_inside = 0;
  loop.run_sync([&] {
    seen_inside = loop.busy_since_ns();
    busy_ns_inside = uv_hrtime();
  });
  CHECK(seen_inside >= before);
  CHECK(seen_inside <= busy_ns_inside);
  CHECK(eventually([&] { return loop.busy_since_ns() == 0; }));
}

TEST_CASE("EventLoop: native_thread is the loop's thread", "[event_loop][stall]") {
  EventLoop loop;
  loop.start();
  pthread_t inside{};
  loop.run_sync([&] { inside = ::pthread_self(); });
  CHECK(::pthread_equal(inside, loop.native_thread()) != 0);
}

TEST_CASE("EventLoop: busy time counts the callbacks of the poll phase", "[event_loop][stall]") {
  EventLoop loop;
  loop.start();
  std::uint64_t start_busy = loop.stats().busy_ns;
  // A posted task runs inside libuv's poll phase; its 20 ms are busy time.
  loop.run_sync([] {
    auto until = Clock::now() + 20ms;
    while (Clock::now() < until) {
    }
  });
  CHECK(eventually([&] { return loop.stats().busy_ns - start_busy >= 20'000'000; }));
}

// ---- the loop's epoll set ---------------------------------------------------
//
// The loop thread waits in an epoll set of its own (poll_fd()): the
// transport's sockets, and libuv's descriptor. An eventfd stands in for a
// socket here.

namespace {

// An eventfd in a loop's epoll set; ready() runs `on_ready` on the loop.
class EventFdTarget final : public sluice::detail::PollTarget {
 public:
  EventFdTarget() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) { REQUIRE(fd_ >= 0); }
  ~EventFdTarget() { ::close(fd_); }
  EventFdTarget(const EventFdTarget&) = delete;
  EventFdTarget& operator=(const EventFdTarget&) = delete;

  // Loop thread.
  void watch(EventLoop& loop) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = static_cast<PollTarget*>(this);
    REQUIRE(::epoll_ctl(loop.poll_fd(), EPOLL_CTL_ADD, fd_, &ev) == 0);
    loop_ = &loop;
  }
  void forget() { ::epoll_ctl(loop_->poll_fd(), EPOLL_CTL_DEL, fd_, nullptr); }
  // Any thread (no Catch assertion inside: they are not thread safe).
  bool signal() const {
    std::uint64_t one = 1;
    return ::write(fd_, &one, sizeof one) == static_cast<ssize_t>(sizeof one);
  }

  std::function<void()> on_ready;
  std::atomic<int> calls{0};
  std::atomic<bool> on_loop_thread{true};

 private:
  void ready(std::uint32_t) noexcept override {
    std::uint64_t count = 0;
    (void)!::read(fd_, &count, sizeof count);
    if (!loop_->is_in_loop_thread()) on_loop_thread = false;
    ++calls;
    if (on_ready) on_ready();
  }

  int fd_;
  EventLoop* loop_ = nullptr;
};

}  // namespace

TEST_CASE("EventLoop: a descriptor in the loop's epoll set runs its target on the loop thread, as busy time",
          "[event_loop][poll]") {
  EventLoop loop;
  loop.start();
  EventFdTarget target;
  std::atomic<std::uint64_t> busy_since_inside{0};
  target.on_ready = [&] { busy_since_inside = loop.busy_since_ns(); };
  loop.run_sync([&] { target.watch(loop); });
  std::uint64_t before = uv_hrtime();
  REQUIRE(target.signal());
  REQUIRE(eventually([&] { return target.calls.load() == 1; }));
  CHECK(target.on_loop_thread.load());
  // The loop stamped its wake-up before it ran the target: a watchdog sees
  // a loop stuck in a socket's callback as busy.
  CHECK(busy_since_inside.load() >= before);
  REQUIRE(target.signal());
  REQUIRE(eventually([&] { return target.calls.load() == 2; }));
  loop.run_sync([&] { target.forget(); });
}

TEST_CASE("EventLoop: ready_in_wait says how many targets the wait being dispatched reported, 0 outside",
          "[event_loop][poll]") {
  EventLoop loop;
  loop.start();
  EventFdTarget first;
  EventFdTarget second;
  std::atomic<int> seen_by_first{-1};
  std::atomic<int> seen_by_second{-1};
  first.on_ready = [&] { seen_by_first = loop.ready_in_wait(); };
  second.on_ready = [&] { seen_by_second = loop.ready_in_wait(); };
  // Both signalled before either is watched: the next wait reports both.
  REQUIRE(first.signal());
  REQUIRE(second.signal());
  loop.run_sync([&] {
    first.watch(loop);
    second.watch(loop);
  });
  REQUIRE(eventually([&] { return first.calls.load() == 1 && second.calls.load() == 1; }));
  CHECK(seen_by_first.load() == 2);
  CHECK(seen_by_second.load() == 2);
  int outside = -1;
  loop.run_sync([&] { outside = loop.ready_in_wait(); });
  CHECK(outside == 0);
  loop.run_sync([&] {
    first.forget();
    second.forget();
  });
}

TEST_CASE("EventLoop: timers fire while a descriptor keeps the loop busy", "[event_loop][poll]") {
  EventLoop loop;
  loop.start();
  EventFdTarget target;
  std::atomic<bool> fired{false};
  // Every call signals again: the set is never empty, so the loop's waits
  // never time out, and libuv's timers must still get their turn.
  target.on_ready = [&] {
    if (!fired.load()) (void)target.signal();
  };
  loop.run_sync([&] { target.watch(loop); });
  REQUIRE(target.signal());
  REQUIRE(eventually([&] { return target.calls.load() >= 100; }));
  loop.run_after(20, [&] { fired = true; });
  CHECK(eventually([&] { return fired.load(); }));
  loop.run_sync([&] { target.forget(); });
}

TEST_CASE("EventLoop: a libuv watcher started in a socket's callback runs before a timer set with it",
          "[event_loop][poll]") {
  // libuv gives a watcher to epoll in its next poll. A socket's callback
  // runs outside libuv's turn: the loop must give libuv that turn before it
  // waits again, not leave the watcher until some timer wakes libuv.
  EventLoop loop;
  loop.start();
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) == 0);
  struct Order {
    std::atomic<int> next{0};
    std::atomic<int> poll_at{-1};
    std::atomic<int> timer_at{-1};
  } order;
  uv_poll_t poll{};
  poll.data = &order;
  EventFdTarget target;
  std::atomic<bool> started{false};
  target.on_ready = [&] {
    started = uv_poll_init(loop.uv(), &poll, pipe_fds[0]) == 0 &&
              uv_poll_start(&poll, UV_READABLE,
                            [](uv_poll_t* handle, int, int) {
                              auto* o = static_cast<Order*>(handle->data);
                              if (o->poll_at.load() < 0) o->poll_at = o->next++;
                              uv_poll_stop(handle);
                            }) == 0 &&
              ::write(pipe_fds[1], "x", 1) == 1;
    // Only a loop that leaves the watcher unregistered until a timer runs
    // libuv lets this fire first. Half a second: a generous margin, and
    // before the loop's own housekeeping timer (a second after its start)
    // would run libuv anyway.
    loop.run_after(500, [&] { order.timer_at = order.next++; });
  };
  loop.run_sync([&] { target.watch(loop); });
  REQUIRE(target.signal());
  REQUIRE(eventually([&] { return order.timer_at.load() >= 0; }, 10s));
  REQUIRE(started.load());
  REQUIRE(order.poll_at.load() >= 0);
  CHECK(order.poll_at.load() < order.timer_at.load());
  loop.run_sync([&] {
    target.forget();
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), nullptr);
  });
  loop.stop();
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

// ---- timers -----------------------------------------------------------------

TEST_CASE("EventLoop: run_after fires on the loop thread, never before the delay", "[event_loop]") {
  EventLoop loop;
  loop.start();
  for (std::uint64_t delay : {0, 1, 2, 5, 20, 50}) {
    for (int round = 0; round < 5; ++round) {
      CAPTURE(delay, round);
      std::promise<std::pair<Clock::time_point, bool>> fired;
      auto f = fired.get_future();
      const auto start = Clock::now();
      loop.run_after(delay, [&] { fired.set_value({Clock::now(), loop.is_in_loop_thread()}); });
      REQUIRE(ready(f));
      auto [at, on_loop] = f.get();
      CHECK(on_loop);
      CHECK(at - start >= std::chrono::milliseconds(delay));
    }
  }
}

TEST_CASE("EventLoop: run_after from the loop thread never fires before the delay", "[event_loop]") {
  EventLoop loop;
  loop.start();
  for (std::uint64_t delay : {1, 3, 10}) {
    for (int round = 0; round < 5; ++round) {
      CAPTURE(delay, round);
      std::promise<Clock::duration> elapsed;
      auto f = elapsed.get_future();
      loop.run_sync([&] {
        const auto start = Clock::now();
        loop.run_after(delay, [&elapsed, start] { elapsed.set_value(Clock::now() - start); });
      });
      REQUIRE(ready(f));
      CHECK(f.get() >= std::chrono::milliseconds(delay));
    }
  }
}

TEST_CASE("EventLoop: timers fire in deadline order, ties in the order they were made", "[event_loop]") {
  std::vector<std::string> order;
  std::promise<void> last;
  auto f = last.get_future();
  EventLoop loop;
  loop.start();
  loop.run_sync([&] {  // made back to back in one loop-thread task; the gaps dwarf the time that takes
    loop.run_after(200, [&] {
      order.push_back("200");
      last.set_value();
    });
    loop.run_after(10, [&] { order.push_back("10"); });
    loop.run_after(100, [&] { order.push_back("100a"); });
    loop.run_after(100, [&] { order.push_back("100b"); });
  });
  REQUIRE(ready(f));
  CHECK(order == std::vector<std::string>{"10", "100a", "100b", "200"});
}

TEST_CASE("EventLoop: run_every repeats until cancelled", "[event_loop]") {
  std::atomic<int> count{0};
  std::promise<void> later;
  auto f = later.get_future();
  EventLoop loop;
  loop.start();
  const EventLoop::TimerId id = loop.run_every(2, [&count] { ++count; });
  REQUIRE(eventually([&] { return count.load() >= 5; }));

  loop.cancel(id);
  loop.run_sync([] {});  // the cancel, posted before, has been applied
  const int at_cancel = count.load();

  // Many periods later (waiting on another timer, not on a sleep) it has not run again.
  loop.run_after(40, [&] { later.set_value(); });
  REQUIRE(ready(f));
  CHECK(count.load() == at_cancel);
}

TEST_CASE("EventLoop: a periodic task can cancel itself", "[event_loop]") {
  int runs = 0;  // loop thread only
  bool captures_intact = true;
  EventLoop::TimerId id = 0;
  std::promise<void> third_run;
  auto f = third_run.get_future();
  std::promise<void> later;
  auto g = later.get_future();
  EventLoop loop;
  loop.start();
  loop.run_sync([&] {
    // A capture big enough to live on the heap, used after the cancel.
    id = loop.run_every(1, [&, tag = std::string(200, 't')] {
      if (++runs == 3) {
        loop.cancel(id);
        captures_intact = captures_intact && tag == std::string(200, 't');
        third_run.set_value();
      }
      captures_intact = captures_intact && tag.size() == 200;
    });
  });
  REQUIRE(ready(f));

  loop.run_after(30, [&] { later.set_value(); });
  REQUIRE(ready(g));
  int final_runs = 0;
  loop.run_sync([&] { final_runs = runs; });
  CHECK(final_runs == 3);
  CHECK(captures_intact);
}

TEST_CASE("EventLoop: a one-shot timer cancelled before it is due never runs", "[event_loop]") {
  std::atomic<bool> cancelled_ran{false};
  std::promise<void> later;
  auto f = later.get_future();
  EventLoop loop;
  loop.start();
  loop.run_sync([&] {
    EventLoop::TimerId id = loop.run_after(10, [&] { cancelled_ran = true; });
    loop.cancel(id);
    loop.run_after(60, [&] { later.set_value(); });
  });
  REQUIRE(ready(f));
  CHECK_FALSE(cancelled_ran.load());
}

TEST_CASE("EventLoop: timers made and cancelled from many threads at once", "[event_loop]") {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::atomic<int> kept_ran{0};
  std::atomic<int> cancelled_ran{0};
  EventLoop loop;
  loop.start();

  std::latch go(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      go.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        loop.run_after(static_cast<std::uint64_t>(i % 5), [&] { ++kept_ran; });
        // Far off, so the cancel (posted after it) always comes first.
        loop.cancel(loop.run_after(600'000, [&] { ++cancelled_ran; }));
        (void)loop.stats();
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(eventually([&] { return kept_ran.load() == kThreads * kPerThread; }));
  loop.stop();
  CHECK(cancelled_ran.load() == 0);
}

TEST_CASE("EventLoop: cancelling an unknown or already fired timer is harmless", "[event_loop]") {
  std::promise<void> still_works;
  auto g = still_works.get_future();
  EventLoop loop;
  loop.start();
  loop.cancel(0);
  loop.cancel(987654321);

  std::promise<void> fired_once;
  auto f = fired_once.get_future();
  const EventLoop::TimerId id = loop.run_after(1, [&] { fired_once.set_value(); });
  REQUIRE(ready(f));
  loop.cancel(id);
  loop.cancel(id);

  loop.run_after(5, [&] { still_works.set_value(); });
  CHECK(ready(g));
}

TEST_CASE("EventLoop: a timer can start another timer", "[event_loop]") {
  std::promise<Clock::duration> chained;
  auto f = chained.get_future();
  EventLoop loop;
  loop.start();
  const auto start = Clock::now();
  loop.run_after(5, [&] { loop.run_after(5, [&] { chained.set_value(Clock::now() - start); }); });
  REQUIRE(ready(f));
  CHECK(f.get() >= 10ms);
}

TEST_CASE("EventLoop: a wheel timeout fires on the loop thread", "[event_loop]") {
  EventLoop::Options options;
  options.wheel_tick_ms = 5;
  std::unique_ptr<WheelProbe> probe;  // made, scheduled and fired on the loop thread
  EventLoop loop(options);
  loop.start();
  std::uint64_t scheduled_at = 0;
  std::future<std::uint64_t> f;
  loop.run_sync([&] {
    probe = std::make_unique<WheelProbe>(loop);
    f = probe->first_fire.get_future();
    scheduled_at = loop.now();
    loop.schedule_timeout(probe->entry, 20);
  });
  REQUIRE(ready(f));
  CHECK(f.get() >= scheduled_at + 20);  // on the loop's own clock
  loop.stop();  // the probe must not be destroyed while the loop might touch it
}

// ---- offload ----------------------------------------------------------------

TEST_CASE("EventLoop: offload runs work off the loop and the completion on it", "[event_loop]") {
  std::thread::id work_thread, done_thread;
  int result = 0;
  int result_seen_by_done = 0;
  std::promise<void> finished;
  auto f = finished.get_future();
  EventLoop loop;
  loop.start();
  const std::thread::id loop_thread = loop_thread_id(loop);

  loop.offload(
      [&] {
        work_thread = std::this_thread::get_id();
        result = 42;
      },
      [&] {
        done_thread = std::this_thread::get_id();
        result_seen_by_done = result;
        finished.set_value();
      });
  REQUIRE(ready(f));
  CHECK(work_thread != loop_thread);
  CHECK(work_thread != std::this_thread::get_id());
  CHECK(done_thread == loop_thread);
  CHECK(result_seen_by_done == 42);
}

TEST_CASE("EventLoop: offload called on the loop thread", "[event_loop]") {
  std::promise<std::pair<bool, bool>> where;  // {work on loop?, done on loop?}
  auto f = where.get_future();
  EventLoop loop;
  loop.start();
  auto work_on_loop = std::make_shared<bool>(true);
  loop.run_sync([&] {
    loop.offload([&loop, work_on_loop] { *work_on_loop = loop.is_in_loop_thread(); },
                 [&loop, &where, work_on_loop] { where.set_value({*work_on_loop, loop.is_in_loop_thread()}); });
  });
  REQUIRE(ready(f));
  auto [work_on, done_on] = f.get();
  CHECK_FALSE(work_on);
  CHECK(done_on);
}

TEST_CASE("EventLoop: offload without a completion still runs the work", "[event_loop]") {
  std::promise<void> worked;
  auto f = worked.get_future();
  EventLoop loop;
  loop.start();
  loop.offload([&] { worked.set_value(); }, nullptr);
  CHECK(ready(f));
}

TEST_CASE("EventLoop: many offloads each complete exactly once", "[event_loop]") {
  constexpr int kJobs = 64;
  std::vector<int> done_count(kJobs, 0);  // loop thread only
  std::atomic<int> worked{0};
  std::atomic<int> completed{0};
  EventLoop loop;
  loop.start();
  for (int i = 0; i < kJobs; ++i) {
    loop.offload([&worked] { ++worked; },
                 [&, i] {
                   ++done_count[static_cast<std::size_t>(i)];
                   ++completed;
                 });
  }
  REQUIRE(eventually([&] { return completed.load() == kJobs; }));
  loop.run_sync([] {});
  CHECK(worked.load() == kJobs);
  CHECK(std::all_of(done_count.begin(), done_count.end(), [](int n) { return n == 1; }));
}

// ---- failures ---------------------------------------------------------------

TEST_CASE("EventLoop: an exception in a posted task is logged and the loop keeps running", "[event_loop]") {
  LogCapture logs;
  std::promise<void> after;
  auto f = after.get_future();
  {
    EventLoop loop;
    loop.start();
    loop.post([] { throw std::runtime_error("posted-boom"); });
    loop.post([] { throw 7; });
    loop.post([&] { after.set_value(); });
    REQUIRE(ready(f));
    int later = 0;
    loop.run_sync([&] { later = 1; });
    CHECK(later == 1);
  }
  CHECK(logs.contains("posted-boom"));
  CHECK(logs.contains("non-standard exception"));
}

TEST_CASE("EventLoop: an exception in run_sync's task is logged and run_sync returns", "[event_loop]") {
  LogCapture logs;
  {
    EventLoop loop;
    loop.start();
    loop.run_sync([] { throw std::runtime_error("sync-boom"); });
    bool alive = false;
    loop.run_sync([&] { alive = true; });
    CHECK(alive);
  }
  CHECK(logs.contains("sync-boom"));
}

TEST_CASE("EventLoop: an exception in offloaded work is logged and the completion still runs", "[event_loop]") {
  LogCapture logs;
  std::promise<void> done;
  auto f = done.get_future();
  std::promise<void> after_bad_done;
  auto g = after_bad_done.get_future();
  {
    EventLoop loop;
    loop.start();
    loop.offload([] { throw std::runtime_error("work-boom"); }, [&] { done.set_value(); });
    REQUIRE(ready(f));

    loop.offload([] {}, [] { throw std::runtime_error("done-boom"); });
    loop.offload([] {}, [&] { after_bad_done.set_value(); });
    REQUIRE(ready(g));
    REQUIRE(eventually([&] { return logs.contains("done-boom"); }));
    bool alive = false;
    loop.run_sync([&] { alive = true; });
    CHECK(alive);
  }
  CHECK(logs.contains("work-boom"));
}

TEST_CASE("EventLoop: an exception in a timer is logged and timers keep working", "[event_loop]") {
  LogCapture logs;
  std::atomic<int> periodic_runs{0};
  std::promise<void> after;
  auto f = after.get_future();
  {
    EventLoop loop;
    loop.start();
    loop.run_after(1, [] { throw std::runtime_error("timer-boom"); });
    const auto id = loop.run_every(1, [&] {
      ++periodic_runs;
      throw std::runtime_error("periodic-boom");
    });
    REQUIRE(eventually([&] { return periodic_runs.load() >= 3; }));  // still repeating after throwing
    loop.cancel(id);
    loop.run_after(5, [&] { after.set_value(); });
    REQUIRE(ready(f));
  }
  CHECK(logs.contains("timer-boom"));
  CHECK(logs.contains("periodic-boom"));
}

// ---- start and stop ---------------------------------------------------------

TEST_CASE("EventLoop: stop runs what was posted before it, once each, and joins the thread", "[event_loop]") {
  constexpr int kTasks = 2000;
  std::vector<int> runs(kTasks, 0);
  std::atomic<bool> thread_exited{false};
  EventLoop loop;
  loop.start();
  loop.post([&] { t_exit_probe.exited = &thread_exited; });
  for (int i = 0; i < kTasks; ++i) loop.post([&runs, i] { ++runs[static_cast<std::size_t>(i)]; });

  loop.stop();
  // The loop thread has exited (its thread_local destructors ran) before stop() returned.
  CHECK(thread_exited.load());
  CHECK(std::count(runs.begin(), runs.end(), 1) == kTasks);
}

TEST_CASE("EventLoop: tasks posted while the loop is busy run once each even when stop follows", "[event_loop]") {
  // Posts land in the same batch as stop()'s own task while the loop is held busy.
  constexpr int kTasks = 100;
  std::vector<int> runs(kTasks, 0);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> holding;
  auto h = holding.get_future();
  EventLoop loop;
  loop.start();
  loop.post([&] {
    holding.set_value();
    released.wait();
  });
  REQUIRE(ready(h));
  for (int i = 0; i < kTasks / 2; ++i) loop.post([&runs, i] { ++runs[static_cast<std::size_t>(i)]; });
  std::thread stopper([&] { loop.stop(); });
  // Give the stopper's task company behind it, then let the loop go. (Whatever
  // the interleaving, every task must run exactly once.)
  for (int i = kTasks / 2; i < kTasks; ++i) loop.post([&runs, i] { ++runs[static_cast<std::size_t>(i)]; });
  release.set_value();
  stopper.join();
  CHECK(std::count(runs.begin(), runs.end(), 1) == kTasks);
  CHECK(std::count(runs.begin(), runs.end(), 2) == 0);
}

TEST_CASE("EventLoop: stop is idempotent", "[event_loop]") {
  EventLoop loop;
  loop.start();
  CHECK(loop_thread_id(loop) != std::this_thread::get_id());
  loop.stop();
  CHECK_NOTHROW(loop.stop());
  CHECK_NOTHROW(loop.stop());
}

TEST_CASE("EventLoop: stop on the loop's own thread is refused", "[event_loop]") {
  bool threw_logic_error = false;
  EventLoop loop;
  loop.start();
  loop.run_sync([&] {
    try {
      loop.stop();
    } catch (const std::logic_error&) {
      threw_logic_error = true;
    }
  });
  CHECK(threw_logic_error);
  bool alive = false;
  loop.run_sync([&] { alive = true; });
  CHECK(alive);
}

TEST_CASE("EventLoop: start twice is harmless", "[event_loop]") {
  EventLoop loop;
  loop.start();
  const auto first = loop_thread_id(loop);
  loop.start();
  CHECK(loop_thread_id(loop) == first);
}

TEST_CASE("EventLoop: a loop that never started can be stopped and destroyed", "[event_loop]") {
  auto loop = std::make_unique<EventLoop>();
  CHECK_NOTHROW(loop->stop());
  CHECK_NOTHROW(loop.reset());
}

TEST_CASE("EventLoop: the destructor stops a running loop", "[event_loop]") {
  std::atomic<bool> thread_exited{false};
  {
    EventLoop loop;
    loop.start();
    loop.run_sync([&] { t_exit_probe.exited = &thread_exited; });
  }
  CHECK(thread_exited.load());
}

// ---- driven by hand (ManualLoop) --------------------------------------------------------------

TEST_CASE("EventLoop manual: the loop belongs to the thread that made it", "[event_loop][manual]") {
  BufferPool* pool_before = BufferPool::local();
  {
    sluice::ManualLoop loop(manual_options());
    CHECK(loop.is_in_loop_thread());
    CHECK(EventLoop::current() == &loop);
    CHECK(BufferPool::local() == &loop.buffer_pool());
  }
  CHECK(EventLoop::current() == nullptr);
  CHECK(BufferPool::local() == nullptr);
  BufferPool::set_local(pool_before);
}

TEST_CASE("EventLoop manual: run_once runs posted tasks in order", "[event_loop][manual]") {
  sluice::ManualLoop loop(manual_options());
  std::vector<int> order;
  loop.post([&] { order.push_back(1); });
  loop.post([&] { order.push_back(2); });
  loop.post([&] { order.push_back(3); });
  CHECK(order.empty());  // nothing runs until the owner turns the loop
  loop.run_once();
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(loop.stats().tasks_run == 3);
  loop.run_once();
  CHECK(order.size() == 3);
}

TEST_CASE("EventLoop manual: tasks posted by tasks run in the same run_once", "[event_loop][manual]") {
  sluice::ManualLoop loop(manual_options());
  int depth = 0;
  loop.post([&] {
    ++depth;
    loop.post([&] {
      ++depth;
      loop.post([&] { ++depth; });
    });
  });
  loop.run_once();
  CHECK(depth == 3);
}

TEST_CASE("EventLoop manual: posts from another thread run at the next run_once", "[event_loop][manual]") {
  sluice::ManualLoop loop(manual_options());
  int ran = 0;
  std::thread([&] {
    for (int i = 0; i < 100; ++i) loop.post([&ran] { ++ran; });
  }).join();
  CHECK(ran == 0);
  loop.run_once();
  CHECK(ran == 100);
}

TEST_CASE("EventLoop manual: an exception in a task is logged and the next task runs", "[event_loop][manual]") {
  LogCapture logs;
  sluice::ManualLoop loop(manual_options());
  bool second_ran = false;
  loop.post([] { throw std::runtime_error("manual-boom"); });
  loop.post([&] { second_ran = true; });
  loop.run_once();
  CHECK(second_ran);
  CHECK(logs.contains("manual-boom"));
}

TEST_CASE("EventLoop manual: advance_clock fires run_after exactly when due", "[event_loop][manual]") {
  sluice::ManualLoop loop(manual_options());
  int fired = 0;
  std::uint64_t fired_at = 0;
  CHECK(loop.now() == 0);
  loop.run_after(100, [&] {
    ++fired;
    fired_at = loop.now();
  });
  loop.advance_clock(99);
  CHECK(fired == 0);
  loop.advance_clock(1);
  CHECK(fired == 1);
  CHECK(fired_at == 100);
  CHECK(loop.now() == 100);
  loop.advance_clock(1000);
  CHECK(fired == 1);
}

TEST_CASE("EventLoop manual: a zero delay fires at the next run_once", "[event_loop][manual]") {
  sluice::ManualLoop loop(manual_options());
  bool fired = false;
  loop.run_after(0, [&] { fired = true; });
  CHECK_FALSE(fired);
  loop.run_once();
  CHECK(fired);
}

TEST_CASE("EventLoop manual: timers fire in deadline order when the clock jumps", "[event_loop][manual]") {
  sluice::ManualLoop loop(manual_options());
  std::vector<int> order;
  loop.run_after(30, [&] { order.push_back(30); });
  loop.run_after(10, [&] { order.push_back(10); });
  loop.run_after(20, [&] { order.push_back(20); });
  loop.run_after(31, [&] { order.push_back(31); });
  loop.advance_clock(30);
  CHECK(order == std::vector<int>{10, 20, 30});
}

TEST_CASE("EventLoop manual: run_every fires once per period and stops when cancelled", "[event_loop][manual]") {
  sluice::ManualLoop loop(manual_options());
  int runs = 0;
  const auto id = loop.run_every(10, [&] { ++runs; });
  loop.advance_clock(9);
  CHECK(runs == 0);
  for (int i = 1; i <= 5; ++i) {
    loop.advance_clock(i == 1 ? 1 : 10);
    CHECK(runs == i);
  }
  loop.cancel(id);
  loop.advance_clock(100);
  CHECK(runs == 5);
}

TEST_CASE("EventLoop manual: a periodic task cancelling itself stops", "[event_loop][manual]") {
  sluice::ManualLoop loop(manual_options());
  int runs = 0;
  EventLoop::TimerId id = 0;
  id = loop.run_every(10, [&, tag = std::string(100, 'x')] {
    if (++runs == 2) loop.cancel(id);
    CHECK(tag.size() == 100);  // the task's captures are still alive after the cancel
  });
  for (int i = 0; i < 10; ++i) loop.advance_clock(10);
  CHECK(runs == 2);
}

TEST_CASE("EventLoop manual: cancel before the deadline stops a one-shot timer", "[event_loop][manual]") {
  sluice::ManualLoop loop(manual_options());
  bool fired = false;
  const auto id = loop.run_after(50, [&] { fired = true; });
  loop.advance_clock(49);
  loop.cancel(id);
  loop.advance_clock(100);
  CHECK_FALSE(fired);
}

TEST_CASE("EventLoop manual: schedule_timeout fires through advance_clock", "[event_loop][manual]") {
  const std::uint64_t tick = 10;
  sluice::ManualLoop loop(manual_options(tick));
  WheelProbe probe(loop);
  loop.schedule_timeout(probe.entry, 35);
  CHECK(probe.entry.is_scheduled());
  while (probe.fired == 0 && loop.now() < 1000) loop.advance_clock(1);
  REQUIRE(probe.fired == 1);
  CHECK(probe.fired_at >= 35);
  CHECK(probe.fired_at <= 35 + tick);
  CHECK_FALSE(probe.entry.is_scheduled());
  loop.advance_clock(200);
  CHECK(probe.fired == 1);
}

TEST_CASE("EventLoop manual: a wheel timeout never fires early, whenever it is armed", "[event_loop][manual]") {
  const std::uint64_t tick = 10;
  sluice::ManualLoop loop(manual_options(tick));
  WheelProbe keeps_wheel_busy(loop);
  loop.advance_clock(3);
  loop.schedule_timeout(keeps_wheel_busy.entry, 100000);  // the wheel's tick timer starts off a tick boundary
  for (std::uint64_t delay : {1, 9, 10, 11, 21, 35, 99}) {
    for (std::uint64_t offset = 0; offset < tick; offset += 3) {
      CAPTURE(delay, offset);
      loop.advance_clock(offset);
      WheelProbe probe(loop);
      const std::uint64_t armed_at = loop.now();
      loop.schedule_timeout(probe.entry, delay);
      while (probe.fired == 0 && loop.now() < armed_at + delay + 10 * tick) loop.advance_clock(1);
      REQUIRE(probe.fired == 1);
      CHECK(probe.fired_at >= armed_at + delay);
      // The wheel itself is at most one tick late; the loop's tick timer, which
      // need not run on tick boundaries, can add up to one more tick.
      CHECK(probe.fired_at <= armed_at + delay + 2 * tick);
    }
  }
}

TEST_CASE("EventLoop manual: cancel_timeout stops a wheel timeout", "[event_loop][manual]") {
  sluice::ManualLoop loop(manual_options(10));
  WheelProbe probe(loop);
  loop.schedule_timeout(probe.entry, 30);
  loop.advance_clock(20);
  loop.cancel_timeout(probe.entry);
  CHECK_FALSE(probe.entry.is_scheduled());
  loop.advance_clock(100);
  CHECK(probe.fired == 0);
}

TEST_CASE("EventLoop manual: a wheel timeout re-armed from its callback keeps firing", "[event_loop][manual]") {
  struct Rearming {
    EventLoop* loop;
    std::vector<std::uint64_t> fired_at;
    TimerWheel::Entry entry{&Rearming::on_fire, this};
    static void on_fire(void* self) {
      auto* r = static_cast<Rearming*>(self);
      r->fired_at.push_back(r->loop->now());
      if (r->fired_at.size() < 5) r->loop->schedule_timeout(r->entry, 20);
    }
  };
  sluice::ManualLoop loop(manual_options(10));
  Rearming r{&loop, {}};
  loop.schedule_timeout(r.entry, 20);
  for (int i = 0; i < 300; ++i) loop.advance_clock(1);
  REQUIRE(r.fired_at.size() == 5);
  for (std::size_t i = 1; i < r.fired_at.size(); ++i) {
    CAPTURE(i);
    CHECK(r.fired_at[i] - r.fired_at[i - 1] >= 20);
  }
}

namespace {
// Records what the loop tells it.
class RecordingService final : public sluice::LoopService {
 public:
  explicit RecordingService(sluice::EventLoop& loop) : loop_(&loop) {}
  void shutdown_gracefully() override { log.push_back(loop_->is_in_loop_thread() ? "shutdown on loop" : "shutdown off loop"); }
  std::size_t open_count() const noexcept override { return open; }
  void close_all(bool deadline_passed) noexcept override {
    log.push_back(deadline_passed ? "close after deadline" : "close");
  }
  std::vector<std::string> log;
  std::size_t open = 3;

 private:
  sluice::EventLoop* loop_;
};
}  // namespace

TEST_CASE("EventLoop: a service is made once per loop, counted, told of shutdown and closed at stop",
          "[event_loop]") {
  EventLoop loop;
  loop.start();
  RecordingService* service = nullptr;
  loop.run_sync([&] {
    service = &loop.service<RecordingService>();
    CHECK(&loop.service<RecordingService>() == service);
  });
  CHECK(loop.open_count() == 3);
  loop.run_sync([&] { loop.shutdown_services_gracefully(); });
  loop.stop(true);
  CHECK(service->log == std::vector<std::string>{"shutdown on loop", "close after deadline"});
}

#ifndef NDEBUG
TEST_CASE("EventLoop: a loop-thread-only call from another thread aborts in a debug build", "[event_loop]") {
  EventLoop loop;
  loop.start();
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The report and Catch's own signal handler are not for this test's
    // output: plain abort, nothing printed.
    ::signal(SIGABRT, SIG_DFL);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    loop.assert_in_loop_thread("a test");  // the child is not the loop's thread
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}
#endif
