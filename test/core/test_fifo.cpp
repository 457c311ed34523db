// Fifo: order, random access, compaction, release on pop.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "sluice/core/fifo.hpp"

using sluice::Fifo;

TEST_CASE("Fifo keeps first-in-first-out order across compactions") {
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
