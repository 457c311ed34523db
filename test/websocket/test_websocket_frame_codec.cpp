// The frame codec against RFC 6455, byte for byte, through an
// EmbeddedChannel: every input is also fed split at every byte, and byte
// by byte, and must give the same messages and the same close code.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/websocket/websocket_frame.hpp"
#include "support/websocket_names.hpp"
#include "websocket/ws_test_frames.hpp"

using namespace sluice;
using namespace sluice::test;

namespace {

// Writes down what the codec passes on: "text:Hello", "close:<bytes>", and
// a violation as "error:1002".
class Recorder final : public InboundHandler<WebSocketMessage> {
 public:
  explicit Recorder(std::vector<std::string>& out) : out_(out) {}
  void read(HandlerContext&, WebSocketMessage& m) override {
    out_.push_back(std::string(test::opcode_name(m.opcode)) + ":" + std::string(m.data));
  }
  void error(HandlerContext&, const std::exception& e) override {
    if (const auto* v = dynamic_cast<const WebSocketProtocolError*>(&e)) {
      out_.push_back("error:" + std::to_string(v->code()));
    } else {
      out_.push_back(std::string("exception:") + e.what());
    }
  }

 private:
  std::vector<std::string>& out_;
};

std::vector<std::string> decode_in_pieces(const std::string& bytes, const std::vector<std::size_t>& cuts,
                                          WebSocketRole role, std::size_t max_message) {
  std::vector<std::string> out;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().emplace_last<WebSocketFrameCodec>("ws-codec", role, max_message);
    c.pipeline().emplace_last<Recorder>("recorder", out);
  });
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    ch.write_inbound(std::string_view(bytes).substr(from, cut - from));
    from = cut;
  }
  ch.write_inbound(std::string_view(bytes).substr(from));
  return out;
}

// What `bytes` decode to, checked to be the same whole, split at each byte,
// and byte by byte.
std::vector<std::string> decode(const std::string& bytes, WebSocketRole role = WebSocketRole::server,
                                std::size_t max_message = 1 << 20) {
  std::vector<std::string> whole = decode_in_pieces(bytes, {}, role, max_message);
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    INFO("split at byte " << cut);
    REQUIRE(decode_in_pieces(bytes, {cut}, role, max_message) == whole);
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < bytes.size(); ++i) every.push_back(i);
  INFO("byte by byte");
  REQUIRE(decode_in_pieces(bytes, every, role, max_message) == whole);
  return whole;
}

using Messages = std::vector<std::string>;

std::string frame_of(WebSocketOpcode op, std::string_view payload, bool fin = true) {
  return client_frame(op, payload, fin);
}

}  // namespace

TEST_CASE("codec: whole messages of every length form", "[websocket][codec]") {
  CHECK(decode(frame_of(WebSocketOpcode::text, "Hello")) == Messages{"text:Hello"});
  CHECK(decode(frame_of(WebSocketOpcode::binary, std::string("\0\1\2", 3))) ==
        Messages{"binary:" + std::string("\0\1\2", 3)});
  CHECK(decode(frame_of(WebSocketOpcode::text, "")) == Messages{"text:"});
  for (std::size_t n : {125u, 126u, 65535u}) {
    std::string payload(n, 'a');
    CHECK(decode_in_pieces(frame_of(WebSocketOpcode::binary, payload), {}, WebSocketRole::server, 1 << 20) ==
          Messages{"binary:" + payload});
  }
  std::string big(65536, 'b');
  CHECK(decode_in_pieces(frame_of(WebSocketOpcode::binary, big), {3, 100, 40000}, WebSocketRole::server, 1 << 20) ==
        Messages{"binary:" + big});
}

TEST_CASE("codec: several frames in one read, and pings, pongs, closes", "[websocket][codec]") {
  std::string bytes = frame_of(WebSocketOpcode::text, "one") + frame_of(WebSocketOpcode::ping, "p") +
                      frame_of(WebSocketOpcode::pong, "") + frame_of(WebSocketOpcode::binary, "two") +
                      frame_of(WebSocketOpcode::close, close_body(1000, "bye"));
  CHECK(decode(bytes) ==
        Messages{"text:one", "ping:p", "pong:", "binary:two", "close:" + close_body(1000, "bye")});
}

TEST_CASE("codec: a message whole in one read is a view of the read, not a copy", "[websocket][codec]") {
  std::string bytes = frame_of(WebSocketOpcode::text, "in place");
  const char* seen = nullptr;
  struct Spy final : InboundHandler<WebSocketMessage> {
    const char*& seen;
    explicit Spy(const char*& s) : seen(s) {}
    void read(HandlerContext&, WebSocketMessage& m) override { seen = m.data.data(); }
  };
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().emplace_last<WebSocketFrameCodec>("ws-codec", WebSocketRole::server, 1024);
    c.pipeline().emplace_last<Spy>("spy", seen);
  });
  ch.write_inbound_message(Buffer::borrow(bytes.data(), bytes.size()));
  CHECK(seen == bytes.data() + 6);  // 2 header bytes, 4 of mask: unmasked where it lay
  CHECK(bytes.substr(6) == "in place");
}

TEST_CASE("codec: fragmented messages, with control frames between fragments", "[websocket][codec]") {
  std::string bytes = frame_of(WebSocketOpcode::text, "Hel", false) + frame_of(WebSocketOpcode::ping, "x") +
                      frame_of(WebSocketOpcode::continuation, "l", false) +
                      frame_of(WebSocketOpcode::continuation, "o", true);
  CHECK(decode(bytes) == Messages{"ping:x", "text:Hello"});
  std::string binary = frame_of(WebSocketOpcode::binary, "a", false) + frame_of(WebSocketOpcode::continuation, "", false) +
                       frame_of(WebSocketOpcode::continuation, "b", true) + frame_of(WebSocketOpcode::text, "next");
  CHECK(decode(binary) == Messages{"binary:ab", "text:next"});
}

TEST_CASE("codec: framing violations close with 1002", "[websocket][codec]") {
  const Messages protocol_error{"error:1002"};
  SECTION("an unmasked client frame") {
    CHECK(decode(raw_frame(kFin | 0x1, "x", false)) == protocol_error);
  }
  SECTION("reserved bits without an extension") {
    for (std::uint8_t rsv : {kRsv1, kRsv2, kRsv3}) {
      CHECK(decode(raw_frame(kFin | rsv | 0x1, "x")) == protocol_error);
    }
  }
  SECTION("unknown opcodes") {
    for (std::uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
      INFO("opcode " << int(op));
      CHECK(decode(raw_frame(static_cast<std::uint8_t>(kFin | op), "")) == protocol_error);
    }
  }
  SECTION("a fragmented control frame") {
    CHECK(decode(raw_frame(0x9, "p")) == protocol_error);
  }
  SECTION("a control frame over 125 bytes") {
    CHECK(decode(frame_of(WebSocketOpcode::ping, std::string(126, 'p'))) == protocol_error);
    CHECK(decode(frame_of(WebSocketOpcode::ping, std::string(125, 'p'))) == Messages{"ping:" + std::string(125, 'p')});
  }
  SECTION("a continuation without a start") {
    CHECK(decode(frame_of(WebSocketOpcode::continuation, "x")) == protocol_error);
  }
  SECTION("a new message inside a fragmented one") {
    CHECK(decode(frame_of(WebSocketOpcode::text, "a", false) + frame_of(WebSocketOpcode::text, "b")) == protocol_error);
    CHECK(decode(frame_of(WebSocketOpcode::binary, "a", false) + frame_of(WebSocketOpcode::binary, "b", false)) ==
          protocol_error);
  }
  SECTION("a length not in its shortest form") {
    CHECK(decode(raw_frame(kFin | 0x2, "short", true, LengthForm::bits16)) == protocol_error);
    CHECK(decode(raw_frame(kFin | 0x2, std::string(300, 'x'), true, LengthForm::bits64)) == protocol_error);
  }
  SECTION("a 64-bit length with its top bit set") {
    std::string f = {static_cast<char>(kFin | 0x2), static_cast<char>(0x80 | 127)};
    f += std::string("\x80\0\0\0\0\0\0\0", 8);
    f += "mask";
    CHECK(decode_in_pieces(f, {}, WebSocketRole::server, 1 << 20) == protocol_error);
  }
  SECTION("a close frame with a 1-byte body") {
    CHECK(decode(frame_of(WebSocketOpcode::close, "x")) == protocol_error);
  }
  SECTION("a close frame with a code no peer may send") {
    for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
      INFO("code " << code);
      CHECK(decode(frame_of(WebSocketOpcode::close, close_body(code))) == protocol_error);
    }
  }
  SECTION("a masked server frame, at a client") {
    CHECK(decode(raw_frame(kFin | 0x1, "x", true), WebSocketRole::client) == protocol_error);
    CHECK(decode(raw_frame(kFin | 0x1, "x", false), WebSocketRole::client) == Messages{"text:x"});
  }
  SECTION("nothing is decoded after a violation") {
    CHECK(decode(frame_of(WebSocketOpcode::text, "before") + raw_frame(kFin | kRsv1 | 0x1, "x") +
                 frame_of(WebSocketOpcode::text, "after")) == Messages{"text:before", "error:1002"});
  }
}

TEST_CASE("codec: close codes a peer may send are passed on", "[websocket][codec]") {
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000,
                             4999}) {
    INFO("code " << code);
    CHECK(decode(frame_of(WebSocketOpcode::close, close_body(code, "why"))) ==
          Messages{"close:" + close_body(code, "why")});
  }
  CHECK(decode(frame_of(WebSocketOpcode::close, "")) == Messages{"close:"});
}

TEST_CASE("codec: text that is not UTF-8 closes with 1007", "[websocket][codec][utf8]") {
  const Messages invalid{"error:1007"};
  SECTION("in a whole message") {
    CHECK(decode(frame_of(WebSocketOpcode::text, "\xff")) == invalid);
    CHECK(decode(frame_of(WebSocketOpcode::text, "ok \xc0\xaf")) == invalid);           // overlong '/'
    CHECK(decode(frame_of(WebSocketOpcode::text, "\xed\xa0\x80")) == invalid);          // a surrogate
    CHECK(decode(frame_of(WebSocketOpcode::text, "\xf4\x90\x80\x80")) == invalid);      // above U+10FFFF
    CHECK(decode(frame_of(WebSocketOpcode::text, "cut \xe2\x82")) == invalid);          // truncated
  }
  SECTION("binary messages are not checked") {
    CHECK(decode(frame_of(WebSocketOpcode::binary, "\xff")) == Messages{"binary:\xff"});
  }
  SECTION("a character split across fragments is fine") {
    CHECK(decode(frame_of(WebSocketOpcode::text, "\xe2\x82", false) +
                 frame_of(WebSocketOpcode::continuation, "\xac euro")) == Messages{"text:\xe2\x82\xac euro"});
  }
  SECTION("an invalid fragment fails at once, before the message ends") {
    CHECK(decode(frame_of(WebSocketOpcode::text, "fine", false) + frame_of(WebSocketOpcode::continuation, "\xff", false)) ==
          invalid);
  }
  SECTION("a message that ends inside a character") {
    CHECK(decode(frame_of(WebSocketOpcode::text, "a", false) + frame_of(WebSocketOpcode::continuation, "\xe2\x82")) ==
          invalid);
  }
  SECTION("a close reason") {
    CHECK(decode(frame_of(WebSocketOpcode::close, close_body(1000, "\xff"))) == invalid);
  }
}

TEST_CASE("codec: a message over the limit closes with 1009 as soon as a header says so", "[websocket][codec]") {
  SECTION("one frame: only its header has arrived") {
    std::string f = frame_of(WebSocketOpcode::binary, std::string(101, 'x'));
    CHECK(decode(f.substr(0, 8), WebSocketRole::server, 100) == Messages{"error:1009"});
    CHECK(decode(frame_of(WebSocketOpcode::binary, std::string(100, 'x')), WebSocketRole::server, 100) ==
          Messages{"binary:" + std::string(100, 'x')});
  }
  SECTION("fragments that add up beyond it") {
    std::string f = frame_of(WebSocketOpcode::text, std::string(60, 'a'), false) +
                    frame_of(WebSocketOpcode::continuation, std::string(41, 'b'));
    CHECK(decode(f, WebSocketRole::server, 100) == Messages{"error:1009"});
  }
  SECTION("a huge declared length") {
    std::string f = {static_cast<char>(kFin | 0x2), static_cast<char>(0x80 | 127)};
    f += std::string("\x00\x00\x01\x00\x00\x00\x00\x00", 8);
    f += "mask";
    CHECK(decode(f) == Messages{"error:1009"});
  }
}

TEST_CASE("codec: the encoder frames into the prependable room, and a client masks", "[websocket][codec]") {
  std::string written;
  auto encode = [&](WebSocketRole role, WebSocketOpcode op, std::string payload) {
    EmbeddedChannel ch(
        [&](Channel& c) { c.pipeline().emplace_last<WebSocketFrameCodec>("ws-codec", role, 1 << 20); });
    ch.write_outbound(WebSocketFrame{op, Buffer::copy_of(payload)});
    return ch.read_outbound_bytes();
  };
  for (std::size_t n : {0u, 1u, 125u, 126u, 65535u, 65536u, 70000u}) {
    INFO("payload of " << n);
    std::string payload(n, 'z');
    std::string bytes = encode(WebSocketRole::server, WebSocketOpcode::binary, payload);
    std::size_t header = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
    REQUIRE(bytes.size() == header + n);
    CHECK(static_cast<unsigned char>(bytes[0]) == 0x82);
    std::vector<WireFrame> frames = parse_frames(bytes);
    REQUIRE(frames.size() == 1);
    CHECK_FALSE(frames[0].masked);
    CHECK(frames[0].payload == payload);

    std::string masked = encode(WebSocketRole::client, WebSocketOpcode::text, payload);
    REQUIRE(masked.size() == header + 4 + n);
    // A server's decoder takes it back.
    CHECK(decode_in_pieces(masked, {}, WebSocketRole::server, 1 << 20) == Messages{"text:" + payload});
  }
}

TEST_CASE("codec: each client frame gets its own mask", "[websocket][codec]") {
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline().emplace_last<WebSocketFrameCodec>("ws-codec", WebSocketRole::client, 1024);
  });
  ch.write_outbound(WebSocketFrame{WebSocketOpcode::text, Buffer::copy_of("same")});
  ch.write_outbound(WebSocketFrame{WebSocketOpcode::text, Buffer::copy_of("same")});
  std::string bytes = ch.read_outbound_bytes();
  REQUIRE(bytes.size() == 2 * 10);
  CHECK(bytes.substr(2, 4) != bytes.substr(12, 4));
}

TEST_CASE("close_code::valid_on_wire", "[websocket][codec]") {
  CHECK(close_code::valid_on_wire(1000));
  CHECK(close_code::valid_on_wire(4999));
  CHECK_FALSE(close_code::valid_on_wire(1005));
  CHECK_FALSE(close_code::valid_on_wire(1006));
  CHECK_FALSE(close_code::valid_on_wire(2000));
}
