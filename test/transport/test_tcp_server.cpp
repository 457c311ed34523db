// TcpServer over real loopback sockets: many clients, both loops, limits,
// idle timeouts, graceful shutdown.

#include <catch2/catch.hpp>

#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "echo/echo_pipeline.hpp"
#include "sluice/core/log.hpp"
#include "sluice/transport/tcp_client.hpp"
#include "sluice/transport/tcp_server.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::wait_until;

namespace {

std::string pattern(std::size_t size, std::size_t seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed * 13) % 26);
  return s;
}

// Client side of the 1,000-connection test: sends its pattern once, then
// collects the echo and compares it.
class EchoCheck final : public InboundHandler<Buffer, Buffer> {
 public:
  EchoCheck(std::string expected, std::atomic<int>& ok, std::atomic<int>& bad)
      : expected_(std::move(expected)), ok_(ok), bad_(bad) {}
  void channel_active(HandlerContext& ctx) override {
    Buffer out = Buffer::copy_of(expected_);
    ctx.write_and_flush(out);
    ctx.fire_channel_active();
  }
  void read(HandlerContext& ctx, Buffer& message) override {
    received_.append(message.view());
    message.retrieve_all();
    if (received_.size() >= expected_.size()) {
      (received_ == expected_ ? ok_ : bad_).fetch_add(1);
      ctx.close();
    }
  }

 private:
  std::string expected_;
  std::string received_;
  std::atomic<int>& ok_;
  std::atomic<int>& bad_;
};

}  // namespace

TEST_CASE("1,000 concurrent echo clients against 2 loops: every byte comes back, both loops accept") {
  test::raise_fd_limit();
  EventLoopGroup server_loops({2, false, "srv"});
  TcpServer server(server_loops, ServerOptions{}, [](Channel& c) { echo::init_echo_pipeline(c, echo::Mode::raw, 0); });
  server.start();
  REQUIRE(server.port() != 0);

  EventLoopGroup client_loops({1, false, "cli"});
  constexpr int kClients = 1000;
  std::atomic<int> ok{0}, bad{0}, failed{0};
  for (int i = 0; i < kClients; ++i) {
    std::string expected = pattern(4096 + static_cast<std::size_t>(i % 7) * 1000, static_cast<std::size_t>(i));
    TcpClient::connect(
        client_loops.next(), "127.0.0.1", server.port(),
        [expected, &ok, &bad](Channel& c) { c.pipeline().add_last("check", std::make_shared<EchoCheck>(expected, ok, bad)); },
        [&failed](std::shared_ptr<Channel> ch, std::string) {
          if (!ch) failed.fetch_add(1);
        });
  }
  REQUIRE(wait_until([&] { return ok + bad + failed == kClients; }, std::chrono::seconds(60)));
  CHECK(bad == 0);
  CHECK(failed == 0);
  CHECK(ok == kClients);
  CHECK(server.accepted() == kClients);
  CHECK(server.accepted_on(0) > 0);
  CHECK(server.accepted_on(1) > 0);
  CHECK(server.accepted_on(0) + server.accepted_on(1) == kClients);
  REQUIRE(wait_until([&] { return server.connections() == 0; }));
  client_loops.shutdown_gracefully();
  server_loops.shutdown_gracefully();
}

TEST_CASE("port 0 picks one free port that every loop listens on") {
  EventLoopGroup loops({2, false, "srv"});
  TcpServer server(loops, ServerOptions{}, [](Channel& c) { echo::init_echo_pipeline(c, echo::Mode::raw, 0); });
  server.start();
  std::uint16_t port = server.port();
  REQUIRE(port != 0);
  // Enough connections that the kernel's hash reaches both listeners.
  std::vector<std::unique_ptr<BlockingClient>> clients;
  for (int i = 0; i < 64; ++i) {
    clients.push_back(std::make_unique<BlockingClient>(port));
    clients.back()->send_all("ping");
    REQUIRE(clients.back()->recv_exact(4) == "ping");
  }
  CHECK(server.accepted_on(0) > 0);
  CHECK(server.accepted_on(1) > 0);
}

namespace {
// Echoes, and notes where it was built relative to its channel.
class WhereAmI final : public InboundHandler<Buffer, Buffer> {
 public:
  explicit WhereAmI(std::atomic<std::ptrdiff_t>& offset) : offset_(&offset) {}
  void handler_added(HandlerContext& ctx) override {
    offset_->store(reinterpret_cast<const char*>(this) - reinterpret_cast<const char*>(&ctx.channel()));
  }
  void read(HandlerContext& ctx, Buffer& message) override { ctx.write_and_flush(message); }

 private:
  std::atomic<std::ptrdiff_t>* offset_;
};
}  // namespace

TEST_CASE("a server's connections get their emplaced handlers in the channel's own block") {
  EventLoopGroup loops({1, false, "srv"});
  std::atomic<std::ptrdiff_t> offset{0};
  TcpServer server(loops, ServerOptions{}, [&](Channel& c) { c.pipeline().emplace_last<WhereAmI>("where", offset); });
  server.start();
  // The first connection tells the server how much room its pipeline takes;
  // the ones after it get that room after the channel.
  for (int i = 0; i < 3; ++i) {
    BlockingClient client(server.port());
    client.send_all("ping");
    REQUIRE(client.recv_exact(4) == "ping");
  }
  std::ptrdiff_t at = offset.load();
  CHECK(at > 0);
  // Right after the channel: past it, the block's alignment, the context.
  CHECK(static_cast<std::size_t>(at) <= sizeof(TcpChannel) + 2 * alignof(std::max_align_t) + sizeof(HandlerContext));
}

TEST_CASE("IPv6 listeners echo") {
  EventLoopGroup loops({1, false, "srv6"});
  ServerOptions options;
  options.host = "::1";
  TcpServer server(loops, options, [](Channel& c) { echo::init_echo_pipeline(c, echo::Mode::raw, 0); });
  try {
    server.start();
  } catch (const std::system_error& e) {
    WARN("no IPv6 loopback here: " << e.what());
    return;
  }
  EventLoopGroup client_loops({1, false, "cli6"});
  std::atomic<int> ok{0}, bad{0};
  auto ch = TcpClient::connect_sync(client_loops.at(0), "::1", server.port(), [&](Channel& c) {
    c.pipeline().add_last("check", std::make_shared<EchoCheck>("over six", ok, bad));
  });
  REQUIRE(wait_until([&] { return ok + bad == 1; }));
  CHECK(ok == 1);
  CHECK(ch->remote_address().is_ipv6());
}

TEST_CASE("an accepted channel outlives its server; its local address is its socket's, empty once closed") {
  EventLoopGroup loops({1, false, "srv"});
  std::shared_ptr<Channel> accepted;  // loop thread
  std::atomic<bool> started{false};
  ServerOptions options;
  options.channel.write_high_watermark = 1000;
  options.channel.write_low_watermark = 2000;  // corrected to the high one
  auto server = std::make_unique<TcpServer>(loops, options, [&](Channel& c) {
    echo::init_echo_pipeline(c, echo::Mode::raw, 0);
    accepted = c.shared_from_this();
    started = true;
  });
  server->start();
  const std::uint16_t port = server->port();
  BlockingClient client(port);
  client.send_all("x");
  REQUIRE(client.recv_exact(1) == "x");
  REQUIRE(wait_until([&] { return started.load(); }));
  // The channel shares the server's options (and the state its close
  // reports to): both must outlive the server.
  server.reset();
  client.send_all("y");
  REQUIRE(client.recv_exact(1) == "y");

  sockaddr_in client_addr{};
  socklen_t len = sizeof client_addr;
  REQUIRE(::getsockname(client.fd(), reinterpret_cast<sockaddr*>(&client_addr), &len) == 0);
  SocketAddress local, remote, after_close;
  std::size_t low = 0;
  loops.at(0).run_sync([&] {
    local = accepted->local_address();
    remote = accepted->remote_address();
    low = accepted->options().write_low_watermark;
    accepted->close_now();
    after_close = accepted->local_address();
  });
  CHECK(low == 1000);
  CHECK(local.host() == "127.0.0.1");
  CHECK(local.port() == port);
  CHECK(remote.host() == "127.0.0.1");
  CHECK(remote.port() == ntohs(client_addr.sin_port));
  CHECK(after_close.empty());
  loops.at(0).run_sync([&] { accepted.reset(); });
}

TEST_CASE("line and length framings echo whole frames") {
  EventLoopGroup loops({1, false, "srv"});
  SECTION("line") {
    TcpServer server(loops, ServerOptions{}, [](Channel& c) { echo::init_echo_pipeline(c, echo::Mode::line, 0); });
    server.start();
    BlockingClient client(server.port());
    client.send_all("first\nsecond\r\nthi");
    CHECK(client.recv_exact(14) == "first\nsecond\r\n");
    client.send_all("rd\n");
    CHECK(client.recv_exact(6) == "third\n");
  }
  SECTION("length") {
    TcpServer server(loops, ServerOptions{}, [](Channel& c) { echo::init_echo_pipeline(c, echo::Mode::length, 0); });
    server.start();
    BlockingClient client(server.port());
    std::string frame("\0\0\0\5hello", 9);
    client.send_all(frame + frame.substr(0, 6));
    CHECK(client.recv_exact(9) == frame);
    client.send_all(frame.substr(6));
    CHECK(client.recv_exact(9) == frame);
  }
}

TEST_CASE("connections over max_connections are closed at once and counted") {
  EventLoopGroup loops({1, false, "srv"});
  ServerOptions options;
  options.max_connections = 3;
  TcpServer server(loops, options, [](Channel& c) { echo::init_echo_pipeline(c, echo::Mode::raw, 0); });
  server.start();
  std::vector<std::unique_ptr<BlockingClient>> kept;
  for (int i = 0; i < 3; ++i) {
    kept.push_back(std::make_unique<BlockingClient>(server.port()));
    kept.back()->send_all("x");
    REQUIRE(kept.back()->recv_exact(1) == "x");
  }
  BlockingClient extra(server.port());
  CHECK(extra.wait_closed());
  CHECK(server.rejected() == 1);
  CHECK(server.connections() == 3);
  // The admitted ones are untouched.
  kept[0]->send_all("still here");
  CHECK(kept[0]->recv_exact(10) == "still here");
  // A freed slot admits a new connection.
  kept.pop_back();
  REQUIRE(wait_until([&] { return server.connections() == 2; }));
  BlockingClient again(server.port());
  again.send_all("y");
  CHECK(again.recv_exact(1) == "y");
}

TEST_CASE("the idle timeout closes a silent connection and spares a busy one") {
  EventLoopGroup loops({1, false, "srv"});
  TcpServer server(loops, ServerOptions{}, [](Channel& c) { echo::init_echo_pipeline(c, echo::Mode::raw, 300); });
  server.start();
  BlockingClient silent(server.port());
  BlockingClient busy(server.port());
  auto start = std::chrono::steady_clock::now();
  // The busy client talks every 100 ms; the silent one never does.
  bool silent_closed = false;
  for (int i = 0; i < 200 && !silent_closed; ++i) {
    busy.send_all("k");
    REQUIRE(busy.recv_exact(1) == "k");
    silent_closed = silent.wait_closed(std::chrono::milliseconds(100));
  }
  CHECK(silent_closed);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(300));
  busy.send_all("alive");
  CHECK(busy.recv_exact(5) == "alive");
}

namespace {
// Echoes each read after a delay on the thread pool, and on a graceful
// shutdown closes once nothing is in flight.
class SlowEcho final : public InboundHandler<Buffer, Buffer> {
 public:
  void read(HandlerContext& ctx, Buffer& message) override {
    ++in_flight_;
    auto copy = std::make_shared<std::string>(message.retrieve_all_as_string());
    auto channel = ctx.channel().shared_from_this();
    ctx.loop().offload([] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); },  // simulated work
                       [this, channel, copy] {
                         channel->write_and_flush(Buffer::copy_of(*copy));
                         if (--in_flight_ == 0 && draining_) channel->close();
                       });
  }
  void user_event(HandlerContext& ctx, const UserEvent& event) override {
    if (const auto* shutdown = dynamic_cast<const GracefulShutdownEvent*>(&event)) {
      shutdown->finish_first();  // closes itself once the echo in flight is written
      draining_ = true;
      if (in_flight_ == 0) ctx.close();
    }
    ctx.fire_user_event(event);
  }

 private:
  int in_flight_ = 0;
  bool draining_ = false;
};
}  // namespace

TEST_CASE("graceful shutdown lets an in-flight echo finish, then closes") {
  EventLoopGroup loops({1, false, "srv"});
  TcpServer server(loops, ServerOptions{}, [](Channel& c) { c.pipeline().add_last("slow", std::make_shared<SlowEcho>()); });
  server.start();
  BlockingClient client(server.port());
  client.send_all("in flight");
  REQUIRE(wait_until([&] { return server.connections() == 1; }));
  std::thread stopper([&] { loops.shutdown_gracefully(50, 10000); });
  CHECK(client.recv_exact(9) == "in flight");
  CHECK(client.wait_closed());
  stopper.join();
  CHECK(loops.is_shut_down());
  // The listener is gone: a new connection is refused.
  CHECK_THROWS(BlockingClient(server.port()));
}

TEST_CASE("stop() on one thread while another shuts the group down") {
  // TcpServer::stop asks the group whether it is shut down (after which
  // its loops can run nothing more) while the shutdown runs elsewhere.
  EventLoopGroup loops({2, false, "srv"});
  TcpServer server(loops, ServerOptions{}, nullptr);
  server.start();
  std::thread stopper([&] { loops.shutdown_gracefully(0, 5000); });
  server.stop();
  stopper.join();
  CHECK(loops.is_shut_down());
  CHECK_THROWS(BlockingClient(server.port()));
}

TEST_CASE("a port another server holds is refused with 'address in use'") {
  EventLoopGroup loops({1, false, "srv"});
  TcpServer first(loops, ServerOptions{}, nullptr);
  first.start();
  ServerOptions same;
  same.port = first.port();
  TcpServer second(loops, same, nullptr);
  CHECK_THROWS_WITH(second.start(), Catch::Contains("in use"));
}

namespace {
// Answers any input with `reply_bytes` bytes; knows nothing of shutdowns.
class BigReply final : public InboundHandler<Buffer, Buffer> {
 public:
  explicit BigReply(std::size_t reply_bytes) : reply_bytes_(reply_bytes) {}
  void read(HandlerContext& ctx, Buffer& message) override {
    message.retrieve_all();
    Buffer reply = Buffer::copy_of(std::string(reply_bytes_, 'r'));
    ctx.write_and_flush(reply);
  }

 private:
  std::size_t reply_bytes_;
};

// Asks to finish first on a graceful shutdown, then never does.
class NeverFinishes final : public InboundHandler<Buffer, Buffer> {
 public:
  void read(HandlerContext&, Buffer& message) override { message.retrieve_all(); }
  void user_event(HandlerContext& ctx, const UserEvent& event) override {
    if (const auto* shutdown = dynamic_cast<const GracefulShutdownEvent*>(&event)) shutdown->finish_first();
    ctx.fire_user_event(event);
  }
};
}  // namespace

TEST_CASE("graceful shutdown closes a pipeline that does not ask to finish first, after its pending writes",
          "[shutdown]") {
  static constexpr std::size_t kReply = 1 << 20;  // far above the socket buffers: most of it waits in the channel
  EventLoopGroup loops({1, false, "srv"});
  TcpServer server(loops, ServerOptions{}, [](Channel& c) {
    c.pipeline().add_last("reply", std::make_shared<BigReply>(kReply));
  });
  server.start();
  BlockingClient idle(server.port());
  BlockingClient unread(server.port());
  unread.send_all("go");
  REQUIRE(wait_until([&] { return server.connections() == 2; }));
  // Far longer than any wait below: the connections must close because the
  // shutdown closed them, not because its deadline passed.
  std::thread stopper([&] { loops.shutdown_gracefully(50, 120'000); });
  CHECK(idle.wait_closed());
  auto stream = unread.read_to_end(std::chrono::seconds(20));
  CHECK(stream.end == BlockingClient::End::eof);
  CHECK(stream.bytes.size() == kReply);
  idle.close();
  unread.close();
  stopper.join();
  CHECK(loops.is_shut_down());
}

TEST_CASE("graceful shutdown logs how many connections it had to force-close at its deadline", "[shutdown]") {
  auto out = std::make_shared<std::ostringstream>();
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out);
  log().sinks().push_back(sink);
  {
    EventLoopGroup loops({1, false, "srv"});
    TcpServer server(loops, ServerOptions{}, [](Channel& c) {
      c.pipeline().add_last("stubborn", std::make_shared<NeverFinishes>());
    });
    server.start();
    BlockingClient a(server.port());
    BlockingClient b(server.port());
    REQUIRE(wait_until([&] { return server.connections() == 2; }));
    loops.shutdown_gracefully(10, 300);
    CHECK(a.wait_closed());
    CHECK(b.wait_closed());
  }
  auto& sinks = log().sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
  CHECK_THAT(out->str(), Catch::Matchers::Contains("graceful shutdown: 2 connections still open on srv-0 at the deadline"));
}
