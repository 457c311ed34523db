#pragma once
// Middleware that ships with sluice. Each is a class: construct it with its
// options and add it with HttpServer::use (outermost first). All are safe to
// share between loops.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "sluice/http/http_handler.hpp"

namespace spdlog {
class logger;
}

namespace sluice {

/// One line per request in the combined log format plus the duration, to the
/// spdlog logger "access" (created on first use; replace it to route lines).
///   127.0.0.1 - - [23/Nov/2026:16:00:00 +0000] "GET /a HTTP/1.1" 200 13 "-" "curl/7.88" 0.143ms
class AccessLog final : public Middleware {
 public:
  AccessLog();
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override;

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

/// Gives each request an id: the client's X-Request-Id when it is a sane
/// token (at most 64 of [A-Za-z0-9-_.]), else a new one. Handlers see it in
/// the request headers; the response carries it back.
class RequestId final : public Middleware {
 public:
  explicit RequestId(std::string header = "X-Request-Id");
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override;

 private:
  std::string header_;
  std::string prefix_;  // random per process, so ids from restarts do not collide
};

/// Answers 503 when the handler has not answered within `timeout_ms` (a
/// later answer from the handler is then dropped).
class RequestTimeout final : public Middleware {
 public:
  explicit RequestTimeout(std::uint64_t timeout_ms) : timeout_ms_(timeout_ms) {}
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override;

 private:
  std::uint64_t timeout_ms_;
};

/// A token bucket per client address: `per_second` requests a second on
/// average, bursts up to `burst`; beyond it 429 with Retry-After. At most
/// `max_clients` buckets are kept (the idlest are forgotten first), so a
/// flood of addresses cannot grow memory without bound. The buckets are
/// sharded by address, each shard with its own short lock.
class RateLimit final : public Middleware {
 public:
  struct Options {
    double per_second = 100;
    double burst = 200;
    std::size_t max_clients = 100'000;
  };
  explicit RateLimit(Options options);
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override;
  /// Takes a token for `client` at time `now`; returns 0 when allowed, else
  /// the seconds to wait. (The clock is a parameter for tests.)
  double take(const std::string& client, std::chrono::steady_clock::time_point now);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
  };
  Options options_;
  std::array<Shard, 16> shards_;
};

/// Cross-origin resource sharing: answers preflight requests (OPTIONS with
/// Origin and Access-Control-Request-Method) with 204 and adds
/// Access-Control-Allow-Origin to responses for allowed origins (and
/// "Vary: Origin" to every response when the grant is not a constant "*").
class Cors final : public Middleware {
 public:
  struct Options {
    std::vector<std::string> allowed_origins{"*"};  // "*" allows any origin
    std::string allowed_methods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
    std::string allowed_headers = "Content-Type, Authorization, X-Request-Id";
    std::string exposed_headers{};
    bool allow_credentials = false;
    std::uint64_t max_age_seconds = 600;
  };
  explicit Cors(Options options);
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override;

 private:
  bool allowed(std::string_view origin) const;
  Options options_;
};

/// Turns an exception thrown (synchronously) by anything after it into an
/// answer: an HttpError into its status and message, anything else into a
/// bare 500 (the exception's text goes to the log, never to the client).
class Recover final : public Middleware {
 public:
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override;
};

}  // namespace sluice
