// Metrics: the per-loop figures the layers write, and their Prometheus text
// and status JSON, checked against what real sockets did to an in-process
// server.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "observe/prometheus_text.hpp"
#include "sluice/core/event_loop_group.hpp"
#include "sluice/core/loop_metrics.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/router.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/observe/stall_detector.hpp"
#include "support/http_responses.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::parse_prometheus;
using sluice::test::PrometheusText;
using sluice::test::read_responses;
using sluice::test::wait_until;

namespace {

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: metrics.test\r\n" + extra + "\r\n";
}

/// A two-loop HTTP server in this process, with its Metrics.
struct MeteredServer {
  explicit MeteredServer(HttpCodecOptions codec = {}) {
    auto router = std::make_shared<Router>();
    router->get("/hi", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("hi")); });
    router->post("/hi", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("posted")); });
    HttpServerOptions options;
    options.listen.host = "127.0.0.1";
    options.codec = codec;
    server = std::make_unique<HttpServer>(group, options, router);
    server->start();
    metrics.add(group);
  }
  ~MeteredServer() { group.shutdown_gracefully(0, 5000); }

  PrometheusText scrape() const { return parse_prometheus(metrics.prometheus()); }
  /// Scrapes until `condition` holds of the scrape (the loops write their
  /// figures as they go; a test waits for them, never sleeps).
  PrometheusText scrape_until(const std::function<bool(const PrometheusText&)>& condition) const {
    PrometheusText last;
    wait_until([&] {
      last = scrape();
      return condition(last);
    });
    return last;
  }

  EventLoopGroup group{EventLoopGroup::Options{2, false, "m"}};
  std::unique_ptr<HttpServer> server;
  Metrics metrics;
};

}  // namespace

TEST_CASE("metrics: a duration lands in the first bucket whose bound holds it", "[metrics]") {
  DurationHistogram h;
  h.observe(0);
  h.observe(50'000);           // on the first bound: in it
  h.observe(50'001);           // just past: the next
  h.observe(10'000'000'000);   // the last finite bound
  h.observe(11'000'000'000);   // past every bound: +Inf
  auto s = h.snapshot();
  CHECK(s.buckets[0] == 2);
  CHECK(s.buckets[1] == 1);
  CHECK(s.buckets[DurationHistogram::kBoundsNs.size() - 2] == 1);
  CHECK(s.buckets.back() == 1);
  CHECK(s.count() == 5);
  CHECK(s.sum_ns == 50'000 + 50'001 + 10'000'000'000 + 11'000'000'000);
}

TEST_CASE("metrics: counters written by one thread read whole from another", "[metrics]") {
  Counter counter;
  Gauge gauge;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 100'000; ++i) {
      counter.add(2);
      gauge.add(i % 2 == 0 ? 1 : -1);
    }
    done = true;
  });
  std::uint64_t last = 0;
  while (!done) {
    std::uint64_t now = counter.value();
    CHECK(now % 2 == 0);  // never half an update
    CHECK(now >= last);   // never backwards
    last = now;
  }
  writer.join();
  CHECK(counter.value() == 200'000);
  CHECK(gauge.value() == 0);
}

TEST_CASE("metrics: requests, refusals, bytes and connections as the sockets saw them", "[metrics]") {
  HttpCodecOptions codec;
  codec.max_header_bytes = 512;
  MeteredServer s(codec);

  constexpr int kOk = 20;
  {
    BlockingClient client(s.server->port());
    std::string batch;
    for (int i = 0; i < kOk; ++i) batch += get("/hi");
    batch += get("/nowhere");
    client.send_all(batch);
    auto answers = read_responses(client, kOk + 1);
    REQUIRE(answers.size() == kOk + 1);
    CHECK(answers.back().status == 404);
  }  // closed by the client: its EOF comes first
  {
    BlockingClient client(s.server->port());
    client.send_all(get("/hi", "X-Big: " + std::string(1000, 'b') + "\r\n"));
    auto answers = read_responses(client, 1);
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 431);
  }

  PrometheusText m = s.scrape_until([](const PrometheusText& t) {
    return t.sum("sluice_connections_closed_total") == 2;
  });
  INFO(s.metrics.prometheus());
  CHECK(m.layout_errors.empty());
  CHECK(m.sum("sluice_http_requests_total", {{"method", "GET"}, {"status", "2xx"}}) == kOk);
  CHECK(m.sum("sluice_http_requests_total", {{"status", "4xx"}}) == 2);
  CHECK(m.sum("sluice_http_requests_total") == kOk + 2);
  CHECK(m.sum("sluice_http_refused_total", {{"status", "431"}}) == 1);
  CHECK(m.sum("sluice_http_refused_total") == 1);
  CHECK(m.sum("sluice_http_request_duration_seconds_count") == kOk + 2);
  CHECK(m.sum("sluice_http_request_duration_seconds_bucket", {{"le", "+Inf"}}) == kOk + 2);
  CHECK(m.sum("sluice_http_requests_in_flight") == 0);
  CHECK(m.sum("sluice_connections_accepted_total") == 2);
  CHECK(m.sum("sluice_connections_open") == 0);
  CHECK(m.sum("sluice_connections_closed_total", {{"reason", "peer"}}) == 1);
  CHECK(m.sum("sluice_connections_closed_total", {{"reason", "server"}}) == 1);
  CHECK(m.sum("sluice_received_bytes_total") > 20 * 30);
  CHECK(m.sum("sluice_sent_bytes_total") > 20 * 50);
  CHECK(m.label_values("sluice_loop_iterations_total", "loop") == std::set<std::string>{"m-0", "m-1"});
  CHECK(m.types["sluice_http_requests_total"] == "counter");
  CHECK(m.types["sluice_connections_open"] == "gauge");
  CHECK(m.types["sluice_http_request_duration_seconds"] == "histogram");
  CHECK(m.sum("process_open_fds") > 0);
  CHECK(m.sum("process_resident_memory_bytes") > 0);
  CHECK(m.sum("sluice_build_info") == 1);
}

TEST_CASE("metrics: header and keep-alive timeouts are counted by kind", "[metrics]") {
  HttpCodecOptions codec;
  codec.header_timeout_ms = 150;
  codec.keep_alive_timeout_ms = 150;
  MeteredServer s(codec);

  BlockingClient slow(s.server->port());
  slow.send_all("GET /hi HTTP/1.1\r\nHost: x\r\n");  // and never the rest
  auto answers = read_responses(slow, 1);
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 408);

  BlockingClient idle(s.server->port());
  idle.send_all(get("/hi"));
  REQUIRE(read_responses(idle, 1).size() == 1);

  PrometheusText m = s.scrape_until([](const PrometheusText& t) {
    return t.sum("sluice_http_timeouts_total", {{"kind", "keep_alive"}}) == 1 &&
           t.sum("sluice_http_timeouts_total", {{"kind", "header"}}) == 1;
  });
  INFO(s.metrics.prometheus());
  CHECK(m.sum("sluice_http_refused_total", {{"status", "408"}}) == 1);
  CHECK(m.sum("sluice_http_timeouts_total") == 2);
}

TEST_CASE("metrics: posted tasks and timers feed the loop's lag histogram", "[metrics]") {
  MeteredServer s;
  for (int i = 0; i < 50; ++i) s.group.at(0).post([] {});
  s.group.at(0).run_after(1, [] {});
  PrometheusText m = s.scrape_until([](const PrometheusText& t) {
    return t.sum("sluice_loop_tasks_run_total", {{"loop", "m-0"}}) >= 50 &&
           t.sum("sluice_loop_lag_seconds_count", {{"loop", "m-0"}}) >= 2;
  });
  CHECK(m.sum("sluice_loop_tasks_posted_total", {{"loop", "m-0"}}) >= 50);
  CHECK(m.sum("sluice_loop_lag_seconds_bucket", {{"loop", "m-0"}, {"le", "+Inf"}}) ==
        m.sum("sluice_loop_lag_seconds_count", {{"loop", "m-0"}}));
}

TEST_CASE("metrics: sources outside the loops, and the status JSON", "[metrics]") {
  MeteredServer s;
  s.metrics.add_loop_source(s.group.at(1), [](MetricSink& sink) {
    sink.counter("sluice_test_things_total", "Things.", {{"kind", "a\"b\\c"}}, 3);
  });
  s.metrics.add_source([](MetricSink& sink) { sink.gauge("sluice_test_level", "A level.", {}, 0.25); });
  BlockingClient client(s.server->port());
  client.send_all(get("/hi") + get("/hi"));
  REQUIRE(read_responses(client, 2).size() == 2);

  PrometheusText m = s.scrape();
  CHECK(m.layout_errors.empty());
  CHECK(m.sum("sluice_test_things_total", {{"loop", "m-1"}, {"kind", "a\"b\\c"}}) == 3);
  CHECK(m.sum("sluice_test_level") == 0.25);
  CHECK(m.label_values("sluice_test_level", "loop").empty());

  nlohmann::json status = s.metrics.status();
  REQUIRE(status["loops"].size() == 2);
  CHECK(status["loops"][0]["loop"] == "m-0");
  CHECK(status["loops"][1]["sluice_test_things_total"] == 3);
  double requests = 0;
  for (const auto& loop : status["loops"]) requests += loop.value("sluice_http_requests_total", 0.0);
  CHECK(requests == 2);
  CHECK(status["loops"][0]["sluice_loop_lag_seconds"]["buckets"].size() == DurationHistogram::kBoundsNs.size());
  CHECK(status["histogram_bounds_seconds"].size() == DurationHistogram::kBoundsNs.size() - 1);
  CHECK(status["process"]["process_open_fds"].get<double>() > 0);
  CHECK(status["process"]["sluice_test_level"] == 0.25);
  CHECK(status["uptime_seconds"].get<double>() >= 0);
  CHECK_FALSE(status["version"].get<std::string>().empty());
}

TEST_CASE("metrics: a stall detector's counts, per loop", "[metrics][stall]") {
  MeteredServer s;
  StallDetector detector(s.group, StallDetector::Options{50, 0});
  detector.start();
  s.metrics.add(detector);
  s.group.at(1).post([] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); });
  PrometheusText m = s.scrape_until([](const PrometheusText& t) {
    return t.sum("sluice_loop_stalls_total", {{"loop", "m-1"}}) == 1 &&
           t.sum("sluice_loop_stalled_seconds_total", {{"loop", "m-1"}}) >= 0.25;
  });
  INFO(s.metrics.prometheus());
  CHECK(m.sum("sluice_loop_stalls_total", {{"loop", "m-0"}}) == 0);
  CHECK(m.types["sluice_loop_stalls_total"] == "counter");
  detector.stop();
}
