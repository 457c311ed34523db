#pragma once
// A TCP server: one SO_REUSEPORT listening socket per loop of a group.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sluice/core/event_loop_group.hpp"
#include "sluice/transport/tcp_channel.hpp"

namespace sluice {

/// Listening options.
struct ServerOptions {
  std::string host = "0.0.0.0";  // numeric IPv4 or IPv6 ("::" listens on both where the OS allows)
  std::uint16_t port = 0;        // 0: the OS picks a free port, shared by every loop (see port())
  int backlog = 1024;
  bool tcp_nodelay = true;
  /// Above this many open connections (all loops together) new ones are
  /// closed at once and counted in rejected(). 0: no limit.
  std::size_t max_connections = 0;
  /// Bytes each loop's connections may hold (write queues, read
  /// cumulations, bodies being read) before the loop sheds load: see
  /// MemoryBudget. Set on every loop of the group at start(); 0 leaves the
  /// loops as they are (no budget unless another server set one).
  std::size_t memory_budget_bytes = 256 * 1024 * 1024;
  ChannelOptions channel{};
};

/// Accepts connections on every loop of a group; each accepted channel lives
/// on the loop that accepted it. start() and stop() may be called from any
/// thread but a loop's own; the counters from any thread. The group must
/// outlive the server; a graceful group shutdown stops it first.
///
/// Out of descriptors (EMFILE/ENFILE), a listener frees a descriptor it
/// keeps in reserve, accepts and at once closes the waiting connections, and
/// takes the reserve back (as libuv does), so the loop neither spins nor
/// stops and clients are refused quickly instead of hanging; the server
/// serves again as soon as descriptors are free. Accept errors are counted
/// and logged at most once a second.
class TcpServer {
 public:
  TcpServer(EventLoopGroup& group, ServerOptions options, ChannelInitializer initializer);
  ~TcpServer();  // stop()
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  /// Binds and listens on every loop. Throws std::system_error on failure.
  void start();
  /// Stops accepting (existing connections go on). Idempotent.
  void stop();

  /// The bound port (the chosen one when options.port was 0).
  std::uint16_t port() const noexcept;
  SocketAddress address() const;

  std::size_t connections() const noexcept;      // open now
  std::uint64_t accepted() const noexcept;       // since start
  std::uint64_t rejected() const noexcept;       // closed at once: over max_connections or the memory budget
  std::uint64_t accept_errors() const noexcept;  // accept failures (out of descriptors, ...)
  /// Connections accepted by loop i (to see the kernel's spread).
  std::uint64_t accepted_on(std::size_t loop_index) const;

  struct State;  // shared with the listeners and channels (they may outlive stop())

 private:
  EventLoopGroup& group_;
  std::shared_ptr<State> state_;
  std::uint64_t shutdown_hook_ = 0;
};

}  // namespace sluice
