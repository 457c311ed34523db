// sluice-echo: an echo server on N loops (see --help).

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "common/flags.hpp"
#include "common/signals.hpp"
#include "echo_pipeline.hpp"
#include "sluice/core/log.hpp"
#include "sluice/observe/stall_detector.hpp"
#include "sluice/transport/tcp_server.hpp"

namespace {

const char* kUsage = R"(usage: sluice-echo [options]

An echo server: every byte (or frame) a client sends comes back.

  --host ADDR          address to listen on (default 0.0.0.0; "::" for IPv6)
  --port N             port (default 7000; 0 picks a free port and logs it)
  --loops N            event loops, one thread each (default: one per CPU)
  --pin                pin loop i to CPU i
  --mode MODE          raw (bytes as they come), line (newline-framed) or
                       length (4-byte big-endian length prefix) (default raw)
  --idle-timeout MS    close a connection after MS milliseconds with no
                       traffic (default 0: never)
  --max-connections N  refuse connections beyond N (default 0: no limit)
  --memory-budget MB   what each loop's connections may hold (unsent echoes,
                       partial frames) before the loop refuses new
                       connections and pauses the heaviest (default 256)
  --stall-threshold-ms MS
                       log a loop that has not gone back to poll for MS
                       milliseconds, with its thread's stack, once per stall
                       (default 100; 0: off)
  --help               this text

SIGINT or SIGTERM shuts the server down gracefully.
)";

}  // namespace

int main(int argc, char** argv) {
  sluice::ServerOptions server_options;
  server_options.port = 7000;
  sluice::EventLoopGroup::Options group_options;
  group_options.name = "echo";
  auto mode = sluice::echo::Mode::raw;
  std::uint64_t idle_timeout_ms = 0;
  sluice::StallDetector::Options stall_options;

  sluice::cli::Flags flags(argc, argv, "sluice-echo", kUsage);
  std::string flag;
  while (flags.next(flag)) {
    if (flag == "--host") {
      server_options.host = flags.value();
    } else if (flag == "--port") {
      server_options.port = static_cast<std::uint16_t>(flags.number(65535));
    } else if (flag == "--loops") {
      group_options.loops = flags.number(1024);
    } else if (flag == "--pin") {
      group_options.pin = true;
    } else if (flag == "--mode") {
      try {
        mode = sluice::echo::parse_mode(flags.value());
      } catch (const std::exception& e) {
        flags.fail(e.what());
      }
    } else if (flag == "--idle-timeout") {
      idle_timeout_ms = flags.number();
    } else if (flag == "--max-connections") {
      server_options.max_connections = flags.number();
    } else if (flag == "--memory-budget") {
      server_options.memory_budget_bytes = std::max<std::uint64_t>(1, flags.number()) * 1024 * 1024;
    } else if (flag == "--stall-threshold-ms") {
      stall_options.threshold_ms = flags.number();
    } else {
      flags.unknown(flag);
    }
  }

  sigset_t signals = sluice::cli::block_shutdown_signals();

  sluice::EventLoopGroup group(group_options);
  sluice::TcpServer server(group, server_options, [mode, idle_timeout_ms](sluice::Channel& channel) {
    sluice::echo::init_echo_pipeline(channel, mode, idle_timeout_ms);
  });
  // Stops itself when the group's shutdown begins, before the loops end.
  sluice::StallDetector stall_detector(group, stall_options);
  stall_detector.start();
  try {
    server.start();
  } catch (const std::exception& e) {
    sluice::log().error("cannot start: {}", e.what());
    return 1;
  }
  sluice::log().info("sluice-echo on {} port {}, {} loop(s){}", server_options.host, server.port(), group.size(),
                     group_options.pin ? ", pinned" : "");

  int received = sluice::cli::wait_for_shutdown_signal(signals);
  sluice::log().info("signal {}: shutting down ({} connection(s) open)", received, server.connections());
  group.shutdown_gracefully(100, 5000);
  sluice::log().info("stopped after {} connection(s)", server.accepted());
  return 0;
}
