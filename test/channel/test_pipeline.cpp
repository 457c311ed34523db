// Pipeline: event order, changes at run time, type validation, errors.
#include <catch2/catch.hpp>

#include <cctype>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/channel/pipeline.hpp"
#include "sluice/codec/line_decoder.hpp"
#include "sluice/codec/string_codec.hpp"
#include "pipeline_probes.hpp"

using namespace sluice;
using Catch::Matchers::Contains;

using sluice::test::round_inbound;
using sluice::test::Tagger;
using sluice::test::round_outbound;

namespace {

using Log = std::vector<std::string>;

// Tags the first message it reads, then removes itself from the pipeline
// while still inside read().
class RemoveSelfOnRead final : public InboundHandler<std::string> {
 public:
  explicit RemoveSelfOnRead(Log& log) : log_(&log) {}
  void read(HandlerContext& ctx, std::string& message) override {
    message += "-once";
    ctx.pipeline().remove(ctx.name());
    ctx.fire_read(message);  // the context stays usable for the rest of the callback
  }
  void handler_removed(HandlerContext& ctx) override { log_->push_back("removed " + std::string(ctx.name())); }

 private:
  Log* log_;
};

// Records handler_added / handler_removed.
class LifeCycleRecorder final : public HandlerBase {
 public:
  explicit LifeCycleRecorder(Log& log) : log_(&log) {}
  void handler_added(HandlerContext& ctx) override { log_->push_back("added " + std::string(ctx.name())); }
  void handler_removed(HandlerContext& ctx) override { log_->push_back("removed " + std::string(ctx.name())); }

 private:
  Log* log_;
};

// Types that do not line up with std::string.
class StringToInt final : public InboundHandler<std::string, int> {
 public:
  StringToInt() = default;
  explicit StringToInt(Log& log) : log_(&log) {}
  void read(HandlerContext& ctx, std::string& message) override {
    int value = std::stoi(message);
    ctx.fire_read(value);
  }
  void handler_added(HandlerContext& ctx) override {
    if (log_ != nullptr) log_->push_back("added " + std::string(ctx.name()));
  }

 private:
  Log* log_ = nullptr;
};
class IntToString final : public OutboundHandler<int, std::string> {
 public:
  void write(HandlerContext& ctx, int& message) override { ctx.write(std::to_string(message)); }
};
class StringSink final : public InboundHandler<std::string> {
 public:
  void read(HandlerContext& ctx, std::string& message) override { ctx.fire_read(message); }
};
class StringSource final : public OutboundHandler<std::string> {
 public:
  void write(HandlerContext& ctx, std::string& message) override { ctx.write(message); }
};

// Throws from read() when the message is "boom"; logs the errors it sees.
class ThrowOnBoom final : public InboundHandler<std::string> {
 public:
  ThrowOnBoom(Log& log, bool handles_own_error) : log_(&log), handles_own_error_(handles_own_error) {}
  void read(HandlerContext& ctx, std::string& message) override {
    if (message == "boom") throw std::runtime_error("boom!");
    ctx.fire_read(message);
  }
  void error(HandlerContext& ctx, const std::exception& error) override {
    log_->push_back(std::string(ctx.name()) + " error: " + error.what());
    if (!handles_own_error_) ctx.fire_error(error);
  }

 private:
  Log* log_;
  bool handles_own_error_;
};

// Logs every error and either swallows it or passes it on.
class ErrorRecorder final : public HandlerBase {
 public:
  ErrorRecorder(Log& log, bool swallow) : log_(&log), swallow_(swallow) {}
  void error(HandlerContext& ctx, const std::exception& error) override {
    log_->push_back(std::string(ctx.name()) + " error: " + error.what());
    if (!swallow_) ctx.fire_error(error);
  }
  void channel_inactive(HandlerContext& ctx) override {
    log_->push_back(std::string(ctx.name()) + " inactive");
    ctx.fire_channel_inactive();
  }

 private:
  Log* log_;
  bool swallow_;
};

// Upper-cases bytes (stands in for the protocol that follows an upgrade).
class UpperCaseBytes final : public InboundHandler<Buffer> {
 public:
  void read(HandlerContext& ctx, Buffer& message) override {
    std::string text = message.retrieve_all_as_string();
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    Buffer upper = Buffer::copy_of(text);
    ctx.fire_read(upper);
  }
};

// A channel whose pipeline is the given taggers, in order.
std::unique_ptr<EmbeddedChannel> tagged_channel(const std::vector<std::string>& tags) {
  return std::make_unique<EmbeddedChannel>([&](Channel& c) {
    for (const auto& tag : tags) c.pipeline().add_last(tag, std::make_shared<Tagger>(tag));
  });
}

// What validate() complains about ("" when it accepts the pipeline).
std::string validation_error(const Pipeline& pipeline) {
  try {
    pipeline.validate();
  } catch (const PipelineTypeError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("inbound events flow head to tail, outbound tail to head", "[pipeline]") {
  auto ch = tagged_channel({"a", "b", "c"});
  CHECK(ch->pipeline().names() == std::vector<std::string>{"a", "b", "c"});
  CHECK(round_inbound(*ch, "in") == "in-a-b-c");
  CHECK(round_outbound(*ch, "out") == "out-c-b-a");
}

TEST_CASE("handlers can be added anywhere on a running channel", "[pipeline]") {
  auto ch = tagged_channel({"a", "c"});
  REQUIRE(ch->channel().is_active());

  SECTION("add_first") {
    ch->pipeline().add_first("z", std::make_shared<Tagger>("z"));
    CHECK(round_inbound(*ch, "m") == "m-z-a-c");
    CHECK(round_outbound(*ch, "m") == "m-c-a-z");
  }
  SECTION("add_last") {
    ch->pipeline().add_last("z", std::make_shared<Tagger>("z"));
    CHECK(round_inbound(*ch, "m") == "m-a-c-z");
  }
  SECTION("add_before") {
    ch->pipeline().add_before("c", "b", std::make_shared<Tagger>("b"));
    CHECK(ch->pipeline().names() == std::vector<std::string>{"a", "b", "c"});
    CHECK(round_inbound(*ch, "m") == "m-a-b-c");
    CHECK(round_outbound(*ch, "m") == "m-c-b-a");
  }
  SECTION("add_after") {
    ch->pipeline().add_after("a", "b", std::make_shared<Tagger>("b"));
    CHECK(ch->pipeline().names() == std::vector<std::string>{"a", "b", "c"});
    CHECK(round_inbound(*ch, "m") == "m-a-b-c");
  }
  SECTION("add_before / add_after an unknown handler throw") {
    CHECK_THROWS_AS(ch->pipeline().add_before("nope", "b", std::make_shared<Tagger>("b")), std::invalid_argument);
    CHECK_THROWS_AS(ch->pipeline().add_after("nope", "b", std::make_shared<Tagger>("b")), std::invalid_argument);
    CHECK(ch->pipeline().names() == std::vector<std::string>{"a", "c"});
  }
}

TEST_CASE("a borrowed handler takes part like any other and is never destroyed by the pipeline", "[pipeline]") {
  // One handler for many channels, kept alive by the caller.
  Tagger shared("z");
  auto first = tagged_channel({"a"});
  auto second = tagged_channel({"b"});
  first->pipeline().add_last_borrowed("z", shared);
  second->pipeline().add_last_borrowed("z", shared);
  CHECK(first->pipeline().get("z") == &shared);
  CHECK(round_inbound(*first, "m") == "m-a-z");
  CHECK(round_outbound(*second, "m") == "m-z-b");
  CHECK(first->pipeline().remove("z"));
  CHECK(round_inbound(*first, "m") == "m-a");
  first.reset();
  second.reset();
  // Both channels are gone; the handler is untouched (ASan would see a
  // destroyed one read here).
  CHECK(shared.tag() == "z");
}

TEST_CASE("handler_added and handler_removed are called", "[pipeline]") {
  Log log;
  EmbeddedChannel ch([&](Channel& c) { c.pipeline().add_last("watch", std::make_shared<LifeCycleRecorder>(log)); });
  CHECK(log == Log{"added watch"});
  CHECK(ch.pipeline().remove("watch"));
  CHECK(log == Log{"added watch", "removed watch"});
}

TEST_CASE("remove takes a handler out of both directions", "[pipeline]") {
  auto ch = tagged_channel({"a", "b", "c"});
  CHECK(ch->pipeline().remove("b"));
  CHECK(ch->pipeline().get("b") == nullptr);
  CHECK(ch->pipeline().names() == std::vector<std::string>{"a", "c"});
  CHECK(round_inbound(*ch, "m") == "m-a-c");
  CHECK(round_outbound(*ch, "m") == "m-c-a");
  CHECK_FALSE(ch->pipeline().remove("b"));
}

TEST_CASE("replace swaps a handler in place", "[pipeline]") {
  auto ch = tagged_channel({"a", "b", "c"});
  ch->pipeline().replace("b", "B", std::make_shared<Tagger>("B"));
  CHECK(ch->pipeline().names() == std::vector<std::string>{"a", "B", "c"});
  CHECK(round_inbound(*ch, "m") == "m-a-B-c");
  CHECK(round_outbound(*ch, "m") == "m-c-B-a");
  CHECK_THROWS_AS(ch->pipeline().replace("nope", "x", std::make_shared<Tagger>("x")), std::invalid_argument);
  CHECK_THROWS_AS(ch->pipeline().replace("B", "a", std::make_shared<Tagger>("x")), std::invalid_argument);

  SECTION("keeping the same name") {
    ch->pipeline().replace("B", "B", std::make_shared<Tagger>("B2"));
    CHECK(ch->pipeline().names() == std::vector<std::string>{"a", "B", "c"});
    CHECK(round_inbound(*ch, "m") == "m-a-B2-c");
  }
}

TEST_CASE("replace hands a decoder's held-back bytes to its successor", "[pipeline]") {
  // The upgrade case: the bytes after the last line belong to the new protocol.
  EmbeddedChannel ch([](Channel& c) {
    c.pipeline().add_last("framer", std::make_shared<LineDecoder>());
    c.pipeline().add_last("text", std::make_shared<StringDecoder>());
  });
  ch.write_inbound("upgrade\nrest");
  CHECK(ch.read_inbound<std::string>() == "upgrade");
  ch.pipeline().replace("framer", "upper", std::make_shared<UpperCaseBytes>());
  CHECK(ch.read_inbound<std::string>() == "REST");
  ch.write_inbound("more");
  CHECK(ch.read_inbound<std::string>() == "MORE");
}

TEST_CASE("replace that breaks the types throws and leaves the pipeline as it was", "[pipeline]") {
  EmbeddedChannel ch([](Channel& c) {
    c.pipeline().add_last("a", std::make_shared<Tagger>("a"));
    c.pipeline().add_last("b", std::make_shared<Tagger>("b"));
    c.pipeline().add_last("c", std::make_shared<Tagger>("c"));
  });
  CHECK_THROWS_AS(ch.pipeline().replace("b", "int", std::make_shared<StringToInt>()), PipelineTypeError);
  CHECK(ch.pipeline().names() == std::vector<std::string>{"a", "b", "c"});
  CHECK(round_inbound(ch, "m") == "m-a-b-c");
}

TEST_CASE("a handler can remove itself inside read", "[pipeline]") {
  Log log;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().add_last("a", std::make_shared<Tagger>("a"));
    c.pipeline().add_last("once", std::make_shared<RemoveSelfOnRead>(log));
    c.pipeline().add_last("b", std::make_shared<Tagger>("b"));
  });
  CHECK(round_inbound(ch, "first") == "first-a-once-b");
  CHECK(log == Log{"removed once"});
  CHECK(ch.pipeline().names() == std::vector<std::string>{"a", "b"});
  CHECK(round_inbound(ch, "second") == "second-a-b");
}

TEST_CASE("handler names are unique", "[pipeline]") {
  auto ch = tagged_channel({"a", "b"});
  CHECK_THROWS_AS(ch->pipeline().add_last("a", std::make_shared<Tagger>("x")), std::invalid_argument);
  CHECK_THROWS_AS(ch->pipeline().add_first("b", std::make_shared<Tagger>("x")), std::invalid_argument);
  CHECK_THROWS_AS(ch->pipeline().add_after("a", "b", std::make_shared<Tagger>("x")), std::invalid_argument);
  CHECK(ch->pipeline().names() == std::vector<std::string>{"a", "b"});
  CHECK(round_inbound(*ch, "m") == "m-a-b");
}

TEST_CASE("get finds handlers by name and type", "[pipeline]") {
  auto ch = tagged_channel({"a"});
  CHECK(ch->pipeline().get<Tagger>("a") != nullptr);
  CHECK(ch->pipeline().get<StringSink>("a") == nullptr);
  CHECK(ch->pipeline().get("missing") == nullptr);
  REQUIRE(ch->pipeline().context("a") != nullptr);
  CHECK(ch->pipeline().context("a")->name() == "a");
}

TEST_CASE("a context keeps its handler's name, however long, and refuses a NUL in it", "[pipeline]") {
  auto ch = tagged_channel({"a"});
  const std::string long_name(300, 'n');
  ch->pipeline().add_last(long_name, std::make_shared<Tagger>("long"));
  ch->pipeline().replace("a", "", std::make_shared<Tagger>("empty"));
  REQUIRE(ch->pipeline().context(long_name) != nullptr);
  CHECK(ch->pipeline().context(long_name)->name() == long_name);
  REQUIRE(ch->pipeline().context("") != nullptr);
  CHECK(ch->pipeline().context("")->name().empty());
  CHECK(ch->pipeline().names() == std::vector<std::string>{"", long_name});
  CHECK(round_inbound(*ch, "m") == "m-empty-long");

  using namespace std::string_literals;
  CHECK_THROWS_AS(ch->pipeline().add_last("x\0y"s, std::make_shared<Tagger>("x")), std::invalid_argument);
  CHECK_THROWS_AS(ch->pipeline().replace("", "x\0y"s, std::make_shared<Tagger>("x")), std::invalid_argument);
  CHECK(ch->pipeline().names() == std::vector<std::string>{"", long_name});
}

TEST_CASE("validate catches inbound type mismatches and names the handlers", "[pipeline]") {
  // "parse" produces int, "echo" takes std::string.
  EmbeddedChannel ch([](Channel& c) {
    c.pipeline().add_last("parse", std::make_shared<StringToInt>());
    c.pipeline().add_last("echo", std::make_shared<StringSink>());
  });
  // Checked when the channel became active: it closed at once.
  CHECK_FALSE(ch.is_open());
  CHECK_THAT(validation_error(ch.pipeline()), Contains("'parse'") && Contains("'echo'") && Contains("int"));
}

TEST_CASE("validate catches outbound type mismatches and names the handlers", "[pipeline]") {
  // The application side "format" takes int and sends std::string; "encode"
  // (nearer the socket) expects int.
  EmbeddedChannel ch([](Channel& c) {
    c.pipeline().add_last("encode", std::make_shared<IntToString>());
    c.pipeline().add_last("format", std::make_shared<IntToString>());
  });
  CHECK_FALSE(ch.is_open());
  CHECK_THAT(validation_error(ch.pipeline()), Contains("'encode'") && Contains("'format'"));
}

TEST_CASE("a pipeline whose types line up validates", "[pipeline]") {
  EmbeddedChannel ch([](Channel& c) {
    c.pipeline().add_last("parse", std::make_shared<StringToInt>());
    c.pipeline().add_last("source", std::make_shared<StringSource>());
    c.pipeline().add_last("format", std::make_shared<IntToString>());
  });
  CHECK(ch.is_open());
  CHECK_NOTHROW(ch.pipeline().validate());
  ch.write_inbound_message(std::string("42"));
  CHECK(ch.read_inbound<int>() == 42);
  ch.write_outbound(42);
  CHECK(ch.read_outbound<std::string>() == "42");
}

TEST_CASE("adding a mismatched handler to a running channel throws and is undone", "[pipeline]") {
  EmbeddedChannel ch([](Channel& c) { c.pipeline().add_last("parse", std::make_shared<StringToInt>()); });
  REQUIRE(ch.is_open());
  CHECK_THROWS_AS(ch.pipeline().add_last("echo", std::make_shared<StringSink>()), PipelineTypeError);
  CHECK_THROWS_AS(ch.pipeline().add_first("parse2", std::make_shared<StringToInt>()), PipelineTypeError);
  CHECK(ch.pipeline().names() == std::vector<std::string>{"parse"});
  CHECK(ch.is_open());
  ch.write_inbound_message(std::string("7"));
  CHECK(ch.read_inbound<int>() == 7);
}

TEST_CASE("a handler the running pipeline rejects is never told it was added", "[pipeline]") {
  Log log;
  EmbeddedChannel ch([](Channel& c) { c.pipeline().add_last("parse", std::make_shared<StringToInt>()); });
  CHECK_THROWS_AS(ch.pipeline().add_last("again", std::make_shared<StringToInt>(log)), PipelineTypeError);
  CHECK(log.empty());
  ch.pipeline().remove("parse");
  ch.pipeline().add_last("again", std::make_shared<StringToInt>(log));
  CHECK(log == Log{"added again"});
}

TEST_CASE("an exception reaches the thrower's error() first, then the next handlers", "[pipeline]") {
  Log log;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().add_last("before", std::make_shared<ErrorRecorder>(log, false));
    c.pipeline().add_last("thrower", std::make_shared<ThrowOnBoom>(log, false));
    c.pipeline().add_last("after", std::make_shared<ErrorRecorder>(log, true));
  });
  ch.write_inbound_message(std::string("boom"));
  CHECK(log == Log{"thrower error: boom!", "after error: boom!"});
  // "after" handled it: the channel keeps working.
  CHECK(ch.is_open());
  ch.write_inbound_message(std::string("fine"));
  CHECK(ch.read_inbound<std::string>() == "fine");
}

TEST_CASE("a handler that handles its own exception stops it there", "[pipeline]") {
  Log log;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().add_last("thrower", std::make_shared<ThrowOnBoom>(log, true));
    c.pipeline().add_last("after", std::make_shared<ErrorRecorder>(log, true));
  });
  ch.write_inbound_message(std::string("boom"));
  CHECK(log == Log{"thrower error: boom!"});
  CHECK(ch.is_open());
}

TEST_CASE("an unhandled error closes the channel", "[pipeline]") {
  Log log;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().add_last("thrower", std::make_shared<ThrowOnBoom>(log, false));
    c.pipeline().add_last("watch", std::make_shared<ErrorRecorder>(log, false));
  });
  ch.write_inbound_message(std::string("boom"));
  CHECK_FALSE(ch.is_open());
  CHECK(log == Log{"thrower error: boom!", "watch error: boom!", "watch inactive"});
  CHECK(ch.inbound_count() == 0);
}

TEST_CASE("an exception on the write path is an error event too", "[pipeline]") {
  Log log;
  EmbeddedChannel ch([&](Channel& c) {
    // Errors travel towards the tail, so the recorder sits after the thrower.
    c.pipeline().add_last("format", std::make_shared<IntToString>());
    c.pipeline().add_last("watch", std::make_shared<ErrorRecorder>(log, false));
  });
  struct Unformattable {};
  // A message of the wrong type reaching a typed handler throws MessageTypeError.
  ch.write_outbound(Unformattable{});
  CHECK_FALSE(ch.is_open());
  REQUIRE(log.size() == 2);
  CHECK_THAT(log[0], Contains("watch error:") && Contains("int"));
  CHECK(log[1] == "watch inactive");
}

TEST_CASE("one channel's failure does not affect another", "[pipeline]") {
  Log log_a;
  Log log_b;
  EmbeddedChannel a([&](Channel& c) { c.pipeline().add_last("thrower", std::make_shared<ThrowOnBoom>(log_a, false)); });
  EmbeddedChannel b([&](Channel& c) { c.pipeline().add_last("thrower", std::make_shared<ThrowOnBoom>(log_b, false)); });

  a.write_inbound_message(std::string("boom"));
  CHECK_FALSE(a.is_open());
  CHECK(b.is_open());
  CHECK(log_b.empty());

  b.write_inbound_message(std::string("still here"));
  CHECK(b.read_inbound<std::string>() == "still here");
  b.write_outbound(std::string("reply"));
  CHECK(b.read_outbound<std::string>() == "reply");
}

// ---- handlers placed by value ----

namespace {
// Counts live instances; tags what it reads.
class Counted final : public InboundHandler<std::string> {
 public:
  explicit Counted(int& alive) : alive_(&alive) { ++*alive_; }
  ~Counted() override { --*alive_; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  void read(HandlerContext& ctx, std::string& message) override {
    message += "-counted";
    ctx.fire_read(message);
  }

 private:
  int* alive_;
};
class IntSink final : public InboundHandler<int> {
 public:
  void read(HandlerContext& ctx, int& message) override { ctx.fire_read(message); }
};
}  // namespace

TEST_CASE("emplace_last builds a handler in place and destroys it with the channel", "[pipeline]") {
  int alive = 0;
  {
    EmbeddedChannel ch([&](Channel& c) {
      Counted& made = c.pipeline().emplace_last<Counted>("counted", alive);
      CHECK(c.pipeline().get("counted") == &made);
    });
    CHECK(alive == 1);
    ch.write_inbound_message(std::string("m"));
    CHECK(ch.read_inbound<std::string>() == "m-counted");
  }
  CHECK(alive == 0);
}

TEST_CASE("a removed emplaced handler lives on, out of the pipeline, until its channel goes", "[pipeline]") {
  int alive = 0;
  {
    EmbeddedChannel ch([&](Channel& c) {
      c.pipeline().emplace_last<Counted>("counted", alive);
      c.pipeline().emplace_last<Counted>("second", alive);
    });
    REQUIRE(alive == 2);
    CHECK(ch.pipeline().remove("counted"));
    CHECK(ch.pipeline().names() == std::vector<std::string>{"second"});
    ch.run_pending_tasks();
    CHECK(alive == 2);  // references aliasing the channel may still reach it
    CHECK_FALSE(ch.pipeline().remove("counted"));
    ch.write_inbound_message(std::string("m"));
    CHECK(ch.read_inbound<std::string>() == "m-counted");  // only "second" tagged it
  }
  CHECK(alive == 0);
}

TEST_CASE("a released handler goes on the next turn, and its room in the block is used again", "[pipeline]") {
  alignas(std::max_align_t) static char block[1024];
  auto in_block = [](const void* p) { return p >= block && p < block + sizeof block; };
  int alive = 0;
  Counted* released = nullptr;
  {
    EmbeddedChannel ch([&](Channel& c) {
      c.pipeline().give_block(block, sizeof block);
      c.pipeline().emplace_last<Counted>("kept", alive);
      released = &c.pipeline().emplace_last<Counted>("released", alive);
    });
    REQUIRE(alive == 2);
    REQUIRE(in_block(released));
    std::size_t wanted = ch.pipeline().block_bytes_wanted();
    CHECK(ch.pipeline().release("released"));
    CHECK(ch.pipeline().names() == std::vector<std::string>{"kept"});
    CHECK(alive == 2);  // it may be the handler running now
    ch.run_pending_tasks();
    CHECK(alive == 1);
    CHECK(ch.pipeline().block_bytes_wanted() < wanted);
    // Its successor takes its place in the block.
    auto& next = ch.pipeline().emplace_last<Counted>("next", alive);
    CHECK(static_cast<void*>(&next) == static_cast<void*>(released));
    CHECK(ch.pipeline().block_bytes_wanted() == wanted);
    ch.write_inbound_message(std::string("m"));
    CHECK(ch.read_inbound<std::string>() == "m-counted-counted");
    CHECK_FALSE(ch.pipeline().release("released"));
  }
  CHECK(alive == 0);
}

TEST_CASE("a released handler's room stays used while a handler placed after it is still there", "[pipeline]") {
  alignas(std::max_align_t) static char block[1024];
  int alive = 0;
  Counted* first = nullptr;
  Counted* second = nullptr;
  {
    EmbeddedChannel ch([&](Channel& c) {
      c.pipeline().give_block(block, sizeof block);
      first = &c.pipeline().emplace_last<Counted>("first", alive);
      second = &c.pipeline().emplace_last<Counted>("second", alive);
    });
    CHECK(ch.pipeline().release("first"));
    ch.run_pending_tasks();
    CHECK(alive == 1);
    auto& third = ch.pipeline().emplace_last<Counted>("third", alive);
    CHECK(static_cast<void*>(&third) > static_cast<void*>(second));  // after "second", not in "first"'s room
    // A removed (not released) emplaced handler keeps its room too.
    CHECK(ch.pipeline().remove("third"));
    ch.run_pending_tasks();
    auto& fourth = ch.pipeline().emplace_last<Counted>("fourth", alive);
    CHECK(static_cast<void*>(&fourth) > static_cast<void*>(&third));
  }
  CHECK(alive == 0);
}

TEST_CASE("emplace_replace swaps in a handler built in place", "[pipeline]") {
  int alive = 0;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().add_last("a", std::make_shared<Tagger>("a"));
    c.pipeline().emplace_last<Counted>("counted", alive);
  });
  auto& tagger = ch.pipeline().emplace_replace<Tagger>("counted", "b", "b");
  CHECK(ch.pipeline().get("b") == &tagger);
  ch.write_inbound_message(std::string("m"));
  CHECK(ch.read_inbound<std::string>() == "m-a-b");
  CHECK_THROWS_AS(ch.pipeline().emplace_replace<Tagger>("nope", "x", "x"), std::invalid_argument);
  CHECK_THROWS_AS(ch.pipeline().emplace_replace<Tagger>("b", "a", "x"), std::invalid_argument);
}

TEST_CASE("an emplaced handler of the wrong type is refused, destroyed, and the pipeline left as it was", "[pipeline]") {
  int alive = 0;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().add_last("int", std::make_shared<StringToInt>());
    c.pipeline().emplace_last<IntSink>("sink");
  });
  CHECK_THROWS_AS(ch.pipeline().emplace_last<Counted>("counted", alive), PipelineTypeError);
  CHECK(alive == 0);
  CHECK(ch.pipeline().names() == std::vector<std::string>{"int", "sink"});
  // A Counted passes strings on, where "sink" takes ints.
  CHECK_THROWS_AS(ch.pipeline().emplace_replace<Counted>("int", "counted", alive), PipelineTypeError);
  CHECK(alive == 0);
  CHECK(ch.pipeline().names() == std::vector<std::string>{"int", "sink"});
  ch.write_inbound_message(std::string("42"));
  CHECK(ch.read_inbound<int>() == 42);
}

TEST_CASE("a name is stored once for every pipeline that uses it", "[pipeline]") {
  int alive = 0;
  auto init = [&](Channel& c) { c.pipeline().emplace_last<Counted>("shared-name", alive); };
  EmbeddedChannel one(init);
  EmbeddedChannel two(init);
  std::string_view a = one.pipeline().context("shared-name")->name();
  std::string_view b = two.pipeline().context("shared-name")->name();
  CHECK(a == "shared-name");
  CHECK(a.data() == b.data());
}

TEST_CASE("a name is stored once for pipelines on different threads too", "[pipeline]") {
  auto name_on_a_thread = [] {
    std::string_view seen;
    std::thread([&] {
      int alive = 0;
      EmbeddedChannel ch([&](Channel& c) { c.pipeline().emplace_last<Counted>("threads-name", alive); });
      seen = ch.pipeline().context("threads-name")->name();
    }).join();
    return seen;
  };
  std::string_view a = name_on_a_thread();
  std::string_view b = name_on_a_thread();
  CHECK(a == "threads-name");
  CHECK(a.data() == b.data());  // and still valid after those threads ended
}

TEST_CASE("block_bytes_wanted counts what the handlers took, placed or not", "[pipeline]") {
  int alive = 0;
  std::size_t wanted = 0;
  EmbeddedChannel ch([&](Channel& c) {
    CHECK(c.pipeline().block_bytes_wanted() == 0);
    c.pipeline().emplace_last<Counted>("counted", alive);
    c.pipeline().add_last("a", std::make_shared<Tagger>("a"));
    wanted = c.pipeline().block_bytes_wanted();
  });
  // Two contexts, a Counted and a shared_ptr.
  CHECK(wanted >= 2 * sizeof(HandlerContext) + sizeof(Counted) + sizeof(std::shared_ptr<HandlerBase>));
  CHECK(wanted <= 2 * sizeof(HandlerContext) + sizeof(Counted) + sizeof(std::shared_ptr<HandlerBase>) + 32);
}
