#include "sluice/transport/tcp_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <stdexcept>
#include <utility>

#include "poller.hpp"
#include "sluice/core/log.hpp"

namespace sluice {

namespace {

// One connect, from resolving the name to the channel (or the error). Owned
// by itself: it deletes itself, deferred, once finished and out of libuv's
// and the poller's hands.
struct Attempt final : detail::PollTarget {
  uv_getaddrinfo_t resolve{};
  EventLoop* loop = nullptr;
  std::string host;
  std::uint16_t port = 0;
  ChannelInitializer initializer;
  TcpClient::ConnectCallback done;
  ClientOptions options;
  SocketAddress peer;
  int fd = -1;                // the socket while connecting
  std::uint8_t interest = 0;  // Poller::Interest of `fd`
  EventLoop::TimerId timer = 0;
  bool finished = false;   // done has run (success, failure or timeout)
  bool resolving = false;  // libuv holds `resolve`

  void finish(std::shared_ptr<Channel> result, std::string error) {
    if (finished) return;
    finished = true;
    if (timer != 0) loop->cancel(timer);
    auto callback = std::move(done);
    callback(std::move(result), std::move(error));
  }
  void fail(const std::string& what) {
    drop_socket();
    finish(nullptr, "connect to " + host + ": " + what);
    release();
  }
  void drop_socket() noexcept {
    if (fd < 0) return;
    detail::Poller::of(*loop).forget(fd, interest);
    ::close(fd);
    fd = -1;
  }
  /// Deleted once its events are out of the poller's batch and libuv no
  /// longer holds the name lookup (on_resolved then releases it).
  void release() {
    if (resolving) return;
    loop->defer([this] { delete this; });
  }

  void connect_to(const SocketAddress& addr);
  void ready(std::uint32_t events) noexcept override;
  void connected();
};

void Attempt::connect_to(const SocketAddress& addr) {
  peer = addr;
  fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail(uv_strerror(-errno));
    return;
  }
  if (::connect(fd, addr.sockaddr_ptr(), addr.length()) == 0) {
    connected();
    return;
  }
  if (errno != EINPROGRESS) {
    fail(uv_strerror(-errno));
    return;
  }
  // Writable once the handshake is over, either way.
  int rc = detail::Poller::of(*loop).watch(fd, *this, interest, detail::Poller::kWrite);
  if (rc != 0) fail(uv_strerror(rc));
}

void Attempt::ready(std::uint32_t) noexcept {
  if (finished || fd < 0) return;  // timed out earlier in the same batch
  int error = 0;
  socklen_t len = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  if (error == EINPROGRESS) return;
  if (error != 0) {
    fail(uv_strerror(-error));
    return;
  }
  connected();
}

void Attempt::connected() {
  // The channel watches the socket from here on, for itself.
  detail::Poller::of(*loop).forget(fd, interest);
  if (options.tcp_nodelay) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  auto channel = TcpChannel::create(*loop, std::exchange(fd, -1), peer,
                                    std::make_shared<const ChannelOptions>(options.channel));
  channel->start(initializer);
  if (channel->is_active()) {
    finish(channel, "");
  } else {
    finish(nullptr, "connect to " + host + ": the pipeline did not start (see the log)");
  }
  release();
}

void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* a = static_cast<Attempt*>(req->data);
  a->resolving = false;
  if (a->finished) {
    if (res != nullptr) uv_freeaddrinfo(res);
    a->release();
    return;
  }
  if (status < 0 || res == nullptr) {
    a->finish(nullptr, "resolve " + a->host + ": " + uv_strerror(status));
    a->release();
    return;
  }
  SocketAddress addr = SocketAddress::from(res->ai_addr);
  uv_freeaddrinfo(res);
  addr.set_port(a->port);
  a->connect_to(addr);
}

}  // namespace

void TcpClient::connect(EventLoop& loop, std::string host, std::uint16_t port, ChannelInitializer initializer,
                        ConnectCallback done, ClientOptions options) {
  auto* a = new Attempt;
  a->loop = &loop;
  a->host = std::move(host);
  a->port = port;
  a->initializer = std::move(initializer);
  a->done = std::move(done);
  a->options = std::move(options);
  loop.execute([a] {
    a->timer = a->loop->run_after(a->options.connect_timeout_ms, [a] {
      a->timer = 0;
      if (a->finished) return;
      // A name lookup in the thread pool is cancelled if it has not begun;
      // else on_resolved releases `a` when it ends.
      if (a->resolving) uv_cancel(reinterpret_cast<uv_req_t*>(&a->resolve));
      a->fail("timed out");
    });
    if (auto numeric = SocketAddress::parse(a->host, a->port)) {
      a->connect_to(*numeric);
      return;
    }
    a->resolve.data = a;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(a->loop->uv(), &a->resolve, &on_resolved, a->host.c_str(), nullptr, &hints);
    if (rc != 0) {
      a->finish(nullptr, "resolve " + a->host + ": " + uv_strerror(rc));
      a->release();
      return;
    }
    a->resolving = true;
  });
}

std::shared_ptr<Channel> TcpClient::connect_sync(EventLoop& loop, std::string host, std::uint16_t port,
                                                 ChannelInitializer initializer, ClientOptions options) {
  std::promise<std::pair<std::shared_ptr<Channel>, std::string>> outcome;
  auto result = outcome.get_future();
  connect(
      loop, std::move(host), port, std::move(initializer),
      [&outcome](std::shared_ptr<Channel> channel, std::string error) {
        outcome.set_value({std::move(channel), std::move(error)});
      },
      std::move(options));
  auto [channel, error] = result.get();
  if (!channel) throw std::runtime_error(error);
  return channel;
}

}  // namespace sluice
