// tools/ws-bench-compare --smoke against this build's sluice-ws and ws-bench:
// every test must run against sluice, no connection may be closed and no
// broadcast delivery lost. It checks that everything ran, never a speed.
// gorilla and node run too when they are installed; a missing one is skipped
// by the tool (loudly), which is not a failure here.

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
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

// tools/ws-bench-compare's TESTS, spelled out so that a test the tool
// silently drops fails here.
const std::vector<std::string> kTests{"echo64", "echo4k", "broadcast", "idle"};



std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, separator)) cells.push_back(cell);
  return cells;
}

/// The CSV's rows as {column: value}, up to its last plain column: the
/// ws_bench column (quoted JSON with commas) comes last and is not read.
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
    for (std::size_t i = 0; i < header.size() && i < cells.size() && header[i] != "ws_bench"; ++i) {
      row[header[i]] = cells[i];
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string require_tool(const std::string& name) {
  std::string path = find_in_path(name);
  if (path.empty()) FAIL(name << " is not on PATH: tools/setup installs what tools/ws-bench-compare needs");
  return path;
}

}  // namespace

TEST_CASE("tools/ws-bench-compare --smoke runs every test against sluice-ws", "[tools][bench]") {
  std::string python = require_tool("python3");
  require_tool("taskset");
  // sluice-ws and ws-bench are built beside the echo sample this test knows.
  const fs::path build = fs::path(SLUICE_ECHO_BINARY).parent_path().parent_path();
  const fs::path sluice_ws = build / "samples" / "sluice-ws";
  const fs::path ws_bench = build / "tools" / "ws-bench";
  REQUIRE(fs::exists(sluice_ws));
  REQUIRE(fs::exists(ws_bench));
  TempDir out("sluice-ws-bench-smoke");

  // A sanitizer build of sluice-ws is slow, and gorilla is built first when
  // Go is installed: the deadline is generous; the grace outlasts the tool's
  // own for the server it is running, so that server is stopped, not orphaned.
  ProcessResult r = run_process({python, std::string(SLUICE_SOURCE_ROOT) + "/tools/ws-bench-compare", "--smoke",
                                 "--sluice-binary", sluice_ws.string(), "--ws-bench", ws_bench.string(), "--out",
                                 out.path().string()},
                                std::chrono::seconds(300), std::chrono::seconds(60));
  INFO("tools/ws-bench-compare: " << r.describe() << "\n--- stdout\n" << r.out << "\n--- stderr\n" << r.err);
  REQUIRE(r.exited_zero());

  fs::path csv;
  for (const auto& entry : fs::directory_iterator(out.path())) {
    if (entry.path().extension() == ".csv") csv = entry.path();
  }
  REQUIRE(!csv.empty());
  auto rows = read_csv(csv);
  for (const auto& test : kTests) {
    INFO("sluice " << test);
    std::vector<std::map<std::string, std::string>> runs;
    for (const auto& row : rows) {
      if (row.at("server") == "sluice" && row.at("test") == test) runs.push_back(row);
    }
    REQUIRE(runs.size() == 1);
    CHECK(std::stod(runs[0].at("figure")) > 0);
    CHECK(runs[0].at("closed") == "0");
    CHECK(runs[0].at("missing") == "0");
  }
  CHECK(fs::exists(csv.parent_path() / (csv.stem().string() + ".md")));
}
