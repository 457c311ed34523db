// ws-bench: a WebSocket load generator for tools/ws-bench-compare.
//
// It measures any server with sluice-ws's endpoints (/ws/echo, /ws/push,
// POST /publish/:topic), so it must not share code with the library under
// test: plain sockets and one epoll loop on one thread, pinned to a CPU of
// its own, where it polls without sleeping. Over loopback a client pays
// about the same kernel cost per message as the server (a send carries the
// peer's receive path): client_busy_pct says how much of the window found
// work, and near 100 the client, not the server, set the pace.
//
// One file per part: options (the command line), wire (handshake and
// frames), client (connections and the loop), measure and histogram (what a
// result is made of), and one file per mode: echo, broadcast, idle.

#include <sys/resource.h>

#include <string>

#include "modes.hpp"
#include "options.hpp"

namespace {

// 10,000 connections and more need descriptors past the usual soft limit of 1,024.
void raise_fd_limit(std::size_t needed) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    ws_bench::fail("need " + std::to_string(needed) + " descriptors; the hard limit is " +
                   std::to_string(limit.rlim_max));
  }
}

}  // namespace

int main(int argc, char** argv) {
  ws_bench::Options options = ws_bench::parse_options(argc, argv);
  raise_fd_limit(options.connections + 64);
  switch (options.mode) {
    case ws_bench::Mode::echo:
      ws_bench::run_echo(options);
      break;
    case ws_bench::Mode::broadcast:
      ws_bench::run_broadcast(options);
      break;
    case ws_bench::Mode::idle:
      ws_bench::run_idle(options);
      break;
  }
  return 0;
}
