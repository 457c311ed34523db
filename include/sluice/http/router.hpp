#pragma once
// Method + path routing: static segments, ":param" segments and a trailing
// "*wildcard".

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/http/http_handler.hpp"

namespace sluice {

/// Per-route settings.
struct RouteOptions {
  /// Run the handler as soon as the headers arrive and hand it the body
  /// through HttpRequest::body_stream (for uploads too large to aggregate).
  bool stream_body = false;
};

/// Maps method + path to handlers. Patterns: "/users", "/users/:id",
/// "/files/*path". When several routes match, the most specific wins:
/// segment by segment, static beats ":param" beats "*wildcard", and a
/// route that has ended beats a "*wildcard" taking an empty rest. No route for
/// the path: 404. Routes for the path but not the method: 405 with Allow.
/// GET routes also answer HEAD (the server sends no body); OPTIONS (and
/// "OPTIONS *") is answered with Allow unless a route takes it. Build it
/// before the server starts; handle() is then safe on every loop.
class Router final : public HttpHandler {
 public:
  Router& add(std::string_view method, std::string_view pattern, std::shared_ptr<HttpHandler> handler,
             RouteOptions options = {});
  /// A lambda or std::function as the route's handler (see make_handler).
  template <HandlerCallable F>
  Router& add(std::string_view method, std::string_view pattern, F fn, RouteOptions options = {}) {
    return add(method, pattern, make_handler(std::move(fn)), options);
  }
  template <HandlerCallable F>
  Router& get(std::string_view pattern, F fn) { return add("GET", pattern, std::move(fn)); }
  template <HandlerCallable F>
  Router& post(std::string_view pattern, F fn) { return add("POST", pattern, std::move(fn)); }
  template <HandlerCallable F>
  Router& put(std::string_view pattern, F fn) { return add("PUT", pattern, std::move(fn)); }
  template <HandlerCallable F>
  Router& patch(std::string_view pattern, F fn) { return add("PATCH", pattern, std::move(fn)); }
  template <HandlerCallable F>
  Router& del(std::string_view pattern, F fn) { return add("DELETE", pattern, std::move(fn)); }

  void handle(HttpRequest& request, ResponseWriter response) override;

  /// The status a request would get before its handler runs: 0 when a route
  /// (or the router itself, for OPTIONS) takes it, else 404 or 405 (400 for
  /// "*" with another method). Used to answer "Expect: 100-continue".
  int check(const HttpRequest& request) const;
  /// Whether the route that takes this request head streams its body.
  bool streams_body(const HttpRequest& request) const;

 private:
  struct Segment {
    enum class Kind { literal, param, wildcard } kind;
    std::string text;  // the literal, or the parameter's name
  };
  struct Route {
    std::string method;
    std::vector<Segment> segments;
    std::shared_ptr<HttpHandler> handler;
    RouteOptions options;
  };
  using Parts = std::vector<std::string_view>;

  static std::vector<Segment> parse_pattern(std::string_view pattern);
  /// Whether `route` takes a path split into `parts` (no allocation).
  static bool matches(const Route& route, const Parts& parts) noexcept;
  /// Whether `a` is more specific than `b` (both match the same path).
  static bool more_specific(const Route& a, const Route& b) noexcept;
  static void fill_params(const Route& route, const Parts& parts,
                          std::vector<std::pair<std::string, std::string>>& params);
  /// The route for this method and path, or nullptr; `allow` (when not null)
  /// gets the methods the path has, but only when no route was found.
  const Route* best(std::string_view method, const Parts& parts, std::string* allow) const;
  /// Runs `route`'s handler (`parts`: the split path, for a route with
  /// parameters; nullptr for a literal one).
  static void dispatch(const Route& route, const Parts* parts, HttpRequest& request, ResponseWriter response);
  /// The route for `method` on `path`: a literal route by its exact
  /// spelling, else the most specific match (then *parts is the split path,
  /// for fill_params). With `allow`, a miss lists the path's methods there.
  const Route* find(std::string_view method, std::string_view path, std::string* allow,
                    const Parts** parts = nullptr) const;
  /// The route whose pattern is all literals and spelled exactly `path`
  /// (such a route is the most specific one there is), or nullptr.
  const Route* exact(std::string_view method, std::string_view path) const noexcept;

  // Literal routes by path: most requests are routed by one probe of this
  // open-addressed table instead of a scan of every route. A slot holds an
  // index + 1 into exact_paths_ (0 is empty); the table is at most half full.
  struct ExactPath {
    std::uint64_t hash;
    std::string path;
    std::vector<std::size_t> routes;  // indexes into routes_, in the order added
  };
  static std::uint64_t hash_path(std::string_view path) noexcept;
  void index_exact(std::string path, std::size_t route);

  std::vector<Route> routes_;
  std::vector<ExactPath> exact_paths_;
  std::vector<std::uint32_t> exact_slots_;
};

}  // namespace sluice
