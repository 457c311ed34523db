// The ws sample (SLUICE_WS_BINARY) against WebSocket clients nobody here
// wrote: Python's websockets, Node's ws and headless Chromium, each driven by
// a script in test/websocket/interop/ that prints `ok NAME` / `FAIL NAME: why`.
// A missing tool fails the test, naming the tool and tools/setup: CI must
// never pass by skipping a client.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "support/child_server.hpp"
#include "support/process.hpp"

using sluice::test::ChildServer;
using sluice::test::find_in_path;
using sluice::test::ProcessResult;
using sluice::test::run_process;

namespace {

namespace fs = std::filesystem;

const fs::path kScripts = fs::path(SLUICE_SOURCE_ROOT) / "test/websocket/interop";
// Where tools/setup installs Node's ws (git-ignored, like every build-* folder).
const fs::path kNodeModules = fs::path(SLUICE_SOURCE_ROOT) / "build-node/node_modules";

// Debian's python3-websockets is only visible to Debian's own Python: a
// pyenv python3 earlier on PATH would not find it.
std::string python_with_websockets() {
  const std::string python = "/usr/bin/python3";
  if (::access(python.c_str(), X_OK) != 0) FAIL("/usr/bin/python3 is missing: tools/setup installs python3");
  ProcessResult probe = run_process({python, "-c", "import websockets"}, std::chrono::seconds(60));
  if (!probe.exited_zero()) {
    FAIL("/usr/bin/python3 cannot import websockets (" << probe.err
                                                       << "): tools/setup installs the python3-websockets package");
  }
  return python;
}

std::string require_on_path(const std::string& tool, const std::string& package) {
  std::string path = find_in_path(tool);
  if (path.empty()) FAIL(tool << " is not on PATH: tools/setup installs the " << package << " package");
  return path;
}

/// Runs `args` against `server` and requires exit 0, showing the script's
/// report and the server's log otherwise; then the server must shut down
/// cleanly on SIGTERM.
void require_script_passes(std::vector<std::string> args, ChildServer& server, std::chrono::seconds timeout) {
  // The grace outlasts the scripts' own cleanup (stopping a browser) after SIGTERM.
  ProcessResult r = run_process(args, timeout, std::chrono::seconds(20));
  INFO(args[1] << ": " << r.describe() << "\n--- stdout\n" << r.out << "\n--- stderr\n" << r.err);
  INFO("--- sluice-ws log\n" << server.log());
  CHECK(r.exited_zero());
  CHECK(server.terminate_gracefully());
}

std::string ws_url(const ChildServer& server) { return "ws://127.0.0.1:" + std::to_string(server.port()); }
std::string http_url(const ChildServer& server) { return "http://127.0.0.1:" + std::to_string(server.port()); }

}  // namespace

TEST_CASE("sluice-ws interoperates with Python's websockets", "[websocket][interop][python]") {
  std::string python = python_with_websockets();
  // Two loops: chat rooms and published topics span loops.
  ChildServer server(SLUICE_WS_BINARY, "sluice-ws", {"--loops", "2"});
  require_script_passes({python, (kScripts / "python_client.py").string(), "--url", ws_url(server)}, server,
                        std::chrono::seconds(300));
}

TEST_CASE("sluice-ws interoperates with Node's ws", "[websocket][interop][node]") {
  std::string node = require_on_path("node", "nodejs");
  if (!fs::exists(kNodeModules / "ws/package.json")) {
    FAIL("Node's ws package is not in " << kNodeModules.string() << ": tools/setup installs it (npm install ws)");
  }
  ChildServer server(SLUICE_WS_BINARY, "sluice-ws", {"--loops", "2"});
  require_script_passes(
      {node, (kScripts / "node_client.js").string(), "--url", ws_url(server), "--node-modules", kNodeModules.string()},
      server, std::chrono::seconds(300));
}

TEST_CASE("sluice-ws's chat page works in headless Chromium", "[websocket][interop][browser]") {
  std::string python = python_with_websockets();
  std::string chromium = require_on_path("chromium", "chromium");
  ChildServer server(SLUICE_WS_BINARY, "sluice-ws", {"--loops", "2"});
  require_script_passes(
      {python, (kScripts / "browser_check.py").string(), "--url", http_url(server), "--chromium", chromium}, server,
      std::chrono::seconds(180));
}
