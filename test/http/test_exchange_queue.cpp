// detail::ExchangeQueue: a connection's exchanges in request order, a ring
// of owning links with no storage of its own.
#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "../lib/http/exchange.hpp"

using sluice::detail::Exchange;
using sluice::detail::ExchangeQueue;

namespace {

std::vector<Exchange*> order(ExchangeQueue& queue) {
  std::vector<Exchange*> seen;
  queue.for_each([&](Exchange& e) { seen.push_back(&e); });
  return seen;
}

}  // namespace

TEST_CASE("the exchange queue keeps request order and owns what it holds", "[http]") {
  ExchangeQueue queue;
  CHECK(queue.empty());
  CHECK(order(queue).empty());

  auto a = std::make_shared<Exchange>();
  auto b = std::make_shared<Exchange>();
  auto c = std::make_shared<Exchange>();
  queue.push_back(a);
  CHECK(a.use_count() == 2);  // a lone exchange is held by its own link
  CHECK(queue.front() == a);
  queue.push_back(b);
  queue.push_back(c);
  CHECK(order(queue) == std::vector<Exchange*>{a.get(), b.get(), c.get()});

  CHECK(queue.pop_front() == a);
  CHECK(a.use_count() == 1);  // out of the queue, nothing else holds it
  CHECK(a->next_in_queue == nullptr);
  CHECK(queue.front() == b);
  queue.push_back(a);
  CHECK(order(queue) == std::vector<Exchange*>{b.get(), c.get(), a.get()});

  CHECK(queue.pop_front() == b);
  CHECK(queue.pop_front() == c);
  CHECK(queue.pop_front() == a);
  CHECK(queue.empty());
  CHECK(a.use_count() == 1);
  CHECK(b.use_count() == 1);
  CHECK(c.use_count() == 1);
}

TEST_CASE("an exchange queue frees what it still holds when cleared, moved from or destroyed", "[http]") {
  std::weak_ptr<Exchange> first, last;
  {
    ExchangeQueue queue;
    for (int i = 0; i < 3; ++i) {
      auto e = std::make_shared<Exchange>();
      if (i == 0) first = e;
      last = e;
      queue.push_back(std::move(e));
    }
    ExchangeQueue moved(std::move(queue));
    CHECK(queue.empty());
    CHECK(order(moved).size() == 3);
    CHECK_FALSE(first.expired());
  }
  CHECK(first.expired());
  CHECK(last.expired());

  ExchangeQueue queue;
  auto lone = std::make_shared<Exchange>();
  std::weak_ptr<Exchange> watch = lone;
  queue.push_back(std::move(lone));
  CHECK_FALSE(watch.expired());
  queue.clear();
  CHECK(queue.empty());
  CHECK(watch.expired());
}
