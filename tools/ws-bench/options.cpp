#include "options.hpp"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace ws_bench {

namespace {

const char* kUsage = R"(usage: ws-bench --mode echo|broadcast|idle [options]

  --mode echo        N connections to /ws/echo, each in a closed loop: one
                     masked binary message of --size bytes, then wait for the
                     whole echo. Reports messages (round trips)/s and RTT.
  --mode broadcast   N connections to /ws/push subscribe to topic `bench`;
                     then one keep-alive HTTP connection POSTs /publish/bench
                     in a closed loop (the next after the 200), each body the
                     CLOCK_MONOTONIC ns it was sent (20 digits) padded to
                     --size. Reports publishes/s, deliveries/s and delivery
                     latency (receipt minus that timestamp).
  --mode idle        N connections to /ws/echo, each echoes one message and
                     then stays idle; once the RSS of --server-pid is stable,
                     reports its growth per connection.

  --host ADDR          server address (default 127.0.0.1)
  --port N             server port (default 8090)
  --connections N      connections (default 64 for echo, 10000 otherwise)
  --subscribers N      the same, for broadcast
  --size BYTES         message or publish body size (default 64)
  --duration SECONDS   measuring time after the warm-up (default 10)
  --warmup SECONDS     before measuring (default 1)
  --server-pid PID     the server process: idle mode reads its RSS; echo and
                       broadcast its CPU time over the measured window
  --window N           connections opening at once (default 256): a listen
                       backlog overflows if 10,000 SYNs come together
  --sources K          spread connections over source addresses 127.0.0.1..K
                       (default: one per 8,000 connections on a loopback host)
  --no-spin            sleep in epoll_wait when nothing is ready, instead of
                       polling without a timeout on the CPU ws-bench owns
  --json               print the result as one JSON object
  --help               this text

One result line on stdout; exit status 1 when the run could not be made
(refused connection, failed handshake, a connection closed while opening).
)";

// A port range per source address holds ~28k; TIME_WAIT sockets of earlier
// runs hold some, so stay well below it (tools/idle-conns does the same).
constexpr std::size_t kConnectionsPerSource = 8000;

std::uint64_t parse_number(const std::string& flag, const char* text, std::uint64_t max) {
  std::uint64_t value = 0;
  const char* end = text + std::strlen(text);
  auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || ptr != end || value > max) fail(flag + " wants a number up to " + std::to_string(max));
  return value;
}

double parse_seconds(const std::string& flag, const char* text) {
  char* end = nullptr;
  double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || value < 0 || value > 86400) fail(flag + " wants seconds (0 to 86400)");
  return value;
}

}  // namespace

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "ws-bench: %s\n", why.c_str());
  std::exit(1);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag == "--json") {
      o.json = true;
      continue;
    }
    if (flag == "--no-spin") {
      o.spin = false;
      continue;
    }
    if (i + 1 >= argc) fail("unknown flag or missing value: " + flag + " (see --help)");
    const char* value = argv[++i];
    if (flag == "--mode") {
      std::string_view m = value;
      if (m == "echo")
        o.mode = Mode::echo;
      else if (m == "broadcast")
        o.mode = Mode::broadcast;
      else if (m == "idle")
        o.mode = Mode::idle;
      else
        fail("--mode is echo, broadcast or idle");
    } else if (flag == "--host") {
      o.host = value;
    } else if (flag == "--port") {
      o.port = static_cast<std::uint16_t>(parse_number(flag, value, 65535));
    } else if (flag == "--connections" || flag == "--subscribers") {
      o.connections = parse_number(flag, value, 1'000'000);
    } else if (flag == "--size") {
      o.size = parse_number(flag, value, 16 * 1024 * 1024);
    } else if (flag == "--duration") {
      o.duration_s = parse_seconds(flag, value);
    } else if (flag == "--warmup") {
      o.warmup_s = parse_seconds(flag, value);
    } else if (flag == "--server-pid") {
      o.server_pid = static_cast<long>(parse_number(flag, value, 1u << 22));
    } else if (flag == "--window") {
      o.window = parse_number(flag, value, 1'000'000);
    } else if (flag == "--sources") {
      o.sources = parse_number(flag, value, 254);
    } else {
      fail("unknown flag " + flag + " (see --help)");
    }
  }
  if (o.connections == 0) o.connections = o.mode == Mode::echo ? 64 : 10000;
  if (o.size == 0 || o.window == 0) fail("--size and --window must be positive");
  if (o.mode == Mode::broadcast && o.size < kTimestampDigits) {
    fail("--size must hold the " + std::to_string(kTimestampDigits) + "-digit timestamp in broadcast mode");
  }
  if (o.mode == Mode::idle && o.server_pid == 0) fail("--mode idle needs --server-pid");
  if (o.sources == 0) {
    bool loopback = o.host.starts_with("127.");
    o.sources = loopback ? (o.connections + kConnectionsPerSource - 1) / kConnectionsPerSource : 1;
  }
  return o;
}

}  // namespace ws_bench
