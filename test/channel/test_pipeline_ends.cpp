// Pipeline: the ends. Past the last handler, inbound events reach the
// channel's tail behaviour; past the first, outbound operations reach the
// channel (the socket). Neither end is a handler of its own.
#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/channel/manual_loop.hpp"
#include "sluice/channel/pipeline.hpp"
#include "pipeline_probes.hpp"

using namespace sluice;
using Catch::Matchers::Contains;

using sluice::test::round_inbound;
using sluice::test::Tagger;
using sluice::test::round_outbound;

namespace {

using Log = std::vector<std::string>;

struct Ping final : UserEvent {};

// Answers each message itself, then passes it on.
class Answerer final : public InboundHandler<std::string> {
 public:
  void read(HandlerContext& ctx, std::string& message) override {
    ctx.write_and_flush(std::string("re: ") + message);
    ctx.fire_read(message);
  }
};

// Closes the channel from inside read().
class Closer final : public InboundHandler<std::string> {
 public:
  void read(HandlerContext& ctx, std::string&) override { ctx.close(); }
};

// Leaves the pipeline inside its first read(), then answers and passes the
// message on through the context it still holds.
class AnswerAndLeave final : public InboundHandler<std::string> {
 public:
  void read(HandlerContext& ctx, std::string& message) override {
    ctx.pipeline().remove(ctx.name());
    ctx.write_and_flush(std::string("bye"));
    message += "-left";
    ctx.fire_read(message);
  }
};

// Logs errors and closes, passing each on.
class ErrorRecorder final : public HandlerBase {
 public:
  explicit ErrorRecorder(Log& log) : log_(&log) {}
  void error(HandlerContext& ctx, const std::exception& error) override {
    log_->push_back(std::string(ctx.name()) + " error: " + error.what());
    ctx.fire_error(error);
  }
  void channel_inactive(HandlerContext& ctx) override {
    log_->push_back(std::string(ctx.name()) + " inactive");
    ctx.fire_channel_inactive();
  }

 private:
  Log* log_;
};

// A channel whose socket takes only Buffers, as a TCP channel's does, and
// sends nothing anywhere: another message reaching it throws.
class BufferOnlyChannel final : public Channel {
 public:
  explicit BufferOnlyChannel(EventLoop& loop) : Channel(loop, std::make_shared<const ChannelOptions>()) {}
  void start() { activate(); }
  bool is_closed() const noexcept { return closed(); }

 protected:
  void transport_start_reading() override {}
  void transport_stop_reading() override {}
  void transport_flush() override {}
  void transport_shutdown_output() override {}
  void transport_close() override { transport_closed(); }
};

}  // namespace

TEST_CASE("a pipeline costs its channel no more than its two ends and its block", "[pipeline]") {
  // Every connection has one, and a context per handler (issue 12: an idle
  // HTTP connection in 512 bytes).
  STATIC_REQUIRE(sizeof(Pipeline) <= 48);
  STATIC_REQUIRE(sizeof(HandlerContext) <= 40);
}

TEST_CASE("with no handlers, each event goes straight to the channel's other end", "[pipeline]") {
  EmbeddedChannel ch(nullptr);
  CHECK(ch.pipeline().names().empty());
  CHECK(round_inbound(ch, "in") == "in");
  CHECK(round_outbound(ch, "out") == "out");
  // Nothing to do with these at the tail: the channel stays as it was.
  ch.pipeline().fire_read_complete();
  ch.pipeline().fire_writability_changed(false);
  ch.pipeline().fire_user_event(Ping{});
  CHECK(ch.is_open());
  // An error nobody handled closes the channel.
  ch.pipeline().fire_error(std::runtime_error("lost"));
  CHECK_FALSE(ch.is_open());
}

TEST_CASE("handlers added to an empty pipeline, then removed, leave the ends joined", "[pipeline]") {
  EmbeddedChannel ch(nullptr);
  ch.pipeline().add_first("b", std::make_shared<Tagger>("b"));
  ch.pipeline().add_first("a", std::make_shared<Tagger>("a"));
  ch.pipeline().emplace_last<Tagger>("c", "c");
  CHECK(ch.pipeline().names() == std::vector<std::string>{"a", "b", "c"});
  CHECK(round_inbound(ch, "m") == "m-a-b-c");
  CHECK(round_outbound(ch, "m") == "m-c-b-a");

  CHECK(ch.pipeline().remove("a"));
  CHECK(ch.pipeline().remove("c"));
  CHECK(round_inbound(ch, "m") == "m-b");
  CHECK(round_outbound(ch, "m") == "m-b");
  CHECK(ch.pipeline().remove("b"));
  CHECK(ch.pipeline().names().empty());
  CHECK(round_inbound(ch, "m") == "m");
  CHECK(round_outbound(ch, "m") == "m");
  ch.pipeline().emplace_first<Tagger>("again", "again");
  CHECK(round_inbound(ch, "m") == "m-again");
}

TEST_CASE("the first handler's writes, flushes and close reach the channel", "[pipeline]") {
  EmbeddedChannel ch([](Channel& c) {
    c.pipeline().add_last("answer", std::make_shared<Answerer>());
    c.pipeline().add_last("closer", std::make_shared<Closer>());
  });
  ch.write_inbound_message(std::string("hello"));
  CHECK(ch.read_outbound<std::string>() == "re: hello");
  CHECK_FALSE(ch.is_open());  // closed by the second handler, through the first
}

TEST_CASE("the last handler's events reach the channel's tail", "[pipeline]") {
  Log log;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().add_last("watch", std::make_shared<ErrorRecorder>(log));
    c.pipeline().add_last("last", std::make_shared<Tagger>("last"));
  });
  CHECK(round_inbound(ch, "m") == "m-last");
  ch.pipeline().fire_user_event(Ping{});
  CHECK(ch.is_open());
  ch.pipeline().fire_error(std::runtime_error("lost"));
  CHECK(log == Log{"watch error: lost", "watch inactive"});
  CHECK_FALSE(ch.is_open());
}

TEST_CASE("the only handler can leave while reading and still pass on both ways", "[pipeline]") {
  EmbeddedChannel ch([](Channel& c) { c.pipeline().add_last("once", std::make_shared<AnswerAndLeave>()); });
  CHECK(round_inbound(ch, "first") == "first-left");
  CHECK(ch.read_outbound<std::string>() == "bye");
  CHECK(ch.pipeline().names().empty());
  CHECK(round_inbound(ch, "second") == "second");
  CHECK_FALSE(ch.read_outbound<std::string>());
}

TEST_CASE("what the socket refuses is an error for every handler, from the first", "[pipeline]") {
  ManualLoop loop;
  Log log;
  {
    auto channel = std::make_shared<BufferOnlyChannel>(loop);
    channel->pipeline().add_last("first", std::make_shared<ErrorRecorder>(log));
    channel->pipeline().add_last("second", std::make_shared<ErrorRecorder>(log));
    channel->start();
    REQUIRE(channel->is_active());
    int unencoded = 42;
    channel->pipeline().write(MessageRef::of(unencoded));
    REQUIRE(log.size() == 4);
    CHECK_THAT(log[0], Contains("first error:") && Contains("add an encoder"));
    CHECK_THAT(log[1], Contains("second error:") && Contains("add an encoder"));
    CHECK(log[2] == "first inactive");
    CHECK(log[3] == "second inactive");
    CHECK(channel->is_closed());
  }
  loop.run_once();
}
