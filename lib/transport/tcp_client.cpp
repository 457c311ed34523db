#include "sluice/transport/tcp_client.hpp"

#include <future>
#include <stdexcept>

#include "sluice/core/log.hpp"

namespace sluice {

namespace {

struct Attempt {
  uv_connect_t req{};
  uv_getaddrinfo_t resolve{};
  EventLoop* loop = nullptr;
  std::string host;
  std::uint16_t port = 0;
  ChannelInitializer initializer;
  TcpClient::ConnectCallback done;
  ClientOptions options;
  std::shared_ptr<TcpChannel> channel;
  EventLoop::TimerId timer = 0;
  bool finished = false;  // done has run (success, failure or timeout)
  bool in_libuv = false;  // libuv still holds `req` or `resolve`

  void finish(std::shared_ptr<Channel> result, std::string error) {
    if (finished) return;
    finished = true;
    if (timer != 0) loop->cancel(timer);
    auto callback = std::move(done);
    callback(std::move(result), std::move(error));
  }
};

void on_connect(uv_connect_t* req, int status) {
  auto* a = static_cast<Attempt*>(req->data);
  a->in_libuv = false;
  if (a->finished) {  // timed out: the channel was closed already
    delete a;
    return;
  }
  if (status < 0) {
    a->channel->close_now();
    a->finish(nullptr, std::string("connect to ") + a->host + ": " + uv_strerror(status));
  } else {
    if (a->options.tcp_nodelay) uv_tcp_nodelay(a->channel->handle(), 1);
    a->channel->start(a->initializer);
    if (a->channel->is_active()) {
      a->finish(a->channel, "");
    } else {
      a->finish(nullptr, "connect to " + a->host + ": the pipeline did not start (see the log)");
    }
  }
  delete a;
}

void connect_to(Attempt* a, const sockaddr* addr) {
  a->channel = TcpChannel::create(*a->loop, a->options.channel);
  a->req.data = a;
  int rc = uv_tcp_connect(&a->req, a->channel->handle(), addr, &on_connect);
  if (rc != 0) {
    a->channel->close_now();
    a->finish(nullptr, std::string("connect to ") + a->host + ": " + uv_strerror(rc));
    delete a;
    return;
  }
  a->in_libuv = true;
}

void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* a = static_cast<Attempt*>(req->data);
  a->in_libuv = false;
  if (a->finished) {
    if (res != nullptr) uv_freeaddrinfo(res);
    delete a;
    return;
  }
  if (status < 0 || res == nullptr) {
    a->finish(nullptr, "resolve " + a->host + ": " + uv_strerror(status));
    delete a;
    return;
  }
  SocketAddress addr = SocketAddress::from(res->ai_addr);
  uv_freeaddrinfo(res);
  addr.set_port(a->port);
  connect_to(a, addr.sockaddr_ptr());
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
      // Closing the channel cancels the pending connect; on_connect frees `a`.
      if (a->channel) a->channel->close_now();
      if (!a->channel && a->in_libuv) uv_cancel(reinterpret_cast<uv_req_t*>(&a->resolve));
      a->finish(nullptr, "connect to " + a->host + ": timed out");
    });
    if (auto numeric = SocketAddress::parse(a->host, a->port)) {
      connect_to(a, numeric->sockaddr_ptr());
      return;
    }
    a->resolve.data = a;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(a->loop->uv(), &a->resolve, &on_resolved, a->host.c_str(), nullptr, &hints);
    if (rc != 0) {
      a->finish(nullptr, "resolve " + a->host + ": " + uv_strerror(rc));
      delete a;
      return;
    }
    a->in_libuv = true;
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
