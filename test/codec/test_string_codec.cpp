// StringDecoder, StringEncoder and StringCodec.
#include <catch2/catch.hpp>

#include <cctype>
#include <memory>
#include <string>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/codec/line_decoder.hpp"
#include "sluice/codec/string_codec.hpp"

using namespace sluice;

namespace {

// Replies to every string with its upper-case form.
class UpperEcho final : public InboundHandler<std::string> {
 public:
  void read(HandlerContext& ctx, std::string& message) override {
    for (char& c : message) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ctx.write_and_flush(message);
  }
};

const std::string kBinary("a\0b\xff\r\n", 6);

}  // namespace

TEST_CASE("StringDecoder turns each read into a string", "[string]") {
  EmbeddedChannel ch([](Channel& c) { c.pipeline().add_last("text", std::make_shared<StringDecoder>()); });
  ch.write_inbound("hello");
  ch.write_inbound(kBinary);
  CHECK(ch.read_inbound<std::string>() == "hello");
  CHECK(ch.read_inbound<std::string>() == kBinary);
  CHECK(ch.inbound_count() == 0);
}

TEST_CASE("StringEncoder turns each string into bytes", "[string]") {
  EmbeddedChannel ch([](Channel& c) { c.pipeline().add_last("text", std::make_shared<StringEncoder>()); });
  ch.write_outbound(std::string("hello "));
  ch.write_outbound(kBinary);
  CHECK(ch.read_outbound_bytes() == "hello " + kBinary);
  CHECK_FALSE(ch.read_outbound<std::string>());  // nothing reached the socket unencoded
}

TEST_CASE("StringDecoder and StringEncoder round trip between two channels", "[string]") {
  EmbeddedChannel client([](Channel& c) { c.pipeline().add_last("encoder", std::make_shared<StringEncoder>()); });
  EmbeddedChannel server([](Channel& c) { c.pipeline().add_last("decoder", std::make_shared<StringDecoder>()); });
  const std::string big(100 * 1024, 'q');
  for (const std::string& m : {std::string("short"), kBinary, big}) {
    client.write_outbound(m);
    server.write_inbound(client.read_outbound_bytes());
    CHECK(server.read_inbound<std::string>() == m);
  }
}

TEST_CASE("StringCodec works both ways in one handler", "[string]") {
  EmbeddedChannel ch([](Channel& c) {
    c.pipeline().add_last("strings", std::make_shared<StringCodec>());
    c.pipeline().add_last("echo", std::make_shared<UpperEcho>());
  });
  REQUIRE(ch.is_open());  // the types lined up
  ch.write_inbound("hello");
  CHECK(ch.read_outbound_bytes() == "HELLO");
  ch.write_inbound(kBinary);
  CHECK(ch.read_outbound_bytes() == std::string("A\0B\xff\r\n", 6));
}

TEST_CASE("a line protocol: LineDecoder + StringCodec", "[string]") {
  EmbeddedChannel ch([](Channel& c) {
    c.pipeline().add_last("lines", std::make_shared<LineDecoder>());
    c.pipeline().add_last("strings", std::make_shared<StringCodec>());
    c.pipeline().add_last("echo", std::make_shared<UpperEcho>());
  });
  ch.write_inbound("one\ntw");
  ch.write_inbound("o\r\n");
  CHECK(ch.read_outbound_bytes() == "ONETWO");
}
