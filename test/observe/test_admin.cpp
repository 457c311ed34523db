// The admin listener: the samples serve /metrics, /status and /status.json
// on it (never on their public port), promtool accepts what /metrics says,
// and the status page draws live figures in a real headless browser.
// promtool (prometheus) and chromium are installed by tools/setup: a missing
// one fails its test, naming the package.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "observe/prometheus_text.hpp"
#include "sluice/observe/admin.hpp"
#include "sluice/observe/cpu_profile.hpp"
#include "support/child_server.hpp"
#include "support/http_responses.hpp"
#include "support/process.hpp"
#include "support/sanitizers.hpp"
#include "support/temp_dir.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::ChildServer;
using sluice::test::find_in_path;
using sluice::test::parse_prometheus;
using sluice::test::PrometheusText;
using sluice::test::ProcessResult;
using sluice::test::read_responses;
using sluice::test::run_process;
using sluice::test::TempDir;
using sluice::test::wait_until;

namespace {

namespace fs = std::filesystem;

std::string get(const std::string& path) { return "GET " + path + " HTTP/1.1\r\nHost: admin.test\r\n\r\n"; }

/// The answers to GET `path` on `port`, on a connection of its own (one,
/// or none when it does not come). No assertion: usable on any thread
/// (Catch's are for the test's own thread).
std::vector<sluice::test::Response> fetch_answers(std::uint16_t port, const std::string& path) {
  BlockingClient client(port);
  client.send_all(get(path));
  return read_responses(client, 1);
}

/// One answer to GET `path` on `port`, on a connection of its own.
sluice::test::Response fetch(std::uint16_t port, const std::string& path) {
  auto answers = fetch_answers(port, path);
  REQUIRE(answers.size() == 1);
  return answers[0];
}

/// The admin port a sample logged ("admin on 127.0.0.1 port N").
std::uint16_t admin_port(const ChildServer& server) {
  std::regex line("admin on (\\S+) port ([0-9]+)");
  std::smatch m;
  std::string log;
  bool found = wait_until([&] {
    log = server.log();
    return std::regex_search(log, m, line);
  });
  INFO(log);
  REQUIRE(found);
  CHECK(m[1] == "127.0.0.1");  // not public by default
  return static_cast<std::uint16_t>(std::stoi(m[2]));
}

std::string require_on_path(const std::string& tool, const std::string& package) {
  std::string path = find_in_path(tool);
  if (path.empty()) FAIL(tool << " is not on PATH: tools/setup installs the " << package << " package");
  return path;
}

/// `promtool check metrics` on `text`: its complaints, or "" when it has none.
void require_promtool_accepts(const std::string& text) {
  std::string promtool = require_on_path("promtool", "prometheus");
  TempDir dir("sluice-promtool");
  std::string file = (dir.path() / "metrics.txt").string();
  std::ofstream(file) << text;
  ProcessResult r = run_process({"/bin/sh", "-c", "'" + promtool + "' check metrics < '" + file + "'"},
                                std::chrono::seconds(60));
  INFO("promtool: " << r.describe() << "\n" << r.out << r.err << "\n--- /metrics\n" << text);
  CHECK(r.exited_zero());
  CHECK(r.out + r.err == "");  // lint findings are printed even when it exits 0
}

// A WebSocket handshake and one masked text frame, by hand.
std::string ws_upgrade(const std::string& path) {
  return "GET " + path +
         " HTTP/1.1\r\nHost: admin.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}
std::string masked_text(const std::string& payload) {
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  std::string frame{static_cast<char>(0x81), static_cast<char>(0x80 | payload.size())};
  frame.append(reinterpret_cast<const char*>(mask), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ mask[i % 4]);
  return frame;
}

}  // namespace

TEST_CASE("admin: sluice-http serves /metrics on its admin port only, and promtool accepts it", "[admin]") {
  ChildServer server(SLUICE_HTTP_BINARY, "sluice-http", {"--loops", "2", "--admin-port", "0"});
  std::uint16_t admin = admin_port(server);

  {
    BlockingClient client(server.port());
    client.send_all(get("/plaintext") + get("/plaintext") + get("/json"));
    REQUIRE(read_responses(client, 3).size() == 3);
  }
  {
    BlockingClient bad(server.port());
    bad.send_all("GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n");
    auto answers = read_responses(bad, 1);
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 400);
  }
  CHECK(fetch(server.port(), "/metrics").status == 404);  // never on the public port
  CHECK(fetch(server.port(), "/status").status == 404);

  auto answer = fetch(admin, "/metrics");
  REQUIRE(answer.status == 200);
  CHECK(answer.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  PrometheusText m = parse_prometheus(answer.body);
  CHECK(m.layout_errors.empty());
  CHECK(m.label_values("sluice_loop_iterations_total", "loop") == std::set<std::string>{"http-0", "http-1"});
  CHECK(m.sum("sluice_http_requests_total", {{"status", "2xx"}}) == 3);
  CHECK(m.sum("sluice_http_refused_total", {{"status", "400"}}) == 1);
  CHECK(m.sum("sluice_connections_accepted_total") >= 4);
  require_promtool_accepts(answer.body);

  auto status = fetch(admin, "/status.json");
  REQUIRE(status.status == 200);
  nlohmann::json json = nlohmann::json::parse(status.body);
  CHECK(json["loops"].size() == 2);
  CHECK(server.terminate_gracefully());
}

TEST_CASE("admin: sluice-ws's /metrics counts its WebSockets, and promtool accepts it", "[admin]") {
  ChildServer server(SLUICE_WS_BINARY, "sluice-ws", {"--loops", "1", "--admin-port", "0"});
  std::uint16_t admin = admin_port(server);

  BlockingClient ws(server.port());
  ws.send_all(ws_upgrade("/ws/echo"));
  std::string got;
  REQUIRE(wait_until([&] {
    char buf[512];
    ssize_t n = ::recv(ws.fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    return got.find("\r\n\r\n") != std::string::npos;
  }));
  REQUIRE(got.rfind("HTTP/1.1 101", 0) == 0);
  ws.send_all(masked_text("hello"));

  PrometheusText m;
  REQUIRE(wait_until([&] {
    auto answer = fetch(admin, "/metrics");
    m = parse_prometheus(answer.body);
    return m.sum("sluice_websocket_messages_sent_total") == 1;
  }));
  CHECK(m.sum("sluice_websocket_connections_open") == 1);
  CHECK(m.sum("sluice_websocket_connections_opened_total") == 1);
  CHECK(m.sum("sluice_websocket_messages_received_total", {{"type", "text"}}) == 1);
  require_promtool_accepts(fetch(admin, "/metrics").body);
  CHECK(server.terminate_gracefully());
}

TEST_CASE("admin: the status page is one self-contained page", "[admin]") {
  auto metrics = std::make_shared<Metrics>();
  AdminServer admin(metrics, AdminServer::Options{});
  admin.start();
  auto page = fetch(admin.port(), "/status");
  REQUIRE(page.status == 200);
  CHECK(page.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(page.body.find("<script>") != std::string::npos);
  // Nothing fetched from elsewhere: no script, style, image or font by URL.
  for (const char* outside : {"src=", "href=", "@import", "url(", "http://", "https://"}) {
    INFO(outside);
    CHECK(page.body.find(outside) == std::string::npos);
  }
  CHECK(fetch(admin.port(), "/status.json").status == 200);
  CHECK(fetch(admin.port(), "/nowhere").status == 404);
  admin.stop();
}

TEST_CASE("admin: the status page draws every loop's figures in headless Chromium", "[admin][browser]") {
  const std::string python = "/usr/bin/python3";
  if (::access(python.c_str(), X_OK) != 0) FAIL("/usr/bin/python3 is missing: tools/setup installs python3");
  std::string chromium = require_on_path("chromium", "chromium");
  ChildServer server(SLUICE_HTTP_BINARY, "sluice-http", {"--loops", "2", "--admin-port", "0"});
  std::uint16_t admin = admin_port(server);
  std::string script = (fs::path(SLUICE_SOURCE_ROOT) / "test/observe/status_page_check.py").string();
  ProcessResult r = run_process({python, script, "--url", "http://127.0.0.1:" + std::to_string(admin), "--loops",
                                 "2", "--load", "http://127.0.0.1:" + std::to_string(server.port()) + "/plaintext",
                                 "--chromium", chromium},
                                std::chrono::seconds(180), std::chrono::seconds(20));
  INFO("status_page_check.py: " << r.describe() << "\n--- stdout\n" << r.out << "\n--- stderr\n" << r.err);
  INFO("--- sluice-http log\n" << server.log());
  CHECK(r.exited_zero());
  CHECK(server.terminate_gracefully());
}

TEST_CASE("admin: a CPU profile of sluice-http under load, read by google-pprof", "[admin][pprof]") {
#ifdef SLUICE_TEST_TSAN
  // gperftools' SIGPROF handler (third-party, uninstrumented) allocates, which
  // ThreadSanitizer reports as a signal-unsafe call; the debug and ASan
  // builds run this test.
  WARN("skipped under ThreadSanitizer: gperftools' profiler signal handler allocates (a TSan report, not ours)");
  return;
#endif
  if (!cpu_profiler_built_in()) {
    FAIL("this build has no CPU profiler: tools/setup installs libgoogle-perftools-dev (then configure again)");
  }
  std::string pprof = require_on_path("google-pprof", "google-perftools");
  ChildServer server(SLUICE_HTTP_BINARY, "sluice-http", {"--loops", "1", "--admin-port", "0"});
  std::uint16_t admin = admin_port(server);
  CHECK(fetch(admin, "/debug/pprof/profile?seconds=0").status == 400);

  std::atomic<bool> profiled{false};
  std::atomic<int> answered{0};
  std::thread load([&] {
    BlockingClient client(server.port());
    while (!profiled) {
      client.send_all(get("/plaintext") + get("/json"));
      answered += static_cast<int>(read_responses(client, 2).size());
    }
  });
  std::vector<sluice::test::Response> profiles;
  std::thread taker([&] {
    profiles = fetch_answers(admin, "/debug/pprof/profile?seconds=2");
    profiled = true;
  });
  REQUIRE(wait_until([&] { return server.log().find("CPU profile: 2 s") != std::string::npos; }));
  CHECK(fetch(admin, "/debug/pprof/profile?seconds=1").status == 409);  // one at a time
  taker.join();
  load.join();
  CHECK(answered > 0);
  REQUIRE(profiles.size() == 1);
  const sluice::test::Response& profile = profiles[0];
  REQUIRE(profile.status == 200);
  CHECK(profile.header("Content-Type") == "application/octet-stream");
  // gperftools' format opens with the words 0, 3 (header size), 0 (version).
  REQUIRE(profile.body.size() > 5 * sizeof(std::uintptr_t));
  std::uintptr_t words[3];
  std::memcpy(words, profile.body.data(), sizeof words);
  CHECK(words[0] == 0);
  CHECK(words[1] == 3);
  CHECK(words[2] == 0);

  TempDir dir("sluice-pprof");
  std::string file = (dir.path() / "cpu.prof").string();
  std::ofstream(file, std::ios::binary) << profile.body;
  ProcessResult r = run_process({pprof, "--text", SLUICE_HTTP_BINARY, file}, std::chrono::seconds(120));
  INFO("google-pprof: " << r.describe() << "\n" << r.out << r.err);
  CHECK(r.exited_zero());
  CHECK(r.out.find("Total:") != std::string::npos);
  CHECK(r.out.find("sluice") != std::string::npos);  // the server's own functions, by name
  CHECK(server.terminate_gracefully());
}
