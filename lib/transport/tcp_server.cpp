#include "sluice/transport/tcp_server.hpp"

#include "sluice/channel/connection_metrics.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>
#include <utility>

#include "poller.hpp"
#include "sluice/core/log.hpp"

namespace sluice {

namespace {

// Connections taken per readiness event, so one listener's flood leaves the
// loop's connections their turn; the rest wait for the next iteration.
constexpr int kAcceptBatch = 128;

// One loop's listening socket, in the loop's epoll set. Owned by its loop
// from start() until TcpServer::State::close_listeners.
struct Listener final : detail::PollTarget {
  int fd = -1;
  // Kept open to be given up when descriptors run out (EMFILE): with it
  // free, the waiting connections can be accepted and closed at once, so
  // their clients are refused quickly instead of hanging, and the
  // listener, still readable, does not spin the loop. libuv does the same.
  int reserve_fd = -1;
  std::uint8_t interest = 0;
  EventLoop* loop = nullptr;
  std::size_t index = 0;
  std::shared_ptr<TcpServer::State> state;
  std::uint64_t last_error_log_ms = 0;

  void ready(std::uint32_t events) noexcept override;
  void accept_ready();
  void refuse_waiting() noexcept;
  void accept_failed(int error) noexcept;
  void close() noexcept;
};

int open_reserve_fd() noexcept { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

int open_listen_socket(const SocketAddress& addr) {
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  int one = 1;
  // Every loop binds its own socket to the same port; the kernel spreads
  // incoming connections across them.
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
  // close_listeners() from TcpServer::stop and from a group shutdown's hook
  // may meet on two threads: the second waits until the first is done, so
  // the shutdown cannot stop a loop whose listener is still to be closed
  // there (the run_sync would then wait for ever).
  std::mutex close_mutex;
  bool stopped = false;  // under close_mutex

  void accepted_one(Listener& listener, int fd, const SocketAddress& peer);
  void channel_closed(TcpChannel& channel) noexcept override;
  void note_block_wanted(std::size_t bytes) noexcept;
  /// Closes every listener on its own loop and waits. Not on a loop thread.
  void close_listeners();
};

void TcpServer::State::close_listeners() {
  std::lock_guard lock(close_mutex);
  if (std::exchange(stopped, true)) return;
  for (Listener* l : listeners) l->loop->run_sync([l] { l->close(); });
  listeners.clear();
}

void Listener::close() noexcept {
  if (fd >= 0) {
    detail::Poller::of(*loop).forget(fd, interest);
    ::close(fd);
    fd = -1;
  }
  if (reserve_fd >= 0) ::close(std::exchange(reserve_fd, -1));
  // Its events may still wait in the poller's batch: freed after it.
  loop->defer([this] { delete this; });
}

void Listener::ready(std::uint32_t) noexcept {
  if (fd < 0) return;  // closed earlier in the same batch
  accept_ready();
}

void Listener::accept_ready() {
  for (int i = 0; i < kAcceptBatch && fd >= 0; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int conn = ::accept4(fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn >= 0) {
      state->accepted_one(*this, conn, SocketAddress::from(reinterpret_cast<sockaddr*>(&peer)));
      continue;
    }
    int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK) return;
    if (error == EINTR || error == ECONNABORTED) continue;  // that one is gone; others may wait
    if ((error == EMFILE || error == ENFILE) && reserve_fd >= 0) {
      refuse_waiting();
    }
    accept_failed(error);
    return;
  }
}

void Listener::refuse_waiting() noexcept {
  ::close(reserve_fd);
  reserve_fd = -1;
  for (;;) {
    int conn = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR) continue;
      break;
    }
    ::close(conn);
  }
  reserve_fd = open_reserve_fd();
}

void Listener::accept_failed(int error) noexcept {
  TcpServer::State& s = *state;
  s.accept_errors.fetch_add(1, std::memory_order_relaxed);
  if (loop->now() - last_error_log_ms >= 1000 || last_error_log_ms == 0) {
    last_error_log_ms = loop->now();
    log().warn("{}: accept failed: {} (waiting connections are refused until resources free up)", loop->name(),
               uv_strerror(-error));
  }
}

void TcpServer::State::accepted_one(Listener& listener, int fd, const SocketAddress& peer) {
  EventLoop& loop = *listener.loop;
  std::size_t max = options.max_connections;
  if (max != 0 && connections.load(std::memory_order_relaxed) >= max) {
    rejected.fetch_add(1, std::memory_order_relaxed);
    ConnectionMetrics::of(loop).refused_at_limit.add();
    ::close(fd);
    return;
  }
  // Short of memory: this loop takes no new connection (the others may).
  if (loop.memory().level() != MemoryBudget::Level::normal) {
    rejected.fetch_add(1, std::memory_order_relaxed);
    loop.memory().count_refused_connection();
    ::close(fd);
    return;
  }
  if (options.tcp_nodelay) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  // One copy of the options for every channel. Sharing the State's
  // ownership, it also keeps the State alive for channel_closed however long
  // the channel outlives the server.
  auto channel = TcpChannel::create(loop, fd, peer, std::shared_ptr<const ChannelOptions>(listener.state, &options.channel),
                                   block_bytes.load(std::memory_order_relaxed));
  connections.fetch_add(1, std::memory_order_relaxed);
  accepted.fetch_add(1, std::memory_order_relaxed);
  accepted_per_loop[listener.index].fetch_add(1, std::memory_order_relaxed);
  ConnectionMetrics::of(loop).accepted.add();
  channel->on_closed(*this);
  channel->start(initializer);
  note_block_wanted(channel->pipeline().block_bytes_wanted());
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

void TcpServer::State::channel_closed(TcpChannel& channel) noexcept {
  connections.fetch_sub(1, std::memory_order_relaxed);
  // What the pipeline came to (an HTTP connection that became a WebSocket
  // holds the WebSocket's handlers now): later connections get room for it.
  note_block_wanted(channel.pipeline().block_bytes_wanted());
}

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
      listener->fd = fd;
      listener->reserve_fd = open_reserve_fd();
      int rc = ::listen(fd, backlog) == 0 ? 0 : -errno;
      if (rc == 0) {
        rc = detail::Poller::of(*listener->loop).watch(fd, *listener, listener->interest, detail::Poller::kRead);
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
