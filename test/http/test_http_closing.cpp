// Every answer that ends a connection reaches a client that is still
// sending. A socket closed with unread input sends RST instead of FIN, and
// the kernel then throws away what it still had to send: the end of the
// answers. So the server shuts down its output after the last answer, reads
// and drops what follows, and closes only after the client's FIN or the
// lingering time.
//
// Each case makes the answers back up (a client with a small receive buffer
// that does not read yet, and 1 MiB answers), waits until the first answer
// bytes arrive (the server has read the closing request), sends more
// requests, as a pipelining client that has not looked yet would, and only
// then reads: every answer must arrive whole, then a clean EOF.

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

constexpr std::size_t kBig = 1 << 20;  // far more than the socket buffers hold
constexpr int kClientBuffer = 16 * 1024;

std::string get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

std::string repeat(const std::string& request, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += request;
  return out;
}

bool poll_for(const BlockingClient& client, short events, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  pollfd p{client.fd(), events, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0 && (p.revents & events) != 0;
}

/// The first answer bytes have arrived (not read).
bool answers_arriving(const BlockingClient& client) { return poll_for(client, POLLIN); }

/// Our FIN has reached the client (behind whatever it has not read).
bool fin_arrived(const BlockingClient& client) { return poll_for(client, POLLRDHUP); }

std::shared_ptr<Router> big_router() {
  auto router = std::make_shared<Router>();
  router->get("/big", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text(std::string(kBig, 'b'))); });
  return router;
}

struct Served {
  EventLoopGroup group{{1, false, "closing"}};
  std::unique_ptr<HttpServer> server;

  explicit Served(HttpServerOptions options, std::shared_ptr<Router> router = big_router()) {
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

/// Sends `requests`, waits until answers arrive, sends more requests, then
/// reads everything: the answers, which must end in a clean EOF.
std::vector<test::Response> answers_despite_more_requests(std::uint16_t port, const std::string& requests) {
  BlockingClient client(port, "127.0.0.1", kClientBuffer);
  client.send_all(requests);
  REQUIRE(answers_arriving(client));
  client.send_all(repeat(get("/big"), 10));  // the client has not looked yet
  return read_all_answers(client);
}

}  // namespace

TEST_CASE("closing: the answer that reaches the request cap, with more requests behind it", "[http][closing]") {
  HttpServerOptions options;
  options.codec.max_requests_per_connection = 2;
  Served s(options);
  auto answers = answers_despite_more_requests(s.server->port(), repeat(get("/big"), 2));
  REQUIRE(answers.size() == 2);
  CHECK_FALSE(answers[0].closes());
  CHECK(answers[1].closes());
  CHECK(answers[1].body.size() == kBig);
}

TEST_CASE("closing: the client's own Connection: close, with more requests behind it", "[http][closing]") {
  Served s(HttpServerOptions{});
  auto answers =
      answers_despite_more_requests(s.server->port(), get("/big") + get("/big", "Connection: close\r\n") + get("/big"));
  REQUIRE(answers.size() == 2);
  CHECK(answers[1].closes());
  CHECK(answers[1].body.size() == kBig);
}

TEST_CASE("closing: HTTP/1.0 without keep-alive, with more requests behind it", "[http][closing]") {
  Served s(HttpServerOptions{});
  auto answers = answers_despite_more_requests(s.server->port(), "GET /big HTTP/1.0\r\n\r\n");
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].closes());
  CHECK(answers[0].body.size() == kBig);
}

TEST_CASE("closing: a broken request's 400, with more requests behind it", "[http][closing]") {
  Served s(HttpServerOptions{});
  auto answers = answers_despite_more_requests(s.server->port(), get("/big") + "BROKEN\r\n\r\n");
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].body.size() == kBig);
  CHECK(answers[1].status == 400);
  CHECK(answers[1].closes());
}

TEST_CASE("closing: a graceful shutdown answers the pipelining client's requests in flight, then EOF",
          "[http][closing][shutdown]") {
  std::mutex mutex;
  std::optional<ResponseWriter> held;
  auto router = big_router();
  router->get("/hold", [&](HttpRequest&, ResponseWriter w) {
    std::lock_guard<std::mutex> lock(mutex);
    held = w;
  });
  Served s(HttpServerOptions{}, router);
  const std::uint16_t port = s.server->port();

  BlockingClient idle(port);  // its FIN tells when the loop has begun the shutdown
  BlockingClient busy(port, "127.0.0.1", kClientBuffer);
  busy.send_all(get("/hold") + get("/big"));
  REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return held.has_value();
  }));

  std::thread stopper([&] { s.group.shutdown_gracefully(50, 30'000); });
  REQUIRE(fin_arrived(idle));
  {
    std::lock_guard<std::mutex> lock(mutex);
    held->send(HttpResponse::text(std::string(kBig, 'h')));
    held.reset();
  }
  REQUIRE(answers_arriving(busy));
  busy.send_all(repeat(get("/big"), 10));  // not for the server any more

  auto answers = read_all_answers(busy);
  // The requests the server had read when the shutdown began are answered;
  // the last of them says Connection: close.
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].body == std::string(kBig, 'h'));
  CHECK_FALSE(answers[0].closes());
  CHECK(answers[1].body.size() == kBig);
  CHECK(answers[1].closes());
  idle.close();
  busy.close();
  stopper.join();
  CHECK(s.group.is_shut_down());
}
