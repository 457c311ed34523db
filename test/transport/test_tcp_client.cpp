// TcpClient: connecting, failing to connect, timeouts, name resolution.

#include <catch2/catch.hpp>

#include <atomic>
#include <future>

#include "echo/echo_pipeline.hpp"
#include "sluice/codec/string_codec.hpp"
#include "sluice/transport/tcp_client.hpp"
#include "sluice/transport/tcp_server.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::wait_until;

namespace {
class Collect final : public InboundHandler<std::string, std::string> {
 public:
  explicit Collect(std::promise<std::string>& got) : got_(got) {}
  void read(HandlerContext&, std::string& line) override { got_.set_value(line); }

 private:
  std::promise<std::string>& got_;
};

// A port with nothing listening: bind, read the port back, close.
std::uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}
}  // namespace

TEST_CASE("a client channel runs a pipeline against a server, by name and by address") {
  EventLoopGroup loops({1, false, "both"});
  TcpServer server(loops, ServerOptions{}, [](Channel& c) { echo::init_echo_pipeline(c, echo::Mode::line, 0); });
  server.start();
  auto host = GENERATE(std::string("127.0.0.1"), std::string("localhost"));
  std::promise<std::string> got;
  auto future = got.get_future();
  auto channel = TcpClient::connect_sync(loops.at(0), host, server.port(), [&](Channel& c) {
    c.pipeline().add_last("lines", std::make_shared<LineDecoder>());
    c.pipeline().add_last("strings", std::make_shared<StringCodec>());
    c.pipeline().add_last("collect", std::make_shared<Collect>(got));
  });
  CHECK(channel->is_active());
  CHECK(channel->remote_address().port() == server.port());
  channel->write_and_flush(std::string("hello over ") + host + "\n");
  REQUIRE(future.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  CHECK(future.get() == "hello over " + host);
  channel->close();
  REQUIRE(wait_until([&] { return !channel->is_active(); }));
}

TEST_CASE("connecting to a closed port fails with a reason") {
  EventLoopGroup loops({1, false, "cli"});
  std::uint16_t port = unused_port();
  try {
    TcpClient::connect_sync(loops.at(0), "127.0.0.1", port, nullptr);
    FAIL("connected to a closed port");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("connection refused"));
  }
}

TEST_CASE("an unknown host name fails with a reason") {
  EventLoopGroup loops({1, false, "cli"});
  CHECK_THROWS_WITH(TcpClient::connect_sync(loops.at(0), "no-such-host.invalid", 80, nullptr),
                    Catch::Contains("no-such-host.invalid"));
}

TEST_CASE("a connect that gets no answer times out") {
  // A listener whose accept queue is full drops further SYNs, so the
  // handshake never completes.
  std::uint16_t port = 0;
  int listener = sluice::test::listen_on_loopback(0, port);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Fill the queue with plain connections the listener never accepts.
  std::vector<int> fillers;
  for (int i = 0; i < 8; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  EventLoopGroup loops({1, false, "cli"});
  ClientOptions options;
  options.connect_timeout_ms = 300;
  try {
    auto ch = TcpClient::connect_sync(loops.at(0), "127.0.0.1", port, nullptr, options);
    WARN("the kernel completed the handshake anyway (syncookies); nothing to time out");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("timed out"));
  }
  for (int fd : fillers) ::close(fd);
  ::close(listener);
}
