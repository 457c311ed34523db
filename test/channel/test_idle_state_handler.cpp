// IdleStateHandler on the manual clock of an EmbeddedChannel. The wheel's
// precision is one tick (50 ms): an event must not come before its timeout
// and must have come by timeout + one tick.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/channel/idle_state_handler.hpp"

using namespace sluice;
using Kind = IdleStateEvent::Kind;

namespace {

constexpr std::uint64_t kTick = 50;   // EventLoop::Options::wheel_tick_ms
constexpr std::uint64_t kStep = 10;   // how finely the tests move the clock

struct IdleEvent {
  Kind kind;
  std::uint64_t at_ms;
};

// Records idle events with the loop time they arrived at.
class IdleRecorder final : public HandlerBase {
 public:
  explicit IdleRecorder(std::vector<IdleEvent>& events) : events_(&events) {}
  void user_event(HandlerContext& ctx, const UserEvent& event) override {
    if (const auto* idle = dynamic_cast<const IdleStateEvent*>(&event)) {
      events_->push_back(IdleEvent{idle->kind, ctx.loop().now()});
    }
    ctx.fire_user_event(event);
  }

 private:
  std::vector<IdleEvent>* events_;
};

// A channel with an IdleStateHandler ("idle") and an IdleRecorder ("events").
class IdleChannel {
 public:
  explicit IdleChannel(IdleStateHandler::Options options)
      : ch([this, options](Channel& c) {
          c.pipeline().add_last("idle", std::make_shared<IdleStateHandler>(options));
          c.pipeline().add_last("events", std::make_shared<IdleRecorder>(events));
        }) {}

  std::uint64_t now() { return ch.loop().now(); }
  /// Moves the clock to `t` in small steps, as a running loop would.
  void run_until(std::uint64_t t) {
    while (now() < t) ch.advance_time(std::min(kStep, t - now()));
  }

  std::vector<IdleEvent> events;
  EmbeddedChannel ch;
};

IdleStateHandler::Options watching(Kind kind, std::uint64_t timeout_ms, bool close_on_idle) {
  IdleStateHandler::Options o;
  o.close_on_idle = close_on_idle;
  switch (kind) {
    case Kind::reader_idle: o.reader_idle_ms = timeout_ms; break;
    case Kind::writer_idle: o.writer_idle_ms = timeout_ms; break;
    case Kind::all_idle: o.all_idle_ms = timeout_ms; break;
  }
  return o;
}

// When the first event of `kind` came (-1: never).
std::int64_t first_event_at(const std::vector<IdleEvent>& events, Kind kind) {
  for (const auto& e : events) {
    if (e.kind == kind) return static_cast<std::int64_t>(e.at_ms);
  }
  return -1;
}

// Matches a time in [lo, hi].
class IsBetween final : public Catch::MatcherBase<std::int64_t> {
 public:
  IsBetween(std::uint64_t lo, std::uint64_t hi)
      : lo_(static_cast<std::int64_t>(lo)), hi_(static_cast<std::int64_t>(hi)) {}
  bool match(const std::int64_t& t) const override { return t >= lo_ && t <= hi_; }
  std::string describe() const override {
    return "is between " + std::to_string(lo_) + " and " + std::to_string(hi_) + " ms";
  }

 private:
  std::int64_t lo_;
  std::int64_t hi_;
};

const char* name_of(Kind kind) {
  switch (kind) {
    case Kind::reader_idle: return "reader_idle";
    case Kind::writer_idle: return "writer_idle";
    case Kind::all_idle: return "all_idle";
  }
  return "?";
}

}  // namespace

TEST_CASE("an idle event fires after its timeout, not before", "[idle]") {
  const Kind kind = GENERATE(Kind::reader_idle, Kind::writer_idle, Kind::all_idle);
  INFO(name_of(kind));
  IdleChannel t(watching(kind, 200, false));

  t.run_until(200 - 1);
  CHECK(t.events.empty());
  t.run_until(200 + kTick);
  REQUIRE(t.events.size() == 1);
  CHECK(t.events[0].kind == kind);
  CHECK(t.events[0].at_ms >= 200);
  CHECK(t.ch.is_open());
}

TEST_CASE("reads postpone reader and all idle, not writer idle", "[idle]") {
  IdleStateHandler::Options o;
  o.reader_idle_ms = 200;
  o.writer_idle_ms = 300;
  o.all_idle_ms = 200;
  o.close_on_idle = false;
  IdleChannel t(o);

  t.run_until(150);
  t.ch.write_inbound("ping");
  t.run_until(600);
  // Without the read, reader and all idle would have come at 200.
  CHECK_THAT(first_event_at(t.events, Kind::reader_idle), IsBetween(150 + 200, 150 + 200 + kTick));
  CHECK_THAT(first_event_at(t.events, Kind::all_idle), IsBetween(150 + 200, 150 + 200 + kTick));
  CHECK_THAT(first_event_at(t.events, Kind::writer_idle), IsBetween(300, 300 + kTick));
}

TEST_CASE("writes postpone writer and all idle, not reader idle", "[idle]") {
  IdleStateHandler::Options o;
  o.reader_idle_ms = 300;
  o.writer_idle_ms = 200;
  o.all_idle_ms = 200;
  o.close_on_idle = false;
  IdleChannel t(o);

  t.run_until(150);
  t.ch.write_outbound(std::string("pong"));
  t.run_until(600);
  CHECK_THAT(first_event_at(t.events, Kind::writer_idle), IsBetween(150 + 200, 150 + 200 + kTick));
  CHECK_THAT(first_event_at(t.events, Kind::all_idle), IsBetween(150 + 200, 150 + 200 + kTick));
  CHECK_THAT(first_event_at(t.events, Kind::reader_idle), IsBetween(300, 300 + kTick));
}

TEST_CASE("steady activity keeps an idle event away", "[idle]") {
  IdleChannel t(watching(Kind::reader_idle, 200, true));
  for (int i = 0; i < 20; ++i) {
    t.run_until(t.now() + 100);
    t.ch.write_inbound("x");
  }
  CHECK(t.events.empty());
  CHECK(t.ch.is_open());
  const std::uint64_t last_read = t.now();
  t.run_until(last_read + 200 + kTick);
  REQUIRE(t.events.size() == 1);
  CHECK(t.events[0].at_ms >= last_read + 200);
}

TEST_CASE("close_on_idle closes the channel after the event", "[idle]") {
  IdleChannel t(watching(Kind::all_idle, 300, true));
  t.run_until(300 + kTick);
  REQUIRE(t.events.size() == 1);
  CHECK(t.events[0].kind == Kind::all_idle);
  CHECK_FALSE(t.ch.is_open());

  t.run_until(2000);
  CHECK(t.events.size() == 1);  // a closed channel is never idle again
}

TEST_CASE("without close_on_idle the channel stays open and the event repeats", "[idle]") {
  IdleChannel t(watching(Kind::reader_idle, 200, false));
  t.run_until(200 + kTick);
  REQUIRE(t.events.size() == 1);
  CHECK(t.ch.is_open());

  const std::uint64_t first = t.events[0].at_ms;
  t.run_until(first + 200 - 1);
  CHECK(t.events.size() == 1);
  t.run_until(first + 200 + kTick);
  REQUIRE(t.events.size() == 2);
  CHECK(t.events[1].at_ms >= first + 200);
  CHECK(t.ch.is_open());
}

TEST_CASE("no idle events after the channel closes or the handler is removed", "[idle]") {
  IdleChannel t(watching(Kind::reader_idle, 200, false));
  SECTION("closed") { t.ch.channel().close(); }
  SECTION("removed") { t.ch.pipeline().remove("idle"); }
  t.run_until(1000);
  CHECK(t.events.empty());
}

TEST_CASE("an IdleStateHandler added to a running channel starts watching at once", "[idle]") {
  std::vector<IdleEvent> events;
  EmbeddedChannel ch([&](Channel& c) { c.pipeline().add_last("events", std::make_shared<IdleRecorder>(events)); });
  ch.advance_time(1000);
  ch.pipeline().add_first("idle", std::make_shared<IdleStateHandler>(watching(Kind::reader_idle, 100, true)));
  ch.advance_time(99);
  CHECK(events.empty());
  ch.advance_time(1 + kTick);
  REQUIRE(events.size() == 1);
  CHECK(events[0].at_ms >= 1100);
  CHECK_FALSE(ch.is_open());
}
