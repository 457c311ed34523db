// Channel's any-thread methods called from threads that are not the
// channel's loop.

#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "sluice/codec/line_decoder.hpp"
#include "sluice/codec/string_codec.hpp"
#include "sluice/transport/tcp_server.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::wait_until;

namespace {

/// A one-loop server that encodes strings, one client connected to it, and
/// the server's end of that connection, for foreign threads to call.
struct OneConnection {
  OneConnection() : client((server.start(), server.port())) {
    REQUIRE(wait_until([&] { return active.load(); }));
  }
  ~OneConnection() { server_channel.reset(); }  // before the loop goes

  std::shared_ptr<Channel> server_channel;
  std::atomic<bool> active{false};
  EventLoopGroup loops{{1, false, "srv"}};
  TcpServer server{loops, ServerOptions{}, [this](Channel& c) {
                     c.pipeline().add_last("strings", std::make_shared<StringEncoder>());
                     server_channel = c.shared_from_this();
                     active = true;
                   }};
  BlockingClient client;
};

}  // namespace

TEST_CASE("a foreign thread writes 100,000 messages to one channel: all arrive, in order") {
  OneConnection connection;
  auto& server_channel = connection.server_channel;
  auto& client = connection.client;

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
}

TEST_CASE("foreign threads pause and resume reading, write, flush and close one channel") {
  OneConnection connection;
  auto& server_channel = connection.server_channel;
  auto& client = connection.client;
  // Input for the loop to read (and drop) while reading is paused and
  // resumed from afar.
  client.send_all(std::string(16 * 1024, 'p'));

  constexpr int kThreads = 3;
  constexpr int kEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        server_channel->set_auto_read(i % 2 == 0);
        server_channel->write(std::string("x"));
        if (i % 16 == t) server_channel->flush();
        (void)server_channel->pending_outbound_bytes();
        (void)server_channel->is_writable();
        (void)server_channel->is_active();
      }
    });
  }
  for (auto& th : threads) th.join();
  server_channel->set_auto_read(true);
  server_channel->flush();
  server_channel->close_lingering();
  // Every byte written before the close reaches the client, then FIN.
  auto stream = client.read_to_end(std::chrono::seconds(60));
  CHECK(stream.bytes == std::string(kThreads * kEach, 'x'));
  CHECK(stream.end == BlockingClient::End::eof);
  client.close();
  CHECK(wait_until([&] { return !server_channel->is_active(); }));
}
