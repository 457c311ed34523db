#include "sluice/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace sluice {

namespace {

// The levels configure_logging named, for loggers made after it ran.
struct NamedLevels {
  std::mutex mutex;
  std::map<std::string, spdlog::level::level_enum, std::less<>> levels;
};

NamedLevels& named_levels() {
  static NamedLevels named;
  return named;
}

spdlog::level::level_enum parse_level(std::string_view text) {
  std::string name(text);
  auto level = spdlog::level::from_str(name);
  if (level == spdlog::level::off && name != "off") {
    throw std::invalid_argument("unknown log level \"" + name + "\" (trace, debug, info, warn, err, critical, off)");
  }
  return level;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// "LEVEL" or "LEVEL,NAME=LEVEL,...", as spdlog's SPDLOG_LEVEL. Everything is
// checked before anything is applied.
struct LevelSpec {
  std::optional<spdlog::level::level_enum> bare;
  std::map<std::string, spdlog::level::level_enum, std::less<>> named;
};

LevelSpec parse_level_spec(std::string_view text) {
  LevelSpec spec;
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view item = trimmed(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      spec.bare = parse_level(item);
    } else {
      std::string_view name = trimmed(item.substr(0, eq));
      if (name.empty()) throw std::invalid_argument("log level \"" + std::string(item) + "\" names no logger");
      spec.named[std::string(name)] = parse_level(trimmed(item.substr(eq + 1)));
    }
  }
  return spec;
}

}  // namespace

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("sluice")) return existing;
    auto created = spdlog::stderr_color_mt("sluice");
    return created;
  }();
  return *logger;
}

void configure_logging(const LogOptions& options) {
  LevelSpec spec = parse_level_spec(options.level);  // throws before anything changed
  spdlog::logger& sluice_logger = log();
  if (spec.bare) {
    sluice_logger.set_level(*spec.bare);
    if (auto fallback = spdlog::default_logger()) fallback->set_level(*spec.bare);
  }
  for (const auto& [name, level] : spec.named) {
    if (auto logger = spdlog::get(name)) logger->set_level(level);
  }
  if (!spec.named.empty()) {
    NamedLevels& named = named_levels();
    std::lock_guard<std::mutex> lock(named.mutex);
    for (const auto& [name, level] : spec.named) named.levels[name] = level;
  }
  if (!options.pattern.empty()) {
    sluice_logger.set_pattern(options.pattern);
    if (auto fallback = spdlog::default_logger()) fallback->set_pattern(options.pattern);
  }
}

std::string log_level_from_env() {
  const char* value = std::getenv("SLUICE_LOG_LEVEL");
  return value != nullptr ? std::string(value) : std::string();
}

namespace detail {

spdlog::level::level_enum configured_level(std::string_view name, spdlog::level::level_enum fallback) {
  NamedLevels& named = named_levels();
  std::lock_guard<std::mutex> lock(named.mutex);
  auto it = named.levels.find(name);
  return it != named.levels.end() ? it->second : fallback;
}

}  // namespace detail

}  // namespace sluice
