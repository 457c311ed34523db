// EmbeddedChannel itself, the socket-free channel every codec test stands
// on: bytes and typed messages in and out, the peer that stops reading, the
// manual clock, posted tasks, EOF and closing.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/codec/string_codec.hpp"
#include "sluice/core/timer_wheel.hpp"

using namespace sluice;

namespace {
// Passes everything on and notes the lifecycle events.
class Watcher final : public HandlerBase {
 public:
  int inactive = 0;
  int input_shutdown = 0;
  void channel_inactive(HandlerContext& ctx) override {
    ++inactive;
    ctx.fire_channel_inactive();
  }
  void user_event(HandlerContext& ctx, const UserEvent& event) override {
    if (dynamic_cast<const InputShutdownEvent*>(&event) != nullptr) ++input_shutdown;
    ctx.fire_user_event(event);
  }
};
}  // namespace

TEST_CASE("EmbeddedChannel: bytes in reach the end of the pipeline, bytes out are read back", "[embedded]") {
  EmbeddedChannel ch(nullptr);
  CHECK(ch.is_open());
  CHECK(ch.channel().is_active());
  ch.write_inbound("abc");
  auto in = ch.read_inbound<Buffer>();
  REQUIRE(in);
  CHECK(in->view() == "abc");
  CHECK_FALSE(ch.read_inbound<Buffer>());
  ch.write_outbound(Buffer::copy_of("xyz"));
  CHECK(ch.read_outbound_bytes() == "xyz");
  CHECK(ch.read_outbound_bytes().empty());  // taken
}

TEST_CASE("EmbeddedChannel: typed messages in and out through a codec", "[embedded]") {
  EmbeddedChannel ch([](Channel& c) { c.pipeline().add_last("strings", std::make_shared<StringCodec>()); });
  ch.write_inbound("hello");
  auto in = ch.read_inbound<std::string>();
  REQUIRE(in);
  CHECK(*in == "hello");
  ch.write_outbound(std::string("bye"));
  CHECK(ch.read_outbound_bytes() == "bye");

  EmbeddedChannel raw(nullptr);  // no encoder: a typed write stays a message
  raw.write_outbound(42);
  auto out = raw.read_outbound<int>();
  REQUIRE(out);
  CHECK(*out == 42);
}

TEST_CASE("EmbeddedChannel: a peer that stops reading keeps bytes pending until it reads again", "[embedded]") {
  EmbeddedChannel ch(nullptr);
  ch.set_peer_reading(false);
  ch.write_outbound(Buffer::copy_of("held"));
  CHECK(ch.read_outbound_bytes().empty());
  CHECK(ch.channel().pending_outbound_bytes() == 4);
  ch.set_peer_reading(true);
  CHECK(ch.read_outbound_bytes() == "held");
  CHECK(ch.channel().pending_outbound_bytes() == 0);
}

TEST_CASE("EmbeddedChannel: the manual clock fires wheel timeouts; posted tasks run", "[embedded]") {
  EmbeddedChannel ch(nullptr);
  int fired = 0;
  TimerWheel::Entry entry{[](void* n) { ++*static_cast<int*>(n); }, &fired};
  ch.loop().schedule_timeout(entry, 1000);
  ch.advance_time(900);
  CHECK(fired == 0);
  ch.advance_time(200);  // the wheel is at most one tick late
  CHECK(fired == 1);

  int ran = 0;
  ch.loop().post([&ran] { ++ran; });
  CHECK(ran == 0);  // posted, not run inline
  ch.run_pending_tasks();
  CHECK(ran == 1);
}

TEST_CASE("EmbeddedChannel: the peer's EOF, close and destruction", "[embedded]") {
  auto watcher = std::make_shared<Watcher>();
  {
    EmbeddedChannel ch([&](Channel& c) { c.pipeline().add_last("watch", watcher); });
    ch.shutdown_inbound();
    CHECK(watcher->input_shutdown == 1);
    CHECK_FALSE(ch.is_open());  // no half-closure asked for
    CHECK(watcher->inactive == 1);
  }
  auto second = std::make_shared<Watcher>();
  {
    EmbeddedChannel ch([&](Channel& c) { c.pipeline().add_last("watch", second); });
    CHECK(ch.is_open());
  }
  CHECK(second->inactive == 1);  // destruction closes the channel
}
