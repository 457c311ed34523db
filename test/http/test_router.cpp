// Router: matching (static, ":param", trailing "*wildcard"), specificity,
// 404/405 with Allow, HEAD through GET routes, OPTIONS, check() and pattern
// validation. Requests go through a real HttpServerCodec + HttpServerHandler
// on an EmbeddedChannel, so framing (e.g. a HEAD answer without a body) is
// what a client would see.

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/core/event_loop_group.hpp"
#include "sluice/http/http_server_codec.hpp"
#include "sluice/http/http_body_stream.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/http_server_handler.hpp"
#include "sluice/http/router.hpp"
#include "support/http_responses.hpp"

using namespace sluice;

namespace {

// ---- a small HTTP/1.1 response parser (Content-Length and chunked) ----

using test::parse_all;
using test::parse_response;
using test::Response;


std::set<std::string> split_list(const std::string& value) {
  std::set<std::string> out;
  std::stringstream ss(value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.insert(item);
  }
  return out;
}

std::string get(std::string_view target, std::string_view method = "GET") {
  return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

// A router behind the real codec and handler, on a socket-free channel.
class RouterHarness {
 public:
  explicit RouterHarness(std::shared_ptr<Router> router)
      : router_(std::move(router)), ch_([this](Channel& c) {
          auto app = std::make_shared<HttpApp>();
          app->handler = router_;
          c.pipeline()
              .add_last("http-codec", HttpServerCodec::create())
              .add_last("http-handler", HttpServerHandler::create(app));
        }) {}

  /// Sends `requests` in one read; returns the responses to them.
  std::vector<Response> exchange(const std::string& requests, const std::vector<bool>& heads = {}) {
    ch_.write_inbound(requests);
    raw_ = ch_.read_outbound_bytes();
    return parse_all(raw_, heads);
  }
  Response one(std::string_view target, std::string_view method = "GET") {
    auto responses = exchange(get(target, method), {method == "HEAD"});
    REQUIRE(responses.size() == 1);
    return responses.front();
  }
  const std::string& raw() const { return raw_; }
  EmbeddedChannel& channel() { return ch_; }

 private:
  std::shared_ptr<Router> router_;
  EmbeddedChannel ch_;
  std::string raw_;
};

// A handler that answers with `name` and the route's parameters:
// "name k1=v1 k2=v2".
HandlerFunction tagged(std::string name) {
  return [name](HttpRequest& r, ResponseWriter w) {
    std::string text = name;
    for (const auto& [k, v] : r.params) text += " " + k + "=" + v;
    w.send(HttpResponse::text(text));
  };
}

HttpRequest request_for(std::string_view method, std::string target) {
  HttpRequest r;
  r.method = method;
  r.target = std::move(target);
  return r;
}

}  // namespace

TEST_CASE("router: static, :param and *wildcard routes match and fill params", "[router]") {
  auto router = std::make_shared<Router>();
  router->get("/", tagged("root"));
  router->get("/users", tagged("users"));
  router->get("/users/:id", tagged("user"));
  router->get("/users/:id/posts/:post", tagged("post"));
  router->get("/files/*path", tagged("files"));
  RouterHarness h(router);

  CHECK(h.one("/").body == "root");
  CHECK(h.one("/users").body == "users");
  CHECK(h.one("/users/42").body == "user id=42");
  CHECK(h.one("/users/42/posts/7").body == "post id=42 post=7");
  // The query string is not part of the path.
  CHECK(h.one("/users/42?verbose=1").body == "user id=42");
  CHECK(h.one("/files/a/b/c.txt").body == "files path=a/b/c.txt");
  // A trailing "*wildcard" also takes an empty rest.
  CHECK(h.one("/files").body == "files path=");
  CHECK(h.one("/files/").body == "files path=");
  // A parameter takes exactly one segment.
  CHECK(h.one("/users/42/extra").status == 404);
}

TEST_CASE("router: parameters and the wildcard rest are percent-decoded", "[router]") {
  auto router = std::make_shared<Router>();
  router->get("/users/:name", tagged("user"));
  router->get("/files/*path", tagged("files"));
  RouterHarness h(router);

  CHECK(h.one("/users/j%C3%BCrgen").body == "user name=j\xC3\xBCrgen");
  CHECK(h.one("/users/a%20b").body == "user name=a b");
  // An encoded slash stays inside its segment ('+' is not a space in a path).
  CHECK(h.one("/users/a%2Fb").body == "user name=a/b");
  CHECK(h.one("/users/a+b").body == "user name=a+b");
  CHECK(h.one("/files/dir%20one/f%2Bg.txt").body == "files path=dir one/f+g.txt");
  // A malformed escape in a parameter matches no route.
  CHECK(h.one("/users/%zz").status == 404);
}

TEST_CASE("router: the most specific route wins whatever the insertion order", "[router]") {
  auto check_all = [](RouterHarness& h) {
    CHECK(h.one("/a/b").body == "static");
    CHECK(h.one("/a/x").body == "param x=x");
    CHECK(h.one("/a/x/y").body == "wild rest=x/y");
    CHECK(h.one("/a").body == "wild rest=");
    // Segment by segment: a static second segment beats a parameter there,
    // even if a later segment is then only a wildcard.
    CHECK(h.one("/m/b/c").body == "static-then-wild rest=c");
    CHECK(h.one("/m/z/c").body == "param-then-static x=z");
  };
  SECTION("least specific first") {
    auto router = std::make_shared<Router>();
    router->get("/a/*rest", tagged("wild"));
    router->get("/a/:x", tagged("param"));
    router->get("/a/b", tagged("static"));
    router->get("/m/:x/c", tagged("param-then-static"));
    router->get("/m/b/*rest", tagged("static-then-wild"));
    RouterHarness h(router);
    check_all(h);
  }
  SECTION("most specific first") {
    auto router = std::make_shared<Router>();
    router->get("/a/b", tagged("static"));
    router->get("/a/:x", tagged("param"));
    router->get("/a/*rest", tagged("wild"));
    router->get("/m/b/*rest", tagged("static-then-wild"));
    router->get("/m/:x/c", tagged("param-then-static"));
    RouterHarness h(router);
    check_all(h);
  }
  SECTION("mixed") {
    auto router = std::make_shared<Router>();
    router->get("/a/:x", tagged("param"));
    router->get("/m/b/*rest", tagged("static-then-wild"));
    router->get("/a/*rest", tagged("wild"));
    router->get("/m/:x/c", tagged("param-then-static"));
    router->get("/a/b", tagged("static"));
    RouterHarness h(router);
    check_all(h);
  }
}

TEST_CASE("router: a route that ends beats a *wildcard taking an empty rest, however the path is spelled",
          "[router]") {
  // Found by fuzzing (test/fuzz/router): "/a" and "/a/*rest" both take
  // "/a/", and the one added first won; "/a" itself went to "/a" by its
  // exact spelling. The route that ends is the more specific.
  for (bool wildcard_first : {true, false}) {
    INFO("wildcard added first: " << wildcard_first);
    auto router = std::make_shared<Router>();
    if (wildcard_first) {
      router->get("/*rest", tagged("root-wild"));
      router->get("/a/*rest", tagged("wild"));
    }
    router->get("/", tagged("root"));
    router->get("/a", tagged("a"));
    if (!wildcard_first) {
      router->get("/*rest", tagged("root-wild"));
      router->get("/a/*rest", tagged("wild"));
    }
    RouterHarness h(router);
    CHECK(h.one("/").body == "root");
    CHECK(h.one("//").body == "root");
    CHECK(h.one("/a").body == "a");
    CHECK(h.one("/a/").body == "a");
    CHECK(h.one("//a").body == "a");
    CHECK(h.one("/a/b").body == "wild rest=b");
    CHECK(h.one("/b").body == "root-wild rest=b");
  }
}

TEST_CASE("router: an unknown path is 404", "[router]") {
  auto router = std::make_shared<Router>();
  router->get("/known", tagged("known"));
  RouterHarness h(router);
  Response r = h.one("/unknown");
  CHECK(r.status == 404);
  CHECK(r.body == "404 Not Found\n");
  CHECK_FALSE(r.header("Allow").has_value());
  CHECK(h.one("/unknown", "POST").status == 404);
  CHECK(h.one("/known/deeper").status == 404);
  // The connection lives on after a 404.
  CHECK(h.one("/known").status == 200);
}

TEST_CASE("router: a path with routes for other methods is 405 with Allow", "[router]") {
  auto router = std::make_shared<Router>();
  router->get("/r", tagged("get"));
  router->post("/r", tagged("post"));
  router->del("/r", tagged("delete"));
  router->post("/only-post", tagged("only-post"));
  router->put("/items/:id", tagged("put"));
  router->get("/items/*rest", tagged("rest"));
  RouterHarness h(router);

  Response r = h.one("/r", "PATCH");
  CHECK(r.status == 405);
  REQUIRE(r.header("Allow").has_value());
  CHECK(split_list(*r.header("Allow")) == std::set<std::string>{"GET", "HEAD", "POST", "DELETE", "OPTIONS"});

  // No GET route: no HEAD in Allow (and HEAD itself is 405).
  Response p = h.one("/only-post", "GET");
  CHECK(p.status == 405);
  CHECK(split_list(p.header("Allow").value_or("")) == std::set<std::string>{"POST", "OPTIONS"});
  Response ph = h.one("/only-post", "HEAD");
  CHECK(ph.status == 405);
  CHECK(split_list(ph.header("Allow").value_or("")) == std::set<std::string>{"POST", "OPTIONS"});

  // Allow gathers the methods of every route that matches the path.
  Response i = h.one("/items/3", "DELETE");
  CHECK(i.status == 405);
  CHECK(split_list(i.header("Allow").value_or("")) == std::set<std::string>{"PUT", "GET", "HEAD", "OPTIONS"});
}

TEST_CASE("router: HEAD is served by the GET route, with the GET headers and no body", "[router]") {
  int calls = 0;
  auto router = std::make_shared<Router>();
  router->get("/doc", [&calls](HttpRequest& r, ResponseWriter w) {
    ++calls;
    w.send(HttpResponse::text("fourteen bytes", 200).header("X-Method", std::string(r.method)));
  });
  RouterHarness h(router);

  // HEAD then GET pipelined in one read: if the HEAD answer carried a body,
  // the second response would not parse where it starts.
  auto responses = h.exchange(get("/doc", "HEAD") + get("/doc"), {true, false});
  REQUIRE(responses.size() == 2);
  CHECK(calls == 2);
  const Response& head = responses[0];
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == "14");
  CHECK(head.header("Content-Type") == "text/plain; charset=utf-8");
  CHECK(head.header("X-Method") == "HEAD");
  CHECK(head.body.empty());
  const Response& body = responses[1];
  CHECK(body.status == 200);
  CHECK(body.body == "fourteen bytes");
  CHECK(body.header("X-Method") == "GET");
  // Byte-exact: the HEAD answer ends right after its blank line.
  std::size_t second = h.raw().find("HTTP/1.1", 1);
  REQUIRE(second != std::string::npos);
  CHECK(h.raw().substr(second - 4, 4) == "\r\n\r\n");
  CHECK(h.raw().find("fourteen bytes") == h.raw().size() - 14);
}

TEST_CASE("router: an explicit HEAD route beats GET standing in for it", "[router]") {
  auto router = std::make_shared<Router>();
  router->get("/x", tagged("get"));
  router->add("HEAD", "/x", [](HttpRequest&, ResponseWriter w) {
    w.send(HttpResponse(200).header("X-Head", "own"));
  });
  RouterHarness h(router);
  Response r = h.one("/x", "HEAD");
  CHECK(r.status == 200);
  CHECK(r.header("X-Head") == "own");
  CHECK(h.one("/x").body == "get");
}

TEST_CASE("router: OPTIONS on a path answers 204 with Allow; OPTIONS * lists every method", "[router]") {
  auto router = std::make_shared<Router>();
  router->get("/r", tagged("get"));
  router->post("/r", tagged("post"));
  router->add("OPTIONS", "/custom", [](HttpRequest&, ResponseWriter w) {
    w.send(HttpResponse(200).header("X-Own", "yes"));
  });
  RouterHarness h(router);

  Response r = h.one("/r", "OPTIONS");
  CHECK(r.status == 204);
  CHECK(r.body.empty());
  CHECK_FALSE(r.header("Content-Length").has_value());
  CHECK(split_list(r.header("Allow").value_or("")) == std::set<std::string>{"GET", "HEAD", "POST", "OPTIONS"});

  // A route that takes OPTIONS itself answers it.
  Response own = h.one("/custom", "OPTIONS");
  CHECK(own.status == 200);
  CHECK(own.header("X-Own") == "yes");

  // No route for the path: still 404.
  CHECK(h.one("/nothing", "OPTIONS").status == 404);

  Response star = h.one("*", "OPTIONS");
  CHECK(star.status == 204);
  CHECK(split_list(star.header("Allow").value_or("")) ==
        std::set<std::string>{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"});
}

TEST_CASE("router: check() says 0, 404 or 405 before any handler runs", "[router]") {
  int calls = 0;
  Router router;
  router.get("/users/:id", [&calls](HttpRequest&, ResponseWriter) { ++calls; });
  router.post("/upload", [&calls](HttpRequest&, ResponseWriter) { ++calls; });
  router.get("/static/*rest", [&calls](HttpRequest&, ResponseWriter) { ++calls; });

  CHECK(router.check(request_for("GET", "/users/1")) == 0);
  CHECK(router.check(request_for("HEAD", "/users/1")) == 0);
  CHECK(router.check(request_for("POST", "/upload?x=1")) == 0);
  CHECK(router.check(request_for("GET", "/static")) == 0);
  CHECK(router.check(request_for("GET", "/static/a/b")) == 0);
  CHECK(router.check(request_for("GET", "/nope")) == 404);
  CHECK(router.check(request_for("POST", "/users")) == 404);
  CHECK(router.check(request_for("DELETE", "/users/1")) == 405);
  CHECK(router.check(request_for("GET", "/upload")) == 405);
  // The router answers OPTIONS itself for a path it knows (204), so it takes it.
  CHECK(router.check(request_for("OPTIONS", "/upload")) == 0);
  CHECK(router.check(request_for("OPTIONS", "*")) == 0);
  CHECK(router.check(request_for("OPTIONS", "/nope")) == 404);
  CHECK(calls == 0);  // check() never runs a handler
}

TEST_CASE("router: check() agrees with what handle() answers, end to end via Expect: 100-continue", "[router]") {
  auto router = std::make_shared<Router>();
  router->post("/upload", [](HttpRequest& r, ResponseWriter w) { w.send(HttpResponse::text(r.body)); });
  HttpCodecOptions options;
  options.continue_check = [router](const HttpRequest& head) { return router->check(head); };
  auto app = std::make_shared<HttpApp>();
  app->handler = router;
  auto make = [&] {
    return std::make_unique<EmbeddedChannel>([&](Channel& c) {
      c.pipeline()
          .add_last("http-codec", HttpServerCodec::create(options))
          .add_last("http-handler", HttpServerHandler::create(app));
    });
  };
  auto expecting = [](std::string_view method, std::string_view target) {
    return std::string(method) + " " + std::string(target) +
           " HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
  };
  SECTION("a route takes it: 100 Continue, then the answer") {
    auto ch = make();
    ch->write_inbound(expecting("POST", "/upload"));
    CHECK(ch->read_outbound_bytes() == "HTTP/1.1 100 Continue\r\n\r\n");
    ch->write_inbound("abc");
    auto responses = parse_all(ch->read_outbound_bytes());
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 200);
    CHECK(responses[0].body == "abc");
  }
  SECTION("no route: 404 instead of 100 Continue") {
    auto ch = make();
    ch->write_inbound(expecting("POST", "/elsewhere"));
    auto responses = parse_all(ch->read_outbound_bytes());
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 404);
  }
  SECTION("wrong method: 405 instead of 100 Continue") {
    auto ch = make();
    ch->write_inbound(expecting("PUT", "/upload"));
    auto responses = parse_all(ch->read_outbound_bytes());
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 405);
  }
  SECTION("OPTIONS on a known path: continue, then the router's 204") {
    auto ch = make();
    ch->write_inbound(expecting("OPTIONS", "/upload"));
    CHECK(ch->read_outbound_bytes() == "HTTP/1.1 100 Continue\r\n\r\n");
    ch->write_inbound("abc");
    auto responses = parse_all(ch->read_outbound_bytes());
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 204);
    CHECK(split_list(responses[0].header("Allow").value_or("")) == std::set<std::string>{"POST", "OPTIONS"});
  }
}

TEST_CASE("router: invalid patterns and null handlers are refused", "[router]") {
  Router router;
  auto ok = [](HttpRequest&, ResponseWriter) {};
  CHECK_THROWS_AS(router.get("", ok), std::invalid_argument);
  CHECK_THROWS_AS(router.get("users", ok), std::invalid_argument);
  CHECK_THROWS_AS(router.get("users/:id", ok), std::invalid_argument);
  CHECK_THROWS_AS(router.get("/users/:", ok), std::invalid_argument);
  CHECK_THROWS_AS(router.get("/files/*rest/more", ok), std::invalid_argument);
  CHECK_THROWS_AS(router.get("/*a/*b", ok), std::invalid_argument);
  CHECK_THROWS_WITH(router.get("/users/:", ok), Catch::Contains("unnamed parameter"));
  CHECK_THROWS_WITH(router.get("/x/*y/z", ok), Catch::Contains("must be last"));
  CHECK_THROWS_AS(router.add("GET", "/null", std::shared_ptr<HttpHandler>()), std::invalid_argument);
  // Valid ones are accepted, and a refused one left nothing behind.
  CHECK_NOTHROW(router.get("/", ok));
  CHECK_NOTHROW(router.get("/files/*", ok));
  CHECK(router.check(request_for("GET", "/users/1")) == 404);
  CHECK(router.check(request_for("GET", "/files/x")) == 0);
}

TEST_CASE("router: a streamed route's handler always gets a body stream, whatever the request's shape",
          "[router][streaming]") {
  auto router = std::make_shared<Router>();
  // Reads the stream as the sample's /upload does: no null check.
  router->add(
      "POST", "/upload",
      [](HttpRequest& r, ResponseWriter w) {
        auto got = std::make_shared<std::string>();
        r.body_stream->on_data([got](std::string_view piece) { got->append(piece); },
                               [w, got](int error) { w.send(HttpResponse::text(std::to_string(error) + ":" + *got)); });
      },
      RouteOptions{.stream_body = true});
  RouterHarness h(router);
  auto post = [](std::string_view framing) {
    return "POST /upload HTTP/1.1\r\nHost: x\r\n" + std::string(framing) + "\r\n";
  };
  SECTION("Content-Length: 0") { CHECK(h.exchange(post("Content-Length: 0\r\n")).at(0).body == "0:"); }
  SECTION("neither Content-Length nor Transfer-Encoding") { CHECK(h.exchange(post("")).at(0).body == "0:"); }
  SECTION("an empty chunked body") {
    CHECK(h.exchange(post("Transfer-Encoding: chunked\r\n") + "0\r\n\r\n").at(0).body == "0:");
  }
  SECTION("a body the codec read whole (it was not told the route streams) arrives through the stream") {
    CHECK(h.exchange(post("Content-Length: 5\r\n") + "hello").at(0).body == "0:hello");
  }
  SECTION("several in a row on one connection") {
    auto rs = h.exchange(post("Content-Length: 0\r\n") + post("") + post("Content-Length: 2\r\n") + "ok");
    REQUIRE(rs.size() == 3);
    CHECK(rs[2].body == "0:ok");
  }
}

TEST_CASE("router: other routes get no body stream", "[router][streaming]") {
  auto router = std::make_shared<Router>();
  router->post("/plain", [](HttpRequest& r, ResponseWriter w) {
    w.send(HttpResponse::text(r.body_stream ? "stream" : "body:" + r.body));
  });
  RouterHarness h(router);
  CHECK(h.one("/plain", "POST").body == "body:");
}

TEST_CASE("null handlers and middleware are refused when given, not when a request meets them", "[router]") {
  CHECK_THROWS_AS(make_handler(HandlerFunction{}), std::invalid_argument);
  CHECK_THROWS_AS(Router().get("/x", HandlerFunction{}), std::invalid_argument);
  CHECK_THROWS_AS(http_pipeline(HttpServerOptions{}, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(http_pipeline(HttpServerOptions{}, std::make_shared<Router>(), {nullptr}), std::invalid_argument);
  EventLoopGroup group({1, false, "null"});
  CHECK_THROWS_AS(HttpServer(group, HttpServerOptions{}, nullptr), std::invalid_argument);
  HttpServer server(group, HttpServerOptions{}, std::make_shared<Router>());
  CHECK_THROWS_AS(server.use(nullptr), std::invalid_argument);
}

TEST_CASE("router: a literal route is found the same way however the path is spelled", "[router]") {
  // Literal routes are looked up by their exact spelling first; every other
  // spelling of the same path goes through the segment matcher, and both
  // must agree.
  auto router = std::make_shared<Router>();
  router->get("/a/:x", tagged("param"));
  router->get("/a/b", tagged("first"));
  router->get("/a/b", tagged("second"));  // same pattern again: the first added wins
  router->get("/", tagged("root"));
  router->post("/a/b", tagged("post"));
  RouterHarness h(router);
  CHECK(h.one("/a/b").body == "first");
  CHECK(h.one("/a/b/").body == "first");
  CHECK(h.one("//a//b").body == "first");
  CHECK(h.one("/a/b?q=1").body == "first");
  CHECK(h.one("/a/c").body == "param x=c");
  CHECK(h.one("/").body == "root");
  CHECK(h.one("/a/b", "POST").body == "post");
  auto head = h.one("/a/b", "HEAD");  // no literal HEAD route: GET stands in
  CHECK(head.status == 200);
  CHECK(h.one("/a/b", "DELETE").status == 405);
}

TEST_CASE("router: many literal routes, each found by its own path only", "[router]") {
  // Enough paths to grow the literal table several times and make them share
  // probe runs; near misses (a prefix, one more byte) must not match.
  auto router = std::make_shared<Router>();
  std::vector<std::string> paths;
  for (int i = 0; i < 100; ++i) {
    paths.push_back("/p" + std::to_string(i) + (i % 3 == 0 ? "/long/enough/for/several/words" : ""));
    router->get(paths.back(), tagged("r" + std::to_string(i)));
  }
  RouterHarness h(router);
  for (int i = 0; i < 100; ++i) {
    INFO(paths[i]);
    CHECK(h.one(paths[i]).body == "r" + std::to_string(i));
    CHECK(h.one(paths[i] + "x").status == 404);
  }
  CHECK(h.one("/p").status == 404);
  CHECK(h.one("/p0/long/enough/for/several/word").status == 404);
}
