#include "sluice/http/router.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

#include "sluice/http/http_body_stream.hpp"

namespace sluice {

namespace {
// Splits "/a/b/c" into {"a","b","c"}; "/" into {}. The views point into
// `path`; the vector is the calling thread's scratch (routing runs on a loop
// thread and does not nest), so no request allocates it.
const std::vector<std::string_view>& split_path(std::string_view path) {
  thread_local std::vector<std::string_view> parts;
  parts.clear();
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

// Whether percent_decode() would accept `text` (every '%' has two hex digits).
bool decodable(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') continue;
    if (i + 2 >= text.size() || std::isxdigit(static_cast<unsigned char>(text[i + 1])) == 0 ||
        std::isxdigit(static_cast<unsigned char>(text[i + 2])) == 0) {
      return false;
    }
    i += 2;
  }
  return true;
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
  const Route& added = routes_.back();
  bool literal = std::all_of(added.segments.begin(), added.segments.end(),
                             [](const Segment& s) { return s.kind == Segment::Kind::literal; });
  if (literal) {
    std::string path(added.segments.empty() ? 1 : 0, '/');
    for (const Segment& s : added.segments) {
      path.push_back('/');
      path.append(s.text);
    }
    index_exact(std::move(path), routes_.size() - 1);
  }
  return *this;
}

std::uint64_t Router::hash_path(std::string_view path) noexcept {
  // Eight bytes per step: a path is hashed on every request, and byte-wise
  // FNV costs a multiply per character.
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  const char* p = path.data();
  std::size_t n = path.size();
  std::uint64_t h = n * kMul;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  std::uint64_t tail = 0;
  if (n != 0 && path.size() >= 8) {
    std::memcpy(&tail, path.data() + path.size() - 8, 8);  // the last word, overlapping: no loop
  } else {
    for (std::size_t i = 0; i < n; ++i) tail = (tail << 8) | static_cast<unsigned char>(p[i]);
  }
  h = (h ^ tail) * kMul;
  return h ^ (h >> 32);
}

void Router::index_exact(std::string path, std::size_t route) {
  std::uint64_t hash = hash_path(path);
  for (ExactPath& e : exact_paths_) {
    if (e.hash == hash && e.path == path) {
      e.routes.push_back(route);
      return;
    }
  }
  exact_paths_.push_back(ExactPath{hash, std::move(path), {route}});
  // Rebuild at twice the paths (a power of two): routes are added at start-up.
  std::size_t size = 8;
  while (size < exact_paths_.size() * 2) size *= 2;
  exact_slots_.assign(size, 0);
  for (std::size_t i = 0; i < exact_paths_.size(); ++i) {
    std::size_t at = exact_paths_[i].hash & (size - 1);
    while (exact_slots_[at] != 0) at = (at + 1) & (size - 1);
    exact_slots_[at] = static_cast<std::uint32_t>(i + 1);
  }
}

const Router::Route* Router::exact(std::string_view method, std::string_view path) const noexcept {
  if (exact_slots_.empty()) return nullptr;
  std::uint64_t hash = hash_path(path);
  std::size_t mask = exact_slots_.size() - 1;
  for (std::size_t at = hash & mask; exact_slots_[at] != 0; at = (at + 1) & mask) {
    const ExactPath& e = exact_paths_[exact_slots_[at] - 1];
    if (e.hash != hash || e.path != path) continue;
    for (std::size_t index : e.routes) {
      if (routes_[index].method == method) return &routes_[index];
    }
    return nullptr;
  }
  return nullptr;
}

bool Router::matches(const Route& route, const Parts& parts) noexcept {
  std::size_t i = 0;
  for (const Segment& seg : route.segments) {
    if (seg.kind == Segment::Kind::wildcard) return true;  // the rest, even empty
    if (i >= parts.size()) return false;
    if (seg.kind == Segment::Kind::literal && parts[i] != seg.text) return false;
    if (seg.kind == Segment::Kind::param && !decodable(parts[i])) return false;
    ++i;
  }
  return i == parts.size();
}

bool Router::more_specific(const Route& a, const Route& b) noexcept {
  // Segment by segment: literal beats :param beats *wildcard. Both match the
  // same path, so they differ within the shorter one, or the longer one goes
  // on with a *wildcard taking an empty rest ("/a" and "/a/*rest" on "/a/"):
  // then the one that ends is the more specific.
  std::size_t n = std::min(a.segments.size(), b.segments.size());
  for (std::size_t i = 0; i < n; ++i) {
    auto ka = a.segments[i].kind;
    auto kb = b.segments[i].kind;
    if (ka != kb) return ka < kb;
  }
  return a.segments.size() < b.segments.size();
}

void Router::fill_params(const Route& route, const Parts& parts,
                         std::vector<std::pair<std::string, std::string>>& params) {
  params.clear();
  std::size_t i = 0;
  for (const Segment& seg : route.segments) {
    if (seg.kind == Segment::Kind::wildcard) {
      // The rest of the path, as sent (without its leading '/').
      std::string rest;
      for (std::size_t j = i; j < parts.size(); ++j) {
        if (j > i) rest += '/';
        rest.append(parts[j]);
      }
      params.emplace_back(seg.text, percent_decode(rest, false).value_or(rest));
      return;
    }
    if (seg.kind == Segment::Kind::param) {
      params.emplace_back(seg.text, percent_decode(parts[i], false).value_or(std::string(parts[i])));
    }
    ++i;
  }
}

const Router::Route* Router::best(std::string_view method, const Parts& parts, std::string* allow) const {
  const Route* chosen = nullptr;
  for (const Route& route : routes_) {
    bool method_ok = route.method == method || (method == "HEAD" && route.method == "GET");
    if (!method_ok || !matches(route, parts)) continue;
    // The most specific wins; at equal specificity an exact method beats
    // GET standing in for HEAD, then the first added.
    if (chosen == nullptr || more_specific(route, *chosen) ||
        (!more_specific(*chosen, route) && route.method == method && chosen->method != method)) {
      chosen = &route;
    }
  }
  if (chosen != nullptr || allow == nullptr) return chosen;
  // No route: which methods does the path have (for 405 and OPTIONS)?
  std::vector<std::string_view> methods;
  for (const Route& route : routes_) {
    if (matches(route, parts) && std::find(methods.begin(), methods.end(), route.method) == methods.end()) {
      methods.push_back(route.method);
    }
  }
  if (std::find(methods.begin(), methods.end(), "GET") != methods.end() &&
      std::find(methods.begin(), methods.end(), "HEAD") == methods.end()) {
    methods.push_back("HEAD");
  }
  if (!methods.empty() && std::find(methods.begin(), methods.end(), "OPTIONS") == methods.end()) {
    methods.push_back("OPTIONS");
  }
  allow->clear();
  for (auto m : methods) {
    if (!allow->empty()) *allow += ", ";
    *allow += m;
  }
  return nullptr;
}

const Router::Route* Router::find(std::string_view method, std::string_view path, std::string* allow,
                                  const Parts** parts) const {
  if (parts != nullptr) *parts = nullptr;
  if (const Route* literal = exact(method, path)) return literal;
  const Parts& split = split_path(path);
  if (parts != nullptr) *parts = &split;
  return best(method, split, allow);
}

int Router::check(const HttpRequest& request) const {
  // Must agree with handle(): "OPTIONS *" and OPTIONS on a known path are
  // answered by the router itself (204 with Allow), so they are taken.
  if (request.target == "*") return request.method == "OPTIONS" ? 0 : 400;
  std::string allow;
  if (find(request.method, request.path(), &allow) != nullptr) return 0;
  if (allow.empty()) return 404;
  return request.method == "OPTIONS" ? 0 : 405;
}

bool Router::streams_body(const HttpRequest& request) const {
  const Route* route = find(request.method, request.path(), nullptr);
  return route != nullptr && route->options.stream_body;
}

void Router::handle(HttpRequest& request, ResponseWriter response) {
  // A literal route (the usual request) by its hash alone, before anything
  // a miss needs is made (tools/profile: about 25 instructions a request).
  std::string_view path = request.path();
  if (const Route* literal = exact(request.method, path)) {
    dispatch(*literal, nullptr, request, std::move(response));
    return;
  }
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
  std::string allow;
  const Parts& parts = split_path(path);
  if (const Route* route = best(request.method, parts, &allow)) {
    dispatch(*route, &parts, request, std::move(response));
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

void Router::dispatch(const Route& route, const Parts* parts, HttpRequest& request, ResponseWriter response) {
  if (parts != nullptr) fill_params(route, *parts, request.params);
  // The codec streams only a body that follows, and only when told the
  // route streams it: a streamed route's handler gets a stream whatever
  // the request's shape (with the body, when it was read whole).
  if (route.options.stream_body && !request.body_stream) {
    request.body_stream = HttpBodyStream::finished(std::move(request.body));
    request.body.clear();
  }
  route.handler->handle(request, std::move(response));
}

}  // namespace sluice
