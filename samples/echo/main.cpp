// sluice-echo: an echo server on N loops (see --help).

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "echo_pipeline.hpp"
#include "sluice/core/log.hpp"
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
  --help               this text

SIGINT or SIGTERM shuts the server down gracefully.
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "sluice-echo: " << message << "\n\n" << kUsage;
  std::exit(2);
}

std::uint64_t number(int argc, char** argv, int& i) {
  if (i + 1 >= argc) usage_error(std::string(argv[i]) + " needs a value");
  const char* text = argv[++i];
  char* end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0') usage_error(std::string("not a number: ") + text);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  sluice::ServerOptions server_options;
  server_options.port = 7000;
  sluice::EventLoopGroup::Options group_options;
  group_options.name = "echo";
  auto mode = sluice::echo::Mode::raw;
  std::uint64_t idle_timeout_ms = 0;

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--host") {
      if (i + 1 >= argc) usage_error("--host needs a value");
      server_options.host = argv[++i];
    } else if (arg == "--port") {
      std::uint64_t port = number(argc, argv, i);
      if (port > 65535) usage_error("port out of range");
      server_options.port = static_cast<std::uint16_t>(port);
    } else if (arg == "--loops") {
      group_options.loops = number(argc, argv, i);
    } else if (arg == "--pin") {
      group_options.pin = true;
    } else if (arg == "--mode") {
      if (i + 1 >= argc) usage_error("--mode needs a value");
      try {
        mode = sluice::echo::parse_mode(argv[++i]);
      } catch (const std::exception& e) {
        usage_error(e.what());
      }
    } else if (arg == "--idle-timeout") {
      idle_timeout_ms = number(argc, argv, i);
    } else if (arg == "--max-connections") {
      server_options.max_connections = number(argc, argv, i);
    } else {
      usage_error("unknown option " + arg);
    }
  }

  // Block the shutdown signals before any loop thread starts, so they reach
  // only the sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  sluice::EventLoopGroup group(group_options);
  sluice::TcpServer server(group, server_options, [mode, idle_timeout_ms](sluice::Channel& channel) {
    sluice::echo::init_echo_pipeline(channel, mode, idle_timeout_ms);
  });
  try {
    server.start();
  } catch (const std::exception& e) {
    sluice::log().error("cannot start: {}", e.what());
    return 1;
  }
  sluice::log().info("sluice-echo on {} port {}, {} loop(s){}", server_options.host, server.port(), group.size(),
                     group_options.pin ? ", pinned" : "");

  int received = 0;
  sigwait(&signals, &received);
  sluice::log().info("signal {}: shutting down ({} connection(s) open)", received, server.connections());
  group.shutdown_gracefully(100, 5000);
  sluice::log().info("stopped after {} connection(s)", server.accepted());
  return 0;
}
