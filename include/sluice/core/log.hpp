#pragma once
// The library's logger. Everything sluice logs goes through the spdlog logger
// named "sluice"; applications may replace it (spdlog::register_logger) or
// change its level. Nothing is logged per request or per read at info level.

#include <spdlog/spdlog.h>

namespace sluice {

/// The "sluice" logger (created on first use; thread safe).
spdlog::logger& log();

}  // namespace sluice
