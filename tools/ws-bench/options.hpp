// ws-bench's command line, and how it stops on an error.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ws_bench {

enum class Mode { echo, broadcast, idle };

// A broadcast body starts with the CLOCK_MONOTONIC ns it was sent, in this
// many decimal digits (2^64 has 20).
constexpr std::size_t kTimestampDigits = 20;

struct Options {
  Mode mode = Mode::echo;
  std::string host = "127.0.0.1";
  std::uint16_t port = 8090;
  std::size_t connections = 0;  // 0: the mode's default
  std::size_t size = 64;
  double duration_s = 10;
  double warmup_s = 1;
  long server_pid = 0;
  std::size_t window = 256;
  std::size_t sources = 0;  // 0: from the count
  bool json = false;
  bool spin = true;
};

// Parses the command line; prints the usage and exits on --help, fails on a bad flag.
Options parse_options(int argc, char** argv);

// Prints `ws-bench: why` on stderr and exits 1: a run that cannot be made has no result.
[[noreturn]] void fail(const std::string& why);

// `what: strerror(errno)`.
std::string errno_text(const char* what);

}  // namespace ws_bench
