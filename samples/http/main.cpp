// sluice-http: the sample HTTP server (see --help).

#include <string>

#include "common/admin.hpp"
#include "common/flags.hpp"
#include "common/logging_flags.hpp"
#include "common/serve.hpp"
#include "common/signals.hpp"
#include "routes.hpp"
#include "sluice/core/log.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/observe/stall_detector.hpp"

namespace {

const char* kUsage = R"(usage: sluice-http [options]

The sluice sample HTTP/1.1 server.

Routes:
  GET  /plaintext      "Hello, World!" (text/plain)
  GET  /json           {"message":"Hello, World!"}
  POST /echo           the request body back, with its Content-Type
  GET  /users/:id      a JSON user (404 unless :id is a number)
  GET  /compute?n=N    counts the primes below N on the thread pool (N <= 50000000)
  GET  /stream?kb=K    K KiB streamed as a chunked body, with backpressure
  POST /upload         a streamed request body (any size up to 1 GiB): its
                       length and checksum, never held whole
  GET  /health         {"status":"ok", ...}

Listening:
  --host ADDR                 address (default 0.0.0.0; "::" for IPv6)
  --port N                    port (default 8080; 0 picks a free port and logs it)
  --loops N                   event loops, one thread each (default: one per CPU)
  --pin                       pin loop i to CPU i
  --max-connections N         refuse connections beyond N (default 0: no limit)
  --memory-budget MB          what each loop's connections may hold (write
                              queues, bodies being read) before the loop sheds
                              load: new connections refused, the heaviest
                              paused, then new requests 503 (default 256)

Limits (each answered with its status, then the connection closes):
  --max-target-bytes N        request target (default 8192; 414)
  --max-header-bytes N        request line + header fields (default 32768; 431)
  --max-headers N             header fields (default 100; 431)
  --max-body-bytes N          request body (default 1048576; 413)
  --max-pipelined N           requests in flight per connection before it
                              stops reading (default 16)
  --max-requests N            requests per connection, then Connection: close
                              (default 10000; 0: no limit)

Timeouts (milliseconds):
  --header-timeout MS         header section must arrive within (default 10000; 408)
  --body-timeout MS           body must arrive within (default 60000; 408)
  --keep-alive-timeout MS     idle keep-alive connections close (default 60000)
  --send-timeout MS           a client that reads none of its answers is cut
                              off (default 60000)
  --request-timeout MS        a handler must answer within (default 30000; 503; 0: off)

Other:
  --server-name NAME          the Server header (default "sluice"; "" for none)
  --stall-threshold-ms MS     log a loop that has not gone back to poll for MS
                              milliseconds, with its thread's stack, once per
                              stall (default 100; 0: off)
  --help                      this text

SIGINT or SIGTERM shuts the server down gracefully: requests in flight finish
(answered with Connection: close) and idle connections close at once.
)";

std::string usage() { return sluice::cli::with_admin_usage(kUsage) + "\n" + sluice::cli::kLoggingUsage; }

}  // namespace

int main(int argc, char** argv) {
  sluice::HttpServerOptions options;
  options.listen.port = 8080;
  sluice::EventLoopGroup::Options group_options;
  group_options.name = "http";
  sluice::StallDetector::Options stall_options;

  sluice::cli::AdminFlags admin;
  sluice::cli::LoggingFlags logging;
  sluice::cli::Flags flags(argc, argv, "sluice-http", usage());
  std::string flag;
  while (flags.next(flag)) {
    auto& c = options.codec;
    if (logging.take(flags, flag) || admin.parse(flag, flags)) {
      continue;
    } else if (flag == "--host") {
      options.listen.host = flags.value();
    } else if (flag == "--port") {
      options.listen.port = static_cast<std::uint16_t>(flags.number(65535));
    } else if (flag == "--loops") {
      group_options.loops = flags.number(1024);
    } else if (flag == "--pin") {
      group_options.pin = true;
    } else if (flag == "--max-connections") {
      options.listen.max_connections = flags.number();
    } else if (flag == "--memory-budget") {
      options.listen.memory_budget_bytes = std::max<std::uint64_t>(1, flags.number()) * 1024 * 1024;
    } else if (flag == "--max-target-bytes") {
      c.max_target_bytes = flags.number();
    } else if (flag == "--max-header-bytes") {
      c.max_header_bytes = flags.number();
    } else if (flag == "--max-headers") {
      c.max_headers = flags.number();
    } else if (flag == "--max-body-bytes") {
      c.max_body_bytes = flags.number();
    } else if (flag == "--max-pipelined") {
      c.max_pipelined_requests = std::max<std::uint64_t>(1, flags.number());
    } else if (flag == "--max-requests") {
      c.max_requests_per_connection = flags.number();
    } else if (flag == "--header-timeout") {
      c.header_timeout_ms = flags.number();
    } else if (flag == "--body-timeout") {
      c.body_timeout_ms = flags.number();
    } else if (flag == "--send-timeout") {
      c.send_timeout_ms = flags.number();
    } else if (flag == "--keep-alive-timeout") {
      c.keep_alive_timeout_ms = flags.number();
    } else if (flag == "--request-timeout") {
      options.request_timeout_ms = flags.number();
    } else if (flag == "--server-name") {
      c.server_name = flags.value();
    } else if (flag == "--stall-threshold-ms") {
      stall_options.threshold_ms = flags.number();
    } else {
      flags.unknown(flag);
    }
  }

  logging.apply(flags, options);

  sigset_t signals = sluice::cli::block_shutdown_signals();
  sluice::EventLoopGroup group(group_options);
  sluice::HttpServer* server_ptr = nullptr;
  auto routes = sluice::sample::make_routes([&group, &server_ptr] {
    nlohmann::json memory = nlohmann::json::array();
    for (std::size_t i = 0; i < group.size(); ++i) {
      const sluice::MemoryBudget& m = group.at(i).memory();
      memory.push_back({{"held", m.held()}, {"peak", m.peak()}, {"budget", m.budget()},
                        {"level", static_cast<int>(m.level())}, {"refused_connections", m.refused_connections()}});
    }
    return nlohmann::json{{"status", "ok"},
                          {"loops", group.size()},
                          {"connections", server_ptr != nullptr ? server_ptr->tcp().connections() : 0},
                          {"memory", std::move(memory)}};
  });
  sluice::HttpServer server(group, options, routes);
  logging.use_middleware(server);
  server_ptr = &server;
  // Stops itself when the group's shutdown begins, before the loops end.
  sluice::StallDetector stall_detector(group, stall_options);
  stall_detector.start();
  return sluice::cli::serve_until_signal("sluice-http", server, group, signals, group_options.pin, admin,
                                         &stall_detector);
}
