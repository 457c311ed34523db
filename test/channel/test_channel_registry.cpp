// ChannelRegistry: the live channels of a loop, as a loop service.
#include <catch2/catch.hpp>

#include "sluice/channel/channel_registry.hpp"
#include "sluice/channel/embedded_channel.hpp"

#include <string>

using namespace sluice;

namespace {
// Asks to finish first when a graceful shutdown begins, and counts it.
class Finisher final : public HandlerBase {
 public:
  explicit Finisher(int& told) : told_(&told) {}
  void user_event(HandlerContext& ctx, const UserEvent& event) override {
    if (const auto* shutdown = dynamic_cast<const GracefulShutdownEvent*>(&event)) {
      ++*told_;
      shutdown->finish_first();
    }
    ctx.fire_user_event(event);
  }

 private:
  int* told_;
};
}  // namespace

TEST_CASE("a channel is in its loop's registry from start to close", "[registry]") {
  EmbeddedChannel ch([](Channel&) {});
  ChannelRegistry& registry = ChannelRegistry::of(ch.loop());
  CHECK(registry.size() == 1);
  CHECK(ch.loop().open_count() == 1);
  int seen = 0;
  registry.for_each([&](Channel& c) {
    CHECK(&c == &ch.channel());
    ++seen;
  });
  CHECK(seen == 1);
  ch.channel().close_now();
  CHECK(registry.size() == 0);
  CHECK(ch.loop().open_count() == 0);
}

TEST_CASE("the registry passes a graceful shutdown to its channels and closes them when the loop stops",
          "[registry]") {
  int told = 0;
  EmbeddedChannel ch([&](Channel& c) { c.pipeline().emplace_last<Finisher>("finisher", told); });
  ch.loop().shutdown_services_gracefully();
  CHECK(told == 1);
  CHECK(ch.is_open());  // it asked to finish first
  ChannelRegistry::of(ch.loop()).close_all(false);
  CHECK_FALSE(ch.is_open());
  CHECK(ChannelRegistry::of(ch.loop()).size() == 0);
}

// ---- the memory budget ----

namespace {
ChannelOptions unbounded_writes() {
  ChannelOptions o;
  o.write_high_watermark = o.write_low_watermark = std::size_t{1} << 40;  // only the budget pauses
  return o;
}
}  // namespace

TEST_CASE("a channel's write queue and its handlers' accounts count against the loop's budget", "[registry][memory]") {
  EmbeddedChannel ch([](Channel&) {}, unbounded_writes());
  MemoryBudget& memory = ch.loop().memory();
  ch.set_peer_reading(false);
  ch.write_outbound(Buffer::copy_of(std::string(1000, 'x')));
  CHECK(memory.held() == 1000);
  ch.channel().account_memory(500);
  CHECK(ch.channel().held_bytes() == 1500);
  CHECK(memory.held() == 1500);
  ch.channel().account_memory(-200);
  CHECK(memory.held() == 1300);
  ch.set_peer_reading(true);  // the queue drains
  CHECK(memory.held() == 300);
  ch.channel().close_now();  // what is still counted goes with it
  CHECK(memory.held() == 0);
  CHECK(memory.peak() == 1500);
}

TEST_CASE("while the loop sheds load the channels holding the most stop reading, and resume after",
          "[registry][memory]") {
  EmbeddedChannel ch([](Channel&) {}, unbounded_writes());
  MemoryBudget& memory = ch.loop().memory();
  memory.set_budget(256 * 1024);
  ch.set_peer_reading(false);
  CHECK(ch.channel().is_reading());
  ch.write_outbound(Buffer::copy_of(std::string(150 * 1024, 'x')));
  CHECK(memory.level() == MemoryBudget::Level::normal);
  CHECK(ch.channel().is_reading());
  ch.write_outbound(Buffer::copy_of(std::string(50 * 1024, 'x')));  // 200 KiB: past 3/4
  CHECK(memory.level() == MemoryBudget::Level::shedding);
  CHECK(ch.channel().paused_for_memory());
  CHECK_FALSE(ch.channel().is_reading());
  ch.set_peer_reading(true);
  CHECK(memory.level() == MemoryBudget::Level::normal);
  CHECK_FALSE(ch.channel().paused_for_memory());
  CHECK(ch.channel().is_reading());
}
