// The samples' logging flags: --access-log (stdout, as before),
// --access-log=FILE with --access-log-format json and --trace-context,
// --log-level, --log-pattern and SLUICE_LOG_LEVEL (the flag wins).

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_server.hpp"
#include "support/http_responses.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/log_capture.hpp"
#include "support/test_support.hpp"

using sluice::test::BlockingClient;
using sluice::test::TempDir;
using sluice::test::wait_until;
namespace test = sluice::test;

using sluice::test::LineSink;
using sluice::test::file_lines;
using sluice::test::combined_status;

namespace {

}  // namespace

TEST_CASE("sluice-http: --access-log=FILE --access-log-format json logs refusals and answers", "[access-log][sample]") {
  TempDir dir("sluice-access-sample");
  const auto path = dir.path() / "access.log";
  test::ChildServer server(SLUICE_HTTP_BINARY, "sluice-http",
                           {"--access-log=" + path.string(), "--access-log-format", "json", "--trace-context",
                            "--access-log-max-mb", "1", "--access-log-files", "3"});
  {
    BlockingClient client(server.port());
    client.send_all(
        "GET /plaintext HTTP/1.1\r\nHost: x\r\n"
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n");
    auto responses = test::read_responses(client, 1);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 200);
  }
  {
    BlockingClient client(server.port());
    client.send_all("GET / HTTP/1.2\r\nHost: x\r\n\r\n");
    auto responses = test::read_responses(client, 1);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 505);
  }
  CHECK(wait_until([&] { return file_lines(path).size() >= 2; }));
  CHECK(server.terminate_gracefully());
  auto lines = file_lines(path);
  REQUIRE(lines.size() == 2);
  nlohmann::json ok = nlohmann::json::parse(lines[0]);
  nlohmann::json refused = nlohmann::json::parse(lines[1]);
  CHECK(ok["status"] == 200);
  CHECK(ok["target"] == "/plaintext");
  CHECK(ok["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(ok["request_id"] == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(ok["span_id"] != "00f067aa0ba902b7");
  CHECK(refused["status"] == 505);
}

TEST_CASE("sluice-http: --access-log alone is stdout in the combined format, as before", "[access-log][sample]") {
  TempDir dir("sluice-access-stdout");
  const auto out = dir.path() / "stdout";
  test::ChildServer server(SLUICE_HTTP_BINARY, "sluice-http", {"--access-log"}, out.string());
  {
    BlockingClient client(server.port());
    client.send_all("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(test::read_responses(client, 1).size() == 1);
  }
  {
    BlockingClient client(server.port());
    client.send_all("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    auto responses = test::read_responses(client, 1);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == 414);
  }
  CHECK(wait_until([&] { return file_lines(out).size() >= 2; }));
  CHECK(server.terminate_gracefully());
  auto lines = file_lines(out);
  REQUIRE(lines.size() == 2);
  CHECK(combined_status(lines[0]) == 200);
  CHECK(combined_status(lines[1]) == 414);
}

namespace {

// A port nobody else may bind (no SO_REUSEPORT), held while the test runs:
// the sample's "cannot start" is an error line the tests can count on.
class BusyPort {
 public:
  BusyPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 1) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~BusyPort() { ::close(fd_); }
  std::string port() const { return std::to_string(port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// Runs sluice-http on a busy port (it logs an error and exits 1 at once)
// with SLUICE_LOG_LEVEL set to `env` ("": unset) and `extra` flags.
test::ProcessResult run_on_busy_port(const std::string& env, const std::vector<std::string>& extra) {
  BusyPort busy;
  if (env.empty()) {
    ::unsetenv("SLUICE_LOG_LEVEL");
  } else {
    ::setenv("SLUICE_LOG_LEVEL", env.c_str(), 1);
  }
  std::vector<std::string> args{SLUICE_HTTP_BINARY, "--host", "127.0.0.1", "--port", busy.port(), "--loops", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  test::ProcessResult result = test::run_process(args, std::chrono::seconds(60));
  ::unsetenv("SLUICE_LOG_LEVEL");
  return result;
}

}  // namespace

TEST_CASE(
    "sluice-http: the log level from SLUICE_LOG_LEVEL and --log-level (the flag wins), the pattern from --log-pattern",
    "[log][sample]") {
  SECTION("default: the error is logged") {
    auto r = run_on_busy_port("", {});
    INFO(r.err);
    CHECK(r.describe() == "exit status 1");
    CHECK_THAT(r.err, Catch::Matchers::Contains("cannot start"));
  }
  SECTION("SLUICE_LOG_LEVEL=critical hides it") {
    auto r = run_on_busy_port("critical", {});
    INFO(r.err);
    CHECK(r.describe() == "exit status 1");
    CHECK_THAT(r.err, !Catch::Matchers::Contains("cannot start"));
  }
  SECTION("--log-level wins over SLUICE_LOG_LEVEL") {
    auto r = run_on_busy_port("critical", {"--log-level", "err"});
    INFO(r.err);
    CHECK_THAT(r.err, Catch::Matchers::Contains("cannot start"));
    auto hidden = run_on_busy_port("info", {"--log-level", "sluice=off"});
    CHECK_THAT(hidden.err, !Catch::Matchers::Contains("cannot start"));
  }
  SECTION("--log-pattern") {
    auto r = run_on_busy_port("", {"--log-pattern", "PATTERN <%l> %v"});
    INFO(r.err);
    CHECK_THAT(r.err, Catch::Matchers::Contains("PATTERN <error> cannot start"));
  }
  SECTION("a misspelt level is a usage error, from the flag or the environment") {
    auto flag = run_on_busy_port("", {"--log-level", "verbose"});
    CHECK(flag.describe() == "exit status 2");
    CHECK_THAT(flag.err, Catch::Matchers::Contains("--log-level: unknown log level \"verbose\""));
    auto env = run_on_busy_port("debug,sluice=loud", {});
    CHECK(env.describe() == "exit status 2");
    CHECK_THAT(env.err, Catch::Matchers::Contains("SLUICE_LOG_LEVEL: unknown log level \"loud\""));
  }
}
