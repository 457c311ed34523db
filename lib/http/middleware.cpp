#include "sluice/http/middleware.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <ctime>
#include <functional>
#include <random>

#include "sluice/core/event_loop.hpp"
#include "http_connection.hpp"
#include "http_metrics.hpp"
#include "sluice/core/log.hpp"

namespace sluice {

// ---- AccessLog ----

namespace {
std::string clf_time() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[40];
  std::strftime(text, sizeof text, "%d/%b/%Y:%H:%M:%S +0000", &tm);
  return text;
}

std::string quoted_or_dash(std::optional<std::string_view> v) {
  if (!v || v->empty()) return "-";
  std::string out;
  for (char c : *v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}
}  // namespace

AccessLog::AccessLog() {
  logger_ = spdlog::get("access");
  if (!logger_) {
    logger_ = spdlog::stdout_logger_mt("access");
    logger_->set_pattern("%v");
  }
}

void AccessLog::handle(HttpRequest& request, ResponseWriter response, const Next& next) {
  auto start = std::chrono::steady_clock::now();
  auto logger = logger_;
  HttpRequest* r = &request;  // alive until the answer is complete
  response.after_send([logger, r, start](int status, std::size_t bytes) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    // No peer address (a socket-free channel): "-", as for any absent field.
    std::string host = r->remote_address.empty() ? std::string("-") : r->remote_address.host();
    logger->info("{} - - [{}] \"{} {} HTTP/{}.{}\" {} {} \"{}\" \"{}\" {:.3f}ms", host, clf_time(),
                 r->method, r->target, r->version_major, r->version_minor, status, bytes,
                 quoted_or_dash(r->headers.get("Referer")), quoted_or_dash(r->headers.get("User-Agent")), ms);
  });
  next(request, std::move(response));
}

// ---- RequestId ----

RequestId::RequestId(std::string header) : header_(std::move(header)) {
  std::random_device rd;
  char text[17];
  std::snprintf(text, sizeof text, "%08x%08x", rd(), rd());
  prefix_ = text;
}

void RequestId::handle(HttpRequest& request, ResponseWriter response, const Next& next) {
  static std::atomic<std::uint64_t> counter{0};
  std::string id;
  if (auto given = request.headers.get(header_); given && !given->empty() && given->size() <= 64 &&
                                                  std::all_of(given->begin(), given->end(), [](char c) {
                                                    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                                                           c == '-' || c == '_' || c == '.';
                                                  })) {
    id = std::string(*given);
  } else {
    id = prefix_ + "-" + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
    request.headers.set(header_, id);
  }
  response.before_send([header = header_, id](HttpResponse& r) { r.headers.set(header, id); });
  next(request, std::move(response));
}

// ---- RequestTimeout ----

void RequestTimeout::handle(HttpRequest& request, ResponseWriter response, const Next& next) {
  response.at_deadline(timeout_ms_, [](const ResponseWriter& late) {
    if (late.answered()) return;
    if (EventLoop* loop = EventLoop::current()) {
      auto& metrics = detail::HttpMetrics::of(*loop);
      metrics.timed_out(detail::HttpMetrics::Timeout::request);
      metrics.refused(503);
    }
    late.send(HttpResponse::error(503, "Service Unavailable: the request timed out"));
  });
  next(request, std::move(response));
}

// ---- RateLimit ----

RateLimit::RateLimit(Options options) : options_(options) {}

double RateLimit::take(const std::string& client, std::chrono::steady_clock::time_point now) {
  Shard& shard = shards_[std::hash<std::string>{}(client) % shards_.size()];
  std::lock_guard<std::mutex> lock(shard.mutex);
  auto it = shard.buckets.find(client);
  if (it == shard.buckets.end()) {
    std::size_t shard_limit = std::max<std::size_t>(1, options_.max_clients / shards_.size());
    if (shard.buckets.size() >= shard_limit) {
      // Forget buckets that have refilled (they hold no debt), else the oldest.
      std::erase_if(shard.buckets, [&](const auto& kv) {
        double elapsed = std::chrono::duration<double>(now - kv.second.last).count();
        return kv.second.tokens + elapsed * options_.per_second >= options_.burst;
      });
      if (shard.buckets.size() >= shard_limit) {
        auto oldest = std::min_element(shard.buckets.begin(), shard.buckets.end(),
                                       [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
        shard.buckets.erase(oldest);
      }
    }
    it = shard.buckets.emplace(client, Bucket{options_.burst, now}).first;
  }
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(options_.burst, b.tokens + elapsed * options_.per_second);
  b.last = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return (1.0 - b.tokens) / options_.per_second;
}

void RateLimit::handle(HttpRequest& request, ResponseWriter response, const Next& next) {
  double wait = take(request.remote_address.host(), std::chrono::steady_clock::now());
  if (wait > 0) {
    auto seconds = static_cast<long>(std::ceil(wait));
    if (EventLoop* loop = EventLoop::current()) detail::HttpMetrics::of(*loop).refused(429);
    response.send(HttpResponse::error(429).header("Retry-After", std::to_string(std::max(1L, seconds))));
    return;
  }
  next(request, std::move(response));
}

// ---- Cors ----

Cors::Cors(Options options) : options_(std::move(options)) {}

bool Cors::allowed(std::string_view origin) const {
  for (const auto& o : options_.allowed_origins) {
    if (o == "*" || o == origin) return true;
  }
  return false;
}

void Cors::handle(HttpRequest& request, ResponseWriter response, const Next& next) {
  // With credentials the origin must be echoed, never "*".
  bool any = !options_.allow_credentials &&
             std::find(options_.allowed_origins.begin(), options_.allowed_origins.end(), "*") !=
                 options_.allowed_origins.end();
  auto origin = request.headers.get("Origin");
  if (!origin || !allowed(*origin)) {
    // The answer depends on Origin whenever it is not a constant "*": say so
    // here too, or a cache could hand this grant-less answer to an allowed
    // origin (Fetch, "CORS protocol and HTTP caches").
    if (!any) response.before_send([](HttpResponse& r) { r.headers.add("Vary", "Origin"); });
    next(request, std::move(response));
    return;
  }
  std::string allow_origin = any ? "*" : std::string(*origin);
  bool credentials = options_.allow_credentials;
  if (request.method == "OPTIONS" && request.headers.contains("Access-Control-Request-Method")) {
    HttpResponse preflight(204);
    preflight.header("Access-Control-Allow-Origin", allow_origin)
        .header("Access-Control-Allow-Methods", options_.allowed_methods)
        .header("Access-Control-Allow-Headers", options_.allowed_headers)
        .header("Access-Control-Max-Age", std::to_string(options_.max_age_seconds));
    if (credentials) preflight.header("Access-Control-Allow-Credentials", "true");
    if (!any) preflight.header("Vary", "Origin");
    response.send(std::move(preflight));
    return;
  }
  std::string exposed = options_.exposed_headers;
  response.before_send([allow_origin, credentials, exposed, any](HttpResponse& r) {
    r.headers.set("Access-Control-Allow-Origin", allow_origin);
    if (credentials) r.headers.set("Access-Control-Allow-Credentials", "true");
    if (!exposed.empty()) r.headers.set("Access-Control-Expose-Headers", exposed);
    if (!any) r.headers.add("Vary", "Origin");
  });
  next(request, std::move(response));
}

// ---- Recover ----

void Recover::handle(HttpRequest& request, ResponseWriter response, const Next& next) {
  try {
    next(request, response);
  } catch (...) {
    detail::answer_current_exception(request, response);
  }
}

}  // namespace sluice
