// ChannelRegistry: the live channels of a loop, as a loop service.
#include <catch2/catch.hpp>

#include "sluice/channel/channel_registry.hpp"
#include "sluice/channel/embedded_channel.hpp"

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
