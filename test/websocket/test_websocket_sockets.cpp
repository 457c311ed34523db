// WebSocketClient against the server over real loopback sockets, and the
// Hub delivering across loops.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sluice/http/http_server.hpp"
#include "sluice/http/router.hpp"
#include "sluice/websocket/hub.hpp"
#include "sluice/websocket/websocket.hpp"
#include "sluice/websocket/websocket_client.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using sluice::test::wait_until;

namespace {

// A client's view, read from the test thread.
class Inbox final : public WebSocketHandler {
 public:
  void on_message(WebSocket&, const WebSocketMessage& m) override {
    std::lock_guard lock(mutex_);
    messages_.emplace_back(m.data);
    binary_.push_back(m.opcode == WebSocketOpcode::binary);
  }
  void on_close(WebSocket&, std::uint16_t code, std::string_view reason) override {
    std::lock_guard lock(mutex_);
    close_ = std::to_string(code) + ":" + std::string(reason);
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }
  std::string message(std::size_t i) const {
    std::lock_guard lock(mutex_);
    return messages_.at(i);
  }
  bool binary(std::size_t i) const {
    std::lock_guard lock(mutex_);
    return binary_.at(i);
  }
  std::string close_seen() const {
    std::lock_guard lock(mutex_);
    return close_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
  std::vector<bool> binary_;
  std::string close_;
};

class Echo final : public WebSocketHandler {
 public:
  void on_message(WebSocket& ws, const WebSocketMessage& m) override { ws.send(m.opcode, m.data); }
};

// Subscribes each connection to the topic its URL names (?topic=).
class Subscriber final : public WebSocketHandler {
 public:
  Subscriber(Hub& hub, std::string topic) : hub_(hub), topic_(std::move(topic)) {}
  void on_open(WebSocket& ws) override { hub_.subscribe(ws, topic_); }
  void on_message(WebSocket& ws, const WebSocketMessage& m) override {
    if (m.data == "leave") hub_.unsubscribe(ws, topic_);
  }

 private:
  Hub& hub_;
  std::string topic_;
};

struct Fixture {
  EventLoopGroup server_loops{EventLoopGroup::Options{.loops = 2, .name = "ws-server"}};
  EventLoopGroup client_loops{EventLoopGroup::Options{.loops = 1, .name = "ws-client"}};
  Hub hub{server_loops};
  std::unique_ptr<HttpServer> server;

  Fixture() {
    auto router = std::make_shared<Router>();
    auto echo = std::make_shared<Echo>();
    WebSocketOptions options;
    options.subprotocols = {"v2", "v1"};
    add_websocket_route(*router, "/echo", [echo](HttpRequest&) { return echo; }, options);
    add_websocket_route(*router, "/sub", [this](HttpRequest& r) {
      return std::make_shared<Subscriber>(hub, r.query_param("topic").value_or("none"));
    });
    HttpServerOptions http;
    http.listen.host = "127.0.0.1";
    http.listen.port = 0;
    server = std::make_unique<HttpServer>(server_loops, http, router);
    server->start();
  }
  ~Fixture() {
    client_loops.shutdown_gracefully(0, 2000);
    server_loops.shutdown_gracefully(0, 2000);
  }
  std::string url(const std::string& path) { return "ws://127.0.0.1:" + std::to_string(server->port()) + path; }
  std::shared_ptr<WebSocket> connect(const std::string& path, std::shared_ptr<WebSocketHandler> handler,
                                     WebSocketClientOptions options = {}) {
    return WebSocketClient::connect_sync(client_loops.at(0), url(path), std::move(handler), std::move(options));
  }
};

}  // namespace

TEST_CASE("client: echo of text, binary and a 1 MiB message over real sockets", "[websocket][client]") {
  Fixture f;
  auto inbox = std::make_shared<Inbox>();
  auto ws = f.connect("/echo", inbox);
  ws->send_text("hello");
  ws->send_binary(std::string("\0\1\2", 3));
  std::string big(1 << 20, 'm');
  ws->send_text(big);
  REQUIRE(wait_until([&] { return inbox->count() == 3; }));
  CHECK(inbox->message(0) == "hello");
  CHECK_FALSE(inbox->binary(0));
  CHECK(inbox->message(1) == std::string("\0\1\2", 3));
  CHECK(inbox->binary(1));
  CHECK(inbox->message(2) == big);
}

TEST_CASE("client: the close handshake from the client's side", "[websocket][client]") {
  Fixture f;
  auto inbox = std::make_shared<Inbox>();
  auto ws = f.connect("/echo", inbox);
  ws->close(4001, "bye");
  REQUIRE(wait_until([&] { return !inbox->close_seen().empty(); }));
  CHECK(inbox->close_seen() == "4001:");  // the server echoes the code
  CHECK(wait_until([&] { return f.server->tcp().connections() == 0; }));
}

TEST_CASE("client: subprotocol chosen by the server from the client's offer", "[websocket][client]") {
  Fixture f;
  WebSocketClientOptions options;
  options.websocket.subprotocols = {"v1", "v2"};
  auto ws = f.connect("/echo", std::make_shared<Inbox>(), options);
  std::string chosen;
  // Read on the loop, which owns the session; run_sync's wait orders the
  // write before the test thread's read (polling an unguarded string raced).
  ws->loop().run_sync([&] { chosen = std::string(ws->subprotocol()); });
  CHECK(chosen == "v2");  // the server's preference
}

TEST_CASE("client: a refused handshake is an error naming the status", "[websocket][client]") {
  Fixture f;
  try {
    f.connect("/no-such-path", std::make_shared<Inbox>());
    FAIL("connected to a path with no route");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("404") != std::string::npos);
  }
  CHECK_THROWS_AS(WebSocketClient::connect_sync(f.client_loops.at(0), "http://127.0.0.1/", std::make_shared<Inbox>()),
                  std::invalid_argument);
}

TEST_CASE("hub: a publish from any thread reaches subscribers on every loop", "[websocket][hub]") {
  Fixture f;
  std::vector<std::shared_ptr<Inbox>> inboxes;
  std::vector<std::shared_ptr<WebSocket>> sockets;
  for (int i = 0; i < 24; ++i) {
    inboxes.push_back(std::make_shared<Inbox>());
    sockets.push_back(f.connect("/sub?topic=prices", inboxes.back()));
  }
  auto other = std::make_shared<Inbox>();
  sockets.push_back(f.connect("/sub?topic=news", other));
  REQUIRE(wait_until([&] { return f.hub.subscriber_count("prices") == 24; }));
  CHECK(f.hub.publish("prices", "42.0") == 24);
  CHECK(f.hub.publish("prices", std::string("\x01\x02", 2), WebSocketOpcode::binary) == 24);
  for (auto& inbox : inboxes) {
    REQUIRE(wait_until([&] { return inbox->count() == 2; }));
    CHECK(inbox->message(0) == "42.0");
    CHECK(inbox->binary(1));
  }
  CHECK(other->count() == 0);
  CHECK(f.hub.publish("nobody-listens", "x") == 0);
}

TEST_CASE("hub: leaving, by message or by closing, is automatic and leaves nothing", "[websocket][hub]") {
  Fixture f;
  auto a = std::make_shared<Inbox>();
  auto b = std::make_shared<Inbox>();
  auto wa = f.connect("/sub?topic=t", a);
  auto wb = f.connect("/sub?topic=t", b);
  REQUIRE(wait_until([&] { return f.hub.subscriber_count("t") == 2; }));
  wa->send_text("leave");
  REQUIRE(wait_until([&] { return f.hub.subscriber_count("t") == 1; }));
  f.hub.publish("t", "only b");
  REQUIRE(wait_until([&] { return b->count() == 1; }));
  CHECK(a->count() == 0);
  wb->close(1000, {});
  REQUIRE(wait_until([&] { return f.hub.subscriber_count("t") == 0; }));
  CHECK(f.hub.publish("t", "nobody") == 0);
}

// ---- threads (written for ThreadSanitizer: tools/run-tests tsan) ----

namespace {

/// Whether each sender's messages ("<sender>:<i>") that arrived are its
/// first ones, in order (a sender cut off by a close has a prefix through).
bool each_sender_in_order(const Inbox& inbox, int senders) {
  std::vector<int> next(static_cast<std::size_t>(senders), 0);
  for (std::size_t i = 0; i < inbox.count(); ++i) {
    std::string m = inbox.message(i);
    std::size_t colon = m.find(':');
    if (colon == std::string::npos) return false;
    auto sender = static_cast<std::size_t>(std::stoi(m.substr(0, colon)));
    if (sender >= next.size() || std::stoi(m.substr(colon + 1)) != next[sender]++) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("threads: several threads send on one WebSocket; each one's messages arrive in its order",
          "[websocket][threads]") {
  constexpr int kSenders = 4;
  constexpr int kEach = 200;
  Fixture f;
  auto inbox = std::make_shared<Inbox>();
  auto ws = f.connect("/echo", inbox);
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      for (int i = 0; i < kEach; ++i) {
        ws->send_text(std::to_string(s) + ":" + std::to_string(i));
        (void)ws->is_open();
        (void)ws->writable();
        (void)ws->dropped_messages();
      }
    });
  }
  for (auto& t : senders) t.join();
  REQUIRE(wait_until([&] { return inbox->count() == kSenders * kEach; }));
  CHECK(each_sender_in_order(*inbox, kSenders));
}

TEST_CASE("threads: threads sending while another closes the WebSocket", "[websocket][threads]") {
  constexpr int kSenders = 4;
  constexpr int kEach = 500;
  Fixture f;
  auto inbox = std::make_shared<Inbox>();
  auto ws = f.connect("/echo", inbox);
  std::atomic<int> started{0};
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      ++started;
      for (int i = 0; i < kEach; ++i) {
        ws->send_text(std::to_string(s) + ":" + std::to_string(i));
        ws->ping("p");
      }
    });
  }
  REQUIRE(wait_until([&] { return started.load() == kSenders; }));
  ws->close(4002, "enough");
  for (auto& t : senders) t.join();
  REQUIRE(wait_until([&] { return !inbox->close_seen().empty(); }));
  CHECK_FALSE(ws->is_open());
  CHECK(inbox->count() <= static_cast<std::size_t>(kSenders * kEach));
  CHECK(each_sender_in_order(*inbox, kSenders));
  CHECK(wait_until([&] { return f.server->tcp().connections() == 0; }));
}

TEST_CASE("threads: publishes from several threads while subscribers come and go", "[websocket][hub][threads]") {
  constexpr int kPublishers = 3;
  constexpr int kSteady = 8;
  constexpr int kChurn = 8;
  constexpr int kEach = 300;
  Fixture f;
  std::vector<std::shared_ptr<Inbox>> steady;
  std::vector<std::shared_ptr<WebSocket>> sockets;
  for (int i = 0; i < kSteady; ++i) {
    steady.push_back(std::make_shared<Inbox>());
    sockets.push_back(f.connect("/sub?topic=live", steady.back()));
  }
  REQUIRE(wait_until([&] { return f.hub.subscriber_count("live") == kSteady; }));

  // A few kilobytes to each subscriber in all: far below the high
  // watermark, so no steady subscriber meets the slow-consumer policy.
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      for (int i = 0; i < kEach; ++i) {
        f.hub.publish("live", std::to_string(p) + ":" + std::to_string(i));
        (void)f.hub.subscriber_count("live");
      }
    });
  }
  // Subscribers join and leave (by message and by closing) under the publishes.
  for (int i = 0; i < kChurn; ++i) {
    auto inbox = std::make_shared<Inbox>();
    auto ws = f.connect("/sub?topic=live", inbox);
    if (i % 2 == 0) {
      ws->send_text("leave");
    } else {
      ws->close(1000, {});
    }
    REQUIRE(wait_until([&] { return f.hub.subscriber_count("live") == kSteady; }));
  }
  for (auto& t : publishers) t.join();
  // Each steady subscriber gets every publish, each publisher's in order.
  for (auto& inbox : steady) {
    REQUIRE(wait_until([&] { return inbox->count() == static_cast<std::size_t>(kPublishers * kEach); }));
    CHECK(each_sender_in_order(*inbox, kPublishers));
  }
}

TEST_CASE("memory: after the first WebSocket closes, the next ones are built in their channel's block, where HTTP was",
          "[websocket][memory]") {
  // Where the server's end of each WebSocket lives, from the channel's
  // address: its handlers are in the block that follows the channel in one
  // allocation, or on the heap.
  class Where final : public WebSocketHandler {
   public:
    void on_open(WebSocket& ws) override {
      offset = reinterpret_cast<const char*>(&ws) - reinterpret_cast<const char*>(&ws.channel());
    }
    void on_message(WebSocket& ws, const WebSocketMessage& m) override { ws.send(m.opcode, m.data); }
    std::atomic<std::ptrdiff_t> offset{0};
  };
  EventLoopGroup server_loops{EventLoopGroup::Options{.loops = 1, .name = "ws-server"}};
  EventLoopGroup client_loops{EventLoopGroup::Options{.loops = 1, .name = "ws-client"}};
  auto router = std::make_shared<Router>();
  auto where = std::make_shared<Where>();
  add_websocket_route(*router, "/where", [where](HttpRequest&) { return where; });
  HttpServerOptions http;
  http.listen.host = "127.0.0.1";
  http.listen.port = 0;
  HttpServer server(server_loops, http, router);
  server.start();
  auto connect = [&](std::shared_ptr<Inbox> inbox) {
    std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/where";
    return WebSocketClient::connect_sync(client_loops.at(0), url, std::move(inbox));
  };
  auto in_block = [&] { return where->offset > 0 && where->offset < 2048; };

  // The first connection's block was sized for HTTP alone.
  auto first = connect(std::make_shared<Inbox>());
  REQUIRE(wait_until([&] { return where->offset != 0; }));
  first->close(1000, {});
  REQUIRE(wait_until([&] { return server.tcp().connections() == 0; }));

  for (int i = 0; i < 3; ++i) {
    where->offset = 0;
    auto inbox = std::make_shared<Inbox>();
    auto ws = connect(inbox);
    REQUIRE(wait_until([&] { return where->offset != 0; }));
    CHECK(in_block());
    ws->send_text("still works");
    REQUIRE(wait_until([&] { return inbox->count() == 1; }));
    CHECK(inbox->message(0) == "still works");
    ws->close(1000, {});
    REQUIRE(wait_until([&] { return server.tcp().connections() == 0; }));
  }
  client_loops.shutdown_gracefully(0, 2000);
  server_loops.shutdown_gracefully(0, 2000);
}
