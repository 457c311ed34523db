// Every answer that ends a connection reaches a client that is still
// sending: the server shuts down its output, reads and drops what follows,
// and closes only after the client's FIN or the lingering time. A plain close
// would make the kernel answer the client's further bytes with a reset, and
// the client's kernel would then drop the answers it holds unread.
//
// Each case waits until our FIN has reached the client (POLLRDHUP, without
// reading), then sends more requests, as a pipelining client that has not
// looked yet would, and only then reads.

#include <catch2/catch.hpp>

#include <poll.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/event_loop_group.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/router.hpp"
#include "support/http_responses.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using test::BlockingClient;
using test::wait_until;

namespace {

std::string get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

std::string repeat(const std::string& request, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += request;
  return out;
}

/// Our FIN has reached the client: the stream's end is in its receive queue
/// (behind whatever it has not read).
bool fin_arrived(const BlockingClient& client, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{client.fd(), POLLRDHUP, 0};
    if (::poll(&p, 1, 50) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return true;
  }
  return false;
}

struct Served {
  EventLoopGroup group{{1, false, "closing"}};
  std::unique_ptr<HttpServer> server;

  explicit Served(HttpServerOptions options, std::shared_ptr<Router> router = nullptr) {
    if (!router) {
      router = std::make_shared<Router>();
      router->get("/plaintext", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("Hello, World!")); });
    }
    options.listen.host = "127.0.0.1";
    server = std::make_unique<HttpServer>(group, options, router);
    server->start();
  }
  ~Served() { group.shutdown_gracefully(0, 5000); }
};

/// Reads to the end of the stream; every answer must be whole and the end
/// a clean EOF.
std::vector<test::Response> read_all_answers(BlockingClient& client) {
  auto stream = client.read_to_end();
  INFO("read " << stream.bytes.size() << " bytes; error " << std::strerror(stream.error));
  REQUIRE(stream.end == BlockingClient::End::eof);
  return test::parse_responses(stream.bytes);
}

}  // namespace

TEST_CASE("closing: past the request cap, a client that reads late gets every answer, then EOF", "[http][closing]") {
  HttpServerOptions options;
  options.codec.max_requests_per_connection = 100;
  Served s(options);
  BlockingClient client(s.server->port());
  client.send_all(repeat(get("/plaintext"), 100));
  REQUIRE(fin_arrived(client));
  client.send_all(repeat(get("/plaintext"), 50));  // the client has not looked yet

  auto answers = read_all_answers(client);
  REQUIRE(answers.size() == 100);
  for (std::size_t i = 0; i + 1 < answers.size(); ++i) CHECK_FALSE(answers[i].closes());
  CHECK(answers.back().closes());
  CHECK(answers.back().body == "Hello, World!");
}

TEST_CASE("closing: the client's own Connection: close with requests pipelined behind it", "[http][closing]") {
  Served s(HttpServerOptions{});
  BlockingClient client(s.server->port());
  client.send_all(repeat(get("/plaintext"), 10) + get("/plaintext", "Connection: close\r\n") +
                  repeat(get("/plaintext"), 10));
  REQUIRE(fin_arrived(client));
  client.send_all(repeat(get("/plaintext"), 50));

  auto answers = read_all_answers(client);
  REQUIRE(answers.size() == 11);
  CHECK(answers.back().closes());
}

TEST_CASE("closing: HTTP/1.0 without keep-alive, more requests behind it", "[http][closing]") {
  Served s(HttpServerOptions{});
  BlockingClient client(s.server->port());
  client.send_all("GET /plaintext HTTP/1.0\r\n\r\n" + repeat(get("/plaintext"), 10));
  REQUIRE(fin_arrived(client));
  client.send_all(repeat(get("/plaintext"), 50));

  auto answers = read_all_answers(client);
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].closes());
}

TEST_CASE("closing: a broken request's 400 survives the client's further requests", "[http][closing]") {
  Served s(HttpServerOptions{});
  BlockingClient client(s.server->port());
  client.send_all(get("/plaintext") + "BROKEN\r\n\r\n");
  REQUIRE(fin_arrived(client));
  client.send_all(repeat(get("/plaintext"), 50));

  auto answers = read_all_answers(client);
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].status == 200);
  CHECK(answers[1].status == 400);
  CHECK(answers[1].closes());
}

TEST_CASE("closing: a graceful shutdown answers the pipelining client's request in flight, then EOF",
          "[http][closing][shutdown]") {
  std::mutex mutex;
  std::optional<ResponseWriter> held;
  auto router = std::make_shared<Router>();
  router->get("/plaintext", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("Hello, World!")); });
  router->get("/hold", [&](HttpRequest&, ResponseWriter w) {
    std::lock_guard<std::mutex> lock(mutex);
    held = w;
  });
  HttpServerOptions options;
  Served s(options, router);
  const std::uint16_t port = s.server->port();

  BlockingClient idle(port);  // its FIN tells when the loop has begun the shutdown
  BlockingClient busy(port);
  busy.send_all(repeat(get("/plaintext"), 3) + get("/hold") + repeat(get("/plaintext"), 5));
  REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return held.has_value();
  }));

  std::thread stopper([&] { s.group.shutdown_gracefully(50, 30'000); });
  REQUIRE(fin_arrived(idle));
  busy.send_all(repeat(get("/plaintext"), 20));  // not read any more: dropped
  {
    std::lock_guard<std::mutex> lock(mutex);
    held->send(HttpResponse::text("held"));
    held.reset();
  }
  REQUIRE(fin_arrived(busy));
  busy.send_all(repeat(get("/plaintext"), 20));  // after our FIN: still no reset

  auto stream = busy.read_to_end();
  INFO("read " << stream.bytes.size() << " bytes; error " << std::strerror(stream.error));
  CHECK(stream.end == BlockingClient::End::eof);
  auto answers = test::parse_responses(stream.bytes);
  // Requests the server had read when the shutdown began are answered; the
  // last of them says Connection: close.
  REQUIRE(answers.size() >= 4);
  CHECK(answers[3].body == "held");
  for (std::size_t i = 0; i + 1 < answers.size(); ++i) CHECK_FALSE(answers[i].closes());
  CHECK(answers.back().closes());
  idle.close();
  busy.close();
  stopper.join();
  CHECK(s.group.is_shut_down());
}
