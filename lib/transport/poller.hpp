#pragma once
// Internal: a loop's sockets in the loop's own epoll set
// (EventLoop::poll_fd()), which the loop thread waits in.
//
// A libuv TCP handle costs 248 bytes per connection (a uv_poll_t 160), most
// of it bookkeeping a channel already keeps: the handle's queue links, its
// close callback, its own write queue. Servers that hold hundreds of
// thousands of idle connections pay for that per connection (issue 12:
// ≤512 bytes per idle HTTP connection). So a connection keeps only its
// descriptor and what it is watched for (one byte), and the loop calls its
// PollTarget when the socket is ready; the reads and writes themselves are
// the same system calls libuv would make.
//
// Stale events: a batch may hold events for a target that an earlier event
// of the same batch closed. Targets therefore outlive the batch (a closed
// TcpChannel is released through EventLoop::defer) and ignore events once
// closed.

#include <cstdint>

#include "sluice/core/detail/poll_target.hpp"
#include "sluice/core/event_loop.hpp"

namespace sluice::detail {

class Poller {
 public:
  using Target = PollTarget;

  /// What a descriptor is watched for, kept by its owner (one byte, so a
  /// connection pays nothing for it beside its own flags).
  enum Interest : std::uint8_t {
    kNone = 0,
    kRead = 1,
    kWrite = 2,
    // Edge-triggered (EPOLLET, with EPOLLRDHUP when watched for input):
    // reported once each time the descriptor becomes ready, not on every
    // wait while it stays ready. Its owner reads until it has all there is,
    // or remembers what it left and calls rearm().
    kEdge = 4,
    kRegistered = 8,  // in the epoll set (a descriptor may be in it watching for nothing)
  };

  /// The loop's poller. Loop thread.
  static Poller of(EventLoop& loop) noexcept { return Poller(loop.poll_fd()); }

  /// Watches `fd` for `wanted` (kRead | kWrite) on behalf of `target`;
  /// `state` is the owner's record, updated. No system call when that
  /// changes nothing. Returns 0 or a negative errno. Loop thread.
  int watch(int fd, Target& target, std::uint8_t& state, std::uint8_t wanted) noexcept;
  /// For a descriptor watched with kEdge: has it reported again (at the
  /// loop's next wait, behind the sockets already ready) if it is ready now,
  /// as when its owner stopped reading with input left. One system call.
  /// Returns 0 or a negative errno. Loop thread.
  int rearm(int fd, Target& target, std::uint8_t state) noexcept;
  /// Takes `fd` out of the set (before another target watches it). Closing
  /// the descriptor does the same without a call. Loop thread.
  void forget(int fd, std::uint8_t& state) noexcept;

 private:
  explicit Poller(int epoll_fd) noexcept : epoll_fd_(epoll_fd) {}
  /// epoll_ctl(`op`) for `fd` watched for `interest` on behalf of `target`.
  int ctl(int op, int fd, Target& target, std::uint8_t interest) noexcept;

  int epoll_fd_;
};

}  // namespace sluice::detail
