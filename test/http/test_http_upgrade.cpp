// ResponseWriter::switch_protocols: HTTP hands a connection, with what the
// client sent behind its upgrade request, to another protocol (here a
// plain echo of bytes), on an EmbeddedChannel.
#include <catch2/catch.hpp>

#include <cctype>
#include <optional>
#include <string>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/router.hpp"

using namespace sluice;

namespace {

// The protocol after the switch: bytes back, upper-cased.
class Shout final : public InboundHandler<Buffer> {
 public:
  void read(HandlerContext& ctx, Buffer& bytes) override {
    std::string s(bytes.view());
    bytes.retrieve_all();
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ctx.write_and_flush(Buffer::copy_of(s));
  }
};

std::unique_ptr<EmbeddedChannel> server(HandlerFunction fn) {
  auto router = std::make_shared<Router>();
  router->get("/shout", std::move(fn));
  router->get("/plain", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("plain")); });
  return std::make_unique<EmbeddedChannel>(http_pipeline({}, router));
}

void switch_to_shout(HttpRequest&, ResponseWriter w) {
  w.switch_protocols(HttpResponse(101).header("Upgrade", "shout"), [](Channel& channel, Buffer rest) {
    channel.pipeline().emplace_last<Shout>("shout");
    if (!rest.empty()) channel.pipeline().fire_read(MessageRef::of(rest));
  });
}

constexpr std::string_view kUpgrade = "GET /shout HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n";

}  // namespace

TEST_CASE("upgrade: the 101, then the next protocol gets the bytes behind the request", "[http][upgrade]") {
  auto ch = server(switch_to_shout);
  ch->write_inbound(std::string(kUpgrade) + "hello");
  std::string out = ch->read_outbound_bytes();
  CHECK(out.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
  CHECK(out.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
  CHECK(out.find("\r\nUpgrade: shout\r\n") != std::string::npos);
  CHECK(out.ends_with("\r\n\r\nHELLO"));
  CHECK(ch->pipeline().names() == std::vector<std::string>{"shout"});
  ch->write_inbound("more GET / HTTP/1.1\r\n\r\n");  // no longer HTTP
  CHECK(ch->read_outbound_bytes() == "MORE GET / HTTP/1.1\r\n\r\n");
}

TEST_CASE("upgrade: an answer given later, from the loop, switches too", "[http][upgrade]") {
  std::optional<ResponseWriter> kept;
  auto ch = server([&](HttpRequest&, ResponseWriter w) { kept = w; });
  ch->write_inbound(std::string(kUpgrade) + "early");
  CHECK(ch->read_outbound_bytes().empty());
  REQUIRE(kept);
  HttpRequest unused;
  switch_to_shout(unused, *kept);
  ch->run_pending_tasks();  // the next protocol takes over on the next turn
  std::string out = ch->read_outbound_bytes();
  CHECK(out.starts_with("HTTP/1.1 101 "));
  CHECK(out.ends_with("EARLY"));
}

TEST_CASE("upgrade: a writer kept past the switch reaches nothing of HTTP, which is gone", "[http][upgrade]") {
  std::optional<ResponseWriter> kept;
  auto ch = server([&](HttpRequest& r, ResponseWriter w) {
    kept = w;
    switch_to_shout(r, w);
  });
  ch->write_inbound(kUpgrade);
  ch->run_pending_tasks();
  REQUIRE(ch->read_outbound_bytes().starts_with("HTTP/1.1 101 "));
  REQUIRE(ch->pipeline().names() == std::vector<std::string>{"shout"});
  // The HTTP connection was destroyed on the turn after the switch (under
  // AddressSanitizer, a call into it would be a use after free).
  REQUIRE(kept);
  kept->send(HttpResponse::text("late"));
  ChunkedWriter chunks = kept->begin_chunked(HttpResponse(200));
  bool told = false;
  chunks.on_writable([&] { told = true; });
  CHECK(told);  // at once: nothing waits on a connection that is gone
  chunks.write("x");
  chunks.end();
  ch->run_pending_tasks();
  CHECK(ch->read_outbound_bytes().empty());
  ch->write_inbound("still shouting");
  CHECK(ch->read_outbound_bytes() == "STILL SHOUTING");
}

TEST_CASE("upgrade: switch_protocols on a request that asked for none is a 500", "[http][upgrade]") {
  auto ch = server(switch_to_shout);
  ch->write_inbound("GET /shout HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(ch->read_outbound_bytes().starts_with("HTTP/1.1 500 "));
  CHECK(ch->pipeline().names() == std::vector<std::string>{"http-codec", "http-handler"});
}

TEST_CASE("upgrade: a route that answers an upgrade request normally keeps HTTP", "[http][upgrade]") {
  auto ch = server(switch_to_shout);
  ch->write_inbound(
      "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
      "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  ch->run_pending_tasks();
  std::string out = ch->read_outbound_bytes();
  std::size_t first = out.find("HTTP/1.1 200 OK");
  REQUIRE(first != std::string::npos);
  CHECK(out.find("HTTP/1.1 200 OK", first + 1) != std::string::npos);
}
