#pragma once
// The logging flags every HTTP sample takes (their help text: kLoggingUsage):
// the "sluice" logger's level and pattern, the access log's destination,
// rotation and format, and W3C trace context.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/flags.hpp"
#include "sluice/core/log.hpp"
#include "sluice/http/http_server.hpp"

namespace sluice::cli {

inline constexpr const char* kLoggingUsage = R"(Logging:
  --log-level LEVEL           trace, debug, info (default), warn, err, critical
                              or off; or a list in spdlog's SPDLOG_LEVEL syntax,
                              "warn,sluice=debug,access=off" (a bare level never
                              silences the access log: name it, access=off).
                              Default: $SLUICE_LOG_LEVEL, same syntax; the flag wins
  --log-pattern PATTERN       spdlog pattern of the log lines (stderr), e.g.
                              "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v"
  --access-log[=FILE]         log each answer, the server's own refusals (400,
                              408, 413, 414, 431, 501, 503, 505) included: to
                              stdout, or to FILE through a queue and a thread
                              of its own (a slow disk never holds up a loop;
                              when the queue is full the oldest line is dropped)
  --access-log-file FILE      the same as --access-log=FILE
  --access-log-max-mb N       rotate FILE when it would grow beyond N MiB (default 100)
  --access-log-files N        rotated files kept beside FILE (default 5):
                              access.log -> access.1.log -> ... -> access.N.log
  --access-log-format F       combined (default: the combined log format plus
                              the duration) or json (one object a line)
  --trace-context             take the request's W3C traceparent (or make one),
                              answer with it (this server's span id), log it,
                              and give each request an X-Request-Id (the
                              client's, else the trace id)
)";

/// What the logging flags say; apply() puts it into effect.
struct LoggingFlags {
  LogOptions log{};
  bool access_log = false;
  AccessLogOptions access{};
  bool trace_context = false;

  /// Takes `flag` (and its value) if it is a logging flag.
  bool take(Flags& flags, const std::string& flag) {
    if (flag == "--log-level") {
      log.level = flags.value();
    } else if (flag == "--log-pattern") {
      log.pattern = flags.value();
    } else if (flag == "--access-log") {
      access_log = true;
    } else if (flag.starts_with("--access-log=")) {
      access_log = true;
      access.file = flag.substr(13);
      if (access.file.empty()) flags.fail("--access-log=FILE: an empty file name");
    } else if (flag == "--access-log-file") {
      access_log = true;
      access.file = flags.value();
    } else if (flag == "--access-log-max-mb") {
      access.max_file_bytes = std::max<std::uint64_t>(1, flags.number(1 << 20)) * 1024 * 1024;
    } else if (flag == "--access-log-files") {
      access.max_files = flags.number(10'000);
    } else if (flag == "--access-log-format") {
      std::string format = flags.value();
      if (format == "combined") {
        access.format = AccessLogOptions::Format::combined;
      } else if (format == "json") {
        access.format = AccessLogOptions::Format::json;
      } else {
        flags.fail("--access-log-format: combined or json, not " + format);
      }
    } else if (flag == "--trace-context") {
      trace_context = true;
    } else {
      return false;
    }
    return true;
  }

  /// Configures the loggers (the flag's level, else $SLUICE_LOG_LEVEL) and
  /// the server's options; a bad level is a usage error.
  void apply(Flags& flags, HttpServerOptions& options) {
    LogOptions effective = log;
    if (effective.level.empty()) effective.level = log_level_from_env();
    try {
      configure_logging(effective);
    } catch (const std::invalid_argument& e) {
      flags.fail(std::string(log.level.empty() ? "SLUICE_LOG_LEVEL: " : "--log-level: ") + e.what());
    }
    options.access_log = access_log;
    options.access_log_options = access;
    options.trace_context = trace_context;
  }

  /// The middleware the flags ask for beyond HttpServerOptions: with
  /// --trace-context, RequestId (inside TraceContext, so the id is the
  /// trace id unless the client gave one).
  void use_middleware(HttpServer& server) const {
    if (trace_context) server.use(std::make_shared<RequestId>());
  }
};

}  // namespace sluice::cli
