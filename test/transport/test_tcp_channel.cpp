// TcpChannel on its loop's epoll set: reading paused and resumed, a peer
// that goes away while nobody reads, writes the kernel cannot take at once.

#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "echo/echo_pipeline.hpp"
#include "sluice/transport/tcp_server.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::wait_until;

namespace {
// Counts what it reads and whether the channel went inactive.
class Recorder final : public InboundHandler<Buffer> {
 public:
  void read(HandlerContext&, Buffer& bytes) override {
    received += bytes.readable_bytes();
    bytes.retrieve_all();
  }
  void channel_inactive(HandlerContext& ctx) override {
    inactive = true;
    ctx.fire_channel_inactive();
  }
  std::atomic<std::size_t> received{0};
  std::atomic<bool> inactive{false};
};

// Closes with a reset (SO_LINGER 0): the peer sees ECONNRESET/EPOLLHUP.
void reset(BlockingClient& client) {
  linger l{1, 0};
  ::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  client.close();
}
// A one-loop server whose one connection records what it reads; the test
// holds the server's end of that connection.
struct RecordingServer {
  RecordingServer()
      : loops({1, false, "tcp"}), server(loops, ServerOptions{}, [this](Channel& c) {
          c.pipeline().add_last("recorder", recorder);
          channel = c.shared_from_this();
          have = true;
        }) {
    server.start();
  }
  /// Waits for the connection a client made.
  std::shared_ptr<Channel> accepted() {
    REQUIRE(wait_until([&] { return have.load(); }));
    return channel;
  }

  EventLoopGroup loops;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  std::shared_ptr<Channel> channel;
  std::atomic<bool> have{false};
  TcpServer server;
};
}  // namespace

TEST_CASE("TcpChannel: reading paused and resumed between reads delivers every byte once") {
  RecordingServer srv;
  auto& loops = srv.loops;
  auto& recorder = srv.recorder;
  BlockingClient client(srv.server.port());
  auto channel = srv.accepted();

  std::size_t sent = 0;
  for (int round = 0; round < 20; ++round) {
    channel->set_auto_read(false);
    std::string chunk(1000 + round, 'x');
    client.send_all(chunk);
    sent += chunk.size();
    channel->set_auto_read(true);
    REQUIRE(wait_until([&] { return recorder->received.load() == sent; }));
  }
  // Paused, nothing arrives; resumed, what waited in the kernel does.
  channel->set_auto_read(false);
  loops.at(0).run_sync([] {});
  std::size_t before = recorder->received.load();
  client.send_all(std::string(5000, 'y'));
  loops.at(0).run_sync([] {});
  CHECK(recorder->received.load() == before);
  channel->set_auto_read(true);
  CHECK(wait_until([&] { return recorder->received.load() == before + 5000; }));
}

TEST_CASE("TcpChannel: a peer that resets while the channel is not reading does not spin its loop") {
  RecordingServer srv;
  auto& loops = srv.loops;
  auto& recorder = srv.recorder;
  auto client = std::make_unique<BlockingClient>(srv.server.port());
  auto channel = srv.accepted();
  client->send_all("ping");
  REQUIRE(wait_until([&] { return recorder->received.load() == 4; }));

  channel->set_auto_read(false);
  client->send_all("more");  // wakes the socket once, so the paused channel stops watching for input
  loops.at(0).run_sync([] {});
  reset(*client);
  // A socket that reports its hang-up on every poll would turn the loop
  // hundreds of thousands of times a second. Counted over twenty turns of a
  // 10 ms timer, a loop at rest turns a few dozen times.
  std::atomic<int> ticks{0};
  std::uint64_t before = loops.at(0).stats().iterations;
  auto timer = loops.at(0).run_every(10, [&] { ++ticks; });
  REQUIRE(wait_until([&] { return ticks.load() >= 20; }));
  loops.at(0).cancel(timer);
  std::uint64_t turns = loops.at(0).stats().iterations - before;
  CHECK(turns < 2000);
  CHECK_FALSE(recorder->inactive.load());

  // Reading again meets the reset: the channel closes.
  channel->set_auto_read(true);
  CHECK(wait_until([&] { return recorder->inactive.load(); }));
}

TEST_CASE("TcpChannel: an answer larger than the socket buffer arrives whole once the peer reads") {
  EventLoopGroup loops({1, false, "tcp"});
  TcpServer server(loops, ServerOptions{}, [](Channel& c) { echo::init_echo_pipeline(c, echo::Mode::raw, 0); });
  server.start();
  BlockingClient client(server.port(), "127.0.0.1", 16 * 1024);
  std::string big(3 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::thread sender([&] { client.send_all(big); });
  std::string back = client.recv_exact(big.size(), std::chrono::seconds(60));
  sender.join();
  CHECK(back == big);
}
