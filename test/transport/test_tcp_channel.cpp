// TcpChannel on its loop's epoll set: reading paused and resumed, a peer
// that goes away while nobody reads, writes the kernel cannot take at once,
// and what the edge-triggered watch must not lose: input left behind by a
// pause or by the per-turn bound on reads, which epoll does not report twice.

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "echo/echo_pipeline.hpp"
#include "sluice/transport/tcp_channel.hpp"
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

// Stops reading after its first read (once), as a handler whose consumer
// is slow would.
class PauseAfterFirstRead final : public InboundHandler<Buffer> {
 public:
  void read(HandlerContext& ctx, Buffer& bytes) override {
    received += bytes.readable_bytes();
    bytes.retrieve_all();
    if (!paused.exchange(true)) ctx.channel().set_auto_read(false);
  }
  std::atomic<std::size_t> received{0};
  std::atomic<bool> paused{false};
};

// A TcpChannel on a loop of its own whose read slab is `slab_bytes`, over a
// connection whose other end the test holds. `before_start` is sent before
// the channel exists, so it waits whole in the socket when reading begins.
struct SmallSlabChannel {
  SmallSlabChannel(std::size_t slab_bytes, const std::string& before_start, std::shared_ptr<HandlerBase> handler)
      : loop(options(slab_bytes)) {
    std::uint16_t port = 0;
    int listener = sluice::test::listen_on_loopback(1, port);
    client = std::make_unique<BlockingClient>(port);
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ::close(listener);
    REQUIRE(fd >= 0);
    client->send_all(before_start);
    loop.start();
    loop.run_sync([&] {
      channel = TcpChannel::create(loop, fd, SocketAddress{}, std::make_shared<ChannelOptions>());
      channel->start([&](Channel& c) { c.pipeline().add_last("handler", handler); });
    });
  }
  ~SmallSlabChannel() {
    loop.run_sync([&] { channel->close(); });
    loop.stop();
  }
  static EventLoop::Options options(std::size_t slab_bytes) {
    EventLoop::Options o;
    o.name = "tcp";
    o.read_slab_bytes = slab_bytes;
    return o;
  }

  EventLoop loop;
  std::unique_ptr<BlockingClient> client;
  std::shared_ptr<TcpChannel> channel;
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

TEST_CASE("TcpChannel: input past a turn's bound of reads is read in the turns after") {
  // 32 reads of 512 bytes a turn: 40,000 bytes waiting take three turns, and
  // epoll reported them once.
  auto recorder = std::make_shared<Recorder>();
  SmallSlabChannel c(512, std::string(40000, 'x'), recorder);
  CHECK(wait_until([&] { return recorder->received.load() == 40000; }));
}

TEST_CASE("TcpChannel: reading paused with input left and resumed reads the rest, with nothing new from the peer") {
  auto pauser = std::make_shared<PauseAfterFirstRead>();
  SmallSlabChannel c(1024, std::string(10000, 'x'), pauser);
  REQUIRE(wait_until([&] { return pauser->paused.load(); }));
  c.loop.run_sync([] {});
  CHECK(pauser->received.load() == 1024);
  c.channel->set_auto_read(true);
  CHECK(wait_until([&] { return pauser->received.load() == 10000; }));
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
  client->send_all("more");  // reported once, to the paused channel, which notes it
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
