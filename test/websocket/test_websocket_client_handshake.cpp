// The WebSocket client's side of the opening handshake (ClientHandshake) on
// an EmbeddedChannel: what it sends, how it reads the server's answer, and
// the order in which the application hears of the WebSocket and of frames
// that came with the answer.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../lib/websocket/client_handshake.hpp"
#include "../lib/websocket/websocket_session.hpp"
#include "sluice/channel/embedded_channel.hpp"
#include "sluice/websocket/websocket.hpp"
#include "websocket/ws_test_frames.hpp"

using namespace sluice;
using namespace sluice::test;

namespace {

constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";        // RFC 6455, section 1.3
constexpr std::string_view kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";  // its answer

const std::string kAnswer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Accept: " + std::string(kAccept) + "\r\n\r\n";

// A frame as a server sends it: unmasked.
std::string server_frame(WebSocketOpcode op, std::string_view payload) {
  return raw_frame(static_cast<std::uint8_t>(kFin | static_cast<std::uint8_t>(op)), payload, false);
}

// What the application hears, the connect callback's report included.
struct Heard {
  std::vector<std::string> events;
};

class Recorder final : public WebSocketHandler {
 public:
  explicit Recorder(Heard& heard) : heard_(&heard) {}
  void on_open(WebSocket&) override { heard_->events.push_back("on_open"); }
  void on_message(WebSocket&, const WebSocketMessage& m) override {
    heard_->events.push_back("message:" + std::string(m.data));
  }
  void on_close(WebSocket&, std::uint16_t code, std::string_view) override {
    heard_->events.push_back("on_close:" + std::to_string(code));
  }

 private:
  Heard* heard_;
};

// A client channel with its handshake under way (the request sent).
struct Client {
  Heard heard;
  std::string request;
  std::unique_ptr<EmbeddedChannel> ch;

  Client() {
    auto config = std::make_shared<detail::SessionConfig>();
    config->role = WebSocketRole::client;
    detail::HandshakeRequest r{"/chat", "server.example.com", std::string(kKey), {}};
    ch = std::make_unique<EmbeddedChannel>([&](Channel& c) {
      c.pipeline().emplace_last<detail::ClientHandshake>(
          "ws-handshake", r, config, std::make_shared<Recorder>(heard),
          [this](std::shared_ptr<WebSocket> ws, std::string error) {
            heard.events.push_back(ws ? "connected" : "failed: " + error);
          },
          10'000);
    });
    request = ch->read_outbound_bytes();
  }
};

}  // namespace

TEST_CASE("client handshake: the request asks for an upgrade with the key", "[websocket][client]") {
  Client c;
  CHECK(c.request.rfind("GET /chat HTTP/1.1\r\nHost: server.example.com\r\n", 0) == 0);
  CHECK(c.request.find("\r\nSec-WebSocket-Key: " + std::string(kKey) + "\r\n") != std::string::npos);
  CHECK(c.request.find("\r\nUpgrade: websocket\r\n") != std::string::npos);
}

TEST_CASE("client handshake: the application hears of its WebSocket before frames that came with the answer",
          "[websocket][client]") {
  // Found by fuzzing (test/fuzz/websocket_client_handshake): frames in the
  // same read as the 101 were delivered (a message, even on_close) before
  // the connect callback had the WebSocket; in a later read, after it.
  const std::string bytes = kAnswer + server_frame(WebSocketOpcode::text, "hi") +
                            server_frame(WebSocketOpcode::close, close_body(1000));
  const std::vector<std::string> expected = {"on_open", "connected", "message:hi", "on_close:1000"};
  SECTION("in one read") {
    Client c;
    c.ch->write_inbound(bytes);
    CHECK(c.heard.events == expected);
  }
  SECTION("the frames in a later read") {
    Client c;
    c.ch->write_inbound(kAnswer);
    c.ch->write_inbound(bytes.substr(kAnswer.size()));
    CHECK(c.heard.events == expected);
  }
}

TEST_CASE("client handshake: only the first response's head counts", "[websocket][client]") {
  // Found by fuzzing (test/fuzz/websocket_client_handshake): llhttp read on
  // past a first response whose head ends in a bare LF into a second one,
  // and the fields of both were taken together, with the last status: an
  // interim answer carrying the accept value made a bare 101 acceptable.
  Client c;
  c.ch->write_inbound("HTTP/1.1 100 Continue\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                      std::string(kAccept) + "\r\n\nHTTP/1.1 101 Switching Protocols\r\n\r\n");
  REQUIRE(c.heard.events.size() == 1);
  CHECK(c.heard.events[0].rfind("failed: ", 0) == 0);
  CHECK_FALSE(c.ch->is_open());
}

TEST_CASE("client handshake: the answer must be HTTP/1.1", "[websocket][client]") {
  // Found by fuzzing (test/fuzz/websocket_client_handshake): llhttp reads
  // "HTTP/2.0 101" as well, and the client took it. 101 and Upgrade are
  // HTTP/1.1's (RFC 6455 4.2.2; RFC 9110 7.8).
  for (std::string version : {"HTTP/2.0", "HTTP/1.0"}) {
    INFO(version);
    Client c;
    c.ch->write_inbound(version + kAnswer.substr(8));
    REQUIRE(c.heard.events.size() == 1);
    CHECK(c.heard.events[0] == "failed: WebSocket handshake failed: the answer is " + version + ", not HTTP/1.1");
    CHECK_FALSE(c.ch->is_open());
  }
}

TEST_CASE("client handshake: the status line is three digits and a reason without control bytes",
          "[websocket][client]") {
  // Found by fuzzing (test/fuzz/websocket_client_handshake): llhttp reads
  // "HTTP/1.1 0101" as 101, and a reason phrase with a control byte, and
  // the client took them. status-code = 3DIGIT; reason-phrase = *( HTAB /
  // SP / VCHAR / obs-text ) (RFC 9112 4).
  const std::string rest = kAnswer.substr(kAnswer.find("\r\n"));
  for (std::string line : {"HTTP/1.1 0101 Switching Protocols", "HTTP/1.1 1010 Switching Protocols",
                           "HTTP/1.1 101 Switching\x03Protocols", "HTTP/1.1 101 Switching\x7fProtocols",
                           "HTTP/1.1 101Switching Protocols", "HTTP/1.1  101 Switching Protocols"}) {
    INFO(line);
    Client c;
    c.ch->write_inbound(line + rest);
    REQUIRE(c.heard.events.size() == 1);
    CHECK(c.heard.events[0] == "failed: WebSocket handshake failed: the handshake answer is not HTTP");
    CHECK_FALSE(c.ch->is_open());
  }
  // What the grammar allows: obs-text and tabs in the reason, no reason at all.
  for (std::string line :
       {"HTTP/1.1 101 Switching\xffProtocols\tok", "HTTP/1.1 101 ", "HTTP/1.1 101", "\r\nHTTP/1.1 101 X"}) {
    INFO(line);
    Client c;
    c.ch->write_inbound(line + rest);
    CHECK(c.heard.events == std::vector<std::string>{"on_open", "connected"});
  }
}

TEST_CASE("client handshake: a head over the limit fails however it is cut", "[websocket][client]") {
  // Found by fuzzing (test/fuzz/websocket_client_handshake): the limit was
  // checked only while the head was incomplete, so a long head that came
  // whole in one read was read (and a good one taken), and cut, refused.
  const std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "X-Pad: " + std::string(detail::ClientHandshake::kMaxResponseHead, 'p') +
                           "\r\nSec-WebSocket-Accept: " + std::string(kAccept) + "\r\n\r\n";
  const std::string expected = "failed: WebSocket handshake failed: the handshake answer is too long";
  SECTION("in one read") {
    Client c;
    c.ch->write_inbound(head);
    CHECK(c.heard.events == std::vector<std::string>{expected});
  }
  SECTION("in two") {
    Client c;
    c.ch->write_inbound(head.substr(0, head.size() / 2));
    c.ch->write_inbound(head.substr(head.size() / 2));
    CHECK(c.heard.events == std::vector<std::string>{expected});
  }
}

TEST_CASE("client handshake: a wrong answer fails and closes", "[websocket][client]") {
  Client c;
  c.ch->write_inbound("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(c.heard.events.size() == 1);
  CHECK(c.heard.events[0] == "failed: WebSocket handshake failed: the server answered 200, not 101");
  CHECK_FALSE(c.ch->is_open());
}
