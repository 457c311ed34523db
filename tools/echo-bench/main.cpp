// echo-bench: round trips per second against an echo server, on TcpClient.
//
// Each of N connections sends an M-byte message, waits for all M bytes to
// come back, and sends the next: a closed loop, so the figure is round trips
// the server completes, not bytes a client can push.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "common/flags.hpp"
#include "sluice/core/event_loop_group.hpp"
#include "sluice/core/log.hpp"
#include "sluice/transport/tcp_client.hpp"

namespace {

const char* kUsage = R"(usage: echo-bench [options]

Measures an echo server: N connections each send an M-byte message and wait
for the whole echo before sending the next.

  --host ADDR         server address (default 127.0.0.1)
  --port N            server port (default 7000)
  --connections N     concurrent connections (default 64)
  --size BYTES        message size (default 64)
  --duration SECONDS  measuring time after a 1 s warm-up (default 10)
  --loops N           client event loops (default 1)
  --help              this text

Prints one line: round trips/s and MB/s (payload, each way).
)";

struct Counters {
  std::atomic<std::uint64_t> round_trips{0};
  std::atomic<bool> stop{false};
};

class PingPong final : public sluice::InboundHandler<sluice::Buffer, sluice::Buffer> {
 public:
  PingPong(std::size_t size, Counters& counters) : message_(size, 'x'), counters_(counters) {}
  void channel_active(sluice::HandlerContext& ctx) override {
    send(ctx);
    ctx.fire_channel_active();
  }
  void read(sluice::HandlerContext& ctx, sluice::Buffer& bytes) override {
    received_ += bytes.readable_bytes();
    bytes.retrieve_all();
    // A round trip ends when the whole message is back.
    while (received_ >= message_.size()) {
      received_ -= message_.size();
      counters_.round_trips.fetch_add(1, std::memory_order_relaxed);
      if (counters_.stop.load(std::memory_order_relaxed)) {
        ctx.close();
        return;
      }
      send(ctx);
    }
  }

 private:
  void send(sluice::HandlerContext& ctx) {
    sluice::Buffer out = sluice::Buffer::copy_of(message_);
    ctx.write_and_flush(out);
  }
  std::string message_;
  std::size_t received_ = 0;
  Counters& counters_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7000;
  std::size_t connections = 64;
  std::size_t size = 64;
  std::uint64_t duration_s = 10;
  std::size_t loops = 1;
  sluice::cli::Flags flags(argc, argv, "echo-bench", kUsage);
  std::string flag;
  while (flags.next(flag)) {
    if (flag == "--host") {
      host = flags.value();
    } else if (flag == "--port") {
      port = static_cast<std::uint16_t>(flags.number(65535));
    } else if (flag == "--connections") {
      connections = flags.number(1'000'000);
    } else if (flag == "--size") {
      size = flags.number(64 * 1024 * 1024);
    } else if (flag == "--duration") {
      duration_s = flags.number(86400);
    } else if (flag == "--loops") {
      loops = flags.number(1024);
    } else {
      flags.unknown(flag);
    }
  }
  if (connections == 0 || size == 0) flags.fail("connections and size must be positive");

  sluice::EventLoopGroup group({loops, false, "bench"});
  Counters counters;
  std::atomic<std::size_t> connected{0};
  std::atomic<std::size_t> failed{0};
  std::string first_error;
  for (std::size_t i = 0; i < connections; ++i) {
    sluice::TcpClient::connect(
        group.next(), host, port,
        [&](sluice::Channel& c) { c.pipeline().emplace_last<PingPong>("pingpong", size, counters); },
        [&](std::shared_ptr<sluice::Channel> ch, std::string error) {
          if (ch) {
            connected.fetch_add(1);
          } else {
            if (failed.fetch_add(1) == 0) first_error = error;
          }
        });
  }
  while (connected + failed < connections) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (failed != 0) {
    std::cerr << "echo-bench: " << failed << " connection(s) failed: " << first_error << "\n";
    return 1;
  }

  std::this_thread::sleep_for(std::chrono::seconds(1));  // warm-up
  auto start_count = counters.round_trips.load();
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(duration_s));
  auto end_count = counters.round_trips.load();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  counters.stop = true;
  group.shutdown_gracefully(0, 2000);

  double rate = static_cast<double>(end_count - start_count) / seconds;
  double mbps = rate * static_cast<double>(size) / 1e6;
  std::printf("echo-bench: %zu connections x %zu B for %.1f s: %.0f round trips/s, %.1f MB/s each way\n",
              connections, size, seconds, rate, mbps);
  return 0;
}
