// The access log: every answer once, the connection's own refusals (400,
// 408, 413, 414, 431, 501, 505) included; JSON lines; the file's rotation
// and its bounded queue.

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "sluice/core/event_loop_group.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/middleware.hpp"
#include "sluice/http/router.hpp"
#include "support/http_responses.hpp"
#include "support/temp_dir.hpp"
#include "support/log_capture.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::TempDir;
using sluice::test::wait_until;

using sluice::test::LineSink;
using sluice::test::file_lines;
using sluice::test::combined_status;

namespace {

// Registers a LineSink as the "access" logger for one test.
struct CapturedAccessLog {
  std::shared_ptr<LineSink> sink = std::make_shared<LineSink>();
  CapturedAccessLog() {
    spdlog::drop("access");
    spdlog::register_logger(std::make_shared<spdlog::logger>("access", sink));
  }
  ~CapturedAccessLog() { spdlog::drop("access"); }
};

std::shared_ptr<Router> ok_router() {
  auto router = std::make_shared<Router>();
  router->get("/ok", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("ok")); });
  router->post("/ok", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("ok")); });
  return router;
}

// What one client sends and the status the server must answer it with.
struct Refusal {
  const char* what;
  std::string bytes;
  int status;
};

}  // namespace

TEST_CASE("AccessLog: each of the connection's own refusals is logged once, with its status", "[access-log]") {
  CapturedAccessLog captured;
  EventLoopGroup group({1, false, "access"});
  HttpServerOptions options;
  options.listen.host = "127.0.0.1";
  options.access_log = true;
  options.codec.max_target_bytes = 64;
  options.codec.max_header_bytes = 512;
  options.codec.max_body_bytes = 1024;
  options.codec.header_timeout_ms = 300;
  HttpServer server(group, options, ok_router());
  server.start();

  const std::vector<Refusal> refusals{
      {"malformed", "GET / HTTP/1.1\r\nHost x\r\n\r\n", 400},
      {"header timeout", "GET /ok HTTP/1.1\r\nHost: x\r\n", 408},
      {"body too large", "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 413},
      {"target too long", "GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"headers too large", "GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1000, 'v') + "\r\n\r\n", 431},
      {"unknown transfer coding", "POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: compress\r\n\r\n", 501},
      {"HTTP/2.0", "GET /ok HTTP/2.0\r\nHost: x\r\n\r\n", 505},
  };
  for (const auto& refusal : refusals) {
    INFO(refusal.what);
    BlockingClient client(server.port());
    client.send_all(refusal.bytes);
    auto responses = test::read_responses(client, 1);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status == refusal.status);
  }
  {
    // The application's answer: once too (its middleware logs it; the
    // connection's observation point leaves it alone).
    BlockingClient client(server.port());
    client.send_all("GET /ok HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n\r\n");
    REQUIRE(test::read_responses(client, 1).size() == 1);
  }
  CHECK(wait_until([&] { return captured.sink->lines().size() >= refusals.size() + 1; }));
  group.shutdown_gracefully();

  std::vector<std::string> lines = captured.sink->lines();
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  INFO(all);
  REQUIRE(lines.size() == refusals.size() + 1);
  std::map<int, int> seen;
  for (const auto& line : lines) ++seen[combined_status(line)];
  for (const auto& refusal : refusals) CHECK(seen[refusal.status] == 1);
  CHECK(seen[200] == 1);
  for (const auto& line : lines) {
    CHECK_THAT(line, Catch::Matchers::StartsWith("127.0.0.1 - - ["));
    if (combined_status(line) == 200) {
      CHECK(std::regex_search(line, std::regex(R"("GET /ok HTTP/1\.1" 200 2 "-" "t/1" \d+\.\d{3}ms$)")));
    } else {
      CHECK_THAT(line, Catch::Matchers::EndsWith(" -"));  // a refusal's duration is not measured
    }
  }
}

TEST_CASE("AccessLog: JSON lines carry every field, null where unknown", "[access-log]") {
  TempDir dir("sluice-access-json");
  const auto path = dir.path() / "access.log";
  {
    EventLoopGroup group({1, false, "json"});
    HttpServerOptions options;
    options.listen.host = "127.0.0.1";
    options.access_log = true;
    options.access_log_options.file = path.string();
    options.access_log_options.format = AccessLogOptions::Format::json;
    options.trace_context = true;
    HttpServer server(group, options, ok_router());
    server.use(std::make_shared<RequestId>());
    server.start();
    std::string traceparent;
    {
      BlockingClient client(server.port());
      client.send_all("GET /ok?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: agent \"q\"\r\nReferer: http://r/\r\n\r\n");
      auto responses = test::read_responses(client, 1);
      REQUIRE(responses.size() == 1);
      REQUIRE(responses[0].header("traceparent").has_value());
      traceparent = std::string(*responses[0].header("traceparent"));
    }
    {
      BlockingClient client(server.port());
      client.send_all("BAD\r\n\r\n");
      auto responses = test::read_responses(client, 1);
      REQUIRE(responses.size() == 1);
      CHECK(responses[0].status == 400);
    }
    CHECK(wait_until([&] { return file_lines(path).size() >= 2; }));
    group.shutdown_gracefully();

    auto lines = file_lines(path);
    REQUIRE(lines.size() == 2);
    // In answer order: the 200 was given (and logged) before the 400's connection opened.
    nlohmann::json ok = nlohmann::json::parse(lines[0]);
    nlohmann::json bad = nlohmann::json::parse(lines[1]);
    INFO(lines[0] << "\n" << lines[1]);
    for (const char* field : {"time", "remote", "method", "target", "protocol", "status", "bytes", "referer",
                              "user_agent", "duration_ms", "request_id", "trace_id", "span_id"}) {
      CHECK(ok.contains(field));
      CHECK(bad.contains(field));
    }
    CHECK(
        std::regex_match(ok["time"].get<std::string>(), std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")));
    CHECK(ok["remote"] == "127.0.0.1");
    CHECK(ok["method"] == "GET");
    CHECK(ok["target"] == "/ok?x=1");
    CHECK(ok["protocol"] == "HTTP/1.1");
    CHECK(ok["status"] == 200);
    CHECK(ok["bytes"] == 2);
    CHECK(ok["referer"] == "http://r/");
    CHECK(ok["user_agent"] == "agent \"q\"");
    CHECK(ok["duration_ms"].is_number());
    CHECK(ok["trace_id"] == traceparent.substr(3, 32));
    CHECK(ok["span_id"] == traceparent.substr(36, 16));
    CHECK(ok["request_id"] == traceparent.substr(3, 32));  // RequestId took the trace id

    CHECK(bad["status"] == 400);
    CHECK(bad["remote"] == "127.0.0.1");
    CHECK(bad["duration_ms"].is_null());
    CHECK(bad["trace_id"].is_null());  // no middleware saw it: no trace
    CHECK(bad["user_agent"].is_null());
  }
}

TEST_CASE("AccessLog: a file rotates at its size and keeps max_files rotated files", "[access-log]") {
  TempDir dir("sluice-access-rotate");
  const auto path = dir.path() / "access.log";
  AccessLogOptions options;
  options.file = path.string();
  options.max_file_bytes = 4000;
  options.max_files = 2;
  {
    AccessLog log(options);
    HttpRequest request;
    request.method = "GET";
    for (int i = 0; i < 400; ++i) {
      request.target = "/line/" + std::to_string(i);  // about 70 bytes a line: some 28000 bytes
      log.record(request, 200, 0, 1.0);
    }
    request.target = "/last";
    log.record(request, 200, 0, 1.0);
    // The writer takes them in order: once the last is in, so are the rest.
    CHECK(wait_until([&] { return test::read_file(path).find("/last") != std::string::npos; }));
    CHECK(log.dropped_lines() == 0);  // 401 lines fit the default queue
  }
  const auto rotated = [&](int n) { return dir.path() / ("access." + std::to_string(n) + ".log"); };
  CHECK(std::filesystem::exists(path));
  CHECK(std::filesystem::exists(rotated(1)));
  CHECK(std::filesystem::exists(rotated(2)));
  CHECK_FALSE(std::filesystem::exists(rotated(3)));
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    CHECK(entry.file_size() <= 4000);
  }
  CHECK(files == 3);
  // The newest lines, in order across the files: .2, .1, then the current one.
  std::vector<std::string> kept;
  for (const auto& file : {rotated(2), rotated(1), path}) {
    for (auto& line : file_lines(file)) kept.push_back(line);
  }
  REQUIRE(kept.size() > 100);
  CHECK_THAT(kept.back(), Catch::Matchers::Contains("\"GET /last HTTP/1.1\""));
  for (std::size_t i = 0; i + 1 < kept.size(); ++i) {
    std::size_t n = 400 - (kept.size() - 1 - i);
    CHECK_THAT(kept[i], Catch::Matchers::Contains("\"GET /line/" + std::to_string(n) + " HTTP/1.1\""));
  }
}

TEST_CASE("AccessLog: a full queue drops its oldest lines and counts them, never blocking", "[access-log]") {
  TempDir dir("sluice-access-queue");
  const auto path = dir.path() / "access.log";
  AccessLogOptions options;
  options.file = path.string();
  options.queue_lines = 2;
  AccessLog log(options);
  HttpRequest request;
  request.method = "GET";
  request.target = "/flood";
  constexpr std::size_t kLines = 5000;
  for (std::size_t i = 0; i < kLines; ++i) log.record(request, 200, 0, 1.0);
  request.target = "/last";  // the newest: never the one overrun
  log.record(request, 200, 0, 1.0);
  CHECK(wait_until([&] { return test::read_file(path).find("/last") != std::string::npos; }));
  // Every line is either in the file or counted as dropped.
  CHECK(file_lines(path).size() + log.dropped_lines() == kLines + 1);
}
