#include "sluice/http/middleware.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
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

// RFC 3339 in UTC with milliseconds, as log shippers parse it.
std::string iso_time() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms));
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

nlohmann::json string_or_null(std::optional<std::string_view> v) {
  if (!v || v->empty()) return nullptr;
  return std::string(*v);
}

// The request's traceparent when it has exactly one valid one.
std::optional<TraceParent> trace_of(const HttpRequest& r) {
  if (r.headers.count("traceparent") != 1) return std::nullopt;
  return TraceParent::parse(*r.headers.get("traceparent"));
}

// One access-log line. A refused request may lack its method and target
// (the connection refused it before reading them): "-" / null then.
std::string format_line(const AccessLogOptions& options, const HttpRequest& r, int status, std::size_t bytes,
                        double ms) {
  bool known = !r.target.empty();
  if (options.format == AccessLogOptions::Format::json) {
    auto trace = trace_of(r);
    nlohmann::json line{
        {"time", iso_time()},
        {"remote", r.remote_address.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.remote_address.host())},
        {"method", known ? nlohmann::json(std::string(r.method)) : nlohmann::json(nullptr)},
        {"target", known ? nlohmann::json(r.target) : nlohmann::json(nullptr)},
        {"protocol", "HTTP/" + std::to_string(r.version_major) + "." + std::to_string(r.version_minor)},
        {"status", status},
        {"bytes", bytes},
        {"referer", string_or_null(r.headers.get("Referer"))},
        {"user_agent", string_or_null(r.headers.get("User-Agent"))},
        {"duration_ms", ms >= 0 ? nlohmann::json(std::round(ms * 1000) / 1000) : nlohmann::json(nullptr)},
        {"request_id", string_or_null(r.headers.get("X-Request-Id"))},
        {"trace_id", trace ? nlohmann::json(trace->trace_id) : nlohmann::json(nullptr)},
        {"span_id", trace ? nlohmann::json(trace->parent_id) : nlohmann::json(nullptr)},
    };
    // A client's bytes need not be UTF-8: replaced, never a throw.
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  // No peer address (a socket-free channel): "-", as for any absent field.
  std::string host = r.remote_address.empty() ? std::string("-") : r.remote_address.host();
  std::string request_line =
      known ? fmt::format("{} {} HTTP/{}.{}", r.method, r.target, r.version_major, r.version_minor) : "-";
  std::string duration = ms >= 0 ? fmt::format("{:.3f}ms", ms) : "-";
  std::string line =
      fmt::format("{} - - [{}] \"{}\" {} {} \"{}\" \"{}\" {}", host, clf_time(), request_line, status, bytes,
                  quoted_or_dash(r.headers.get("Referer")), quoted_or_dash(r.headers.get("User-Agent")), duration);
  if (options.trace) {
    auto trace = trace_of(r);
    line += trace ? " \"" + trace->to_string() + "\"" : std::string(" \"-\"");
  }
  return line;
}
}  // namespace

// A file's writer: spdlog's asynchronous logger on a thread pool of its own
// (one thread, a bounded queue that overruns its oldest line) in front of a
// rotating file sink. One per path in a process (two rotating sinks on one
// file would rotate it under each other), alive while an AccessLog uses it.
struct AccessLog::FileWriter {
  std::shared_ptr<spdlog::details::thread_pool> pool;  // the async logger holds it weakly
  std::shared_ptr<spdlog::async_logger> logger;

  // The writer's thread finishes the queue and is joined first: only then
  // do the logger and its file go (in the other order the thread may still
  // be writing, and ThreadSanitizer cannot see the reference counts inside
  // the uninstrumented libspdlog that would order it). Blocks until the
  // queue is written: when the last AccessLog of this file goes.
  ~FileWriter() { pool.reset(); }

  static std::shared_ptr<FileWriter> open(const AccessLogOptions& options) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<FileWriter>> open_files;
    std::lock_guard<std::mutex> lock(mutex);
    if (auto existing = open_files[options.file].lock()) return existing;
    auto writer = std::make_shared<FileWriter>();
    writer->pool = std::make_shared<spdlog::details::thread_pool>(std::max<std::size_t>(1, options.queue_lines), 1);
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        options.file, std::max<std::size_t>(1, options.max_file_bytes), options.max_files);
    writer->logger = std::make_shared<spdlog::async_logger>("access", std::move(sink), writer->pool,
                                                            spdlog::async_overflow_policy::overrun_oldest);
    writer->logger->set_pattern("%v");
    // Each line reaches the file as the writer's thread takes it (a reader
    // tailing the file sees it at once); the loops never wait for that.
    writer->logger->flush_on(spdlog::level::info);
    writer->logger->set_level(detail::configured_level("access", spdlog::level::info));
    open_files[options.file] = writer;
    return writer;
  }
};

AccessLog::AccessLog() : AccessLog(AccessLogOptions{}) {}

AccessLog::AccessLog(AccessLogOptions options) : options_(std::move(options)) {
  if (!options_.file.empty()) {
    file_ = FileWriter::open(options_);
    logger_ = file_->logger;
    return;
  }
  logger_ = spdlog::get("access");
  if (!logger_) {
    try {
      logger_ = spdlog::stdout_logger_mt("access");
      logger_->set_pattern("%v");
      logger_->set_level(detail::configured_level("access", spdlog::level::info));
    } catch (const spdlog::spdlog_ex&) {
      logger_ = spdlog::get("access");  // another thread made it first
    }
  }
}

AccessLog::~AccessLog() = default;

void AccessLog::handle(HttpRequest& request, ResponseWriter response, const Next& next) {
  auto start = std::chrono::steady_clock::now();
  HttpRequest* r = &request;  // alive until the answer is complete
  // `this` outlives the hook: the server's application holds this
  // middleware for as long as any of its connections can answer.
  response.after_send([this, r, start](int status, std::size_t bytes) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    record(*r, status, bytes, ms);
  });
  next(request, std::move(response));
}

void AccessLog::record(const HttpRequest& request, int status, std::size_t body_bytes, double duration_ms) const {
  if (!logger_->should_log(spdlog::level::info)) return;
  logger_->info(format_line(options_, request, status, body_bytes, duration_ms));
}

std::size_t AccessLog::dropped_lines() const { return file_ ? file_->pool->overrun_counter() : 0; }

void AccessLog::flush() const { logger_->flush(); }

// ---- TraceContext ----

namespace {
bool lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool all_zero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

// `bytes` random bytes as lowercase hex, never all zero.
std::string random_hex(std::size_t bytes) {
  thread_local std::mt19937_64 engine{[] {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seed);
  }()};
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes * 2, '0');
  do {
    for (std::size_t i = 0; i < bytes; i += 8) {
      std::uint64_t v = engine();
      for (std::size_t j = 0; j < 8 && i + j < bytes; ++j) {
        out[2 * (i + j)] = kDigits[(v >> (8 * j + 4)) & 0xf];
        out[2 * (i + j) + 1] = kDigits[(v >> (8 * j)) & 0xf];
      }
    }
  } while (all_zero(out));
  return out;
}
}  // namespace

std::optional<TraceParent> TraceParent::parse(std::string_view text) {
  // version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 = 55.
  constexpr std::size_t kLength = 55;
  if (text.size() < kLength) return std::nullopt;
  std::string_view version = text.substr(0, 2);
  if (!lower_hex(version) || version == "ff") return std::nullopt;
  // Version 00 is exactly 55 characters; a later one may add fields after a dash.
  if (version == "00" ? text.size() != kLength : (text.size() > kLength && text[kLength] != '-')) {
    return std::nullopt;
  }
  if (text[2] != '-' || text[35] != '-' || text[52] != '-') return std::nullopt;
  std::string_view trace_id = text.substr(3, 32);
  std::string_view parent_id = text.substr(36, 16);
  std::string_view flags = text.substr(53, 2);
  if (!lower_hex(trace_id) || all_zero(trace_id) || !lower_hex(parent_id) || all_zero(parent_id) || !lower_hex(flags)) {
    return std::nullopt;
  }
  return TraceParent{std::string(trace_id), std::string(parent_id), std::string(flags)};
}

std::string TraceParent::to_string() const { return "00-" + trace_id + "-" + parent_id + "-" + flags; }

void TraceContext::handle(HttpRequest& request, ResponseWriter response, const Next& next) {
  std::optional<TraceParent> given = trace_of(request);
  TraceParent ours;
  if (given) {
    ours.trace_id = std::move(given->trace_id);
    ours.flags = std::move(given->flags);
  } else {
    // Invalid or absent: a new trace, and a tracestate of the old one means nothing.
    request.headers.remove("tracestate");
    ours.trace_id = random_hex(16);
    ours.flags = "00";
  }
  ours.parent_id = random_hex(8);  // this server's span
  std::string header = ours.to_string();
  request.headers.set("traceparent", header);
  response.before_send([header = std::move(header)](HttpResponse& r) { r.headers.set("traceparent", header); });
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
    if (auto trace = trace_of(request)) {
      id = std::move(trace->trace_id);
    } else {
      id = prefix_ + "-" + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
    }
    request.headers.set(header_, id);
  }
  response.before_send([header = header_, id](HttpResponse& r) { r.headers.set(header, id); });
  next(request, std::move(response));
}

// ---- RequestTimeout ----

void RequestTimeout::handle(HttpRequest& request, ResponseWriter response, const Next& next) {
  response.at_deadline_plain(timeout_ms_, [](const ResponseWriter& late) {
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
