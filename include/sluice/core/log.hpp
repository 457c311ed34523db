#pragma once
// The library's logger. Everything sluice logs goes through the spdlog logger
// named "sluice"; applications may replace it (spdlog::register_logger) or
// change its level. Nothing is logged per request or per read at info level.
//
// Operators set levels and the line pattern with configure_logging (the
// samples: --log-level, --log-pattern, SLUICE_LOG_LEVEL). The access log
// (sluice/http/middleware.hpp) is a separate stream with its own switch: a
// bare level never silences it, only a level named for it ("access=off").

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace sluice {

/// The "sluice" logger (created on first use; thread safe).
spdlog::logger& log();

/// What configure_logging may change; an empty field leaves it as it is.
struct LogOptions {
  /// spdlog's level names (trace, debug, info, warn, err, critical, off) in
  /// the syntax of spdlog's SPDLOG_LEVEL: "debug", or a list such as
  /// "warn,sluice=debug,access=off". A bare level applies to the "sluice"
  /// logger and spdlog's default logger (the application's); NAME=LEVEL to
  /// the logger of that name, also when sluice makes it later (the access
  /// log's loggers are named "access").
  std::string level;
  /// An spdlog pattern (e.g. "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v") for the
  /// "sluice" logger and spdlog's default logger. Never the access log's,
  /// whose lines are the record itself.
  std::string pattern;
};

/// Applies `options` (any thread; meant for startup, before servers start).
/// Throws std::invalid_argument naming a level spdlog does not know (spdlog
/// itself would read a misspelt level as "off").
void configure_logging(const LogOptions& options);

/// SLUICE_LOG_LEVEL from the environment ("" when unset), in LogOptions::level's
/// syntax. spdlog's own SPDLOG_LEVEL is not read: one variable, one meaning.
std::string log_level_from_env();

namespace detail {
/// The level configure_logging named for logger `name`, else `fallback`:
/// for the loggers sluice makes after configuration (the access log's).
spdlog::level::level_enum configured_level(std::string_view name, spdlog::level::level_enum fallback);
}  // namespace detail

}  // namespace sluice
