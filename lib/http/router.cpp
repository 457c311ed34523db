#include "sluice/http/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace sluice {

namespace {
// Splits "/a/b/c" into {"a","b","c"}; "/" into {}.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    std::size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    parts.push_back(path.substr(i, end - i));
    i = end;
  }
  return parts;
}

const char* const kKnownMethods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
}  // namespace

std::vector<Router::Segment> Router::parse_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("Router: a pattern starts with '/': " + std::string(pattern));
  }
  std::vector<Segment> segments;
  auto parts = split_path(pattern);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (p.front() == ':') {
      if (p.size() == 1) throw std::invalid_argument("Router: unnamed parameter in " + std::string(pattern));
      segments.push_back({Segment::Kind::param, std::string(p.substr(1))});
    } else if (p.front() == '*') {
      if (i + 1 != parts.size()) throw std::invalid_argument("Router: '*' must be last in " + std::string(pattern));
      segments.push_back({Segment::Kind::wildcard, std::string(p.substr(1))});
    } else {
      segments.push_back({Segment::Kind::literal, std::string(p)});
    }
  }
  return segments;
}

Router& Router::add(std::string_view method, std::string_view pattern, std::shared_ptr<HttpHandler> handler,
                    RouteOptions options) {
  if (!handler) throw std::invalid_argument("Router: null handler for " + std::string(pattern));
  routes_.push_back(Route{std::string(method), parse_pattern(pattern), std::move(handler), options});
  return *this;
}

bool Router::match(const Route& route, std::string_view path, Match& out) {
  auto parts = split_path(path);
  out.params.clear();
  out.rank.clear();
  std::size_t i = 0;
  for (const Segment& seg : route.segments) {
    if (seg.kind == Segment::Kind::wildcard) {
      // The rest of the path, as sent (without its leading '/').
      std::string rest;
      for (std::size_t j = i; j < parts.size(); ++j) {
        if (j > i) rest += '/';
        rest.append(parts[j]);
      }
      out.params.emplace_back(seg.text, percent_decode(rest, false).value_or(rest));
      out.rank.push_back(2);
      return true;
    }
    if (i >= parts.size()) return false;
    if (seg.kind == Segment::Kind::literal) {
      if (parts[i] != seg.text) return false;
      out.rank.push_back(0);
    } else {
      auto decoded = percent_decode(parts[i], false);
      if (!decoded) return false;
      out.params.emplace_back(seg.text, std::move(*decoded));
      out.rank.push_back(1);
    }
    ++i;
  }
  return i == parts.size();
}

const Router::Route* Router::best(std::string_view method, std::string_view path, Match& out,
                                  std::string* allow) const {
  const Route* chosen = nullptr;
  Match candidate;
  std::vector<std::string> methods;
  for (const Route& route : routes_) {
    if (!match(route, path, candidate)) continue;
    if (allow != nullptr && std::find(methods.begin(), methods.end(), route.method) == methods.end()) {
      methods.push_back(route.method);
    }
    bool method_ok = route.method == method || (method == "HEAD" && route.method == "GET");
    if (!method_ok) continue;
    // An exact method beats GET standing in for HEAD; then the most specific.
    bool better = chosen == nullptr || candidate.rank < out.rank ||
                  (candidate.rank == out.rank && route.method == method && chosen->method != method);
    if (better) {
      chosen = &route;
      out = candidate;
    }
  }
  if (allow != nullptr) {
    if (std::find(methods.begin(), methods.end(), "GET") != methods.end() &&
        std::find(methods.begin(), methods.end(), "HEAD") == methods.end()) {
      methods.push_back("HEAD");
    }
    if (!methods.empty() && std::find(methods.begin(), methods.end(), "OPTIONS") == methods.end()) {
      methods.push_back("OPTIONS");
    }
    allow->clear();
    for (const auto& m : methods) {
      if (!allow->empty()) *allow += ", ";
      *allow += m;
    }
  }
  return chosen;
}

int Router::check(const HttpRequest& request) const {
  // Must agree with handle(): "OPTIONS *" and OPTIONS on a known path are
  // answered by the router itself (204 with Allow), so they are taken.
  if (request.target == "*") return request.method == "OPTIONS" ? 0 : 400;
  Match m;
  std::string allow;
  if (best(request.method, request.path(), m, &allow) != nullptr) return 0;
  if (allow.empty()) return 404;
  return request.method == "OPTIONS" ? 0 : 405;
}

bool Router::streams_body(const HttpRequest& request) const {
  Match m;
  const Route* route = best(request.method, request.path(), m, nullptr);
  return route != nullptr && route->options.stream_body;
}

void Router::handle(HttpRequest& request, ResponseWriter response) {
  if (request.target == "*") {
    if (request.method != "OPTIONS") {
      response.send(HttpResponse::error(400, "Bad Request: '*' is only for OPTIONS"));
      return;
    }
    std::string allow;
    for (const char* m : kKnownMethods) {
      if (!allow.empty()) allow += ", ";
      allow += m;
    }
    response.send(HttpResponse(204).header("Allow", allow));
    return;
  }
  Match m;
  std::string allow;
  const Route* route = best(request.method, request.path(), m, &allow);
  if (route != nullptr) {
    request.params = std::move(m.params);
    route->handler->handle(request, std::move(response));
    return;
  }
  if (allow.empty()) {
    response.send(HttpResponse::error(404));
  } else if (request.method == "OPTIONS") {
    response.send(HttpResponse(204).header("Allow", allow));
  } else {
    response.send(HttpResponse::error(405).header("Allow", allow));
  }
}

}  // namespace sluice
