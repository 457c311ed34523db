// EventLoopGroup: N loops on N threads, round-robin, CPU pinning, shutdown.

#include <catch2/catch.hpp>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/event_loop.hpp"
#include "sluice/core/event_loop_group.hpp"

using namespace std::chrono_literals;
using sluice::EventLoop;
using sluice::EventLoopGroup;

namespace {

EventLoopGroup::Options group_options(std::size_t loops, bool pin = false) {
  EventLoopGroup::Options o;
  o.loops = loops;
  o.pin = pin;
  o.name = "grp";
  return o;
}

std::thread::id thread_of(EventLoop& loop) {
  std::thread::id id;
  loop.run_sync([&id] { id = std::this_thread::get_id(); });
  return id;
}

cpu_set_t affinity_of_calling_thread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  return set;
}

std::size_t online_cpus() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : static_cast<std::size_t>(n);
}

// Its destructor runs when the thread that touched it exits.
struct ThreadExitProbe {
  std::atomic<int>* exits = nullptr;
  ~ThreadExitProbe() {
    if (exits != nullptr) ++*exits;
  }
};
thread_local ThreadExitProbe t_exit_probe;

}  // namespace

TEST_CASE("EventLoopGroup: makes the requested number of started loops", "[event_loop_group]") {
  EventLoopGroup group(group_options(3));
  REQUIRE(group.size() == 3);
  for (std::size_t i = 0; i < group.size(); ++i) {
    CAPTURE(i);
    CHECK(group.at(i).name() == "grp-" + std::to_string(i));
    bool ran = false;
    group.at(i).run_sync([&ran] { ran = true; });  // started: it runs tasks
    CHECK(ran);
  }
  CHECK_THROWS_AS(group.at(3), std::out_of_range);
  CHECK(group.open_count() == 0);
  CHECK_FALSE(group.is_shut_down());
}

TEST_CASE("EventLoopGroup: by default makes one loop per online CPU", "[event_loop_group]") {
  EventLoopGroup group;
  CHECK(group.size() == online_cpus());
}

TEST_CASE("EventLoopGroup: next() goes round the loops in order", "[event_loop_group]") {
  EventLoopGroup group(group_options(3));
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < group.size(); ++i) {
      CAPTURE(round, i);
      CHECK(&group.next() == &group.at(i));
    }
  }
}

TEST_CASE("EventLoopGroup: next() from many threads spreads the picks evenly", "[event_loop_group]") {
  constexpr int kThreads = 4;
  constexpr int kPicksPerThread = 300;  // 1200 picks over 3 loops
  EventLoopGroup group(group_options(3));
  std::vector<std::map<EventLoop*, int>> picks(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPicksPerThread; ++i) ++picks[static_cast<std::size_t>(t)][&group.next()];
    });
  }
  for (auto& t : threads) t.join();

  std::map<EventLoop*, int> total;
  for (const auto& m : picks) {
    for (const auto& [loop, n] : m) total[loop] += n;
  }
  REQUIRE(total.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(total[&group.at(i)] == kThreads * kPicksPerThread / 3);
}

TEST_CASE("EventLoopGroup: each loop runs on its own thread", "[event_loop_group]") {
  EventLoopGroup group(group_options(4));
  std::set<std::thread::id> threads;
  for (std::size_t i = 0; i < group.size(); ++i) threads.insert(thread_of(group.at(i)));
  CHECK(threads.size() == group.size());
  CHECK(threads.count(std::this_thread::get_id()) == 0);

  // Each loop knows its own thread and no other.
  for (std::size_t i = 0; i < group.size(); ++i) {
    std::vector<bool> in_thread(group.size());
    group.at(i).run_sync([&] {
      for (std::size_t j = 0; j < group.size(); ++j) in_thread[j] = group.at(j).is_in_loop_thread();
    });
    for (std::size_t j = 0; j < group.size(); ++j) {
      CAPTURE(i, j);
      CHECK(in_thread[j] == (i == j));
    }
  }
}

TEST_CASE("EventLoopGroup: unpinned loops keep the process's CPU affinity", "[event_loop_group]") {
  const cpu_set_t process = affinity_of_calling_thread();
  EventLoopGroup group(group_options(2));
  for (std::size_t i = 0; i < group.size(); ++i) {
    CAPTURE(i);
    cpu_set_t loop_set;
    CPU_ZERO(&loop_set);
    int rc = -1;
    group.at(i).run_sync([&] { rc = sched_getaffinity(0, sizeof loop_set, &loop_set); });
    REQUIRE(rc == 0);
    CHECK(CPU_EQUAL(&loop_set, &process));
  }
}

TEST_CASE("EventLoopGroup: pinned loop i runs on CPU i modulo the CPU count", "[event_loop_group]") {
  const cpu_set_t process = affinity_of_calling_thread();
  const std::size_t cpus = online_cpus();
  EventLoopGroup group(group_options(cpus + 1, true));  // one more loop than CPUs: wraps round
  for (std::size_t i = 0; i < group.size(); ++i) {
    CAPTURE(i);
    const int cpu = static_cast<int>(i % cpus);
    cpu_set_t loop_set;
    CPU_ZERO(&loop_set);
    int rc = -1;
    group.at(i).run_sync([&] { rc = sched_getaffinity(0, sizeof loop_set, &loop_set); });
    REQUIRE(rc == 0);
    if (CPU_ISSET(cpu, &process)) {
      CHECK(CPU_COUNT(&loop_set) == 1);
      CHECK(CPU_ISSET(cpu, &loop_set));
    } else {
      // The CPU is outside this process's cpuset: pinning fails (logged) and
      // the loop keeps the inherited affinity.
      CHECK(CPU_EQUAL(&loop_set, &process));
    }
  }
}

TEST_CASE("EventLoopGroup: pinned loops run tasks and timers", "[event_loop_group]") {
  EventLoopGroup group(group_options(2, true));
  std::vector<std::promise<void>> fired(group.size());
  std::vector<std::future<void>> futures;
  for (auto& p : fired) futures.push_back(p.get_future());
  for (std::size_t i = 0; i < group.size(); ++i) {
    group.at(i).run_after(1, [&fired, i] { fired[i].set_value(); });
  }
  for (auto& f : futures) CHECK(f.wait_for(10s) == std::future_status::ready);
  int sum = 0;
  for (std::size_t i = 0; i < group.size(); ++i) group.at(i).run_sync([&sum] { ++sum; });
  CHECK(sum == static_cast<int>(group.size()));
}

TEST_CASE("EventLoopGroup: shutdown_gracefully stops every loop and is idempotent", "[event_loop_group]") {
  std::atomic<int> exits{0};
  EventLoopGroup group(group_options(3));
  for (std::size_t i = 0; i < group.size(); ++i) group.at(i).run_sync([&exits] { t_exit_probe.exits = &exits; });

  group.shutdown_gracefully(10, 5000);
  CHECK(group.is_shut_down());
  CHECK(exits.load() == 3);  // every loop thread has exited and been joined

  CHECK_NOTHROW(group.shutdown_gracefully(10, 5000));
  CHECK_NOTHROW(group.shutdown_gracefully());
  CHECK(group.is_shut_down());
  CHECK(exits.load() == 3);
}

TEST_CASE("EventLoopGroup: shutdown_gracefully returns while a loop keeps itself busy", "[event_loop_group]") {
  EventLoopGroup group(group_options(2));
  // A loop that posts itself work every millisecond is never quiet; the
  // timeout still ends the wait and stop() ends the timer.
  EventLoop& busy = group.at(0);
  busy.run_every(1, [&busy] { busy.post([] {}); });
  group.shutdown_gracefully(50, 300);
  CHECK(group.is_shut_down());
}

TEST_CASE("EventLoopGroup: shutdown hooks run once, before the loops stop", "[event_loop_group]") {
  int first = 0, removed = 0, last = 0;
  bool loops_alive_in_hook = false;
  {
    EventLoopGroup group(group_options(2));
    group.add_shutdown_hook([&] {
      ++first;
      bool ran = false;
      group.at(0).run_sync([&ran] { ran = true; });
      loops_alive_in_hook = ran;
    });
    const auto id = group.add_shutdown_hook([&] { ++removed; });
    group.add_shutdown_hook([&] { ++last; });
    group.remove_shutdown_hook(id);
    group.remove_shutdown_hook(12345);  // unknown: harmless

    group.shutdown_gracefully(0, 1000);
    group.shutdown_gracefully(0, 1000);
    CHECK(first == 1);
    CHECK(last == 1);
  }  // the destructor does not run them again
  CHECK(first == 1);
  CHECK(removed == 0);
  CHECK(last == 1);
  CHECK(loops_alive_in_hook);
}

TEST_CASE("EventLoopGroup: the destructor shuts down and runs the hooks", "[event_loop_group]") {
  int hook_runs = 0;
  std::atomic<int> exits{0};
  {
    EventLoopGroup group(group_options(2));
    group.add_shutdown_hook([&hook_runs] { ++hook_runs; });
    for (std::size_t i = 0; i < group.size(); ++i) group.at(i).run_sync([&exits] { t_exit_probe.exits = &exits; });
  }
  CHECK(hook_runs == 1);
  CHECK(exits.load() == 2);
}

TEST_CASE("EventLoopGroup: concurrent shutdowns from two threads both return", "[event_loop_group]") {
  int hook_runs = 0;
  EventLoopGroup group(group_options(2));
  group.add_shutdown_hook([&hook_runs] { ++hook_runs; });
  std::thread other([&group] { group.shutdown_gracefully(5, 2000); });
  group.shutdown_gracefully(5, 2000);
  other.join();
  CHECK(group.is_shut_down());
  CHECK(hook_runs == 1);
}
