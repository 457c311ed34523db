// Fuzz target: Router's route patterns and path matching, against a plain
// reference written from Router's documentation.
//
// Input: text lines. Routes first, one a line: "METHOD PATTERN" ("~METHOD"
// for a route that streams its body); then an empty line; then requests,
// one a line: "METHOD TARGET".
//
// Invariants:
//   - add() refuses exactly the patterns the reference calls malformed;
//   - a request reaches the route the reference picks (the most specific
//     match, segment by segment: literal, then :param, then a route that
//     has ended, then *wildcard; at equal specificity an exact method
//     before GET standing in for HEAD, then the first added), with the
//     same params, or no route when it finds none;
//   - check() and streams_body() agree with that choice;
//   - spelling aside (a doubled or trailing '/'), a path reaches the same
//     route: "/a//b/" as "/a/b".

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../lib/http/exchange.hpp"  // a ResponseWriter with no connection
#include "fuzz_input.hpp"
#include "sluice/channel/manual_loop.hpp"
#include "sluice/http/router.hpp"

using namespace sluice;
using fuzz::broken;
using fuzz::printable;

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

// ---- the reference ----------------------------------------------------------

// Ordered from most to least specific at one position.
enum class Kind { literal, param, ended, wildcard };

struct Segment {
  Kind kind;
  std::string text;
};

struct RefRoute {
  std::string method;
  std::vector<Segment> segments;
  bool streams = false;
};

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > i) parts.push_back(path.substr(i, slash - i));
    i = slash + 1;
  }
  return parts;
}

// The segments of `pattern`, or nullopt when Router must refuse it.
std::optional<std::vector<Segment>> parse(std::string_view pattern) {
  if (pattern.empty() || pattern[0] != '/') return std::nullopt;
  std::vector<Segment> segments;
  auto parts = split(pattern);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (p[0] == ':') {
      if (p.size() == 1) return std::nullopt;
      segments.push_back({Kind::param, std::string(p.substr(1))});
    } else if (p[0] == '*') {
      if (i + 1 != parts.size()) return std::nullopt;
      segments.push_back({Kind::wildcard, std::string(p.substr(1))});
    } else {
      segments.push_back({Kind::literal, std::string(p)});
    }
  }
  return segments;
}

bool matches(const RefRoute& r, const std::vector<std::string_view>& parts) {
  for (std::size_t i = 0; i < r.segments.size(); ++i) {
    const Segment& s = r.segments[i];
    if (s.kind == Kind::wildcard) return true;
    if (i >= parts.size()) return false;
    if (s.kind == Kind::literal && parts[i] != s.text) return false;
    if (s.kind == Kind::param && !percent_decode(parts[i], false)) return false;
  }
  return r.segments.size() == parts.size();
}

Kind kind_at(const RefRoute& r, std::size_t i) { return i < r.segments.size() ? r.segments[i].kind : Kind::ended; }

// -1: a is more specific; 1: b is; 0: neither.
int compare(const RefRoute& a, const RefRoute& b) {
  std::size_t n = std::max(a.segments.size(), b.segments.size());
  for (std::size_t i = 0; i < n; ++i) {
    Kind ka = kind_at(a, i);
    Kind kb = kind_at(b, i);
    if (ka != kb) return ka < kb ? -1 : 1;
  }
  return 0;
}

struct Choice {
  std::optional<std::size_t> route;  // index into the routes added
  Params params;
  int check = 0;  // what Router::check says
};

Choice choose(const std::vector<RefRoute>& routes, std::string_view method, std::string_view target,
              std::string_view path) {
  Choice c;
  if (target == "*") {
    c.check = method == "OPTIONS" ? 0 : 400;
    return c;
  }
  auto parts = split(path);
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const RefRoute& r = routes[i];
    bool method_ok = r.method == method || (method == "HEAD" && r.method == "GET");
    if (!method_ok || !matches(r, parts)) continue;
    if (!c.route) {
      c.route = i;
      continue;
    }
    const RefRoute& best = routes[*c.route];
    int order = compare(r, best);
    if (order < 0 || (order == 0 && r.method == method && best.method != method)) c.route = i;
  }
  if (!c.route) {
    bool path_known = false;
    for (const RefRoute& r : routes) path_known = path_known || matches(r, parts);
    c.check = !path_known ? 404 : method == "OPTIONS" ? 0 : 405;
    return c;
  }
  const RefRoute& r = routes[*c.route];
  for (std::size_t i = 0; i < r.segments.size(); ++i) {
    const Segment& s = r.segments[i];
    if (s.kind == Kind::param) c.params.emplace_back(s.text, *percent_decode(parts[i], false));
    if (s.kind == Kind::wildcard) {
      std::string rest;
      for (std::size_t j = i; j < parts.size(); ++j) rest += (j > i ? "/" : "") + std::string(parts[j]);
      c.params.emplace_back(s.text, percent_decode(rest, false).value_or(rest));
    }
  }
  return c;
}

// ---- the router under test --------------------------------------------------

struct Reached {
  std::optional<std::size_t> route;
  Params params;
};

class RouterUnderTest {
 public:
  RouterUnderTest() : loop_(std::make_unique<ManualLoop>()) {}

  /// Router::add; false when it refused the pattern.
  bool add(std::string_view method, std::string_view pattern, bool streams) {
    std::size_t index = added_++;
    RouteOptions options;
    options.stream_body = streams;
    try {
      router_.add(method, pattern, [this, index](HttpRequest& r, ResponseWriter) {
        reached_.route = index;
        reached_.params = r.params;
      }, options);
    } catch (const std::invalid_argument&) {
      return false;
    }
    return true;
  }

  Reached route(HttpRequest& request) {
    reached_ = {};
    // A writer whose answers go nowhere: the router answers 404/405 itself.
    auto exchange = std::make_shared<detail::Exchange>();
    exchange->loop = loop_.get();
    router_.handle(request, ResponseWriter(exchange));
    return reached_;
  }
  const Router& router() const { return router_; }

 private:
  std::unique_ptr<ManualLoop> loop_;
  Router router_;
  std::size_t added_ = 0;
  Reached reached_;
};

std::string describe(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += "  " + printable(l, 200) + "\n";
  return s;
}

std::string show(const std::optional<std::size_t>& route, const Params& params) {
  std::string s = route ? "route " + std::to_string(*route) : "no route";
  for (const auto& [name, value] : params) s += " " + printable(name, 40) + "=" + printable(value, 80);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }

  RouterUnderTest under_test;
  std::vector<RefRoute> routes;  // the reference's, in the order added (refused ones left out)
  std::vector<std::size_t> added_index;  // the index under test of each
  std::size_t line = 0;
  for (std::size_t tried = 0; line < lines.size() && !lines[line].empty(); ++line, ++tried) {
    std::string_view l = lines[line];
    std::size_t space = l.find(' ');
    std::string_view method = l.substr(0, space);
    std::string_view pattern = space == std::string_view::npos ? std::string_view{} : l.substr(space + 1);
    bool streams = !method.empty() && method[0] == '~';
    if (streams) method.remove_prefix(1);
    auto segments = parse(pattern);
    if (under_test.add(method, pattern, streams) != segments.has_value()) {
      broken("add() refuses exactly the malformed patterns", printable(l));
    }
    if (segments) routes.push_back(RefRoute{std::string(method), std::move(*segments), streams});
    if (segments) added_index.push_back(tried);
  }
  for (++line; line < lines.size(); ++line) {
    std::string_view l = lines[line];
    std::size_t space = l.find(' ');
    // HttpRequest::method views static storage; this line outlives the request.
    std::string_view method = l.substr(0, space);
    HttpRequest request;
    request.method = method;
    request.target = space == std::string_view::npos ? "" : std::string(l.substr(space + 1));
    Choice expected = choose(routes, method, request.target, request.path());
    std::optional<std::size_t> expected_route;
    if (expected.route) expected_route = added_index[*expected.route];

    auto describe_all = [&](const std::string& got) {
      return "routes and requests:\n" + describe(lines) + "request: " + printable(l) + "\nexpected: " +
             show(expected_route, expected.params) + "\ngot: " + got;
    };
    Reached reached = under_test.route(request);
    if (reached.route != expected_route || reached.params != expected.params) {
      broken("a request reaches the route the reference picks, with its params",
             describe_all(show(reached.route, reached.params)));
    }
    if (under_test.router().check(request) != expected.check) {
      broken("check() agrees", describe_all("check() " + std::to_string(under_test.router().check(request))));
    }
    bool streams = expected.route && routes[*expected.route].streams;
    if (request.target != "*" && under_test.router().streams_body(request) != streams) {
      broken("streams_body() agrees", describe_all("streams_body() differs"));
    }

    // The same path spelled canonically reaches the same route.
    if (request.target != "*") {
      std::string canonical;
      for (std::string_view part : split(request.path())) canonical += "/" + std::string(part);
      if (canonical.empty()) canonical = "/";
      HttpRequest respelled;
      respelled.method = method;
      respelled.target = canonical;
      Reached again = under_test.route(respelled);
      if (again.route != reached.route || again.params != reached.params) {
        broken("a path and its canonical spelling reach the same route",
               describe_all(show(reached.route, reached.params) + "; as " + printable(canonical) + ": " +
                            show(again.route, again.params)));
      }
    }
  }
  return 0;
}
