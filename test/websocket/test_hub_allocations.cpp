// Heap allocations of a Hub publish (support/allocation_counter): the
// message is framed once and shared, so the count must not grow with the
// number of subscribers. 10,000 subscribers on two loops, on channels whose
// transport takes every byte and drops it (10,000 sockets and their peers
// would pass this machine's 20,000 descriptors).
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <vector>

#include "sluice/channel/channel.hpp"
#include "sluice/channel/channel_registry.hpp"
#include "sluice/core/event_loop_group.hpp"
#include "sluice/websocket/hub.hpp"
#include "sluice/websocket/websocket.hpp"
#include "support/allocation_counter.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::AllocationCounter;
using sluice::test::wait_until;

namespace {

std::atomic<std::size_t> g_frames_sent{0};

// A connection whose peer reads everything at once: each flushed buffer is
// counted and dropped.
class DiscardChannel final : public Channel {
 public:
  DiscardChannel(EventLoop& loop, std::shared_ptr<const ChannelOptions> options) : Channel(loop, std::move(options)) {}
  void start() {
    ChannelRegistry::of(loop()).add(shared_from_this());
    activate();
  }

 protected:
  void transport_start_reading() override {}
  void transport_stop_reading() override {}
  void transport_flush() override {
    std::size_t sent = 0;
    while (flushed_count_ > 0) {
      sent += outbound_.front().readable_bytes();
      outbound_.pop_front();
      --flushed_count_;
      g_frames_sent.fetch_add(1, std::memory_order_relaxed);
    }
    if (sent != 0) bytes_sent(sent);
  }
  void transport_shutdown_output() override {}
  void transport_close() override { transport_closed(); }
};

class Quiet final : public WebSocketHandler {};

// `count` subscribers of `topic`, spread over the group's loops.
void subscribe_many(EventLoopGroup& group, Hub& hub, const std::string& topic, std::size_t count) {
  auto options = std::make_shared<const ChannelOptions>();
  auto handler = std::make_shared<Quiet>();
  WebSocketOptions ws_options;
  ws_options.ping_interval_ms = 0;
  for (std::size_t l = 0; l < group.size(); ++l) {
    std::promise<void> done;
    group.at(l).post([&, l] {
      for (std::size_t i = l; i < count; i += group.size()) {
        auto channel = std::make_shared<DiscardChannel>(group.at(l), options);
        channel->start();
        hub.subscribe(*start_websocket(*channel, handler, ws_options), topic);
      }
      done.set_value();
    });
    done.get_future().wait();
  }
}

// Allocations made by one publish to `topic`, delivery included.
std::size_t allocations_of_publish(Hub& hub, const std::string& topic, std::size_t subscribers) {
  std::size_t before = g_frames_sent.load();
  AllocationCounter counter;
  hub.publish(topic, "price update: 42.17");
  bool delivered = wait_until([&] { return g_frames_sent.load() == before + subscribers; });
  std::size_t n = counter.count();
  REQUIRE(delivered);
  return n;
}

}  // namespace

TEST_CASE("hub: allocations per publish do not grow with the subscribers", "[websocket][hub][alloc]") {
  EventLoopGroup group(EventLoopGroup::Options{.loops = 2, .name = "hub-alloc"});
  Hub hub(group);
  subscribe_many(group, hub, "few", 100);
  subscribe_many(group, hub, "many", 10'000);
  REQUIRE(hub.subscriber_count("many") == 10'000);
  // Warm: the loops' task queues and buffer pools reach their working size.
  for (int i = 0; i < 3; ++i) {
    allocations_of_publish(hub, "few", 100);
    allocations_of_publish(hub, "many", 10'000);
  }
  std::size_t few = allocations_of_publish(hub, "few", 100);
  std::size_t many = allocations_of_publish(hub, "many", 10'000);
  INFO("100 subscribers: " << few << " allocations; 10,000: " << many);
  CHECK(many == few);
  CHECK(many <= 1);  // the shared frame; nothing per loop, nothing per subscriber
  // The subscribers cannot answer the shutdown's close frames: cut at once.
  group.shutdown_gracefully(0, 0);
}
