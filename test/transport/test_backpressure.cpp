// Flow control over a real socket: a peer that stops reading cannot make the
// server buffer without bound, and reading resumes once it drains.

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "echo/echo_pipeline.hpp"
#include "sluice/transport/tcp_server.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::wait_until;

namespace {
// Records the most outbound bytes the channel ever held after an echo.
class PendingProbe final : public OutboundHandler<Buffer, Buffer> {
 public:
  explicit PendingProbe(std::atomic<std::size_t>& max_pending) : max_pending_(max_pending) {}
  void write(HandlerContext& ctx, Buffer& message) override {
    ctx.write(message);
    std::size_t now = ctx.channel().pending_outbound_bytes();
    if (now > max_pending_) max_pending_ = now;
  }

 private:
  std::atomic<std::size_t>& max_pending_;
};
}  // namespace

TEST_CASE("a client that stops reading: pending bytes stay bounded; draining resumes reading") {
  std::atomic<std::size_t> max_pending{0};
  std::shared_ptr<Channel> server_channel;
  std::atomic<bool> have_channel{false};

  EventLoopGroup loops({1, false, "srv"});
  ServerOptions options;
  TcpServer server(loops, options, [&](Channel& c) {
    c.pipeline().add_last("probe", std::make_shared<PendingProbe>(max_pending));
    echo::init_echo_pipeline(c, echo::Mode::raw, 0);
    server_channel = c.shared_from_this();
    have_channel = true;
  });
  server.start();

  // Small client socket buffers make the kernel's share of the backlog small.
  BlockingClient client(server.port(), "127.0.0.1", 64 * 1024);
  REQUIRE(wait_until([&] { return have_channel.load(); }));

  constexpr std::size_t kTotal = 64 * 1024 * 1024;
  std::string chunk(256 * 1024, 'z');
  std::atomic<std::size_t> sent{0};
  std::thread sender([&] {
    try {
      while (sent < kTotal) {
        client.send_all(chunk);
        sent += chunk.size();
      }
    } catch (...) {
    }
  });

  // The server stops reading once it holds a high watermark of echoes. The
  // kernel buffers on both sides hold a few MiB at most, so the sender is
  // stuck far short of its 64 MiB while the server is not reading.
  REQUIRE(wait_until([&] { return !server_channel->is_writable(); }));
  CHECK(sent < kTotal);
  const std::size_t bound = server_channel->options().write_high_watermark + loops.at(0).read_slab_size();
  CHECK(max_pending <= bound);

  // Drain everything: the server resumes reading and every byte comes back.
  std::size_t received = 0;
  bool intact = true;
  while (received < kTotal) {
    std::string got = client.recv_exact(std::min<std::size_t>(1 << 20, kTotal - received));
    if (got.empty()) break;
    intact = intact && got.find_first_not_of('z') == std::string::npos;
    received += got.size();
  }
  sender.join();
  CHECK(received == kTotal);
  CHECK(intact);
  CHECK(max_pending <= bound);
  CHECK(server_channel->is_writable());
  server_channel.reset();
}
