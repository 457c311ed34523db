// Channel::write from a thread that is not the channel's loop.

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "sluice/codec/line_decoder.hpp"
#include "sluice/codec/string_codec.hpp"
#include "sluice/transport/tcp_server.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::wait_until;

TEST_CASE("a foreign thread writes 100,000 messages to one channel: all arrive, in order") {
  std::shared_ptr<Channel> server_channel;
  std::atomic<bool> active{false};
  EventLoopGroup loops({1, false, "srv"});
  TcpServer server(loops, ServerOptions{}, [&](Channel& c) {
    c.pipeline().add_last("strings", std::make_shared<StringEncoder>());
    server_channel = c.shared_from_this();
    active = true;
  });
  server.start();
  BlockingClient client(server.port());
  REQUIRE(wait_until([&] { return active.load(); }));

  constexpr int kMessages = 100000;
  std::thread writer([&] {
    for (int i = 0; i < kMessages; ++i) {
      server_channel->write(std::to_string(i) + "\n");
      if (i % 64 == 63) server_channel->flush();
    }
    server_channel->flush();
  });

  // Read and check the sequence while the writer is still writing.
  std::string pending;
  int next = 0;
  bool in_order = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (next < kMessages && std::chrono::steady_clock::now() < deadline) {
    pending += client.recv_exact(64 * 1024, std::chrono::milliseconds(100));
    std::size_t start = 0;
    std::size_t nl = 0;
    while ((nl = pending.find('\n', start)) != std::string::npos) {
      if (pending.compare(start, nl - start, std::to_string(next)) != 0) in_order = false;
      ++next;
      start = nl + 1;
    }
    pending.erase(0, start);
  }
  writer.join();
  CHECK(in_order);
  CHECK(next == kMessages);
  server_channel.reset();
}
