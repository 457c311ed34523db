// tools/bench --smoke against the sample server of this build: every smoke
// run must happen and sluice must answer every request with a 2xx. It checks
// that everything ran, never a speed: in the sanitizer build sluice is many
// times slower, and CI machines are shared.

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using sluice::test::find_in_path;
using sluice::test::ProcessResult;
using sluice::test::read_file;
using sluice::test::run_process;
using sluice::test::TempDir;

namespace {

namespace fs = std::filesystem;

// What --smoke runs (tools/bench: WORKLOADS, and --smoke's server list).
// Spelled out so that a workload the tool silently drops fails the test.
const std::vector<std::string> kWorkloads{"plaintext", "pipeline16", "json", "conn1000", "post4k"};
const std::vector<std::string> kServers{"sluice", "ceiling"};



std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, separator)) cells.push_back(cell);
  return cells;
}

std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

/// The report's markdown table: {(workload, server): req/s as printed}.
std::map<std::pair<std::string, std::string>, std::string> table_rps(const std::string& report) {
  std::map<std::pair<std::string, std::string>, std::string> rps;
  std::istringstream lines(report);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("| ", 0) != 0) continue;
    auto cells = split(line.substr(1), '|');  // | workload | server | req/s | ...
    if (cells.size() < 3 || trim(cells[0]) == "workload") continue;
    rps[{trim(cells[0]), trim(cells[1])}] = trim(cells[2]);
  }
  return rps;
}

/// "12,345" -> 12345; -1 when it is not a number.
double parse_rate(std::string text) {
  std::erase(text, ',');
  try {
    std::size_t used = 0;
    double value = std::stod(text, &used);
    return used == text.size() ? value : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

/// A CSV file with a header line (no quoting: tools/bench writes none) as
/// one {column: value} map per row.
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& path) {
  std::istringstream lines(read_file(path));
  std::string line;
  std::vector<std::map<std::string, std::string>> rows;
  if (!std::getline(lines, line)) return rows;
  auto header = split(line, ',');
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto cells = split(line, ',');
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i) {
      std::string column = header[i];
      if (!column.empty() && column.back() == '\r') column.pop_back();
      row[column] = cells[i];
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

/// The tools the smoke run needs; it installs none, so a missing one fails
/// here with the reason rather than somewhere inside the run.
std::string require_tool(const std::string& name) {
  std::string path = find_in_path(name);
  if (path.empty()) FAIL(name << " is not on PATH: tools/setup installs what tools/bench --smoke needs");
  return path;
}

}  // namespace

TEST_CASE("tools/bench --smoke runs every workload against sluice and the ceiling server", "[tools][bench]") {
  std::string python = require_tool("python3");
  require_tool("wrk");
  require_tool("cc");
  require_tool("taskset");
  TempDir out("sluice-bench-smoke");
  const fs::path logs = out.path() / "logs";

  // The generous deadline is for the sanitizer build on a busy machine; a run
  // normally takes under a minute. The grace outlasts the tool's own SIGTERM
  // grace for the server it is running, so that server is stopped, not orphaned.
  ProcessResult r = run_process({python, std::string(SLUICE_SOURCE_ROOT) + "/tools/bench", "--smoke", "--sluice-binary",
                                 SLUICE_HTTP_BINARY, "--out", out.path().string()},
                                std::chrono::seconds(300), std::chrono::seconds(60));
  INFO("tools/bench: " << r.describe() << "\n--- stdout\n" << r.out << "\n--- stderr\n" << r.err);
  INFO("--- logs/wrk.log\n" << read_file(logs / "wrk.log"));
  INFO("--- logs/sluice.log\n" << read_file(logs / "sluice.log"));
  REQUIRE(r.exited_zero());

  // The report's table: a positive rate for each server and workload.
  auto rps = table_rps(r.out);
  for (const auto& workload : kWorkloads) {
    for (const auto& server : kServers) {
      INFO("table: " << workload << " " << server);
      REQUIRE(rps.count({workload, server}) == 1);
      CHECK(parse_rate(rps[{workload, server}]) > 0);
    }
  }
  CHECK(rps.size() == kWorkloads.size() * kServers.size());

  // runs.csv: one run per server and workload, and none of sluice's had errors.
  auto rows = read_csv(out.path() / "runs.csv");
  CHECK(rows.size() == kWorkloads.size() * kServers.size());
  for (const auto& workload : kWorkloads) {
    for (const auto& server : kServers) {
      INFO("runs.csv: " << workload << " " << server);
      std::vector<std::map<std::string, std::string>> runs;
      for (const auto& row : rows) {
        if (row.at("workload") == workload && row.at("server") == server) runs.push_back(row);
      }
      REQUIRE(runs.size() == 1);
      CHECK(std::stoull(runs[0].at("requests")) > 0);
      // Connect, read and write errors, timeouts and non-2xx answers, summed.
      if (server == "sluice") CHECK(runs[0].at("errors") == "0");
    }
  }

  CHECK(read_csv(out.path() / "summary.csv").size() == kWorkloads.size() * kServers.size());
  if (find_in_path("gnuplot").empty()) {
    WARN("gnuplot is not installed (tools/setup installs gnuplot-nox): no chart to check");
  } else {
    CHECK(fs::exists(out.path() / "rps.png"));
  }
}
