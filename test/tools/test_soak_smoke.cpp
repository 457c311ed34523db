// tools/soak --smoke against this build's sluice-http and sluice-ws: 40
// seconds of every kind of client at once. The tool's own verdict must be
// PASS (no failure but the closes slow clients earn, every kind covered,
// RSS and descriptors flat after the warm-up, both servers exit 0 on
// SIGTERM); here the summary's table is read back too, so that a kind the
// tool silently stopped running fails the test. It checks that nothing
// broke, never a speed.

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/sanitizers.hpp"
#include "support/temp_dir.hpp"

using sluice::test::ProcessResult;
using sluice::test::read_file;
using sluice::test::run_process;
using sluice::test::TempDir;

namespace {

namespace fs = std::filesystem;

struct KindTotals {
  long done = 0;
  long earned = 0;
  long failed = 0;
};

/// The summary's "kind done earned failed" rows.
std::map<std::string, KindTotals> read_kinds(const std::string& summary) {
  std::map<std::string, KindTotals> kinds;
  std::regex row(R"(^([a-z-]+) +([0-9]+) +([0-9]+) +([0-9]+)$)");
  std::istringstream lines(summary);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, row)) kinds[m[1]] = {std::stol(m[2]), std::stol(m[3]), std::stol(m[4])};
  }
  return kinds;
}

}  // namespace

TEST_CASE("tools/soak --smoke: every kind of client at once, nothing fails, memory and descriptors flat",
          "[tools][soak]") {
  // The Debian Python: the tool needs python3-websockets.
  const std::string python = "/usr/bin/python3";
  REQUIRE(fs::exists(python));
  REQUIRE(!sluice::test::find_in_path("taskset").empty());
  const fs::path build = fs::path(SLUICE_HTTP_BINARY).parent_path().parent_path();
  TempDir out("sluice-soak-smoke");

  // 40 s of load; a sanitizer build is slow to start and stop, so the deadline is generous.
  std::vector<std::string> args{python, std::string(SLUICE_SOURCE_ROOT) + "/tools/soak", "--smoke", "--build",
                                build.string(), "--out", out.path().string()};
#ifdef SLUICE_TEST_TSAN
  // ThreadSanitizer's shadow memory grows with every byte the server
  // touches: RSS says nothing about what it keeps there (descriptors still do).
  args.push_back("--no-rss-check");
#endif
  ProcessResult r = run_process(args, std::chrono::seconds(300), std::chrono::seconds(60));
  INFO("tools/soak: " << r.describe() << "\n--- stdout\n" << r.out << "\n--- stderr\n" << r.err);
  CHECK(r.exited_zero());
  const std::string summary = read_file(out.path() / "summary.txt");
  REQUIRE(!summary.empty());
  CHECK(summary.find("\nPASS") != std::string::npos);
  // A sanitizer build of the samples reports in their own logs.
  for (const char* server : {"sluice-http", "sluice-ws"}) {
    INFO(server << ".log");
    CHECK(sluice::test::sanitizer_report(read_file(out.path() / (std::string(server) + ".log"))).empty());
  }

  auto kinds = read_kinds(summary);
  for (const char* kind : {"keepalive", "pipelined", "churn", "upload", "slowreader", "idle", "ws-idle", "ws-echo",
                           "ws-push", "publish"}) {
    INFO(kind);
    CHECK(kinds[kind].done > 0);
    CHECK(kinds[kind].failed == 0);
  }
  for (const char* kind : {"slowloris", "idle", "ws-stuck"}) {
    INFO(kind << " (a close it earns)");
    CHECK(kinds[kind].earned > 0);
    CHECK(kinds[kind].failed == 0);
  }
  // One sample a second.
  std::istringstream csv(read_file(out.path() / "samples.csv"));
  std::size_t rows = 0;
  for (std::string line; std::getline(csv, line);) rows += line.empty() ? 0 : 1;
  CHECK(rows >= 30);
}
