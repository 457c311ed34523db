// W3C Trace Context: traceparent parsed by the spec's rules, taken when
// valid, replaced when invalid, made when absent; the server's span in the
// request (for handlers), the response, RequestId and the access log.

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "sluice/core/event_loop_group.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/middleware.hpp"
#include "sluice/http/router.hpp"
#include "support/http_responses.hpp"
#include "support/log_capture.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::wait_until;

using sluice::test::LineSink;
using sluice::test::file_lines;
using sluice::test::combined_status;

namespace {

const std::string kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string kParent = "00f067aa0ba902b7";
const std::string kValid = "00-" + kTrace + "-" + kParent + "-01";
const std::regex kTraceparent("^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$");

}  // namespace

TEST_CASE("TraceParent::parse: the spec's rules", "[trace]") {
  auto valid = TraceParent::parse(kValid);
  REQUIRE(valid.has_value());
  CHECK(valid->trace_id == kTrace);
  CHECK(valid->parent_id == kParent);
  CHECK(valid->flags == "01");
  CHECK(valid->to_string() == kValid);

  for (const std::string& bad : {
           std::string(""),
           "00-" + kTrace + "-" + kParent,                            // no flags
           "00-" + kTrace + "-" + kParent + "-01-",                   // version 00 is exactly 55
           "00-" + kTrace + "-" + kParent + "-1",                     // short flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + kParent + "-01",  // uppercase
           "00-" + std::string(32, '0') + "-" + kParent + "-01",      // trace id all zero
           "00-" + kTrace + "-" + std::string(16, '0') + "-01",       // parent id all zero
           "00-" + kTrace + "-" + kParent + "-0g",                    // not hex
           "ff-" + kTrace + "-" + kParent + "-01",                    // version ff
           "00_" + kTrace + "-" + kParent + "-01",                    // separators
           "00-" + kTrace.substr(1) + "-0" + kParent + "-01",         // field lengths
           "01-" + kTrace + "-" + kParent + "-01x",                   // a later version: a dash after 55
       }) {
    INFO(bad);
    CHECK_FALSE(TraceParent::parse(bad).has_value());
  }
  // A later version is read by its first four fields.
  auto future = TraceParent::parse("cc-" + kTrace + "-" + kParent + "-01-what-comes-next");
  REQUIRE(future.has_value());
  CHECK(future->trace_id == kTrace);
  CHECK(TraceParent::parse("cc-" + kTrace + "-" + kParent + "-01").has_value());
}

TEST_CASE("TraceContext: taken when valid, replaced when invalid, made when absent; answered and logged",
          "[trace][access-log]") {
  auto sink = std::make_shared<LineSink>();
  spdlog::drop("access");
  spdlog::register_logger(std::make_shared<spdlog::logger>("access", sink));

  EventLoopGroup group({1, false, "trace"});
  auto router = std::make_shared<Router>();
  // The handler answers with what it saw: the request's traceparent and id.
  router->get("/seen", [](HttpRequest& r, ResponseWriter w) {
    w.send(HttpResponse::text(std::string(r.headers.get("traceparent").value_or("none")) + " " +
                              std::string(r.headers.get("X-Request-Id").value_or("none")) + " " +
                              std::string(r.headers.get("tracestate").value_or("none"))));
  });
  HttpServerOptions options;
  options.listen.host = "127.0.0.1";
  options.access_log = true;
  options.trace_context = true;
  HttpServer server(group, options, router);
  server.use(std::make_shared<RequestId>());
  server.start();

  auto ask = [&](const std::string& headers) {
    BlockingClient client(server.port());
    client.send_all("GET /seen HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n");
    auto responses = test::read_responses(client, 1);
    REQUIRE(responses.size() == 1);
    REQUIRE(responses[0].status == 200);
    return responses[0];
  };
  auto traceparent_of = [](const test::Response& r) {
    REQUIRE(r.header("traceparent").has_value());
    std::string value(*r.header("traceparent"));
    std::smatch m;
    REQUIRE(std::regex_match(value, m, kTraceparent));
    return std::vector<std::string>{value, m[1], m[2], m[3]};
  };
  std::vector<std::string> answered;  // the response traceparents, in order

  SECTION("valid: the trace and flags are kept, the span is the server's") {
    auto r = ask("traceparent: " + kValid + "\r\ntracestate: vendor=1\r\n");
    auto tp = traceparent_of(r);
    CHECK(tp[1] == kTrace);
    CHECK(tp[2] != kParent);
    CHECK(tp[3] == "01");
    CHECK(r.body == tp[0] + " " + kTrace + " vendor=1");  // handler: our span; id: the trace id; tracestate kept
    CHECK(r.header("X-Request-Id") == kTrace);
    answered.push_back(tp[0]);
  }
  SECTION("a client's X-Request-Id still wins") {
    auto r = ask("traceparent: " + kValid + "\r\nX-Request-Id: mine-1\r\n");
    CHECK(r.header("X-Request-Id") == "mine-1");
    answered.push_back(traceparent_of(r)[0]);
  }
  SECTION("invalid: a new trace (and its tracestate is dropped)") {
    for (const std::string& bad : {"00-" + std::string(32, '0') + "-" + kParent + "-01", std::string("garbage"),
                                   "00-" + kTrace + "-" + kParent + "-01-extra"}) {
      INFO(bad);
      auto r = ask("traceparent: " + bad + "\r\ntracestate: vendor=1\r\n");
      auto tp = traceparent_of(r);
      CHECK(tp[1] != kTrace);
      CHECK(tp[3] == "00");
      CHECK(r.body == tp[0] + " " + tp[1] + " none");
      answered.push_back(tp[0]);
    }
  }
  SECTION("two traceparent headers are invalid too") {
    auto r = ask("traceparent: " + kValid + "\r\ntraceparent: " + kValid + "\r\n");
    auto tp = traceparent_of(r);
    CHECK(tp[1] != kTrace);
    answered.push_back(tp[0]);
  }
  SECTION("absent: made, different for each request") {
    std::set<std::string> traces;
    for (int i = 0; i < 5; ++i) {
      auto tp = traceparent_of(ask(""));
      CHECK(tp[3] == "00");
      traces.insert(tp[1]);
      answered.push_back(tp[0]);
    }
    CHECK(traces.size() == 5);
  }

  // The combined line ends with the traceparent the response carried.
  CHECK(wait_until([&] { return sink->lines().size() >= answered.size(); }));
  group.shutdown_gracefully();
  spdlog::drop("access");
  auto lines = sink->lines();
  REQUIRE(lines.size() == answered.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i]);
    CHECK(std::regex_search(lines[i], std::regex(R"(\d+\.\d{3}ms ")" + answered[i] + "\"$")));
  }
}
