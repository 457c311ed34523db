// Fifo: order, random access across the ring's wrap and growth, release on pop, no heap for one element.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "sluice/core/fifo.hpp"

using sluice::Fifo;

TEST_CASE("Fifo keeps first-in-first-out order as its ring wraps and grows") {
  Fifo<int> q;
  CHECK(q.empty());
  int next_in = 0;
  int next_out = 0;
  // Interleave pushes and pops so the head crosses the compaction point often.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 37; ++i) q.push_back(next_in++);
    for (int i = 0; i < 29; ++i) {
      REQUIRE(q.front() == next_out);
      q.pop_front();
      ++next_out;
    }
    REQUIRE(q.size() == static_cast<std::size_t>(next_in - next_out));
    for (std::size_t i = 0; i < q.size(); ++i) REQUIRE(q[i] == next_out + static_cast<int>(i));
    REQUIRE(q.back() == next_in - 1);
  }
  while (!q.empty()) {
    REQUIRE(q.front() == next_out++);
    q.pop_front();
  }
  CHECK(next_out == next_in);
}

TEST_CASE("Fifo releases a popped element at once") {
  Fifo<std::shared_ptr<std::string>> q;
  auto a = std::make_shared<std::string>("a");
  std::weak_ptr<std::string> watch = a;
  q.push_back(std::move(a));
  q.push_back(std::make_shared<std::string>("b"));
  q.pop_front();
  CHECK(watch.expired());
  CHECK(*q.front() == "b");
  q.clear();
  CHECK(q.empty());
  CHECK(q.size() == 0);
}

TEST_CASE("Fifo iterates over the live elements only") {
  Fifo<std::string> q;
  for (const char* s : {"x", "y", "z"}) q.push_back(s);
  q.pop_front();
  std::string seen;
  for (auto& s : q) seen += s;
  CHECK(seen == "yz");
}

namespace {
struct Counted {
  explicit Counted(int v) : value(v) { ++live; }
  Counted(Counted&& o) noexcept : value(o.value) { ++live; }
  ~Counted() { --live; }
  int value;
  static inline int live = 0;
};
}  // namespace

TEST_CASE("Fifo: one element at a time, then many through growth and wrap-around") {
  {
    Fifo<Counted> q;
    // One at a time: the inline slot, again and again.
    for (int i = 0; i < 100; ++i) {
      q.push_back(Counted(i));
      CHECK(Counted::live == 1);
      CHECK(q.front().value == i);
      q.pop_front();
      CHECK(Counted::live == 0);
    }
    // Many: a ring on the heap, in order through growth and wrap-around.
    for (int i = 0; i < 3; ++i) q.push_back(Counted(i));
    q.pop_front();
    for (int i = 3; i < 10; ++i) q.push_back(Counted(i));
    CHECK(q.size() == 9);
    for (std::size_t i = 0; i < q.size(); ++i) CHECK(q[i].value == static_cast<int>(i) + 1);
    int expected = 1;
    for (Counted& c : q) CHECK(c.value == expected++);
    CHECK(Counted::live == 9);
  }
  CHECK(Counted::live == 0);  // the destructor released what was left
}
