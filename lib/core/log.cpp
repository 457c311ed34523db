#include "sluice/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace sluice {

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("sluice")) return existing;
    auto created = spdlog::stderr_color_mt("sluice");
    return created;
  }();
  return *logger;
}

}  // namespace sluice
