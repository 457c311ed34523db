#include "sluice/transport/tcp_server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "sluice/core/log.hpp"

namespace sluice {

namespace {

struct Listener {
  uv_tcp_t handle{};
  EventLoop* loop = nullptr;
  std::size_t index = 0;
  std::shared_ptr<TcpServer::State> state;
  std::uint64_t last_error_log_ms = 0;
};

int open_listen_socket(const SocketAddress& addr) {
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  int one = 1;
  // Every loop binds its own socket to the same port; the kernel spreads
  // incoming connections across them (libuv 1.44 has no UV_TCP_REUSEPORT).
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "setsockopt(SO_REUSEPORT)");
  }
  if (::bind(fd, addr.sockaddr_ptr(), addr.length()) != 0) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "bind " + addr.to_string());
  }
  return fd;
}

// SO_REUSEPORT would let us share a port with another server of the same
// user without a word; a plain bind first turns that into EADDRINUSE.
void check_port_free(const SocketAddress& addr) {
  if (addr.port() == 0) return;
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // TIME_WAIT leftovers are fine
  int rc = ::bind(fd, addr.sockaddr_ptr(), addr.length());
  int e = errno;
  ::close(fd);
  if (rc != 0) throw std::system_error(e, std::generic_category(), "bind " + addr.to_string());
}

SocketAddress bound_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return SocketAddress::from(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace

struct TcpServer::State final : TcpChannel::CloseObserver {
  ServerOptions options;
  ChannelInitializer initializer;
  SocketAddress address;
  std::vector<Listener*> listeners;  // each owned by its loop until closed
  std::atomic<std::size_t> connections{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> accept_errors{0};
  std::vector<std::atomic<std::uint64_t>> accepted_per_loop;
  // Room a channel gets for the handlers its initializer emplaces: what the
  // pipelines built so far wanted (all alike, as a rule, so one connection
  // per loop pays for the heap and the rest get one block).
  std::atomic<std::size_t> block_bytes{0};
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};

  static void on_connection(uv_stream_t* server, int status);
  void channel_closed(TcpChannel& channel) noexcept override;
  void note_block_wanted(std::size_t bytes) noexcept;
  /// Closes every listener on its own loop and waits. Not on a loop thread.
  void close_listeners();
};

void TcpServer::State::close_listeners() {
  if (stopped.exchange(true)) return;
  for (Listener* l : listeners) {
    l->loop->run_sync([l] {
      uv_close(reinterpret_cast<uv_handle_t*>(&l->handle), [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
    });
  }
  listeners.clear();
}

void TcpServer::State::on_connection(uv_stream_t* server, int status) {
  auto* listener = static_cast<Listener*>(server->data);
  State& state = *listener->state;
  EventLoop& loop = *listener->loop;
  if (status < 0) {
    state.accept_errors.fetch_add(1, std::memory_order_relaxed);
    if (loop.now() - listener->last_error_log_ms >= 1000 || listener->last_error_log_ms == 0) {
      listener->last_error_log_ms = loop.now();
      log().warn("{}: accept failed: {} (waiting connections are refused until resources free up)", loop.name(),
                 uv_strerror(status));
    }
    return;
  }
  // One copy of the options for every channel. Sharing the State's
  // ownership, it also keeps the State alive for channel_closed however long
  // the channel outlives the server.
  auto channel = TcpChannel::create(loop, std::shared_ptr<const ChannelOptions>(listener->state, &state.options.channel),
                                   state.block_bytes.load(std::memory_order_relaxed));
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(channel->handle())) != 0) {
    channel->close_now();
    return;
  }
  std::size_t max = state.options.max_connections;
  if (max != 0 && state.connections.load(std::memory_order_relaxed) >= max) {
    state.rejected.fetch_add(1, std::memory_order_relaxed);
    channel->close_now();
    return;
  }
  // Short of memory: this loop takes no new connection (the others may).
  if (loop.memory().level() != MemoryBudget::Level::normal) {
    state.rejected.fetch_add(1, std::memory_order_relaxed);
    loop.memory().count_refused_connection();
    channel->close_now();
    return;
  }
  state.connections.fetch_add(1, std::memory_order_relaxed);
  state.accepted.fetch_add(1, std::memory_order_relaxed);
  state.accepted_per_loop[listener->index].fetch_add(1, std::memory_order_relaxed);
  if (state.options.tcp_nodelay) uv_tcp_nodelay(channel->handle(), 1);
  channel->on_closed(state);
  channel->start(state.initializer);
  state.note_block_wanted(channel->pipeline().block_bytes_wanted());
}

void TcpServer::State::note_block_wanted(std::size_t bytes) noexcept {
  // A pipeline far larger than the rest should not make every connection
  // carry its room: past the cap, handlers go on the heap.
  constexpr std::size_t kMaxBlockBytes = 4096;
  bytes = std::min(bytes, kMaxBlockBytes);
  std::size_t known = block_bytes.load(std::memory_order_relaxed);
  while (bytes > known && !block_bytes.compare_exchange_weak(known, bytes, std::memory_order_relaxed)) {
  }
}

void TcpServer::State::channel_closed(TcpChannel&) noexcept { connections.fetch_sub(1, std::memory_order_relaxed); }

TcpServer::TcpServer(EventLoopGroup& group, ServerOptions options, ChannelInitializer initializer)
    : group_(group), state_(std::make_shared<State>()) {
  state_->options = std::move(options);
  // Corrected once here, not in a copy per channel (see Channel's constructor).
  state_->options.channel.clamp_watermarks();
  state_->initializer = std::move(initializer);
}

TcpServer::~TcpServer() {
  stop();
  if (shutdown_hook_ != 0) group_.remove_shutdown_hook(shutdown_hook_);
}

void TcpServer::start() {
  if (state_->started) throw std::logic_error("TcpServer::start called twice");
  auto addr = SocketAddress::parse(state_->options.host, state_->options.port);
  if (!addr) throw std::invalid_argument("TcpServer: not a numeric address: " + state_->options.host);

  check_port_free(*addr);
  // Bind every socket first so a failure leaves nothing half-started.
  std::vector<int> fds;
  try {
    for (std::size_t i = 0; i < group_.size(); ++i) {
      fds.push_back(open_listen_socket(*addr));
      if (i == 0) {
        *addr = bound_address(fds[0]);  // port 0 became a real port: all loops share it
      }
    }
  } catch (...) {
    for (int fd : fds) ::close(fd);
    throw;
  }
  state_->address = *addr;
  state_->started = true;
  state_->accepted_per_loop = std::vector<std::atomic<std::uint64_t>>(group_.size());

  std::string failure;
  std::size_t i = 0;
  for (; i < group_.size(); ++i) {
    EventLoop& loop = group_.at(i);
    auto* listener = new Listener;
    listener->loop = &loop;
    listener->index = i;
    listener->state = state_;
    state_->listeners.push_back(listener);
    int fd = fds[i];
    int backlog = state_->options.backlog;
    std::size_t budget = state_->options.memory_budget_bytes;
    loop.run_sync([listener, fd, backlog, budget, &failure] {
      if (budget != 0) listener->loop->memory().set_budget(budget);
      uv_tcp_init(listener->loop->uv(), &listener->handle);
      listener->handle.data = listener;
      int rc = uv_tcp_open(&listener->handle, fd);
      if (rc == 0) {
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener->handle), backlog, &State::on_connection);
      } else {
        ::close(fd);
      }
      if (rc != 0) failure = std::string("listen: ") + uv_strerror(rc);
    });
    if (!failure.empty()) break;
  }
  if (!failure.empty()) {
    for (std::size_t unused = i + 1; unused < fds.size(); ++unused) ::close(fds[unused]);
    stop();
    throw std::system_error(EADDRINUSE, std::generic_category(), failure);
  }
  shutdown_hook_ = group_.add_shutdown_hook([state = state_] { state->close_listeners(); });
  log().info("listening on {} with {} loop(s)", state_->address.to_string(), group_.size());
}

void TcpServer::stop() {
  if (!state_->started || group_.is_shut_down()) return;
  state_->close_listeners();
}

std::uint16_t TcpServer::port() const noexcept { return state_->address.port(); }
SocketAddress TcpServer::address() const { return state_->address; }
std::size_t TcpServer::connections() const noexcept { return state_->connections.load(std::memory_order_relaxed); }
std::uint64_t TcpServer::accepted() const noexcept { return state_->accepted.load(std::memory_order_relaxed); }
std::uint64_t TcpServer::rejected() const noexcept { return state_->rejected.load(std::memory_order_relaxed); }
std::uint64_t TcpServer::accept_errors() const noexcept {
  return state_->accept_errors.load(std::memory_order_relaxed);
}
std::uint64_t TcpServer::accepted_on(std::size_t loop_index) const {
  return state_->accepted_per_loop.at(loop_index).load(std::memory_order_relaxed);
}

}  // namespace sluice
