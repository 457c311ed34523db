#pragma once
// Middleware that ships with sluice. Each is a class: construct it with its
// options and add it with HttpServer::use (outermost first). All are safe to
// share between loops.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/http/http_handler.hpp"

namespace spdlog {
class logger;
}

namespace sluice {

/// Where the access log goes and what its lines look like.
struct AccessLogOptions {
  enum class Format { combined, json };
  /// Empty: stdout, through the spdlog logger "access" (synchronous, made on
  /// first use; register your own "access" logger to route the lines).
  /// Otherwise this file, written by a thread of its own through a bounded
  /// queue, so a slow disk never blocks a loop; rotated by size (spdlog's
  /// rotating_file_sink: "access.log" -> "access.1.log" -> ...). Every
  /// AccessLog of a process writing one path shares one writer.
  std::string file;
  std::size_t max_file_bytes = 100 * 1024 * 1024;  // a file is rotated before it grows beyond this
  std::size_t max_files = 5;                       // rotated files kept beside the current one
  /// Lines waiting for the file's writer; when it is full the OLDEST waiting
  /// line is dropped (spdlog's overrun_oldest: a loop never waits), and
  /// counted (AccessLog::dropped_lines).
  std::size_t queue_lines = 8192;
  Format format = Format::combined;
  /// combined: each line ends with the request's traceparent, quoted ("-"
  /// when it has no valid one). JSON lines always carry trace_id and span_id.
  bool trace = false;
};

/// One line per answer, to stdout or a rotating file (AccessLogOptions).
/// combined: the combined log format plus the duration (and, with `trace`,
/// the traceparent):
///   127.0.0.1 - - [23/Nov/2026:16:00:00 +0000] "GET /a HTTP/1.1" 200 13 "-" "curl/7.88" 0.143ms
/// json: one object a line (for log shippers), every field always present:
///   {"time":"2026-11-23T16:00:00.123Z","remote":"127.0.0.1","method":"GET","target":"/a",
///    "protocol":"HTTP/1.1","status":200,"bytes":13,"referer":null,"user_agent":"curl/7.88",
///    "duration_ms":0.143,"request_id":null,"trace_id":"4bf9...","span_id":"00f0..."}
/// As middleware it sees the application's answers; HttpServer also feeds
/// it the connection's own refusals (record(), through
/// HttpCodecOptions::on_answered). Shared by every loop; thread safe.
class AccessLog final : public Middleware {
 public:
  AccessLog();  // stdout, combined
  explicit AccessLog(AccessLogOptions options);
  ~AccessLog() override;
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override;
  /// Logs an answer no middleware saw: the connection's refusal of
  /// `request` (400, 408, 413, 414, 417, 431, 501, 503, 505), whose method
  /// and target may be unknown ("-", null). duration_ms < 0: unknown ("-",
  /// null). Any thread.
  void record(const HttpRequest& request, int status, std::size_t body_bytes, double duration_ms) const;
  /// Lines the file's queue dropped since its writer started (0 for stdout).
  std::size_t dropped_lines() const;
  /// Writes out what is queued (asynchronously for a file). Any thread.
  void flush() const;

 private:
  struct FileWriter;
  AccessLogOptions options_;
  std::shared_ptr<FileWriter> file_;  // the file's queue and thread; null for stdout
  std::shared_ptr<spdlog::logger> logger_;
};

/// A W3C Trace Context traceparent (https://www.w3.org/TR/trace-context/):
///   00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
///   version-trace_id-parent_id-flags, lowercase hex.
struct TraceParent {
  std::string trace_id;   // 32 hex digits, not all zero
  std::string parent_id;  // 16 hex digits, not all zero
  std::string flags;      // 2 hex digits (01: sampled)
  /// Valid per the spec's version 00 rules, else nullopt. A later version
  /// is read by its first four fields (the spec's forward compatibility);
  /// version ff is invalid.
  static std::optional<TraceParent> parse(std::string_view text);
  std::string to_string() const;  // version 00
};

/// Gives each request a W3C trace context. A valid traceparent from the
/// client keeps its trace id and flags; an invalid one (and its tracestate)
/// is replaced, and an absent one made: a random trace id, flags 00 (sluice
/// records no spans, so it samples nothing). Either way the server takes a
/// new span id of its own, and the request's traceparent header becomes
/// trace_id-SPAN-flags, so handlers, a proxy passing it on, RequestId and
/// the access log all see the server's span; the response carries the
/// same traceparent. Ids come from a per-thread std::mt19937_64 seeded by
/// std::random_device: unique, not secret. Shared by every loop.
class TraceContext final : public Middleware {
 public:
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override;
};

/// Gives each request an id: the client's X-Request-Id when it is a sane
/// token (at most 64 of [A-Za-z0-9-_.]); else the trace id of the request's
/// valid traceparent (put TraceContext before RequestId, and every request
/// has one, so its id and its trace match in the logs); else a new one
/// (a random per-process prefix and a counter). Handlers see it in the
/// request headers; the response carries it back.
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
