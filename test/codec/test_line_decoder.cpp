// LineDecoder: delimiters, splitting across reads, limits, cumulation.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/codec/line_decoder.hpp"
#include "sluice/codec/string_codec.hpp"
#include "support/decoder_channel.hpp"

using namespace sluice;
using Lines = std::vector<std::string>;

namespace {

using test::OnError;

// On the line "quit", closes the channel, allocates a buffer (a goodbye
// message would), then passes the line on: it must still be intact.
class Quitter final : public InboundHandler<Buffer> {
 public:
  void read(HandlerContext& ctx, Buffer& message) override {
    if (message.view() == "quit") {
      ctx.close();
      Buffer scratch = Buffer::copy_of(std::string(64, 'X'));
    }
    ctx.fire_read(message);
  }
};

// On the line "upgrade", takes the line decoder out of the pipeline (as a
// protocol upgrade does), then passes the line on: what follows is raw bytes.
class Upgrader final : public InboundHandler<Buffer> {
 public:
  void read(HandlerContext& ctx, Buffer& message) override {
    if (message.view() == "upgrade") ctx.pipeline().remove("lines");
    ctx.fire_read(message);
  }
};

struct LineChannel : test::DecoderChannel<LineDecoder> {
  explicit LineChannel(LineDecoder::Options options = {}, OnError on_error = OnError::close)
      : DecoderChannel("lines", options, on_error) {}
};

LineDecoder::Options max_length(std::size_t n) {
  LineDecoder::Options o;
  o.max_length = n;
  return o;
}

}  // namespace

TEST_CASE("lines end in \\n or \\r\\n and lose their delimiter", "[line]") {
  LineChannel t;
  t.ch.write_inbound("one\ntwo\r\nthree\n");
  CHECK(t.read_all() == Lines{"one", "two", "three"});
  CHECK(t.ch.is_open());
}

TEST_CASE("strip_delimiter=false keeps the delimiter as it came", "[line]") {
  LineDecoder::Options o;
  o.strip_delimiter = false;
  LineChannel t(o);
  t.ch.write_inbound("one\ntwo\r\n\n");
  CHECK(t.read_all() == Lines{"one\n", "two\r\n", "\n"});
}

TEST_CASE("empty lines are lines", "[line]") {
  LineChannel t;
  t.ch.write_inbound("\n\r\n\na\n");
  CHECK(t.read_all() == Lines{"", "", "", "a"});
}

TEST_CASE("a lone \\r inside a line is content", "[line]") {
  LineChannel t;
  t.ch.write_inbound("a\rb\n\r\r\n");
  CHECK(t.read_all() == Lines{"a\rb", "\r"});
}

TEST_CASE("many lines in one read", "[line]") {
  LineChannel t;
  std::string input;
  Lines expected;
  for (int i = 0; i < 1000; ++i) {
    expected.push_back("line " + std::to_string(i));
    input += expected.back() + (i % 2 == 0 ? "\n" : "\r\n");
  }
  t.ch.write_inbound(input);
  CHECK(t.read_all() == expected);
  CHECK_FALSE(t.decoder().holds_buffer());
}

TEST_CASE("lines split across two reads at every byte boundary", "[line]") {
  const std::string input = "first\r\nsecond\n\nthird line\r\n";
  const Lines expected{"first", "second", "", "third line"};
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    INFO("cut at " << cut);
    LineChannel t;
    t.ch.write_inbound(input.substr(0, cut));
    t.ch.write_inbound(input.substr(cut));
    CHECK(t.read_all() == expected);
    CHECK_FALSE(t.decoder().holds_buffer());
  }
}

TEST_CASE("lines fed one byte per read", "[line]") {
  const std::string input = "first\r\nsecond\n\nthird line\r\n";
  LineChannel t;
  for (char c : input) t.ch.write_inbound(std::string(1, c));
  CHECK(t.read_all() == Lines{"first", "second", "", "third line"});
  CHECK_FALSE(t.decoder().holds_buffer());
}

TEST_CASE("a partial line is held until its end arrives, then the buffer goes", "[line]") {
  LineChannel t;
  t.ch.write_inbound("done\npart");
  CHECK(t.read_all() == Lines{"done"});
  CHECK(t.decoder().holds_buffer());
  CHECK(t.decoder().cumulated_bytes() == 4);

  t.ch.write_inbound("ial");
  CHECK(t.read_all().empty());
  CHECK(t.decoder().cumulated_bytes() == 7);

  t.ch.write_inbound("\nnext\n");
  CHECK(t.read_all() == Lines{"partial", "next"});
  CHECK_FALSE(t.decoder().holds_buffer());
  CHECK(t.decoder().cumulated_bytes() == 0);
}

TEST_CASE("a line of exactly max_length is accepted", "[line]") {
  LineChannel t(max_length(5));
  t.ch.write_inbound("12345\n12345\r\n");
  CHECK(t.read_all() == Lines{"12345", "12345"});
  CHECK(t.ch.is_open());
}

TEST_CASE("a line over max_length is an error that closes the channel", "[line]") {
  LineChannel t(max_length(5));

  SECTION("with its delimiter in the same read") {
    t.ch.write_inbound("ok\n123456\nlater\n");
    CHECK(t.read_all() == Lines{"ok"});
  }
  SECTION("with \\r\\n") {
    t.ch.write_inbound("123456\r\n");
    CHECK(t.read_all().empty());
  }
  SECTION("without a delimiter: as soon as the line cannot fit") {
    // Six bytes could still be "12345\r"; seven cannot.
    t.ch.write_inbound("123456");
    CHECK(t.ch.is_open());
    t.ch.write_inbound("7");
    CHECK(t.read_all().empty());
  }
  SECTION("without a delimiter, in one read") {
    t.ch.write_inbound("ok\n1234567");
    CHECK(t.read_all() == Lines{"ok"});
  }
  SECTION("over several reads") {
    t.ch.write_inbound("12");
    t.ch.write_inbound("34");
    t.ch.write_inbound("56");
    CHECK(t.ch.is_open());
    t.ch.write_inbound("78\n");
    CHECK(t.read_all().empty());
  }
  CHECK(t.error == "TooLongFrameError");
  CHECK_FALSE(t.ch.is_open());
}

TEST_CASE("the length limit does not count the delimiter when it is kept", "[line]") {
  LineDecoder::Options o = max_length(3);
  o.strip_delimiter = false;
  LineChannel t(o);
  t.ch.write_inbound("abc\r\nabc\n");
  CHECK(t.read_all() == Lines{"abc\r\n", "abc\n"});
  t.ch.write_inbound("abcd\n");
  CHECK_FALSE(t.ch.is_open());
  CHECK(t.error == "TooLongFrameError");
}

TEST_CASE("after a handled too-long line, decoding goes on with the next line", "[line]") {
  LineChannel t(max_length(5), OnError::handle);

  SECTION("delimiter in the same read: the rest waits for the next read") {
    t.ch.write_inbound("ok\n123456\nafter\n");
    CHECK(t.read_all() == Lines{"ok"});
    CHECK(t.error == "TooLongFrameError");
    t.ch.write_inbound("next\n");
    CHECK(t.read_all() == Lines{"after", "next"});
  }
  SECTION("no delimiter yet: the rest of the long line is skipped when it comes") {
    t.ch.write_inbound("1234567");
    CHECK(t.error == "TooLongFrameError");
    t.ch.write_inbound("89");
    t.ch.write_inbound("0\nafter\n");
    CHECK(t.read_all() == Lines{"after"});
  }
  SECTION("a long line built up over several reads") {
    t.ch.write_inbound("123");
    t.ch.write_inbound("4567");
    CHECK(t.error == "TooLongFrameError");
    t.ch.write_inbound("\r\nafter\r\n");
    CHECK(t.read_all() == Lines{"after"});
  }
  CHECK(t.ch.is_open());
  CHECK_FALSE(t.decoder().holds_buffer());
}

TEST_CASE("removing the decoder passes its held-back bytes on", "[line]") {
  LineChannel t;
  t.ch.write_inbound("line\nrest of it");
  CHECK(t.read_all() == Lines{"line"});
  t.ch.pipeline().remove("lines");
  CHECK(t.read_all() == Lines{"rest of it"});
}

TEST_CASE("a decoder removed while it decodes passes the rest on undecoded, in order", "[line]") {
  EmbeddedChannel ch([](Channel& c) {
    c.pipeline().add_last("lines", std::make_shared<LineDecoder>());
    c.pipeline().add_last("upgrader", std::make_shared<Upgrader>());
    c.pipeline().add_last("text", std::make_shared<StringDecoder>());
  });
  SECTION("all in one read") { ch.write_inbound("upgrade\nrest\nmore\n"); }
  SECTION("the upgrade line split across reads") {
    ch.write_inbound("upg");
    ch.write_inbound("rade\nrest\nmore\n");
  }
  CHECK(ch.read_inbound<std::string>() == "upgrade");
  CHECK(ch.read_inbound<std::string>() == "rest\nmore\n");
  CHECK(ch.inbound_count() == 0);
  CHECK(ch.pipeline().names() == std::vector<std::string>{"upgrader", "text"});
  ch.write_inbound("raw\n");
  CHECK(ch.read_inbound<std::string>() == "raw\n");
}

TEST_CASE("a handler may close the channel and still use the line it was given", "[line]") {
  EmbeddedChannel ch([](Channel& c) {
    c.pipeline().add_last("lines", std::make_shared<LineDecoder>());
    c.pipeline().add_last("quitter", std::make_shared<Quitter>());
    c.pipeline().add_last("text", std::make_shared<StringDecoder>());
  });
  SECTION("in one read") { ch.write_inbound("quit\nignored\n"); }
  SECTION("split across reads") {
    ch.write_inbound("qu");
    ch.write_inbound("it\nignored\n");
  }
  CHECK_FALSE(ch.is_open());
  CHECK(ch.read_inbound<std::string>() == "quit");
  CHECK(ch.inbound_count() == 0);
  CHECK_FALSE(ch.pipeline().get<LineDecoder>("lines")->holds_buffer());
}
