// LengthFieldDecoder and LengthFieldPrepender.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/codec/length_field_decoder.hpp"
#include "sluice/codec/length_field_prepender.hpp"
#include "sluice/codec/string_codec.hpp"
#include "support/decoder_channel.hpp"

using namespace sluice;
using Frames = std::vector<std::string>;

namespace {

using test::OnError;

struct FrameChannel : test::DecoderChannel<LengthFieldDecoder> {
  explicit FrameChannel(LengthFieldDecoder::Options options = {}, OnError on_error = OnError::close)
      : DecoderChannel("frames", options, on_error) {}
};

// `value` as a `size`-byte unsigned integer.
std::string field(std::uint64_t value, std::size_t size, bool big_endian = true) {
  std::string out;
  for (std::size_t i = 0; i < size; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  if (big_endian) out = std::string(out.rbegin(), out.rend());
  return out;
}

LengthFieldDecoder::Options field_of(std::size_t size) {
  LengthFieldDecoder::Options o;
  o.length_field_size = size;
  o.initial_bytes_to_strip = size;
  return o;
}

}  // namespace

TEST_CASE("read_uint and write_uint agree in both byte orders", "[length_field]") {
  const std::size_t size = GENERATE(1u, 2u, 4u, 8u);
  const bool big_endian = GENERATE(true, false);
  const std::uint64_t value = size == 8 ? 0x0102030405060708ull : (std::uint64_t{1} << (8 * size)) - 2;
  char bytes[8] = {};
  write_uint(bytes, value, size, big_endian);
  CHECK(std::string(bytes, size) == field(value, size, big_endian));
  CHECK(read_uint(bytes, size, big_endian) == value);
}

TEST_CASE("the default decoder reads a 4-byte big-endian length and strips it", "[length_field]") {
  FrameChannel t;
  t.ch.write_inbound(std::string("\0\0\0\5hello", 9));
  CHECK(t.read_all() == Frames{"hello"});
  CHECK_FALSE(t.decoder().holds_buffer());
}

TEST_CASE("length fields of 1, 2, 4 and 8 bytes", "[length_field]") {
  const std::size_t size = GENERATE(1u, 2u, 4u, 8u);
  INFO("field size " << size);
  FrameChannel t(field_of(size));
  t.ch.write_inbound(field(5, size) + "hello" + field(0, size) + field(3, size) + "abc");
  CHECK(t.read_all() == Frames{"hello", "", "abc"});
  CHECK(t.ch.is_open());
}

TEST_CASE("little-endian length fields", "[length_field]") {
  LengthFieldDecoder::Options o = field_of(2);
  o.big_endian = false;
  FrameChannel t(o);
  std::string body(0x0102, 'x');
  t.ch.write_inbound(std::string("\x02\x01", 2) + body);
  CHECK(t.read_all() == Frames{body});
}

TEST_CASE("a length field after a prefix (length_field_offset)", "[length_field]") {
  // | "T" type | 2-byte length | body |
  LengthFieldDecoder::Options o;
  o.length_field_offset = 1;
  o.length_field_size = 2;

  SECTION("keeping the header") {
    o.initial_bytes_to_strip = 0;
    FrameChannel t(o);
    t.ch.write_inbound("T" + field(2, 2) + "hiU" + field(1, 2) + "!");
    CHECK(t.read_all() == Frames{"T" + field(2, 2) + "hi", "U" + field(1, 2) + "!"});
  }
  SECTION("stripping the header") {
    o.initial_bytes_to_strip = 3;
    FrameChannel t(o);
    t.ch.write_inbound("T" + field(2, 2) + "hiU" + field(1, 2) + "!");
    CHECK(t.read_all() == Frames{"hi", "!"});
  }
  SECTION("stripping only the prefix") {
    o.initial_bytes_to_strip = 1;
    FrameChannel t(o);
    t.ch.write_inbound("T" + field(2, 2) + "hi");
    CHECK(t.read_all() == Frames{field(2, 2) + "hi"});
  }
}

TEST_CASE("length_adjustment", "[length_field]") {
  SECTION("a length that counts the header (negative adjustment)") {
    LengthFieldDecoder::Options o = field_of(2);
    o.length_adjustment = -2;
    FrameChannel t(o);
    t.ch.write_inbound(field(7, 2) + "hello" + field(2, 2));
    CHECK(t.read_all() == Frames{"hello", ""});
  }
  SECTION("a header field after the length (positive adjustment)") {
    // | 2-byte length of the body | 2-byte type | body |
    LengthFieldDecoder::Options o = field_of(2);
    o.length_adjustment = 2;
    FrameChannel t(o);
    t.ch.write_inbound(field(5, 2) + "XYhello");
    CHECK(t.read_all() == Frames{"XYhello"});
  }
}

TEST_CASE("frames split across two reads at every byte boundary", "[length_field]") {
  LengthFieldDecoder::Options o;
  o.length_field_offset = 1;
  o.length_field_size = 2;
  o.length_adjustment = 1;  // a one-byte trailer after the body
  o.initial_bytes_to_strip = 3;
  const std::string input = "A" + field(5, 2) + "hello." + "B" + field(0, 2) + "." + "C" + field(3, 2) + "abc.";
  const Frames expected{"hello.", ".", "abc."};
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    INFO("cut at " << cut);
    FrameChannel t(o);
    t.ch.write_inbound(input.substr(0, cut));
    t.ch.write_inbound(input.substr(cut));
    CHECK(t.read_all() == expected);
    CHECK_FALSE(t.decoder().holds_buffer());
  }
}

TEST_CASE("frames fed one byte per read", "[length_field]") {
  FrameChannel t(field_of(8));
  const std::string input = field(11, 8) + "hello world" + field(1, 8) + "!";
  for (std::size_t i = 0; i < input.size(); ++i) t.ch.write_inbound(input.substr(i, 1));
  CHECK(t.read_all() == Frames{"hello world", "!"});
  CHECK_FALSE(t.decoder().holds_buffer());
}

TEST_CASE("many frames merged in one read", "[length_field]") {
  FrameChannel t;
  std::string input;
  Frames expected;
  for (int i = 0; i < 500; ++i) {
    expected.push_back(std::string(static_cast<std::size_t>(i % 37), static_cast<char>('a' + i % 26)));
    input += field(expected.back().size(), 4) + expected.back();
  }
  input += field(10, 4) + "part";  // and the start of one more
  t.ch.write_inbound(input);
  CHECK(t.read_all() == expected);
  CHECK(t.decoder().cumulated_bytes() == 8);
  t.ch.write_inbound("ial!!!");
  CHECK(t.read_all() == Frames{"partial!!!"});
  CHECK_FALSE(t.decoder().holds_buffer());
}

TEST_CASE("a frame over max_frame_length fails as soon as its header arrives", "[length_field]") {
  LengthFieldDecoder::Options o;
  o.max_frame_length = 16;  // the whole frame, header included

  SECTION("a frame of exactly the maximum is accepted") {
    FrameChannel t(o);
    t.ch.write_inbound(field(12, 4) + std::string(12, 'x'));
    CHECK(t.read_all() == Frames{std::string(12, 'x')});
    CHECK(t.ch.is_open());
  }
  SECTION("one byte more is not; the body is never awaited") {
    FrameChannel t(o);
    t.ch.write_inbound(field(13, 4));
    CHECK(t.error == "TooLongFrameError");
    CHECK_FALSE(t.ch.is_open());
  }
  SECTION("the header arriving a byte at a time") {
    FrameChannel t(o);
    const std::string header = field(1000, 4);
    for (std::size_t i = 0; i + 1 < header.size(); ++i) t.ch.write_inbound(header.substr(i, 1));
    CHECK(t.ch.is_open());
    t.ch.write_inbound(header.substr(3));
    CHECK(t.error == "TooLongFrameError");
    CHECK_FALSE(t.ch.is_open());
  }
  SECTION("after good frames in the same read") {
    FrameChannel t(o);
    t.ch.write_inbound(field(2, 4) + "ok" + field(100, 4) + "x");
    CHECK(t.read_all() == Frames{"ok"});
    CHECK(t.error == "TooLongFrameError");
    CHECK_FALSE(t.ch.is_open());
  }
  SECTION("the largest 8-byte length does not overflow") {
    FrameChannel t(field_of(8));
    t.ch.write_inbound(std::string(8, '\xff'));
    CHECK(t.error == "TooLongFrameError");
    CHECK_FALSE(t.ch.is_open());
  }
  SECTION("an 8-byte length that overflows int64 with a negative adjustment") {
    LengthFieldDecoder::Options big = field_of(8);
    big.length_adjustment = -8;
    FrameChannel t(big);
    t.ch.write_inbound(field(0x8000000000000000ull, 8));
    CHECK(t.error == "TooLongFrameError");
    CHECK_FALSE(t.ch.is_open());
  }
}

TEST_CASE("a negative frame length is a decoder error", "[length_field]") {
  LengthFieldDecoder::Options o = field_of(4);
  o.length_adjustment = -4;  // the field counts itself: below 4 is nonsense
  FrameChannel t(o);
  t.ch.write_inbound(field(4, 4) + field(3, 4) + "abc");
  CHECK(t.read_all() == Frames{""});
  CHECK(t.error == "DecoderError");
  CHECK_FALSE(t.ch.is_open());
}

TEST_CASE("after a handled decoder error, decoding goes on after the bad frame", "[length_field]") {
  LengthFieldDecoder::Options o;
  o.max_frame_length = 16;

  SECTION("a too-long frame's body is skipped as it arrives") {
    FrameChannel t(o, OnError::handle);
    t.ch.write_inbound(field(20, 4) + "0123456789");
    CHECK(t.error == "TooLongFrameError");
    t.ch.write_inbound("0123456789" + field(2, 4));
    t.ch.write_inbound("ok");
    CHECK(t.read_all() == Frames{"ok"});
    CHECK(t.ch.is_open());
    CHECK_FALSE(t.decoder().holds_buffer());
  }
  SECTION("a too-long frame in one read with the next: the rest waits for the next read") {
    FrameChannel t(o, OnError::handle);
    t.ch.write_inbound(field(1, 4) + "a" + field(20, 4) + std::string(20, 'x') + field(1, 4) + "b");
    CHECK(t.read_all() == Frames{"a"});
    CHECK(t.error == "TooLongFrameError");
    t.ch.write_inbound(field(1, 4) + "c");
    CHECK(t.read_all() == Frames{"b", "c"});
  }
  SECTION("a negative length: its header is skipped") {
    LengthFieldDecoder::Options n = field_of(4);
    n.length_adjustment = -4;
    FrameChannel t(n, OnError::handle);
    t.ch.write_inbound(field(3, 4));
    CHECK(t.error == "DecoderError");
    t.ch.write_inbound(field(6, 4) + "ok");
    CHECK(t.read_all() == Frames{"ok"});
    CHECK(t.ch.is_open());
  }
}

TEST_CASE("length field sizes other than 1, 2, 4, 8 are refused", "[length_field]") {
  LengthFieldDecoder::Options d;
  d.length_field_size = 3;
  CHECK_THROWS_AS(LengthFieldDecoder(d), std::invalid_argument);
  LengthFieldPrepender::Options p;
  p.length_field_size = 5;
  CHECK_THROWS_AS(LengthFieldPrepender(p), std::invalid_argument);
}

TEST_CASE("the prepender writes the length in front of each message", "[length_field]") {
  LengthFieldPrepender::Options o;
  std::string expected;
  SECTION("defaults: 4 bytes, big endian") { expected = field(5, 4) + "hello"; }
  SECTION("2 bytes, little endian") {
    o.length_field_size = 2;
    o.big_endian = false;
    expected = field(5, 2, false) + "hello";
  }
  SECTION("the length counts the field") {
    o.length_field_size = 1;
    o.length_includes_field = true;
    expected = field(6, 1) + "hello";
  }
  SECTION("with an adjustment") {
    o.length_field_size = 8;
    o.length_adjustment = 10;
    expected = field(15, 8) + "hello";
  }
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().add_last("prepender", std::make_shared<LengthFieldPrepender>(o));
    c.pipeline().add_last("text", std::make_shared<StringEncoder>());
  });
  ch.write_outbound(std::string("hello"));
  CHECK(ch.read_outbound_bytes() == expected);
}

TEST_CASE("the prepender handles a borrowed buffer and an empty message", "[length_field]") {
  EmbeddedChannel ch([](Channel& c) { c.pipeline().add_last("prepender", std::make_shared<LengthFieldPrepender>()); });
  std::string storage = "borrowed";
  ch.write_outbound(Buffer::borrow(storage.data(), storage.size()));
  ch.write_outbound(Buffer::copy_of(""));
  CHECK(ch.read_outbound_bytes() == field(8, 4) + "borrowed" + field(0, 4));
}

TEST_CASE("the prepender fails a message whose length does not fit the field", "[length_field]") {
  LengthFieldPrepender::Options o;
  o.length_field_size = 1;
  std::string error;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().add_last("prepender", std::make_shared<LengthFieldPrepender>(o));
    c.pipeline().add_last("text", std::make_shared<StringEncoder>());
    c.pipeline().add_last("errors", std::make_shared<test::ErrorSpy>(error, false));
  });
  ch.write_outbound(std::string(255, 'x'));
  CHECK(ch.read_outbound_bytes() == field(255, 1) + std::string(255, 'x'));
  ch.write_outbound(std::string(256, 'x'));
  CHECK(ch.read_outbound_bytes().empty());
  CHECK_THAT(error, Catch::Matchers::Contains("does not fit"));
  CHECK_FALSE(ch.is_open());
}

TEST_CASE("prepender and decoder round trip", "[length_field]") {
  const std::size_t size = GENERATE(1u, 2u, 4u, 8u);
  const bool big_endian = GENERATE(true, false);
  const bool includes_field = GENERATE(true, false);
  INFO("size " << size << " big_endian " << big_endian << " includes_field " << includes_field);

  LengthFieldPrepender::Options p;
  p.length_field_size = size;
  p.big_endian = big_endian;
  p.length_includes_field = includes_field;
  LengthFieldDecoder::Options d = field_of(size);
  d.big_endian = big_endian;
  d.length_adjustment = includes_field ? -static_cast<std::int64_t>(size) : 0;

  // One channel, both directions: what it writes, it can read back.
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().add_last("frames", std::make_shared<LengthFieldDecoder>(d));
    c.pipeline().add_last("prepender", std::make_shared<LengthFieldPrepender>(p));
    c.pipeline().add_last("strings", std::make_shared<StringCodec>());
  });
  const Frames messages{"", "a", std::string(200, 'b'), std::string("bin\0ary", 7)};
  for (const auto& m : messages) ch.write_outbound(m);
  const std::string wire = ch.read_outbound_bytes();
  CHECK(wire.size() == 4 * size + 0 + 1 + 200 + 7);

  ch.write_inbound(wire);
  Frames decoded;
  while (auto m = ch.read_inbound<std::string>()) decoded.push_back(*m);
  CHECK(decoded == messages);
}
