#pragma once
// Helpers for tests over real loopback sockets: waiting on conditions with a
// deadline, a bare listener, a plain blocking client, and fd-limit set-up.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <chrono>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace sluice::test {

/// Polls `condition` until it holds or `timeout` passes; returns its last
/// value. For waiting on work done by other threads, never for pacing.
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

/// Raises the soft open-file limit to the hard one (tests open thousands of sockets).
inline void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/// A blocking TCP client on loopback, for tests that need a peer that
/// behaves badly (stops reading, floods, stays silent).
/// A TCP listener on 127.0.0.1 at a free port (port 0, read back into
/// `port`) with `backlog`, for a test that accepts (or never accepts) by
/// hand. The caller closes it. Throws if the kernel refuses.
inline int listen_on_loopback(int backlog, std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error(std::string("listen on loopback: ") + std::strerror(e));
  }
  port = ntohs(addr.sin_port);
  return fd;
}

class BlockingClient {
 public:
  explicit BlockingClient(std::uint16_t port, const char* host = "127.0.0.1", int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    if (rcvbuf > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &rcvbuf, sizeof rcvbuf);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, host, &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      int e = errno;
      ::close(fd_);
      throw std::runtime_error(std::string("connect: ") + std::strerror(e));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~BlockingClient() { close(); }
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;

  int fd() const noexcept { return fd_; }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  void send_all(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      off += static_cast<std::size_t>(n);
    }
  }

  /// Reads exactly `n` bytes, or what arrived before EOF, an error or `timeout`.
  std::string recv_exact(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char chunk[65536];
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r <= 0) continue;
      ssize_t got = ::recv(fd_, chunk, std::min(sizeof chunk, n - out.size()), 0);
      if (got <= 0) break;
      out.append(chunk, static_cast<std::size_t>(got));
    }
    return out;
  }

  /// How a read_to_end() stream ended.
  enum class End { eof, reset, timeout };
  struct Stream {
    std::string bytes;
    End end = End::timeout;
    int error = 0;  // errno when end == reset
  };
  /// Reads everything until the peer's FIN (eof), an error such as
  /// ECONNRESET (reset) or `timeout`. A reset makes the kernel drop what
  /// arrived but was not read yet: the answers a lingering close protects.
  Stream read_to_end(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    Stream out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char chunk[65536];
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return out;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
      if (got > 0) {
        out.bytes.append(chunk, static_cast<std::size_t>(got));
      } else if (got == 0) {
        out.end = End::eof;
        return out;
      } else if (errno != EINTR) {
        out.end = End::reset;
        out.error = errno;
        return out;
      }
    }
  }

  /// True when the peer closed (EOF or reset) within `timeout`; bytes that
  /// arrive first are discarded.
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return read_to_end(timeout).end != End::timeout;
  }

 private:
  int fd_ = -1;
};

}  // namespace sluice::test
