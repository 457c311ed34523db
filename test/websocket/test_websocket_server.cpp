// A WebSocket endpoint behind the HTTP pipeline HttpServer installs, on an
// EmbeddedChannel: the handshake's rules, the switch from HTTP with bytes
// that arrived behind the upgrade, the close handshake, the heartbeat,
// graceful shutdown and the slow-consumer policy, byte for byte.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/router.hpp"
#include "sluice/websocket/websocket.hpp"
#include "websocket/ws_test_frames.hpp"

using namespace sluice;
using namespace sluice::test;

namespace {

constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";        // RFC 6455, section 1.3
constexpr std::string_view kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";  // its answer

std::string upgrade_request(std::string_view path = "/ws", std::string_view extra = "",
                            std::string_view version = "13", std::string_view key = kKey) {
  std::string r = "GET " + std::string(path) + " HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
                  "Connection: keep-alive, Upgrade\r\n";
  if (!key.empty()) r += "Sec-WebSocket-Key: " + std::string(key) + "\r\n";
  if (!version.empty()) r += "Sec-WebSocket-Version: " + std::string(version) + "\r\n";
  r += extra;
  r += "\r\n";
  return r;
}

// Records what the application hears; echoes messages back.
class Probe final : public WebSocketHandler {
 public:
  std::vector<std::string> events;
  std::shared_ptr<WebSocket> ws;
  bool echo = true;

  void on_open(WebSocket& w) override {
    ws = w.shared();
    events.push_back("open" + (w.subprotocol().empty() ? std::string() : ":" + std::string(w.subprotocol())));
  }
  void on_message(WebSocket& w, const WebSocketMessage& m) override {
    events.push_back("message:" + std::string(m.data));
    if (echo) w.send(m.opcode, m.data);
  }
  void on_close(WebSocket&, std::uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
    ws.reset();  // the route's factory keeps this probe alive, and so would it the channel
  }
  void on_writable(WebSocket&) override { events.push_back("writable"); }
};

struct Server {
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();
  std::unique_ptr<EmbeddedChannel> ch;
  std::string out;

  explicit Server(WebSocketOptions options = {}, WebSocketFactory factory = {}, ChannelOptions channel = {},
                  std::vector<std::shared_ptr<Middleware>> middleware = {}) {
    auto router = std::make_shared<Router>();
    if (!factory) factory = [p = probe](HttpRequest&) { return p; };
    add_websocket_route(*router, "/ws", std::move(factory), std::move(options));
    router->get("/plain", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("plain")); });
    HttpServerOptions http;
    channel.allow_half_close = true;  // as HttpServer sets it
    ch = std::make_unique<EmbeddedChannel>(http_pipeline(http, router, middleware), channel);
  }

  void send(std::string_view bytes) { ch->write_inbound(bytes); }
  std::string take() {
    out += ch->read_outbound_bytes();
    return std::exchange(out, {});
  }
  // The HTTP head at the start of the output (consumed), or "" if none is whole.
  std::string take_head() {
    out += ch->read_outbound_bytes();
    std::size_t end = out.find("\r\n\r\n");
    if (end == std::string::npos) return {};
    std::string head = out.substr(0, end + 4);
    out.erase(0, end + 4);
    return head;
  }
  std::vector<WireFrame> frames() {
    out += ch->read_outbound_bytes();
    return parse_frames(out);
  }
  // The handshake, done and checked.
  void open(std::string_view extra = "") {
    send(upgrade_request("/ws", extra));
    std::string head = take_head();
    REQUIRE(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
  }
};

int status_of(const std::string& head) { return head.size() >= 12 ? std::stoi(head.substr(9, 3)) : 0; }

}  // namespace

TEST_CASE("handshake: a valid request is switched with the RFC's accept key", "[websocket][handshake]") {
  Server s;
  s.send(upgrade_request());
  std::string head = s.take_head();
  CHECK(status_of(head) == 101);
  CHECK(head.find("\r\nUpgrade: websocket\r\n") != std::string::npos);
  CHECK(head.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
  CHECK(head.find("\r\nSec-WebSocket-Accept: " + std::string(kAccept) + "\r\n") != std::string::npos);
  CHECK(head.find("Content-Length") == std::string::npos);
  CHECK(head.find("Sec-WebSocket-Extensions") == std::string::npos);
  CHECK(s.probe->events == std::vector<std::string>{"open"});
  CHECK(s.ch->pipeline().names() == std::vector<std::string>{"ws"});
}

TEST_CASE("handshake: each broken rule has its status, and HTTP goes on", "[websocket][handshake]") {
  Server s;
  SECTION("no version: 426 naming ours") {
    s.send(upgrade_request("/ws", "", ""));
    std::string head = s.take_head();
    CHECK(status_of(head) == 426);
    CHECK(head.find("\r\nSec-WebSocket-Version: 13\r\n") != std::string::npos);
  }
  SECTION("another version: 426") {
    s.send(upgrade_request("/ws", "", "8"));
    CHECK(status_of(s.take_head()) == 426);
  }
  SECTION("no key, or one that is not 16 bytes: 400") {
    s.send(upgrade_request("/ws", "", "13", ""));
    CHECK(status_of(s.take_head()) == 400);
    s.take();
    s.send(upgrade_request("/ws", "", "13", "c2hvcnQ="));
    CHECK(status_of(s.take_head()) == 400);
  }
  SECTION("HTTP/1.0: 400") {
    std::string r = upgrade_request();
    r.replace(r.find("HTTP/1.1"), 8, "HTTP/1.0");
    s.send(r);
    CHECK(status_of(s.take_head()) == 400);
  }
  SECTION("no Upgrade: websocket: 400") {
    std::string r = upgrade_request();
    r.replace(r.find("Upgrade: websocket"), 18, "Upgrade: h2c");
    s.send(r);
    CHECK(status_of(s.take_head()) == 400);
  }
  SECTION("no upgrade token in Connection: 400") {
    std::string r = upgrade_request();
    r.replace(r.find("keep-alive, Upgrade"), 19, "keep-alive");
    s.send(r);
    CHECK(status_of(s.take_head()) == 400);
  }
  SECTION("a plain GET: 426") {
    s.send("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(status_of(s.take_head()) == 426);
  }
  // Each refusal leaves the connection speaking HTTP: the next request is
  // answered, the application never heard of a WebSocket.
  s.take();
  s.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(status_of(s.take_head()) == 200);
  CHECK(s.probe->events.empty());
}

TEST_CASE("handshake: a refused upgrade with a request behind it goes on as HTTP", "[websocket][handshake]") {
  Server s;
  s.send(upgrade_request("/ws", "", "7") + "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  s.ch->run_pending_tasks();
  std::string all = s.take();
  std::size_t refused = all.find("HTTP/1.1 426 ");
  std::size_t ok = all.find("HTTP/1.1 200 OK\r\n");
  REQUIRE(refused != std::string::npos);
  REQUIRE(ok != std::string::npos);
  CHECK(refused < ok);
  CHECK(s.ch->pipeline().names() == std::vector<std::string>{"http-codec", "http-handler"});
}

TEST_CASE("handshake: subprotocols, origins, the factory and middleware decide", "[websocket][handshake]") {
  SECTION("the first of ours the client offers") {
    WebSocketOptions o;
    o.subprotocols = {"v2.chat", "v1.chat"};
    Server s(o);
    s.send(upgrade_request("/ws", "Sec-WebSocket-Protocol: v1.chat, v2.chat\r\n"));
    std::string head = s.take_head();
    CHECK(head.find("\r\nSec-WebSocket-Protocol: v2.chat\r\n") != std::string::npos);
    CHECK(s.probe->events == std::vector<std::string>{"open:v2.chat"});
  }
  SECTION("none in common: no subprotocol") {
    WebSocketOptions o;
    o.subprotocols = {"mqtt"};
    Server s(o);
    s.send(upgrade_request("/ws", "Sec-WebSocket-Protocol: graphql-ws\r\n"));
    std::string head = s.take_head();
    CHECK(status_of(head) == 101);
    CHECK(head.find("Sec-WebSocket-Protocol") == std::string::npos);
  }
  SECTION("permessage-deflate is declined") {
    Server s;
    s.send(upgrade_request("/ws", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
    std::string head = s.take_head();
    CHECK(status_of(head) == 101);
    CHECK(head.find("Sec-WebSocket-Extensions") == std::string::npos);
  }
  SECTION("an origin the hook refuses: 403") {
    WebSocketOptions o;
    o.check_origin = [](std::string_view origin) { return origin == "https://good.example"; };
    Server s(o);
    s.send(upgrade_request("/ws", "Origin: https://evil.example\r\n"));
    CHECK(status_of(s.take_head()) == 403);
    s.take();
    s.send(upgrade_request("/ws", "Origin: https://good.example\r\n"));
    CHECK(status_of(s.take_head()) == 101);
  }
  SECTION("a factory that returns nothing: 403; one that throws HttpError: its status") {
    Server nothing({}, [](HttpRequest&) { return std::shared_ptr<WebSocketHandler>(); });
    nothing.send(upgrade_request());
    CHECK(status_of(nothing.take_head()) == 403);
    Server unauthorized({}, [](HttpRequest&) -> std::shared_ptr<WebSocketHandler> {
      throw HttpError(401, "who are you");
    });
    unauthorized.send(upgrade_request());
    CHECK(status_of(unauthorized.take_head()) == 401);
  }
  SECTION("middleware runs on the upgrade request and may refuse it") {
    struct Limit final : Middleware {
      void handle(HttpRequest& r, ResponseWriter w, const Next& next) override {
        if (r.headers.contains("X-Over-Limit")) {
          w.send(HttpResponse::error(429));
          return;
        }
        next(r, w);
      }
    };
    Server s({}, {}, {}, {std::make_shared<Limit>()});
    s.send(upgrade_request("/ws", "X-Over-Limit: 1\r\n"));
    CHECK(status_of(s.take_head()) == 429);
    s.take();
    s.send(upgrade_request());
    CHECK(status_of(s.take_head()) == 101);
  }
}

TEST_CASE("switch: frames that came with the upgrade request are not lost, split anywhere", "[websocket][handshake]") {
  std::string bytes = "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n" + upgrade_request() +
                      client_frame(WebSocketOpcode::text, "first") + client_frame(WebSocketOpcode::binary, "second");
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    INFO("split at " << cut);
    Server s;
    s.send(bytes.substr(0, cut));
    s.send(bytes.substr(cut));
    s.ch->run_pending_tasks();
    std::string all = s.take();
    std::size_t switched = all.find("HTTP/1.1 101 Switching Protocols\r\n");
    REQUIRE(all.starts_with("HTTP/1.1 200 OK\r\n"));
    REQUIRE(switched != std::string::npos);
    std::string rest = all.substr(all.find("\r\n\r\n", switched) + 4);
    std::vector<WireFrame> frames = parse_frames(rest);
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].payload == "first");
    CHECK(frames[1].payload == "second");
    CHECK(s.probe->events == std::vector<std::string>{"open", "message:first", "message:second"});
  }
}

TEST_CASE("switch: pipelined answer, then the 101, then the echoes", "[websocket][handshake]") {
  Server s;
  s.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n" + upgrade_request() + client_frame(WebSocketOpcode::text, "hi"));
  std::string all = s.take();
  std::size_t ok = all.find("HTTP/1.1 200 OK\r\n");
  std::size_t switched = all.find("HTTP/1.1 101 Switching Protocols\r\n");
  REQUIRE(ok != std::string::npos);
  REQUIRE(switched != std::string::npos);
  CHECK(ok < switched);
  std::string frames_part = all.substr(all.find("\r\n\r\n", switched) + 4);
  std::vector<WireFrame> frames = parse_frames(frames_part);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].opcode() == WebSocketOpcode::text);
  CHECK(frames[0].payload == "hi");
  CHECK_FALSE(frames[0].masked);
  CHECK(s.probe->events == std::vector<std::string>{"open", "message:hi"});
}

TEST_CASE("session: echo, ping answered with pong, pongs ignored", "[websocket][session]") {
  Server s;
  s.open();
  s.send(client_frame(WebSocketOpcode::text, "a") + client_frame(WebSocketOpcode::ping, "are you there") +
         client_frame(WebSocketOpcode::pong, "unasked") + client_frame(WebSocketOpcode::binary, "b"));
  std::vector<WireFrame> f = s.frames();
  REQUIRE(f.size() == 3);
  CHECK(f[0].payload == "a");
  CHECK(f[1].opcode() == WebSocketOpcode::pong);
  CHECK(f[1].payload == "are you there");
  CHECK(f[2].opcode() == WebSocketOpcode::binary);
  CHECK(f[2].payload == "b");
}

TEST_CASE("session: the client closes; we answer with its code and close TCP", "[websocket][session]") {
  Server s;
  s.open();
  s.send(client_frame(WebSocketOpcode::close, close_body(4001, "bye")) + client_frame(WebSocketOpcode::text, "late"));
  std::vector<WireFrame> f = s.frames();
  REQUIRE(f.size() == 1);
  CHECK(f[0].opcode() == WebSocketOpcode::close);
  CHECK(f[0].close_code() == 4001);
  CHECK(s.probe->events == std::vector<std::string>{"open", "close:4001:bye"});
  CHECK(s.ch->channel().is_closing());
}

TEST_CASE("session: a close frame with no code is answered with none, reported 1005", "[websocket][session]") {
  Server s;
  s.open();
  s.send(client_frame(WebSocketOpcode::close, ""));
  std::vector<WireFrame> f = s.frames();
  REQUIRE(f.size() == 1);
  CHECK(f[0].payload.empty());
  CHECK(s.probe->events.back() == "close:1005:");
}

TEST_CASE("session: every violation closes with its code and the connection ends", "[websocket][session]") {
  struct Case {
    std::string bytes;
    std::uint16_t code;
  };
  WebSocketOptions o;
  o.max_message_bytes = 1000;
  for (const Case& c : {Case{raw_frame(kFin | 0x1, "unmasked", false), 1002},
                        Case{raw_frame(kFin | kRsv1 | 0x1, "x"), 1002},
                        Case{client_frame(WebSocketOpcode::text, "\xff"), 1007},
                        Case{client_frame(WebSocketOpcode::binary, std::string(1001, 'x')), 1009},
                        Case{client_frame(WebSocketOpcode::close, "x"), 1002}}) {
    Server s(o);
    s.open();
    s.send(c.bytes + client_frame(WebSocketOpcode::text, "after"));
    std::vector<WireFrame> f = s.frames();
    REQUIRE(f.size() == 1);
    CHECK(f[0].opcode() == WebSocketOpcode::close);
    CHECK(f[0].close_code() == c.code);
    CHECK(s.probe->events.size() == 2);
    CHECK(s.probe->events.back().starts_with("close:" + std::to_string(c.code)));
    CHECK(s.ch->channel().is_closing());
  }
}

TEST_CASE("session: our close waits for the peer's, then the close timeout cuts", "[websocket][session]") {
  WebSocketOptions o;
  o.close_timeout_ms = 1000;
  SECTION("answered") {
    Server s(o);
    s.open();
    s.probe->ws->close(4000, "done");
    std::vector<WireFrame> f = s.frames();
    REQUIRE(f.size() == 1);
    CHECK(f[0].close_code() == 4000);
    CHECK(f[0].payload.substr(2) == "done");
    s.probe->ws->send_text("dropped: closing");
    s.send(client_frame(WebSocketOpcode::text, "ignored") + client_frame(WebSocketOpcode::close, close_body(4000)));
    CHECK(s.frames().empty());
    CHECK(s.probe->events == std::vector<std::string>{"open", "close:4000:"});
    CHECK(s.ch->channel().is_closing());
  }
  SECTION("not answered") {
    Server s(o);
    s.open();
    s.probe->ws->close(1000, {});
    s.ch->advance_time(900);
    CHECK(s.ch->is_open());
    s.ch->advance_time(300);
    CHECK_FALSE(s.ch->is_open());
    CHECK(s.probe->events.back() == "close:1006:close timeout");
  }
}

TEST_CASE("session: the heartbeat pings a silent peer and cuts one that stays silent", "[websocket][session]") {
  WebSocketOptions o;
  o.ping_interval_ms = 1000;
  o.pong_timeout_ms = 500;
  Server s(o);
  s.open();
  SECTION("a peer that talks is never pinged") {
    for (int i = 0; i < 5; ++i) {
      s.send(client_frame(WebSocketOpcode::text, "still here"));
      s.ch->advance_time(1000);
    }
    for (const WireFrame& f : s.frames()) CHECK(f.opcode() != WebSocketOpcode::ping);
    CHECK(s.ch->is_open());
  }
  SECTION("a silent peer that answers the ping stays") {
    s.ch->advance_time(1100);
    std::vector<WireFrame> f = s.frames();
    REQUIRE(f.size() == 1);
    CHECK(f[0].opcode() == WebSocketOpcode::ping);
    s.send(client_frame(WebSocketOpcode::pong, ""));
    s.ch->advance_time(600);
    CHECK(s.ch->is_open());
  }
  SECTION("a silent peer that does not answer is cut") {
    s.ch->advance_time(1100);
    s.ch->advance_time(600);
    CHECK_FALSE(s.ch->is_open());
    CHECK(s.probe->events.back() == "close:1006:no pong");
  }
}

TEST_CASE("session: graceful shutdown says 1001 to every WebSocket", "[websocket][session]") {
  Server s;
  s.open();
  s.ch->channel().shutdown_gracefully();
  std::vector<WireFrame> f = s.frames();
  REQUIRE(f.size() == 1);
  CHECK(f[0].close_code() == close_code::going_away);
  CHECK(s.ch->is_open());  // waiting for the answer
  s.send(client_frame(WebSocketOpcode::close, close_body(1001)));
  CHECK(s.probe->events.back() == "close:1001:");
}

TEST_CASE("session: the peer's EOF without a close frame is 1006", "[websocket][session]") {
  Server s;
  s.open();
  s.ch->shutdown_inbound();
  CHECK_FALSE(s.ch->is_open());
  CHECK(s.probe->events.back() == "close:1006:");
}

TEST_CASE("session: a peer that does not read meets the slow-consumer policy", "[websocket][session]") {
  ChannelOptions channel;
  channel.write_high_watermark = 4096;
  channel.write_low_watermark = 1024;
  SECTION("close (the default): 1008") {
    Server s({}, {}, channel);
    s.open();
    s.ch->set_peer_reading(false);
    std::string chunk(3000, 'x');
    s.probe->ws->send_text(chunk);
    s.probe->ws->send_text(chunk);  // now above the high watermark
    CHECK_FALSE(s.probe->ws->writable());
    s.probe->ws->send_text(chunk);  // refused: the connection is failed
    CHECK(s.probe->events.back() == "close:1008:too slow to read its messages");
    s.ch->set_peer_reading(true);
    std::vector<WireFrame> f = s.frames();
    REQUIRE(f.size() == 3);
    CHECK(f[2].close_code() == close_code::policy_violation);
  }
  SECTION("drop: counted, and the connection lives") {
    WebSocketOptions o;
    o.slow_consumer = SlowConsumerPolicy::drop;
    Server s(o, {}, channel);
    s.open();
    s.ch->set_peer_reading(false);
    std::string chunk(3000, 'x');
    for (int i = 0; i < 5; ++i) s.probe->ws->send_text(chunk);
    CHECK(s.probe->ws->dropped_messages() == 3);
    s.ch->set_peer_reading(true);
    CHECK(s.frames().size() == 2);
    CHECK(s.probe->events.back() == "writable");
    s.probe->ws->send_text("again");
    CHECK(s.frames().size() == 1);
  }
}

TEST_CASE("session: a handler that throws closes with 1011, telling the peer nothing more", "[websocket][session]") {
  struct Thrower final : WebSocketHandler {
    void on_message(WebSocket&, const WebSocketMessage&) override { throw std::runtime_error("secret detail"); }
  };
  auto thrower = std::make_shared<Thrower>();
  Server s({}, [thrower](HttpRequest&) { return thrower; });
  s.open();
  s.send(client_frame(WebSocketOpcode::text, "boom"));
  std::vector<WireFrame> f = s.frames();
  REQUIRE(f.size() == 1);
  CHECK(f[0].close_code() == close_code::internal_error);
  CHECK(f[0].payload.find("secret") == std::string::npos);
}

TEST_CASE("session: what it holds between reads counts as the channel's memory, and is let go", "[websocket][session]") {
  Server s;
  s.open();
  Channel& channel = s.ch->channel();
  std::size_t idle = channel.held_bytes();
  SECTION("a frame cut by a read") {
    std::string frame = client_frame(WebSocketOpcode::text, std::string(300, 'a'));
    s.send(frame.substr(0, 100));
    CHECK(channel.held_bytes() == idle + 100);
    s.send(frame.substr(100));
    CHECK(s.probe->events.back() == "message:" + std::string(300, 'a'));
    s.take();
    CHECK(channel.held_bytes() == idle);
  }
  SECTION("a message in fragments, with a ping between them") {
    s.send(client_frame(WebSocketOpcode::text, "hello ", false));
    CHECK(channel.held_bytes() == idle + 6);
    s.send(client_frame(WebSocketOpcode::ping, "p"));
    s.take();  // the pong
    s.send(client_frame(WebSocketOpcode::continuation, "world", false));
    CHECK(channel.held_bytes() == idle + 11);
    s.send(client_frame(WebSocketOpcode::continuation, "!", true));
    CHECK(s.probe->events.back() == "message:hello world!");
    s.take();
    CHECK(channel.held_bytes() == idle);
  }
  SECTION("a violation lets go of what was held") {
    s.send(client_frame(WebSocketOpcode::binary, "part", false));
    CHECK(channel.held_bytes() == idle + 4);
    s.send(client_frame(WebSocketOpcode::text, "a new message inside the fragmented one"));
    CHECK(s.probe->events.back() == "close:1002:new message inside a fragmented one");
    s.take();
    CHECK(channel.held_bytes() == idle);
  }
}
