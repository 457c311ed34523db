// Channel: write/flush, watermarks and backpressure, auto-read, attributes,
// close with linger, the lingering close, graceful shutdown, peer EOF and
// half-closure.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/codec/string_codec.hpp"

using namespace sluice;

namespace {

// Counts the channel events a test asserts on. Passes everything on.
struct EventCounts {
  int active = 0;
  int inactive = 0;
  int input_shutdown = 0;
  std::vector<bool> writability;  // each writability_changed, in order
};

class EventCounter final : public HandlerBase {
 public:
  explicit EventCounter(EventCounts& counts) : counts_(&counts) {}
  void channel_active(HandlerContext& ctx) override {
    ++counts_->active;
    ctx.fire_channel_active();
  }
  void channel_inactive(HandlerContext& ctx) override {
    ++counts_->inactive;
    ctx.fire_channel_inactive();
  }
  void writability_changed(HandlerContext& ctx, bool writable) override {
    counts_->writability.push_back(writable);
    ctx.fire_writability_changed(writable);
  }
  void user_event(HandlerContext& ctx, const UserEvent& event) override {
    if (dynamic_cast<const InputShutdownEvent*>(&event) != nullptr) ++counts_->input_shutdown;
    ctx.fire_user_event(event);
  }

 private:
  EventCounts* counts_;
};

// A channel with an EventCounter and a StringEncoder (so tests write strings).
class CountedChannel {
 public:
  explicit CountedChannel(ChannelOptions options = {})
      : ch([this](Channel& c) {
              c.pipeline().add_last("counter", std::make_shared<EventCounter>(counts));
              c.pipeline().add_last("encoder", std::make_shared<StringEncoder>());
            },
            options) {}
  EventCounts counts;
  EmbeddedChannel ch;
};

ChannelOptions small_watermarks() {
  ChannelOptions o;
  o.write_high_watermark = 100;
  o.write_low_watermark = 50;
  return o;
}

}  // namespace

TEST_CASE("an embedded channel is active and reading once built", "[channel]") {
  CountedChannel t;
  CHECK(t.counts.active == 1);
  CHECK(t.ch.is_open());
  CHECK(t.ch.channel().is_active());
  CHECK(t.ch.channel().is_reading());
  CHECK(t.ch.channel().is_writable());
  CHECK(t.ch.channel().pending_outbound_bytes() == 0);
}

TEST_CASE("written bytes leave only when flushed", "[channel]") {
  CountedChannel t;
  Channel& c = t.ch.channel();

  c.write(std::string("hello "));
  c.write(std::string("world"));
  CHECK(t.ch.read_outbound_bytes().empty());
  CHECK(c.pending_outbound_bytes() == 11);

  c.flush();
  CHECK(t.ch.read_outbound_bytes() == "hello world");
  CHECK(c.pending_outbound_bytes() == 0);

  SECTION("write_and_flush sends at once") {
    c.write_and_flush(std::string("now"));
    CHECK(t.ch.read_outbound_bytes() == "now");
  }
  SECTION("a flush with nothing written sends nothing") {
    c.flush();
    CHECK(t.ch.read_outbound_bytes().empty());
  }
}

TEST_CASE("raw Buffers pass straight to the socket", "[channel]") {
  EmbeddedChannel ch([](Channel&) {});
  ch.channel().write(Buffer::copy_of("raw"));
  CHECK(ch.channel().pending_outbound_bytes() == 3);
  ch.channel().flush();
  CHECK(ch.read_outbound_bytes() == "raw");
}

TEST_CASE("above the high watermark the channel becomes unwritable and stops reading", "[channel]") {
  CountedChannel t(small_watermarks());
  Channel& c = t.ch.channel();
  t.ch.set_peer_reading(false);

  t.ch.write_outbound(std::string(60, 'a'));
  CHECK(c.pending_outbound_bytes() == 60);
  CHECK(c.is_writable());
  CHECK(t.counts.writability.empty());

  t.ch.write_outbound(std::string(41, 'b'));  // 101 > 100
  CHECK(c.pending_outbound_bytes() == 101);
  CHECK_FALSE(c.is_writable());
  CHECK_FALSE(c.is_reading());
  CHECK(t.counts.writability == std::vector<bool>{false});

  t.ch.write_outbound(std::string(500, 'c'));  // already unwritable: no second event
  CHECK(t.counts.writability == std::vector<bool>{false});
  CHECK(t.ch.read_outbound_bytes().empty());

  // The peer drains everything: writable again and reading resumes.
  t.ch.set_peer_reading(true);
  CHECK(c.pending_outbound_bytes() == 0);
  CHECK(c.is_writable());
  CHECK(c.is_reading());
  CHECK(t.counts.writability == std::vector<bool>{false, true});
  CHECK(t.ch.read_outbound_bytes() == std::string(60, 'a') + std::string(41, 'b') + std::string(500, 'c'));
}

TEST_CASE("small writes coalesce into the unflushed tail without reordering bytes", "[channel]") {
  // Small buffers join the last unflushed one (a pipelined batch of answers
  // leaves as one block); flushed bytes, a big write in between, and a peer
  // that stops reading must not change what arrives, or in what order.
  CountedChannel t;
  Channel& c = t.ch.channel();
  t.ch.set_peer_reading(false);
  std::string expected;
  auto put = [&](std::string piece) {
    expected += piece;
    c.write(std::move(piece));
  };
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 30; ++i) put("r" + std::to_string(round) + "-" + std::to_string(i) + std::string(i * 7, 'x') + ";");
    if (round % 7 == 3) put(std::string(5000, static_cast<char>('A' + round % 26)));  // too big to coalesce
    if (round % 2 == 0) c.flush();
  }
  c.flush();
  CHECK(c.pending_outbound_bytes() == expected.size());
  t.ch.set_peer_reading(true);
  CHECK(c.pending_outbound_bytes() == 0);
  CHECK(t.ch.read_outbound_bytes() == expected);
}

TEST_CASE("the default high watermark is 64 KiB", "[channel]") {
  CountedChannel t;
  Channel& c = t.ch.channel();
  t.ch.set_peer_reading(false);

  t.ch.write_outbound(std::string(64 * 1024, 'x'));  // exactly at the mark: still writable
  CHECK(c.is_writable());
  t.ch.write_outbound(std::string(1, 'y'));
  CHECK_FALSE(c.is_writable());
  CHECK_FALSE(c.is_reading());
  CHECK(t.counts.writability == std::vector<bool>{false});

  t.ch.set_peer_reading(true);
  CHECK(c.is_writable());
  CHECK(c.is_reading());
  CHECK(t.ch.read_outbound_bytes().size() == 64 * 1024 + 1);
}

TEST_CASE("unflushed bytes count towards the watermark", "[channel]") {
  CountedChannel t(small_watermarks());
  t.ch.channel().write(std::string(101, 'z'));
  CHECK_FALSE(t.ch.channel().is_writable());
  CHECK(t.counts.writability == std::vector<bool>{false});
  t.ch.channel().flush();  // the peer reads: drained at once
  CHECK(t.ch.channel().is_writable());
  CHECK(t.counts.writability == std::vector<bool>{false, true});
}

TEST_CASE("reading goes on while unwritable when pause_reading_when_unwritable is off", "[channel]") {
  ChannelOptions o = small_watermarks();
  o.pause_reading_when_unwritable = false;
  CountedChannel t(o);
  t.ch.set_peer_reading(false);
  t.ch.write_outbound(std::string(200, 'a'));
  CHECK_FALSE(t.ch.channel().is_writable());
  CHECK(t.ch.channel().is_reading());
}

TEST_CASE("set_auto_read pauses and resumes reading", "[channel]") {
  CountedChannel t(small_watermarks());
  Channel& c = t.ch.channel();

  c.set_auto_read(false);
  CHECK_FALSE(c.auto_read());
  CHECK_FALSE(c.is_reading());
  c.set_auto_read(true);
  CHECK(c.auto_read());
  CHECK(c.is_reading());

  SECTION("regaining writability does not resume reading the user paused") {
    c.set_auto_read(false);
    t.ch.set_peer_reading(false);
    t.ch.write_outbound(std::string(200, 'a'));
    t.ch.set_peer_reading(true);
    CHECK(c.is_writable());
    CHECK_FALSE(c.is_reading());
    c.set_auto_read(true);
    CHECK(c.is_reading());
  }
  SECTION("auto-read on does not resume reading while unwritable") {
    t.ch.set_peer_reading(false);
    t.ch.write_outbound(std::string(200, 'a'));
    c.set_auto_read(false);
    c.set_auto_read(true);
    CHECK_FALSE(c.is_reading());
    t.ch.set_peer_reading(true);
    CHECK(c.is_reading());
  }
}

TEST_CASE("attributes are typed, per key, and replaceable", "[channel]") {
  static const AttributeKey<int> kCount{"count"};
  static const AttributeKey<int> kOther{"other"};
  static const AttributeKey<std::string> kName{"name"};
  EmbeddedChannel ch([](Channel&) {});
  Channel& c = ch.channel();

  CHECK(c.attr(kCount) == nullptr);
  int& count = c.set_attr(kCount, 1);
  CHECK(count == 1);
  ++count;
  REQUIRE(c.attr(kCount) != nullptr);
  CHECK(*c.attr(kCount) == 2);
  CHECK(c.attr(kOther) == nullptr);  // same type, different key

  c.set_attr(kName, std::string("alice"));
  c.set_attr(kCount, 10);  // replaces
  CHECK(*c.attr(kCount) == 10);
  CHECK(*c.attr(kName) == "alice");
  CHECK(std::string(kName.name()) == "name");

  c.remove_attr(kCount);
  CHECK(c.attr(kCount) == nullptr);
  CHECK(*c.attr(kName) == "alice");
}

TEST_CASE("attribute values are destroyed when removed or replaced", "[channel]") {
  static const AttributeKey<std::shared_ptr<int>> kShared{"shared"};
  auto value = std::make_shared<int>(5);
  {
    EmbeddedChannel ch([](Channel&) {});
    ch.channel().set_attr(kShared, value);
    CHECK(value.use_count() == 2);
    ch.channel().set_attr(kShared, std::make_shared<int>(6));
    CHECK(value.use_count() == 1);
    ch.channel().set_attr(kShared, value);
    CHECK(value.use_count() == 2);
    ch.channel().remove_attr(kShared);
    CHECK(value.use_count() == 1);
    ch.channel().set_attr(kShared, value);
  }
  CHECK(value.use_count() == 1);  // and when the channel goes
}

TEST_CASE("close() with nothing pending closes at once", "[channel]") {
  CountedChannel t;
  t.ch.channel().close();
  CHECK_FALSE(t.ch.is_open());
  CHECK_FALSE(t.ch.channel().is_active());
  CHECK(t.counts.inactive == 1);
}

TEST_CASE("close() waits for pending bytes to reach the peer", "[channel]") {
  CountedChannel t;
  t.ch.set_peer_reading(false);
  t.ch.write_outbound(std::string("last words"));
  t.ch.channel().close();
  CHECK(t.ch.is_open());
  CHECK_FALSE(t.ch.channel().is_reading());
  CHECK(t.counts.inactive == 0);

  SECTION("writes after close() are dropped") {
    t.ch.write_outbound(std::string("too late"));
    CHECK(t.ch.channel().pending_outbound_bytes() == 10);
  }

  t.ch.set_peer_reading(true);
  CHECK(t.ch.read_outbound_bytes() == "last words");
  CHECK_FALSE(t.ch.is_open());
  CHECK(t.counts.inactive == 1);
}

TEST_CASE("close() force-closes after close_linger_ms", "[channel]") {
  ChannelOptions o;
  o.close_linger_ms = 1000;
  CountedChannel t(o);
  t.ch.set_peer_reading(false);
  t.ch.write_outbound(std::string("never read"));
  t.ch.channel().close();

  t.ch.advance_time(999);
  CHECK(t.ch.is_open());
  CHECK(t.ch.channel().pending_outbound_bytes() == 10);

  t.ch.advance_time(51);  // the wheel is one tick (50 ms) late at most
  CHECK_FALSE(t.ch.is_open());
  CHECK(t.ch.channel().pending_outbound_bytes() == 0);
  CHECK(t.counts.inactive == 1);

  // The unsent bytes were dropped.
  t.ch.set_peer_reading(true);
  CHECK(t.ch.read_outbound_bytes().empty());
}

TEST_CASE("close_lingering(): flush, FIN, drop what the peer still sends, close at its FIN", "[channel]") {
  CountedChannel t;
  t.ch.set_peer_reading(false);
  t.ch.write_outbound(std::string("the answer"));
  t.ch.channel().close_lingering();
  CHECK_FALSE(t.ch.output_shutdown());  // the answer has not left yet
  CHECK(t.ch.channel().is_closing());
  t.ch.write_inbound("more requests");  // dropped: nothing reaches the handlers now
  CHECK(t.ch.inbound_count() == 0);

  t.ch.set_peer_reading(true);
  CHECK(t.ch.read_outbound_bytes() == "the answer");
  CHECK(t.ch.output_shutdown());  // FIN after the last byte
  CHECK(t.ch.is_open());
  CHECK(t.ch.channel().is_reading());  // reading on, to drop, so the peer never gets a reset
  t.ch.write_inbound("still sending");
  CHECK(t.ch.inbound_count() == 0);
  CHECK(t.counts.input_shutdown == 0);

  t.ch.shutdown_inbound();  // the peer's FIN ends it
  CHECK_FALSE(t.ch.is_open());
  CHECK(t.counts.inactive == 1);
  CHECK(t.counts.input_shutdown == 0);  // a closing channel's handlers are not told
}

TEST_CASE("close_lingering() closes after lingering_close_ms when the peer never closes", "[channel]") {
  ChannelOptions o;
  o.lingering_close_ms = 1000;
  CountedChannel t(o);
  t.ch.channel().set_auto_read(false);  // a handler had paused reading: the lingering close reads anyway
  t.ch.run_pending_tasks();
  t.ch.channel().close_lingering();
  CHECK(t.ch.output_shutdown());
  CHECK(t.ch.channel().is_reading());
  t.ch.advance_time(900);
  CHECK(t.ch.is_open());
  t.ch.advance_time(151);
  CHECK_FALSE(t.ch.is_open());
}

TEST_CASE("close_lingering() is a plain close after the peer's FIN, or with lingering_close_ms 0", "[channel]") {
  SECTION("the peer already closed its side") {
    ChannelOptions o;
    o.allow_half_close = true;
    CountedChannel t(o);
    t.ch.shutdown_inbound();
    REQUIRE(t.ch.is_open());
    t.ch.write_outbound(std::string("bye"));
    t.ch.channel().close_lingering();
    CHECK(t.ch.read_outbound_bytes() == "bye");
    CHECK_FALSE(t.ch.is_open());
  }
  SECTION("lingering_close_ms = 0") {
    ChannelOptions o;
    o.lingering_close_ms = 0;
    CountedChannel t(o);
    t.ch.channel().close_lingering();
    CHECK_FALSE(t.ch.output_shutdown());
    CHECK_FALSE(t.ch.is_open());
  }
}

TEST_CASE("shutdown_gracefully(): closes unless a handler asks to finish first", "[channel]") {
  SECTION("nobody asks: a lingering close after the pending writes") {
    CountedChannel t;
    t.ch.set_peer_reading(false);
    t.ch.write_outbound(std::string("pending"));
    t.ch.channel().shutdown_gracefully();
    CHECK(t.ch.is_open());
    t.ch.set_peer_reading(true);
    CHECK(t.ch.read_outbound_bytes() == "pending");
    CHECK(t.ch.output_shutdown());
    t.ch.shutdown_inbound();
    CHECK_FALSE(t.ch.is_open());
  }
  SECTION("a handler finishes first: the channel stays until it closes") {
    struct Finisher final : HandlerBase {
      void user_event(HandlerContext& ctx, const UserEvent& event) override {
        if (const auto* e = dynamic_cast<const GracefulShutdownEvent*>(&event)) e->finish_first();
        ctx.fire_user_event(event);
      }
    };
    EmbeddedChannel ch([](Channel& c) { c.pipeline().add_last("finisher", std::make_shared<Finisher>()); });
    ch.channel().shutdown_gracefully();
    CHECK(ch.is_open());
    CHECK_FALSE(ch.output_shutdown());
  }
}

TEST_CASE("peer EOF fires InputShutdownEvent and closes", "[channel]") {
  CountedChannel t;
  t.ch.shutdown_inbound();
  CHECK(t.counts.input_shutdown == 1);
  CHECK(t.ch.channel().input_shutdown());
  CHECK_FALSE(t.ch.is_open());
  CHECK(t.counts.inactive == 1);
}

TEST_CASE("with allow_half_close the channel keeps writing after the peer's EOF", "[channel]") {
  ChannelOptions o;
  o.allow_half_close = true;
  CountedChannel t(o);

  t.ch.shutdown_inbound();
  CHECK(t.counts.input_shutdown == 1);
  CHECK(t.ch.is_open());
  CHECK(t.ch.channel().input_shutdown());
  CHECK_FALSE(t.ch.channel().is_reading());

  t.ch.write_outbound(std::string("reply"));
  CHECK(t.ch.read_outbound_bytes() == "reply");

  // A second EOF is not news.
  t.ch.shutdown_inbound();
  CHECK(t.counts.input_shutdown == 1);

  // Reading stays off even if auto-read is toggled.
  t.ch.channel().set_auto_read(true);
  CHECK_FALSE(t.ch.channel().is_reading());

  t.ch.channel().close();
  CHECK_FALSE(t.ch.is_open());
  CHECK(t.counts.inactive == 1);
}

TEST_CASE("channel_inactive fires exactly once", "[channel]") {
  EventCounts counts;
  {
    EmbeddedChannel ch([&](Channel& c) { c.pipeline().add_last("counter", std::make_shared<EventCounter>(counts)); });

    SECTION("close, then EOF, then close_now, then destruction") {
      ch.channel().close();
      ch.shutdown_inbound();
      ch.channel().close_now();
      ch.channel().close();
    }
    SECTION("EOF, then close") {
      ch.shutdown_inbound();
      ch.channel().close();
    }
    SECTION("destruction alone") {}
  }
  CHECK(counts.inactive == 1);
  CHECK(counts.active == 1);
}
