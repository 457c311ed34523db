// The HTTP message types on their own: HttpHeaders, HttpRequest's target
// helpers and json(), HttpResponse's builders, reason_phrase.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/http/http_headers.hpp"
#include "sluice/http/http_request.hpp"
#include "sluice/http/http_response.hpp"

using namespace sluice;
using Catch::Matchers::Contains;
using namespace std::string_literals;

namespace {
HttpRequest request_for(std::string target) {
  HttpRequest r;
  r.method = "GET";
  r.target = std::move(target);
  return r;
}

HttpRequest request_with_body(std::string body) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/";
  r.body = std::move(body);
  return r;
}

using Views = std::vector<std::string_view>;
}  // namespace

// ============================================================================
// HttpHeaders
// ============================================================================

TEST_CASE("headers: iequals is ASCII case-insensitive and nothing more", "[http][messages]") {
  CHECK(iequals("Content-Type", "content-type"));
  CHECK(iequals("CONTENT-TYPE", "content-Type"));
  CHECK(iequals("", ""));
  CHECK(iequals("x-1_~", "X-1_~"));
  CHECK_FALSE(iequals("Content-Type", "Content-Typ"));
  CHECK_FALSE(iequals("a", ""));
  CHECK_FALSE(iequals("Host", "Hosts"));
  // Only letters fold: characters 0x20 apart that are not letters differ.
  CHECK_FALSE(iequals("@", "`"));
  CHECK_FALSE(iequals("[", "{"));
  CHECK_FALSE(iequals("^", "~"));
  // Non-ASCII bytes are compared as they are.
  CHECK_FALSE(iequals("\xc3\xa4", "\xc3\x84"));
}

TEST_CASE("headers: add, get, get_all keep arrival order and repeats", "[http][messages]") {
  HttpHeaders h;
  CHECK(h.empty());
  CHECK(h.get("X") == std::nullopt);
  CHECK(h.get_all("X").empty());
  h.add("Accept", "text/html");
  h.add("X-Multi", "1");
  h.add("x-multi", "2");
  h.add("X-MULTI", "3");
  h.add("Empty", "");
  CHECK(h.size() == 5);
  CHECK_FALSE(h.empty());
  CHECK(h.get("accept") == "text/html");
  CHECK(h.get("X-multi") == "1");  // the first
  CHECK(h.get_all("X-MULTI") == Views{"1", "2", "3"});
  CHECK(h.get("empty") == "");  // present, empty: not nullopt
  CHECK(h.contains("EMPTY"));
  CHECK_FALSE(h.contains("X-Mult"));
  std::vector<std::string> names;
  for (const auto& [name, value] : h) names.emplace_back(name);
  CHECK(names == std::vector<std::string>{"Accept", "X-Multi", "x-multi", "X-MULTI", "Empty"});
}

TEST_CASE("headers: set replaces every field of that name, remove drops them all", "[http][messages]") {
  HttpHeaders h;
  h.add("A", "1");
  h.add("Set-Cookie", "a=1");
  h.add("B", "2");
  h.add("set-cookie", "b=2");
  h.set("SET-COOKIE", "c=3");
  CHECK(h.get_all("Set-Cookie") == Views{"c=3"});
  CHECK(h.size() == 3);
  h.set("New", "n");
  CHECK(h.get("new") == "n");
  CHECK(h.size() == 4);

  h.add("a", "again");
  CHECK(h.remove("A") == 2);
  CHECK_FALSE(h.contains("a"));
  CHECK(h.remove("A") == 0);
  CHECK(h.remove("nothing") == 0);
  CHECK(h.get("B") == "2");
  h.clear();
  CHECK(h.empty());
}

TEST_CASE("headers: fields survive spilling past the inline arena, copies and moves", "[http][messages]") {
  HttpHeaders h;
  std::vector<std::pair<std::string, std::string>> expected;
  for (int i = 0; i < 40; ++i) {  // well past the inline bytes and slots
    expected.emplace_back("X-Field-" + std::to_string(i), std::string(static_cast<std::size_t>(i) * 7, 'a' + i % 26));
    h.add(expected.back().first, expected.back().second);
  }
  auto same = [&](const HttpHeaders& x) {
    REQUIRE(x.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CHECK(x[i].first == expected[i].first);
      CHECK(x[i].second == expected[i].second);
    }
  };
  same(h);
  HttpHeaders copy = h;
  same(copy);
  HttpHeaders moved = std::move(copy);
  same(moved);
  HttpHeaders small;
  small.add("A", "1");
  HttpHeaders small_moved = std::move(small);
  CHECK(small_moved.get("a") == "1");
  moved = small_moved;  // copy-assign over a spilled arena
  CHECK(moved.size() == 1);
  CHECK(moved.get("A") == "1");
}

TEST_CASE("headers: remove compacts the arena and keeps the order of the rest", "[http][messages]") {
  HttpHeaders h;
  h.add("A", "first");
  h.add("Drop", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  h.add("B", "second");
  h.add("drop", "y");
  h.add("C", "third");
  std::size_t before = h.text_bytes();
  CHECK(h.remove("DROP") == 2);
  CHECK(h.text_bytes() == before - (4 + 49) - (4 + 1));
  std::vector<std::string> seen;
  for (const auto& [n, v] : h) seen.push_back(std::string(n) + "=" + std::string(v));
  CHECK(seen == std::vector<std::string>{"A=first", "B=second", "C=third"});
  // set() many times over does not grow the arena without bound.
  for (int i = 0; i < 1000; ++i) h.set("Counter", std::to_string(i));
  CHECK(h.get("counter") == "999");
  CHECK(h.text_bytes() < before + 32);
}

TEST_CASE("headers: a field may be added or set from a view of the same headers", "[http][messages]") {
  HttpHeaders h;
  h.add("Origin", "https://example.com");
  for (int i = 0; i < 30; ++i) h.add("Pad-" + std::to_string(i), "some padding to make the arena move");
  // The view points into h's arena, which moves to the heap as it grows.
  h.add("Copied-Origin", *h.get("Origin"));
  CHECK(h.get("Copied-Origin") == "https://example.com");
  h.set("Origin", *h.get("Pad-3"));
  CHECK(h.get("Origin") == "some padding to make the arena move");
  auto name = h[0].first;  // "Pad-0" (Origin was removed by set)
  h.set(name, "renamed-by-view");
  CHECK(h.get("Pad-0") == "renamed-by-view");
  CHECK(h.count("pad-0") == 1);
}

TEST_CASE("headers: a field may be removed by a view of its own name", "[http][messages]") {
  // Found by fuzzing (test/fuzz/http_headers): remove() compacts the arena
  // as it goes, overwriting the name it was given when that name viewed an
  // earlier field, so later fields of the name stayed.
  HttpHeaders h;
  h.add("A", "1");
  h.add("B", "2");
  h.add("a", "3");
  h.add("C", "4");
  CHECK(h.remove(h[0].first) == 2);
  REQUIRE(h.size() == 2);
  CHECK(h[0] == HttpHeaders::Field{"B", "2"});
  CHECK(h[1] == HttpHeaders::Field{"C", "4"});
  CHECK(h.remove(h[1].first) == 1);
  CHECK(h.size() == 1);
}

TEST_CASE("headers: clear empties them, and they work again after a huge field", "[http][messages]") {
  HttpHeaders h;
  h.add("Big", std::string(100'000, 'b'));
  h.clear();
  CHECK(h.empty());
  CHECK(h.text_bytes() == 0);
  h.add("After", "clear");
  CHECK(h.get("after") == "clear");
}

TEST_CASE("headers: has_token finds whole comma-separated tokens, ignoring case and spaces", "[http][messages]") {
  HttpHeaders h;
  h.add("Connection", "keep-alive, Upgrade");
  h.add("connection", " \tclose\t ");
  h.add("Accept-Encoding", "gzip,deflate,,br");
  h.add("Vary", "");
  CHECK(h.has_token("Connection", "keep-alive"));
  CHECK(h.has_token("CONNECTION", "upgrade"));
  CHECK(h.has_token("connection", "CLOSE"));  // in the second field
  CHECK(h.has_token("Accept-Encoding", "deflate"));
  CHECK(h.has_token("Accept-Encoding", "br"));
  CHECK_FALSE(h.has_token("Connection", "alive"));  // not a substring match
  CHECK_FALSE(h.has_token("Connection", "keep"));
  CHECK_FALSE(h.has_token("Accept-Encoding", "gzip,deflate"));
  CHECK_FALSE(h.has_token("Vary", "x"));
  CHECK_FALSE(h.has_token("Missing", "close"));
}

// ============================================================================
// HttpRequest: target, percent-decoding, json
// ============================================================================

TEST_CASE("request: path and query of origin-form targets", "[http][messages]") {
  CHECK(request_for("/").path() == "/");
  CHECK(request_for("/").query() == "");
  CHECK(request_for("/a/b?x=1&y=2").path() == "/a/b");
  CHECK(request_for("/a/b?x=1&y=2").query() == "x=1&y=2");
  CHECK(request_for("/a?").path() == "/a");
  CHECK(request_for("/a?").query() == "");
  CHECK(request_for("/a?x=1#frag").query() == "x=1");
  CHECK(request_for("/a#frag").path() == "/a");
  CHECK(request_for("/a?x=?&y=/").query() == "x=?&y=/");  // only the first '?' splits
  CHECK(request_for("/a%20b").path() == "/a%20b");       // not decoded
  CHECK(request_for("*").path() == "*");
  CHECK(request_for("*").query() == "");
}

TEST_CASE("request: the path ends at the first '?' or '#' wherever it falls in a long target", "[http][messages]") {
  // The scan reads eight bytes at a time: put the separator at every offset,
  // across word boundaries, with the other separator later or absent.
  const std::string base = "/abcdefghijklmnopqrstuvwxyz0123456789";
  for (std::size_t at = 1; at <= base.size(); ++at) {
    for (char sep : {'?', '#'}) {
      std::string target = base.substr(0, at) + sep + "x=1#y?z";
      INFO(target);
      CHECK(request_for(target).path() == base.substr(0, at));
    }
    CHECK(request_for(base.substr(0, at)).path() == base.substr(0, at));
  }
  // Bytes with the top bit set must not look like a separator.
  const std::string high = "/\xbf\xa3\xff\x80\x7f\xc0\xe3\xbf" "abc";
  CHECK(request_for(high + "?q").path() == high);
  CHECK(request_for(high).path() == high);  // and in the last word, read overlapping the one before
}

TEST_CASE("request: path and query of absolute-form targets", "[http][messages]") {
  CHECK(request_for("http://example.com/p/q?x=1").path() == "/p/q");
  CHECK(request_for("http://example.com/p/q?x=1").query() == "x=1");
  CHECK(request_for("https://example.com:8443/").path() == "/");
  CHECK(request_for("http://example.com").path() == "/");
  CHECK(request_for("http://example.com?x=1").path() == "/");
  CHECK(request_for("http://example.com?x=1").query() == "x=1");
  // A "://" inside an origin-form path is just part of the path.
  CHECK(request_for("/redirect?to=http://a/b").path() == "/redirect");
  CHECK(request_for("/go/http://a/b").path() == "/go/http://a/b");
}

TEST_CASE("request: percent_decode", "[http][messages]") {
  CHECK(percent_decode("plain", false) == "plain");
  CHECK(percent_decode("", false) == "");
  CHECK(percent_decode("a%20b", false) == "a b");
  CHECK(percent_decode("%41%42%43", false) == "ABC");
  CHECK(percent_decode("%4a%4A", false) == "JJ");
  CHECK(percent_decode("%2F%2f", false) == "//");
  CHECK(percent_decode("%00", false) == "\0"s);
  CHECK(percent_decode("%ff", false) == "\xff");
  CHECK(percent_decode("a+b", false) == "a+b");
  CHECK(percent_decode("a+b", true) == "a b");
  CHECK(percent_decode("%2B", true) == "+");  // an escaped '+' stays a '+'
  CHECK(percent_decode("%25", false) == "%");
  CHECK(percent_decode("%2541", false) == "%41");  // decoded once
  // Malformed escapes.
  CHECK(percent_decode("%", false) == std::nullopt);
  CHECK(percent_decode("%4", false) == std::nullopt);
  CHECK(percent_decode("100%", false) == std::nullopt);
  CHECK(percent_decode("a%zz", false) == std::nullopt);
  CHECK(percent_decode("%g0", false) == std::nullopt);
  CHECK(percent_decode("%0g", false) == std::nullopt);
  CHECK(percent_decode("%-1", false) == std::nullopt);
  CHECK(percent_decode("% 1", false) == std::nullopt);
}

TEST_CASE("request: query_param", "[http][messages]") {
  HttpRequest r = request_for("/s?q=hello+world&name=J%C3%B6rg&empty=&flag&dup=1&dup=2&bad=%zz&a%20b=spaced&%zz=x&k=v");
  CHECK(r.query_param("q") == "hello world");
  CHECK(r.query_param("name") == "J\xc3\xb6rg");
  CHECK(r.query_param("empty") == "");
  CHECK(r.query_param("flag") == "");
  CHECK(r.query_param("dup") == "1");
  CHECK(r.query_param("bad") == std::nullopt);  // a malformed escape
  CHECK(r.query_param("a b") == "spaced");      // names are decoded too
  CHECK(r.query_param("k") == "v");             // after a pair whose name is malformed
  CHECK(r.query_param("Q") == std::nullopt);    // names are case-sensitive
  CHECK(r.query_param("missing") == std::nullopt);
  CHECK(r.query_param("") == std::nullopt);

  CHECK(request_for("/s").query_param("q") == std::nullopt);
  CHECK(request_for("/s?").query_param("q") == std::nullopt);
  CHECK(request_for("/s?&&q=1&").query_param("q") == "1");
  CHECK(request_for("/s?q=a=b").query_param("q") == "a=b");
  CHECK(request_for("/s?q=1#q=2").query_param("q") == "1");
  CHECK(request_for("http://h/p?x=%41").query_param("x") == "A");
}

TEST_CASE("request: router parameters", "[http][messages]") {
  HttpRequest r = request_for("/users/42");
  CHECK(r.param("id") == "");
  r.params = {{"id", "42"}, {"rest", "a/b"}};
  CHECK(r.param("id") == "42");
  CHECK(r.param("rest") == "a/b");
  CHECK(r.param("ID") == "");
}

TEST_CASE("request: is_head", "[http][messages]") {
  HttpRequest r = request_for("/");
  CHECK_FALSE(r.is_head());
  r.method = "HEAD";
  CHECK(r.is_head());
}

TEST_CASE("request: json()", "[http][messages]") {
  SECTION("a valid body") {
    auto j = request_with_body(R"({"name": "x", "n": [1, 2, 3]})").json();
    CHECK(j["name"] == "x");
    CHECK(j["n"].size() == 3);
    CHECK(request_with_body("42").json() == 42);
  }
  SECTION("malformed: HttpError 400 that does not echo the body") {
    for (std::string body : {R"({"password": "hunter2", )"s, "hunter2"s, ""s, R"(["hunter2")"s, "{} trailing-hunter2"s}) {
      INFO(body);
      try {
        (void)request_with_body(body).json();
        FAIL("json() accepted a malformed body");
      } catch (const HttpError& e) {
        CHECK(e.status() == 400);
        std::string message = e.what();
        CHECK_THAT(message, Contains("Bad Request"));
        CHECK_THAT(message, !Contains("hunter2"));
        CHECK_THAT(message, !Contains("password"));
      }
    }
  }
}

// ============================================================================
// HttpResponse and reason_phrase
// ============================================================================

TEST_CASE("response: text", "[http][messages]") {
  HttpResponse r = HttpResponse::text("hello");
  CHECK(r.status == 200);
  CHECK(r.headers.get("Content-Type") == "text/plain; charset=utf-8");
  CHECK(r.body.view() == "hello");

  HttpResponse created = HttpResponse::text("<p>x</p>", 201, "text/html");
  CHECK(created.status == 201);
  CHECK(created.headers.get_all("content-type") == Views{"text/html"});
  CHECK(created.body.view() == "<p>x</p>");

  HttpResponse empty = HttpResponse::text("");
  CHECK(empty.body.readable_bytes() == 0);
}

TEST_CASE("response: json", "[http][messages]") {
  HttpResponse r = HttpResponse::json({{"ok", true}, {"n", 3}});
  CHECK(r.status == 200);
  CHECK(r.headers.get("Content-Type") == "application/json");
  CHECK(nlohmann::json::parse(r.body.view()) == nlohmann::json({{"ok", true}, {"n", 3}}));
  HttpResponse created = HttpResponse::json(nlohmann::json::array({1, "two"}), 201);
  CHECK(created.status == 201);
  CHECK(created.body.view() == R"([1,"two"])");
}

TEST_CASE("response: error", "[http][messages]") {
  HttpResponse nf = HttpResponse::error(404);
  CHECK(nf.status == 404);
  CHECK(nf.body.view() == "404 Not Found\n");
  CHECK(nf.headers.get("Content-Type") == "text/plain; charset=utf-8");

  HttpResponse custom = HttpResponse::error(400, "Bad Request: missing id");
  CHECK(custom.status == 400);
  CHECK(custom.body.view() == "Bad Request: missing id\n");

  CHECK(HttpResponse::error(418).body.view() == "418 Unknown\n");
}

TEST_CASE("response: header() and set_body()", "[http][messages]") {
  HttpResponse r(204);
  r.header("Allow", "GET").header("Allow", "HEAD");
  CHECK(r.headers.get_all("allow") == Views{"GET", "HEAD"});
  HttpResponse moved = HttpResponse(301).header("Location", "/new");
  CHECK(moved.status == 301);
  CHECK(moved.headers.get("location") == "/new");
  r.set_body("abc");
  CHECK(r.body.view() == "abc");
  r.set_body("");
  CHECK(r.body.readable_bytes() == 0);
  r.set_body(Buffer::copy_of("buffer"));
  CHECK(r.body.view() == "buffer");
  CHECK(HttpResponse().status == 200);
}

TEST_CASE("response: reason_phrase", "[http][messages]") {
  CHECK(reason_phrase(100) == "Continue");
  CHECK(reason_phrase(200) == "OK");
  CHECK(reason_phrase(204) == "No Content");
  CHECK(reason_phrase(304) == "Not Modified");
  CHECK(reason_phrase(400) == "Bad Request");
  CHECK(reason_phrase(404) == "Not Found");
  CHECK(reason_phrase(405) == "Method Not Allowed");
  CHECK(reason_phrase(408) == "Request Timeout");
  CHECK(reason_phrase(413) == "Content Too Large");  // RFC 9110 name
  CHECK(reason_phrase(414) == "URI Too Long");
  CHECK(reason_phrase(417) == "Expectation Failed");
  CHECK(reason_phrase(422) == "Unprocessable Content");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(500) == "Internal Server Error");
  // The rest of the IANA registry is named too.
  CHECK(reason_phrase(103) == "Early Hints");
  CHECK(reason_phrase(207) == "Multi-Status");
  CHECK(reason_phrase(300) == "Multiple Choices");
  CHECK(reason_phrase(421) == "Misdirected Request");
  CHECK(reason_phrase(451) == "Unavailable For Legal Reasons");
  CHECK(reason_phrase(511) == "Network Authentication Required");
  for (int status = 100; status < 600; ++status) CHECK_FALSE(reason_phrase(status).empty());
  CHECK(reason_phrase(501) == "Not Implemented");
  CHECK(reason_phrase(505) == "HTTP Version Not Supported");
  CHECK(reason_phrase(418) == "Unknown");  // "(Unused)" in RFC 9110: no phrase
  CHECK(reason_phrase(299) == "Unknown");
  CHECK(reason_phrase(0) == "Unknown");
  CHECK(reason_phrase(-1) == "Unknown");
}

TEST_CASE("headers: random add/set/remove/clear agree with a simple model", "[http][messages]") {
  // A plain vector of owned strings as the reference; names from a small
  // set (so set/remove hit), values of every length around the inline
  // arena's size, and some taken from the headers' own views.
  std::vector<std::pair<std::string, std::string>> model;
  HttpHeaders h;
  std::uint32_t seed = 12345;
  auto next = [&seed](std::uint32_t n) {
    seed = seed * 1664525u + 1013904223u;
    return (seed >> 8) % n;
  };
  const char* names[] = {"A", "b", "Content-Type", "X-Long-Header-Name", "host", "HOST"};
  auto same_name = [](const std::string& a, std::string_view b) { return iequals(a, b); };
  for (int step = 0; step < 4000; ++step) {
    std::string name = names[next(6)];
    std::string value(next(300), static_cast<char>('a' + next(26)));
    bool from_self = !model.empty() && next(4) == 0;
    if (from_self) value = model[next(static_cast<std::uint32_t>(model.size()))].second;
    std::string_view value_view = value;
    if (from_self) {
      // Hand over a view of h's own storage, which the call may move.
      for (std::size_t i = 0; i < h.size(); ++i) {
        if (h[i].second == value) {
          value_view = h[i].second;
          break;
        }
      }
    }
    switch (next(10)) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
        h.add(name, value_view);
        model.emplace_back(name, value);
        break;
      case 5:
      case 6:
        h.set(name, value_view);
        std::erase_if(model, [&](const auto& f) { return same_name(f.first, name); });
        model.emplace_back(name, value);
        break;
      case 7:
      case 8: {
        std::size_t removed = h.remove(name);
        std::size_t expected = std::erase_if(model, [&](const auto& f) { return same_name(f.first, name); });
        REQUIRE(removed == expected);
        break;
      }
      default:
        if (next(20) == 0) {
          h.clear();
          model.clear();
        }
        break;
    }
    REQUIRE(h.size() == model.size());
    for (std::size_t i = 0; i < model.size(); ++i) {
      REQUIRE(h[i].first == model[i].first);
      REQUIRE(h[i].second == model[i].second);
    }
    if (step % 500 == 0) {
      HttpHeaders copy = h;
      REQUIRE(copy.size() == h.size());
      HttpHeaders moved = std::move(copy);
      for (std::size_t i = 0; i < model.size(); ++i) REQUIRE(moved[i].second == model[i].second);
    }
  }
}
