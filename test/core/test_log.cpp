// configure_logging: levels in spdlog's SPDLOG_LEVEL syntax (a bare level,
// NAME=LEVEL for one logger, also one made later), patterns, a misspelt
// level refused before anything changes, and SLUICE_LOG_LEVEL.

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "sluice/core/log.hpp"

using namespace sluice;

namespace {

// Puts everything back as it was for the next test.
struct RestoreLogging {
  spdlog::level::level_enum sluice_level = log().level();
  std::shared_ptr<spdlog::logger> fallback = spdlog::default_logger();
  ~RestoreLogging() {
    log().set_level(sluice_level);
    log().set_pattern("%+");
    spdlog::set_default_logger(fallback);
    spdlog::drop("test-named");
    configure_logging({"test-named=info,test-later=info", ""});
  }
};

}  // namespace

TEST_CASE("configure_logging: a bare level sets the sluice logger and the default logger", "[log]") {
  RestoreLogging restore;
  configure_logging({"debug", ""});
  CHECK(log().level() == spdlog::level::debug);
  CHECK(spdlog::default_logger()->level() == spdlog::level::debug);
  configure_logging({"warn", ""});
  CHECK(log().level() == spdlog::level::warn);
  configure_logging({"off", ""});
  CHECK(log().level() == spdlog::level::off);
}

TEST_CASE("configure_logging: NAME=LEVEL sets that logger, now or when sluice makes it later", "[log]") {
  RestoreLogging restore;
  auto named = std::make_shared<spdlog::logger>("test-named");
  spdlog::register_logger(named);
  configure_logging({"info, test-named=err ,test-later=trace", ""});
  CHECK(log().level() == spdlog::level::info);
  CHECK(named->level() == spdlog::level::err);
  CHECK(detail::configured_level("test-later", spdlog::level::info) == spdlog::level::trace);
  CHECK(detail::configured_level("never-named", spdlog::level::warn) == spdlog::level::warn);
}

TEST_CASE("configure_logging: a level spdlog does not know is refused, and nothing changes", "[log]") {
  RestoreLogging restore;
  configure_logging({"info", ""});
  CHECK_THROWS_AS(configure_logging({"debug,sluice=verbose", ""}), std::invalid_argument);
  CHECK_THROWS_AS(configure_logging({"loud", ""}), std::invalid_argument);
  CHECK_THROWS_AS(configure_logging({"=debug", ""}), std::invalid_argument);
  CHECK(log().level() == spdlog::level::info);
  CHECK_THROWS_WITH(configure_logging({"infoo", ""}), Catch::Matchers::Contains("infoo"));
}

TEST_CASE("configure_logging: the pattern applies to the default logger's lines", "[log]") {
  RestoreLogging restore;
  std::ostringstream out;
  auto fallback =
      std::make_shared<spdlog::logger>("test-default", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
  spdlog::set_default_logger(fallback);
  configure_logging({"", "PATTERN[%l] %v"});
  spdlog::info("hello");
  CHECK(out.str() == "PATTERN[info] hello\n");
  configure_logging({"warn", ""});  // an empty pattern leaves it
  spdlog::info("hidden");
  spdlog::warn("shown");
  CHECK(out.str() == "PATTERN[info] hello\nPATTERN[warning] shown\n");
}

TEST_CASE("log_level_from_env: SLUICE_LOG_LEVEL, empty when unset", "[log]") {
  ::setenv("SLUICE_LOG_LEVEL", "debug,access=off", 1);
  CHECK(log_level_from_env() == "debug,access=off");
  ::unsetenv("SLUICE_LOG_LEVEL");
  CHECK(log_level_from_env().empty());
}
