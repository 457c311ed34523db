// SmallVector: inline storage up to N, the heap beyond, capacity kept by
// clear() and given back by clear_and_trim(), copies and moves.
#include <catch2/catch.hpp>

#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "sluice/core/small_vector.hpp"

using sluice::SmallVector;

namespace {
std::vector<int> contents(const SmallVector<int, 4>& v) { return {v.begin(), v.end()}; }
}  // namespace

TEST_CASE("SmallVector keeps its first N inline and moves to the heap beyond", "[small_vector]") {
  SmallVector<int, 4> v;
  CHECK(v.empty());
  CHECK(v.capacity() == 4);
  for (int i = 0; i < 4; ++i) v.push_back(i);
  CHECK_FALSE(v.on_heap());
  CHECK(contents(v) == std::vector<int>{0, 1, 2, 3});
  v.push_back(4);
  CHECK(v.on_heap());
  CHECK(v.capacity() >= 5);
  CHECK(contents(v) == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(v.back() == 4);
  v[0] = 9;
  CHECK(v[0] == 9);
}

TEST_CASE("SmallVector::append and extend_uninitialized grow as needed", "[small_vector]") {
  SmallVector<int, 4> v;
  std::vector<int> many(100);
  std::iota(many.begin(), many.end(), 0);
  v.append(many.data(), 3);
  v.append(many.data(), 0);  // nothing to add
  CHECK(contents(v) == std::vector<int>{0, 1, 2});
  v.append(many.data() + 3, 97);
  CHECK(contents(v) == many);
  int* tail = v.extend_uninitialized(2);
  tail[0] = 100;
  tail[1] = 101;
  CHECK(v.size() == 102);
  CHECK(v[101] == 101);
  v.resize_down(200);  // never grows
  CHECK(v.size() == 102);
  v.resize_down(1);
  CHECK(contents(v) == std::vector<int>{0});
}

TEST_CASE("SmallVector::clear keeps capacity; clear_and_trim gives a big one back", "[small_vector]") {
  SmallVector<int, 4> v;
  for (int i = 0; i < 50; ++i) v.push_back(i);
  std::size_t grown = v.capacity();
  v.clear();
  CHECK(v.empty());
  CHECK(v.capacity() == grown);
  CHECK(v.on_heap());
  v.push_back(7);
  v.clear_and_trim(grown);  // not more than the bound: kept
  CHECK(v.capacity() == grown);
  v.clear_and_trim(8);  // more than the bound: back to inline
  CHECK(v.empty());
  CHECK_FALSE(v.on_heap());
  CHECK(v.capacity() == 4);
  v.push_back(1);
  CHECK(contents(v) == std::vector<int>{1});
}

TEST_CASE("SmallVector copies and moves, inline and on the heap", "[small_vector]") {
  for (int n : {2, 40}) {
    DYNAMIC_SECTION(n << " elements") {
      SmallVector<int, 4> a;
      for (int i = 0; i < n; ++i) a.push_back(i * 3);
      const std::vector<int> expected = contents(a);

      SmallVector<int, 4> copy(a);
      CHECK(contents(copy) == expected);
      copy[0] = -1;
      CHECK(a[0] == 0);  // a deep copy

      SmallVector<int, 4> assigned;
      assigned.push_back(99);
      assigned = a;
      CHECK(contents(assigned) == expected);
      const SmallVector<int, 4>& same = assigned;  // spelled apart: clang's -Wself-assign
      assigned = same;                             // self-assignment leaves it alone
      CHECK(contents(assigned) == expected);

      SmallVector<int, 4> moved(std::move(copy));
      copy = SmallVector<int, 4>();
      moved[0] = 0;
      CHECK(contents(moved) == expected);

      SmallVector<int, 4> target;
      for (int i = 0; i < 10; ++i) target.push_back(i);  // on the heap: freed by the move
      target = std::move(moved);
      CHECK(contents(target) == expected);
      CHECK(moved.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
      CHECK(moved.capacity() == 4);
      moved.push_back(5);
      CHECK(contents(moved) == std::vector<int>{5});
    }
  }
}
