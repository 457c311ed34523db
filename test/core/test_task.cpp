// Task: inline and heap storage, move-only captures, the moved-from state.

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "sluice/core/task.hpp"

using sluice::Task;

namespace {

// Counts live instances and moves of a callable, and records where it was
// when called (inside the Task object or somewhere on the heap).
struct Counters {
  int live = 0;
  int moves = 0;
  int calls = 0;
  const void* called_at = nullptr;
};

template <std::size_t Padding, bool NothrowMove = true>
struct Tracked {
  explicit Tracked(Counters& c) : counters(&c) { ++counters->live; }
  Tracked(const Tracked& o) : counters(o.counters) { ++counters->live; }
  Tracked(Tracked&& o) noexcept(NothrowMove) : counters(o.counters) {
    ++counters->live;
    ++counters->moves;
  }
  ~Tracked() { --counters->live; }
  Tracked& operator=(const Tracked&) = delete;

  void operator()() {
    ++counters->calls;
    counters->called_at = this;
  }

  Counters* counters;
  std::array<char, Padding> padding{};
};

using Small = Tracked<8>;
using Big = Tracked<256>;
using SmallThrowingMove = Tracked<8, false>;

bool stored_inside(const Task& task, const void* p) {
  auto* begin = reinterpret_cast<const unsigned char*>(&task);
  auto* at = static_cast<const unsigned char*>(p);
  return at >= begin && at < begin + sizeof(Task);
}

int free_function_calls = 0;
void free_function() { ++free_function_calls; }

}  // namespace

TEST_CASE("Task: a default or null task is empty", "[task]") {
  Task a;
  Task b(nullptr);
  Task c = nullptr;
  CHECK_FALSE(a);
  CHECK_FALSE(b);
  CHECK_FALSE(c);
}

TEST_CASE("Task: calling a task runs its callable", "[task]") {
  int hits = 0;
  Task t([&hits] { ++hits; });
  REQUIRE(t);
  t();
  t();
  CHECK(hits == 2);
}

TEST_CASE("Task: a function pointer is a task", "[task]") {
  free_function_calls = 0;
  Task t(&free_function);
  t();
  CHECK(free_function_calls == 1);
}

TEST_CASE("Task: a mutable lambda keeps its state between calls", "[task]") {
  int last = 0;
  Task t([&last, n = 0]() mutable { last = ++n; });
  t();
  t();
  t();
  CHECK(last == 3);
}

TEST_CASE("Task: a small callable is stored inline", "[task]") {
  Counters c;
  {
    Task t{Small(c)};
    t();
    CHECK(stored_inside(t, c.called_at));

    // Moving the task moves the callable from storage to storage.
    const int moves_before = c.moves;
    Task moved(std::move(t));
    CHECK(c.moves == moves_before + 1);
    moved();
    CHECK(stored_inside(moved, c.called_at));
    CHECK(c.live == 1);
  }
  CHECK(c.live == 0);
}

TEST_CASE("Task: a lambda of pointer-sized captures is stored inline", "[task]") {
  const void* seen = nullptr;
  int a = 1, b = 2, d = 3;
  Task t([&seen, &a, &b, &d, x = 0]() mutable {
    seen = &x;
    x = a + b + d;
  });
  t();
  CHECK(stored_inside(t, seen));
}

TEST_CASE("Task: a big capture lives on the heap and moves by pointer", "[task]") {
  Counters c;
  {
    Task t{Big(c)};
    t();
    const void* where = c.called_at;
    CHECK_FALSE(stored_inside(t, where));

    const int moves_before = c.moves;
    Task moved(std::move(t));
    CHECK(c.moves == moves_before);  // the callable stayed where it was
    moved();
    CHECK(c.called_at == where);
    CHECK(c.live == 1);
  }
  CHECK(c.live == 0);
}

TEST_CASE("Task: a small callable whose move may throw goes to the heap", "[task]") {
  Counters c;
  {
    Task t{SmallThrowingMove(c)};
    t();
    CHECK_FALSE(stored_inside(t, c.called_at));
  }
  CHECK(c.live == 0);
}

TEST_CASE("Task: a big lambda capture is carried intact", "[task]") {
  std::array<int, 64> values{};
  for (int i = 0; i < 64; ++i) values[static_cast<std::size_t>(i)] = i * i;
  int sum = 0;
  Task t([&sum, values] {
    for (int v : values) sum += v;
  });
  Task moved = std::move(t);
  moved();
  int expected = 0;
  for (int v : values) expected += v;
  CHECK(sum == expected);
}

TEST_CASE("Task: move-only captures are supported", "[task]") {
  auto owned = std::make_unique<int>(42);
  int seen = 0;
  Task t([&seen, p = std::move(owned)] { seen = *p; });
  Task moved(std::move(t));
  moved();
  CHECK(seen == 42);
}

TEST_CASE("Task: a move-only capture is destroyed with the task", "[task]") {
  auto shared = std::make_shared<int>(7);
  std::weak_ptr<int> watch = shared;
  {
    Task t([p = std::move(shared), u = std::make_unique<int>(1)] {
      (void)p;
      (void)u;
    });
    CHECK_FALSE(watch.expired());
  }
  CHECK(watch.expired());
}

TEST_CASE("Task: a moved-from task is empty and owns nothing", "[task]") {
  Counters small_counters, big_counters;
  Task small{Small(small_counters)};
  Task big{Big(big_counters)};

  Task small_target(std::move(small));
  Task big_target;
  big_target = std::move(big);

  CHECK_FALSE(small);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  CHECK_FALSE(big);    // NOLINT(bugprone-use-after-move)
  CHECK(small_counters.live == 1);
  CHECK(big_counters.live == 1);

  small.reset();  // harmless on an empty task
  big = nullptr;
  CHECK(small_counters.live == 1);
  CHECK(big_counters.live == 1);

  // A moved-from task can take a new callable.
  int hits = 0;
  small = Task([&hits] { ++hits; });
  small();
  CHECK(hits == 1);
}

TEST_CASE("Task: move assignment destroys the callable it replaces", "[task]") {
  Counters old_small, old_big, incoming;
  Task a{Small(old_small)};
  Task b{Big(old_big)};
  a = Task{Big(incoming)};
  CHECK(old_small.live == 0);
  b = Task{Small(incoming)};
  CHECK(old_big.live == 0);
  CHECK(incoming.live == 2);
  a();
  b();
  CHECK(incoming.calls == 2);
}

TEST_CASE("Task: self move assignment keeps the callable", "[task]") {
  Counters c;
  Task t{Small(c)};
  Task& alias = t;
  t = std::move(alias);
  REQUIRE(t);
  t();
  CHECK(c.calls == 1);
  CHECK(c.live == 1);
}

TEST_CASE("Task: reset destroys the callable exactly once", "[task]") {
  Counters small_counters, big_counters;
  Task small{Small(small_counters)};
  Task big{Big(big_counters)};
  small.reset();
  big.reset();
  CHECK_FALSE(small);
  CHECK_FALSE(big);
  CHECK(small_counters.live == 0);
  CHECK(big_counters.live == 0);
  small.reset();
  CHECK(small_counters.live == 0);
}

TEST_CASE("Task: a chain of moves keeps one live callable", "[task]") {
  for (bool big : {false, true}) {
    CAPTURE(big);
    Counters c;
    {
      Task t = big ? Task{Big(c)} : Task{Small(c)};
      for (int i = 0; i < 10; ++i) {
        Task next(std::move(t));
        t = std::move(next);
      }
      CHECK(c.live == 1);
      t();
      CHECK(c.calls == 1);
    }
    CHECK(c.live == 0);
  }
}
