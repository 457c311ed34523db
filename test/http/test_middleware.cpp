// Middleware: chain order and hooks, early answers, asynchronous next(),
// and the shipped middleware (AccessLog, RequestId, RequestTimeout,
// RateLimit, Cors, Recover). Most run on an EmbeddedChannel with the real
// codec and handler (RequestTimeout on its manual clock); asynchronous
// completion through offload and the access log's remote address use a real
// server on loopback.

#include <catch2/catch.hpp>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/core/event_loop.hpp"
#include "sluice/core/event_loop_group.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/http_server_codec.hpp"
#include "sluice/http/http_server_handler.hpp"
#include "sluice/http/middleware.hpp"
#include "sluice/http/router.hpp"
#include "support/http_responses.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::wait_until;

namespace {

// ---- a small HTTP/1.1 response parser (Content-Length and chunked) ----

using test::parse_all;
using test::parse_response;
using test::read_responses;
using test::Response;

std::string request(std::string_view method, std::string_view target, const std::string& extra_headers = "",
                    const std::string& body = "") {
  std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + extra_headers;
  if (!body.empty()) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

// The real codec and handler around `app`, on a socket-free channel.
class AppHarness {
 public:
  AppHarness(std::vector<std::shared_ptr<Middleware>> middleware, std::shared_ptr<HttpHandler> handler,
             HttpCodecOptions options = {})
      : ch_([&](Channel& c) {
          auto app = std::make_shared<HttpApp>();
          app->middleware = std::move(middleware);
          app->handler = std::move(handler);
          c.pipeline()
              .add_last("http-codec", HttpServerCodec::create(options))
              .add_last("http-handler", HttpServerHandler::create(app));
        }) {}

  std::vector<Response> send(const std::string& bytes) {
    ch_.write_inbound(bytes);
    return parse_all(ch_.read_outbound_bytes());
  }
  Response one(const std::string& bytes) {
    auto responses = send(bytes);
    REQUIRE(responses.size() == 1);
    return responses.front();
  }
  EmbeddedChannel& ch() { return ch_; }

 private:
  EmbeddedChannel ch_;
};

// Records what it sees, and adds before/after hooks that record too.
class Recorder final : public Middleware {
 public:
  Recorder(std::string name, std::vector<std::string>& log) : name_(std::move(name)), log_(&log) {}
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override {
    log_->push_back(name_ + " in");
    auto* log = log_;
    std::string name = name_;
    response.before_send([log, name](HttpResponse& r) {
      log->push_back(name + " before " + std::to_string(r.status));
      r.headers.add("X-Trace", name);
    });
    response.after_send([log, name](int status, std::size_t bytes) {
      log->push_back(name + " after " + std::to_string(status) + " " + std::to_string(bytes));
    });
    next(request, std::move(response));
    log_->push_back(name_ + " out");
  }

 private:
  std::string name_;
  std::vector<std::string>* log_;
};

template <class Fn>
class LambdaMiddleware final : public Middleware {
 public:
  explicit LambdaMiddleware(Fn fn) : fn_(std::move(fn)) {}
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override {
    fn_(request, std::move(response), next);
  }

 private:
  Fn fn_;
};

template <class Fn>
std::shared_ptr<Middleware> middleware(Fn fn) {
  return std::make_shared<LambdaMiddleware<Fn>>(std::move(fn));
}

std::shared_ptr<HttpHandler> text_handler(std::string text, int* calls = nullptr) {
  return make_handler([text, calls](HttpRequest&, ResponseWriter w) {
    if (calls != nullptr) ++*calls;
    w.send(HttpResponse::text(text));
  });
}

}  // namespace

// ---------------------------------------------------------------- chain ----

TEST_CASE("middleware: outermost first; hooks run in the order added and see the final response", "[middleware]") {
  std::vector<std::string> log;
  auto handler = make_handler([&log](HttpRequest&, ResponseWriter w) {
    log.push_back("handler");
    w.send(HttpResponse::text("hello", 201));
  });
  AppHarness h({std::make_shared<Recorder>("A", log), std::make_shared<Recorder>("B", log),
                std::make_shared<Recorder>("C", log)},
               handler);
  Response r = h.one(request("GET", "/"));
  CHECK(r.status == 201);
  CHECK(r.body == "hello");
  CHECK(r.count("X-Trace") == 3);
  std::vector<std::string> expected{"A in",         "B in",         "C in",         "handler",
                                    "A before 201", "B before 201", "C before 201", "A after 201 5",
                                    "B after 201 5", "C after 201 5", "C out",       "B out",
                                    "A out"};
  CHECK(log == expected);
}

TEST_CASE("middleware: before_send may rewrite the response; after_send sees the status and body bytes sent",
          "[middleware]") {
  std::vector<std::pair<int, std::size_t>> seen;
  auto rewrite = middleware([](HttpRequest& req, ResponseWriter w, const Next& next) {
    w.before_send([](HttpResponse& r) {
      r.status = 202;
      r.set_body("rewritten, longer body");
      r.headers.set("Content-Type", "text/x-rewritten");
    });
    next(req, std::move(w));
  });
  auto watch = middleware([&seen](HttpRequest& req, ResponseWriter w, const Next& next) {
    w.after_send([&seen](int status, std::size_t bytes) { seen.emplace_back(status, bytes); });
    next(req, std::move(w));
  });
  SECTION("a whole response") {
    AppHarness h({watch, rewrite}, text_handler("short"));
    Response r = h.one(request("GET", "/"));
    CHECK(r.status == 202);
    CHECK(r.body == "rewritten, longer body");
    CHECK(r.header("Content-Length") == "22");
    CHECK(r.header("Content-Type") == "text/x-rewritten");
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == std::make_pair(202, std::size_t{22}));
  }
  SECTION("a chunked response counts its streamed bytes") {
    auto streamed = make_handler([](HttpRequest&, ResponseWriter w) {
      ChunkedWriter body = w.begin_chunked(HttpResponse(200));
      body.write("abc");
      body.write("defg");
      body.end();
    });
    AppHarness h({watch}, streamed);
    Response r = h.one(request("GET", "/"));
    CHECK(r.status == 200);
    CHECK(r.header("Transfer-Encoding") == "chunked");
    CHECK(r.body == "abcdefg");
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == std::make_pair(200, std::size_t{7}));
  }
}

TEST_CASE("middleware: a middleware may answer early without calling next", "[middleware]") {
  std::vector<std::string> log;
  int handler_calls = 0;
  auto gate = middleware([](HttpRequest& req, ResponseWriter w, const Next& next) {
    if (!req.headers.contains("Authorization")) {
      w.send(HttpResponse::error(401).header("WWW-Authenticate", "Bearer"));
      return;
    }
    next(req, std::move(w));
  });
  AppHarness h({std::make_shared<Recorder>("outer", log), gate, std::make_shared<Recorder>("inner", log)},
               text_handler("secret", &handler_calls));
  Response denied = h.one(request("GET", "/"));
  CHECK(denied.status == 401);
  CHECK(denied.header("WWW-Authenticate") == "Bearer");
  CHECK(denied.body == "401 Unauthorized\n");
  CHECK(handler_calls == 0);
  // The outer middleware's hooks still ran; the inner one never did.
  CHECK(log == std::vector<std::string>{"outer in", "outer before 401", "outer after 401 17", "outer out"});
  // The connection goes on: an authorised request passes.
  Response allowed = h.one(request("GET", "/", "Authorization: Bearer t\r\n"));
  CHECK(allowed.status == 200);
  CHECK(allowed.body == "secret");
  CHECK(handler_calls == 1);
}

TEST_CASE("middleware: next() called later from loop().post still answers in request order", "[middleware]") {
  std::vector<std::string> order;
  auto defer = middleware([&order](HttpRequest& req, ResponseWriter w, const Next& next) {
    if (!req.headers.contains("X-Defer")) {
      next(req, std::move(w));
      return;
    }
    HttpRequest* r = &req;  // alive while the exchange is (the writer keeps it)
    Next later = next;
    w.loop().post([r, w, later, &order] {
      order.push_back("deferred next");
      later(*r, w);
    });
  });
  auto handler = make_handler([&order](HttpRequest& r, ResponseWriter w) {
    order.push_back("handler " + std::string(r.path()));
    w.send(HttpResponse::text(std::string(r.path())));
  });
  AppHarness h({defer}, handler);
  auto responses = h.send(request("GET", "/first", "X-Defer: 1\r\n") + request("GET", "/second") +
                          request("GET", "/third", "X-Defer: 1\r\n"));
  REQUIRE(responses.size() == 3);
  CHECK(responses[0].body == "/first");
  CHECK(responses[1].body == "/second");
  CHECK(responses[2].body == "/third");
  // The second was handled before the deferred first.
  REQUIRE(order.size() == 5);
  CHECK(order[0] == "handler /second");
  CHECK(order[1] == "deferred next");
}

TEST_CASE("middleware: next() called after offload completes on the loop, in order, over a real socket",
          "[middleware]") {
  EventLoopGroup group({1, false, "mw"});
  std::atomic<int> off_loop_calls{0};
  auto router = std::make_shared<Router>();
  router->get("/item/:n", [&off_loop_calls](HttpRequest& r, ResponseWriter w) {
    if (EventLoop::current() != &w.loop()) off_loop_calls.fetch_add(1);
    w.send(HttpResponse::text("item " + std::string(r.param("n"))));
  });
  HttpServerOptions options;
  options.listen.host = "127.0.0.1";
  HttpServer server(group, options, router);
  server.use(middleware([](HttpRequest& req, ResponseWriter w, const Next& next) {
    // Even items wait for work on the thread pool; odd ones go straight on.
    std::string_view path = req.path();
    int n = path.back() - '0';
    if (n % 2 == 1) {
      next(req, std::move(w));
      return;
    }
    HttpRequest* r = &req;
    Next later = next;
    w.loop().offload([n] { std::this_thread::sleep_for(std::chrono::milliseconds(10 * (5 - n))); },
                     [r, w, later] { later(*r, w); });
  }));
  server.start();

  BlockingClient client(server.port());
  std::string batch;
  for (int i = 0; i < 6; ++i) batch += request("GET", "/item/" + std::to_string(i));
  client.send_all(batch);
  auto responses = read_responses(client, 6);
  REQUIRE(responses.size() == 6);
  for (int i = 0; i < 6; ++i) {
    CHECK(responses[static_cast<std::size_t>(i)].status == 200);
    CHECK(responses[static_cast<std::size_t>(i)].body == "item " + std::to_string(i));
  }
  CHECK(off_loop_calls == 0);
  group.shutdown_gracefully();
}

// ------------------------------------------------------------ AccessLog ----

TEST_CASE("AccessLog: one combined-format line per request, with the duration", "[middleware]") {
  auto out = std::make_shared<std::ostringstream>();
  spdlog::drop("access");
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out);
  auto logger = std::make_shared<spdlog::logger>("access", sink);
  logger->set_pattern("%v");
  spdlog::register_logger(logger);

  {
    EventLoopGroup group({1, false, "log"});
    auto router = std::make_shared<Router>();
    router->get("/plaintext", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("Hello, World!")); });
    router->post("/echo", [](HttpRequest& r, ResponseWriter w) { w.send(HttpResponse::text(r.body)); });
    HttpServerOptions options;
    options.listen.host = "127.0.0.1";
    options.access_log = true;
    HttpServer server(group, options, router);
    server.start();

    {
      BlockingClient client(server.port());
      client.send_all(
          "GET /plaintext?x=1 HTTP/1.1\r\nHost: t\r\nReferer: http://ref.example/page\r\n"
          "User-Agent: agent \"quoted\"/1.0\r\n\r\n" +
          request("GET", "/missing"));
      auto responses = read_responses(client, 2);
      REQUIRE(responses.size() == 2);
      CHECK(responses[1].status == 404);
    }
    {
      BlockingClient client(server.port());
      client.send_all("POST /echo HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello");
      std::string reply = client.recv_exact(1 << 16, std::chrono::seconds(20));  // HTTP/1.0: until close
      CHECK(reply.find("hello") != std::string::npos);
    }
    // Every hook ran on the loop before its bytes went out; this barrier
    // makes the loop's writes to the stream visible here.
    group.at(0).run_sync([] {});
    group.shutdown_gracefully();
  }
  logger->flush();
  spdlog::drop("access");

  std::vector<std::string> lines;
  {
    std::istringstream in(out->str());
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  INFO(out->str());
  REQUIRE(lines.size() == 3);
  const std::string stamp = R"(\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\])";
  const std::string duration = R"( \d+\.\d{3}ms$)";
  CHECK(std::regex_search(lines[0], std::regex("^127\\.0\\.0\\.1 - - " + stamp +
                                               R"( "GET /plaintext\?x=1 HTTP/1\.1" 200 13 "http://ref\.example/page" "agent \\"quoted\\"/1\.0")" +
                                               duration)));
  CHECK(std::regex_search(lines[1], std::regex("^127\\.0\\.0\\.1 - - " + stamp +
                                               R"( "GET /missing HTTP/1\.1" 404 14 "-" "-")" + duration)));
  CHECK(std::regex_search(lines[2], std::regex("^127\\.0\\.0\\.1 - - " + stamp +
                                               R"( "POST /echo HTTP/1\.0" 200 5 "-" "-")" + duration)));
}

// ------------------------------------------------------------ RequestId ----

TEST_CASE("RequestId: generates, keeps a sane client id, replaces an insane one; handler and response see it",
          "[middleware]") {
  auto handler = make_handler([](HttpRequest& r, ResponseWriter w) {
    auto all = r.headers.get_all("X-Request-Id");
    std::string seen = all.size() == 1 ? std::string(all[0]) : "count=" + std::to_string(all.size());
    w.send(HttpResponse::text(seen));
  });
  AppHarness h({std::make_shared<RequestId>()}, handler);
  const std::regex generated("^[0-9a-f]{16}-[0-9]+$");

  SECTION("none sent: a fresh id for each request") {
    auto responses = h.send(request("GET", "/a") + request("GET", "/b"));
    REQUIRE(responses.size() == 2);
    for (const auto& r : responses) {
      REQUIRE(r.header("X-Request-Id").has_value());
      CHECK(std::regex_match(*r.header("X-Request-Id"), generated));
      CHECK(r.body == *r.header("X-Request-Id"));  // the handler saw the same id
      CHECK(r.count("X-Request-Id") == 1);
    }
    CHECK(*responses[0].header("X-Request-Id") != *responses[1].header("X-Request-Id"));
  }
  SECTION("a sane client id is kept") {
    for (std::string id : {std::string("abc-123_x.y"), std::string("Z"), std::string(64, 'a')}) {
      Response r = h.one(request("GET", "/", "X-Request-Id: " + id + "\r\n"));
      CHECK(r.header("X-Request-Id") == id);
      CHECK(r.body == id);
    }
  }
  SECTION("an insane client id is replaced, for the handler too") {
    for (std::string id : {std::string("has space"), std::string("semi;colon"), std::string("a/b"),
                           std::string(65, 'a'), std::string("\xC3\xA9t\xC3\xA9")}) {
      Response r = h.one(request("GET", "/", "X-Request-Id: " + id + "\r\n"));
      REQUIRE(r.header("X-Request-Id").has_value());
      CHECK(std::regex_match(*r.header("X-Request-Id"), generated));
      CHECK(r.body == *r.header("X-Request-Id"));
    }
  }
  SECTION("another header name") {
    AppHarness custom({std::make_shared<RequestId>("X-Trace-Id")}, make_handler([](HttpRequest& r, ResponseWriter w) {
                        w.send(HttpResponse::text(std::string(r.headers.get("X-Trace-Id").value_or("none"))));
                      }));
    Response r = custom.one(request("GET", "/", "X-Trace-Id: trace-7\r\n"));
    CHECK(r.header("X-Trace-Id") == "trace-7");
    CHECK(r.body == "trace-7");
    CHECK_FALSE(r.header("X-Request-Id").has_value());
  }
}

TEST_CASE("AccessLog: a request with no peer address is logged with '-' for the host", "[middleware]") {
  auto out = std::make_shared<std::ostringstream>();
  spdlog::drop("access");
  auto logger = std::make_shared<spdlog::logger>("access", std::make_shared<spdlog::sinks::ostream_sink_mt>(*out));
  logger->set_pattern("%v");
  spdlog::register_logger(logger);
  auto router = std::make_shared<Router>();
  router->get("/x", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("x")); });
  {
    AppHarness h({std::make_shared<AccessLog>()}, router);  // an EmbeddedChannel: no socket, no peer
    CHECK(h.one(request("GET", "/x")).status == 200);
  }
  logger->flush();
  spdlog::drop("access");
  std::string line = out->str();
  CHECK_THAT(line, Catch::Matchers::StartsWith("- - - ["));
  CHECK_THAT(line, Catch::Matchers::Contains("\"GET /x HTTP/1.1\" 200 1 \"-\" \"-\""));
}

// ------------------------------------------------------- RequestTimeout ----

TEST_CASE("RequestTimeout: 503 once the handler is late; its late answer is dropped", "[middleware]") {
  std::vector<ResponseWriter> held;
  auto router = std::make_shared<Router>();
  router->get("/never", [&held](HttpRequest&, ResponseWriter w) { held.push_back(w); });
  router->get("/fast", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("fast")); });
  AppHarness h({std::make_shared<RequestTimeout>(1000)}, router);

  SECTION("a lone request") {
    h.ch().write_inbound(request("GET", "/never"));
    REQUIRE(held.size() == 1);
    h.ch().advance_time(999);
    CHECK(h.ch().read_outbound_bytes().empty());
    // The deadline lives on the timer wheel: never early, at most a tick or
    // two (50 ms each) late.
    h.ch().advance_time(100);
    auto responses = parse_all(h.ch().read_outbound_bytes());
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 503);
    CHECK(responses[0].body == "Service Unavailable: the request timed out\n");
    CHECK(held[0].answered());
    // The handler answers late: dropped.
    held[0].send(HttpResponse::text("late"));
    h.ch().run_pending_tasks();
    CHECK(h.ch().read_outbound_bytes().empty());
    // The connection is still good.
    Response next = h.one(request("GET", "/fast"));
    CHECK(next.status == 200);
    CHECK(next.body == "fast");
    CHECK(h.ch().is_open());
  }
  SECTION("a late request holds back the one pipelined after it until the 503") {
    h.ch().write_inbound(request("GET", "/never") + request("GET", "/fast"));
    CHECK(h.ch().read_outbound_bytes().empty());
    h.ch().advance_time(1100);
    auto responses = parse_all(h.ch().read_outbound_bytes());
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].status == 503);
    CHECK(responses[1].status == 200);
    CHECK(responses[1].body == "fast");
  }
  SECTION("an answer in time is sent once and the timer does nothing") {
    h.ch().write_inbound(request("GET", "/never"));
    REQUIRE(held.size() == 1);
    h.ch().advance_time(500);
    held[0].send(HttpResponse::text("in time"));
    h.ch().run_pending_tasks();
    auto responses = parse_all(h.ch().read_outbound_bytes());
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 200);
    CHECK(responses[0].body == "in time");
    h.ch().advance_time(2000);
    CHECK(h.ch().read_outbound_bytes().empty());
  }
}

// ------------------------------------------------------------ RateLimit ----

TEST_CASE("RateLimit::take: burst, refill and the wait in seconds", "[middleware]") {
  using namespace std::chrono_literals;
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  SECTION("burst then refill") {
    RateLimit limit({/*per_second=*/10, /*burst=*/3, /*max_clients=*/1000});
    CHECK(limit.take("a", t0) == 0);
    CHECK(limit.take("a", t0) == 0);
    CHECK(limit.take("a", t0) == 0);
    CHECK(limit.take("a", t0) == Approx(0.1));  // one token takes 1/10 s
    // Another client has its own bucket.
    CHECK(limit.take("b", t0) == 0);
    CHECK(limit.take("a", t0 + 50ms) == Approx(0.05));
    CHECK(limit.take("a", t0 + 150ms) == 0);  // refilled 1.5 tokens, spent 1
    CHECK(limit.take("a", t0 + 150ms) > 0);
    // A long pause refills up to the burst only.
    CHECK(limit.take("a", t0 + 1h) == 0);
    CHECK(limit.take("a", t0 + 1h) == 0);
    CHECK(limit.take("a", t0 + 1h) == 0);
    CHECK(limit.take("a", t0 + 1h) > 0);
  }
  SECTION("the wait is what a token takes to refill") {
    RateLimit limit({/*per_second=*/0.25, /*burst=*/1, /*max_clients=*/1000});
    CHECK(limit.take("c", t0) == 0);
    CHECK(limit.take("c", t0) == Approx(4.0));
    CHECK(limit.take("c", t0 + 1s) == Approx(3.0));
    CHECK(limit.take("c", t0 + 4s) == 0);
  }
}

TEST_CASE("RateLimit: max_clients bounds the buckets kept; the idlest are forgotten", "[middleware]") {
  using namespace std::chrono_literals;
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  auto run = [&](std::size_t max_clients) {
    RateLimit limit({/*per_second=*/1, /*burst=*/1, max_clients});
    REQUIRE(limit.take("victim", t0) == 0);
    REQUIRE(limit.take("victim", t0) > 0);  // in debt: a bucket worth keeping
    // A flood of other addresses, each also in debt, each a microsecond later.
    constexpr int kFlood = 20'000;
    for (int i = 0; i < kFlood; ++i) {
      limit.take("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), t0 + 1us * (i + 1));
    }
    const auto after = t0 + 1us * (kFlood + 1);
    struct Outcome {
      bool victim_forgotten;
      bool newest_remembered;
    };
    // The newest flood address is still known (in debt: refused) ...
    bool newest_remembered = limit.take("10.0." + std::to_string((kFlood - 1) / 256) + "." +
                                            std::to_string((kFlood - 1) % 256),
                                        after) > 0;
    // ... while the victim, the idlest, was forgotten (a fresh bucket lets it in).
    bool victim_forgotten = limit.take("victim", after) == 0;
    return Outcome{victim_forgotten, newest_remembered};
  };
  auto bounded = run(32);
  CHECK(bounded.victim_forgotten);
  CHECK(bounded.newest_remembered);
  auto roomy = run(100'000);
  CHECK_FALSE(roomy.victim_forgotten);  // without pressure its debt is remembered
  CHECK(roomy.newest_remembered);
}

TEST_CASE("RateLimit: 429 with Retry-After through a pipeline", "[middleware]") {
  int calls = 0;
  AppHarness h({std::make_shared<RateLimit>(RateLimit::Options{0.5, 2, 1000})}, text_handler("ok", &calls));
  auto responses = h.send(request("GET", "/") + request("GET", "/") + request("GET", "/"));
  REQUIRE(responses.size() == 3);
  CHECK(responses[0].status == 200);
  CHECK(responses[1].status == 200);
  CHECK(responses[2].status == 429);
  CHECK(responses[2].body == "429 Too Many Requests\n");
  REQUIRE(responses[2].header("Retry-After").has_value());
  // One token at 0.5/s takes 2 s (1 s if the machine stalled a whole second).
  std::string retry = *responses[2].header("Retry-After");
  CHECK((retry == "2" || retry == "1"));
  CHECK(calls == 2);
}

// ----------------------------------------------------------------- Cors ----

TEST_CASE("Cors: preflight, simple requests, disallowed origins, credentials", "[middleware]") {
  int calls = 0;
  auto router = std::make_shared<Router>();
  router->get("/r", [&calls](HttpRequest&, ResponseWriter w) {
    ++calls;
    w.send(HttpResponse::text("ok").header("X-Request-Id", "id-1"));
  });
  router->post("/r", [&calls](HttpRequest&, ResponseWriter w) {
    ++calls;
    w.send(HttpResponse::text("posted"));
  });
  const std::string preflight =
      "Origin: https://app.example\r\nAccess-Control-Request-Method: PUT\r\n"
      "Access-Control-Request-Headers: content-type\r\n";

  SECTION("any origin") {
    Cors::Options options;
    AppHarness h({std::make_shared<Cors>(options)}, router);
    Response pf = h.one(request("OPTIONS", "/r", preflight));
    CHECK(pf.status == 204);
    CHECK(pf.header("Access-Control-Allow-Origin") == "*");
    CHECK(pf.header("Access-Control-Allow-Methods") == options.allowed_methods);
    CHECK(pf.header("Access-Control-Allow-Headers") == options.allowed_headers);
    CHECK(pf.header("Access-Control-Max-Age") == "600");
    CHECK_FALSE(pf.header("Access-Control-Allow-Credentials").has_value());
    CHECK(calls == 0);  // answered by the middleware

    Response simple = h.one(request("GET", "/r", "Origin: https://app.example\r\n"));
    CHECK(simple.status == 200);
    CHECK(simple.body == "ok");
    CHECK(simple.header("Access-Control-Allow-Origin") == "*");
    CHECK_FALSE(simple.header("Vary").has_value());  // "*" does not depend on the origin
    CHECK(calls == 1);

    // Errors carry it too, so the page can read them.
    Response missing = h.one(request("GET", "/nope", "Origin: https://app.example\r\n"));
    CHECK(missing.status == 404);
    CHECK(missing.header("Access-Control-Allow-Origin") == "*");

    // Not a cross-origin request: nothing added.
    Response plain = h.one(request("GET", "/r"));
    CHECK(plain.status == 200);
    CHECK_FALSE(plain.header("Access-Control-Allow-Origin").has_value());
    CHECK_FALSE(plain.header("Vary").has_value());
    // OPTIONS without Access-Control-Request-Method is not a preflight.
    Response opt = h.one(request("OPTIONS", "/r", "Origin: https://app.example\r\n"));
    CHECK(opt.status == 204);
    CHECK(opt.header("Allow").has_value());
    CHECK_FALSE(opt.header("Access-Control-Allow-Methods").has_value());
  }
  SECTION("a list of origins") {
    Cors::Options options;
    options.allowed_origins = {"https://app.example", "https://admin.example"};
    options.exposed_headers = "X-Request-Id";
    options.max_age_seconds = 60;
    AppHarness h({std::make_shared<Cors>(options)}, router);

    Response pf = h.one(request("OPTIONS", "/r", preflight));
    CHECK(pf.status == 204);
    CHECK(pf.header("Access-Control-Allow-Origin") == "https://app.example");
    CHECK(pf.header("Access-Control-Max-Age") == "60");
    CHECK(pf.header("Vary") == "Origin");

    Response ok = h.one(request("GET", "/r", "Origin: https://admin.example\r\n"));
    CHECK(ok.header("Access-Control-Allow-Origin") == "https://admin.example");
    CHECK(ok.header("Access-Control-Expose-Headers") == "X-Request-Id");
    CHECK(ok.header("Vary") == "Origin");

    Response evil = h.one(request("GET", "/r", "Origin: https://evil.example\r\n"));
    CHECK(evil.status == 200);  // served, but the browser will not share it
    CHECK_FALSE(evil.header("Access-Control-Allow-Origin").has_value());
    CHECK_FALSE(evil.header("Access-Control-Expose-Headers").has_value());
    // The answer depends on the origin, granted or not: caches must know.
    CHECK(evil.header("Vary") == "Origin");
    Response no_origin = h.one(request("GET", "/r"));
    CHECK_FALSE(no_origin.header("Access-Control-Allow-Origin").has_value());
    CHECK(no_origin.header("Vary") == "Origin");

    // A preflight from a disallowed origin gets no CORS grant at all.
    Response evil_pf = h.one(request("OPTIONS", "/r",
                                     "Origin: https://evil.example\r\nAccess-Control-Request-Method: PUT\r\n"));
    CHECK_FALSE(evil_pf.header("Access-Control-Allow-Origin").has_value());
    CHECK_FALSE(evil_pf.header("Access-Control-Allow-Methods").has_value());
  }
  SECTION("credentials echo the origin, never *") {
    Cors::Options options;
    options.allow_credentials = true;  // with the default "*" list
    AppHarness h({std::make_shared<Cors>(options)}, router);

    Response pf = h.one(request("OPTIONS", "/r", preflight));
    CHECK(pf.status == 204);
    CHECK(pf.header("Access-Control-Allow-Origin") == "https://app.example");
    CHECK(pf.header("Access-Control-Allow-Credentials") == "true");
    CHECK(pf.header("Vary") == "Origin");

    Response r = h.one(request("POST", "/r", "Origin: https://other.example\r\n", "x"));
    CHECK(r.status == 200);
    CHECK(r.body == "posted");
    CHECK(r.header("Access-Control-Allow-Origin") == "https://other.example");
    CHECK(r.header("Access-Control-Allow-Credentials") == "true");
    CHECK(r.header("Vary") == "Origin");
    for (const auto& [k, v] : r.headers) CHECK(v != "*");
  }
}

// -------------------------------------------------------------- Recover ----

TEST_CASE("Recover: HttpError becomes its status, anything else a bare 500", "[middleware]") {
  std::vector<std::string> escaped;
  // Outside Recover: sees whether an exception got past it.
  auto probe = middleware([&escaped](HttpRequest& req, ResponseWriter w, const Next& next) {
    try {
      next(req, std::move(w));
    } catch (...) {
      escaped.push_back(std::string(req.path()));
      throw;
    }
  });
  auto router = std::make_shared<Router>();
  router->get("/teapot", [](HttpRequest&, ResponseWriter) -> void {
    throw HttpError(418, "I'm a teapot: short and stout");
  });
  router->get("/bug", [](HttpRequest&, ResponseWriter) -> void {
    throw std::runtime_error("secret: password=hunter2 at db.internal");
  });
  router->get("/odd", [](HttpRequest&, ResponseWriter) -> void { throw 42; });
  router->get("/fine", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("fine")); });

  SECTION("with Recover") {
    AppHarness h({probe, std::make_shared<Recover>()}, router);
    auto responses = h.send(request("GET", "/teapot") + request("GET", "/bug") + request("GET", "/odd") +
                            request("GET", "/fine"));
    REQUIRE(responses.size() == 4);
    CHECK(responses[0].status == 418);
    CHECK(responses[0].body == "I'm a teapot: short and stout\n");
    CHECK(responses[1].status == 500);
    CHECK(responses[1].body == "500 Internal Server Error\n");
    CHECK(responses[1].body.find("secret") == std::string::npos);
    CHECK(responses[2].status == 500);
    CHECK(responses[3].status == 200);
    CHECK(escaped.empty());  // nothing got past Recover
    CHECK(h.ch().is_open());
  }
  SECTION("without Recover the server's own catch answers, after the exception passed the chain") {
    AppHarness h({probe}, router);
    auto responses = h.send(request("GET", "/teapot") + request("GET", "/bug"));
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].status == 418);
    CHECK(responses[1].status == 500);
    CHECK(responses[1].body.find("secret") == std::string::npos);
    CHECK(escaped == std::vector<std::string>{"/teapot", "/bug"});
  }
  SECTION("a handler that answered and then threw keeps its answer") {
    auto answered_then_threw = make_handler([](HttpRequest&, ResponseWriter w) {
      w.send(HttpResponse::text("answered"));
      throw std::runtime_error("after the answer");
    });
    AppHarness h({std::make_shared<Recover>()}, answered_then_threw);
    auto responses = h.send(request("GET", "/") + request("GET", "/"));
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].status == 200);
    CHECK(responses[0].body == "answered");
    CHECK(responses[1].body == "answered");
  }
}
