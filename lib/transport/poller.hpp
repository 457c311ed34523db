#pragma once
// Internal: one epoll set per loop for its sockets, watched by libuv as one
// descriptor.
//
// A libuv TCP handle costs 248 bytes per connection (a uv_poll_t 160), most
// of it bookkeeping a channel already keeps: the handle's queue links, its
// close callback, its own write queue. Servers that hold hundreds of
// thousands of idle connections pay for that per connection (issue 12:
// ≤512 bytes per idle HTTP connection). So the loop's sockets go into an
// epoll set of their own; libuv polls that set's descriptor like any other,
// and a connection keeps only its descriptor and what it is watched for.
//
// The cost is one epoll_wait on the inner set per loop iteration that has
// socket events; the reads and writes themselves are the same system calls
// libuv would make.
//
// Stale events: a batch may hold events for a target that an earlier event
// of the same batch closed. Targets therefore outlive the batch (a closed
// TcpChannel is released through EventLoop::defer) and ignore events once
// closed.

#include <sys/epoll.h>
#include <uv.h>

#include <cstdint>

#include "sluice/core/event_loop.hpp"
#include "sluice/transport/detail/poll_target.hpp"

namespace sluice::detail {

class Poller final : public LoopService {
 public:
  using Target = PollTarget;

  /// What a descriptor is watched for, kept by its owner (one byte, so a
  /// connection pays nothing for it beside its own flags).
  enum Interest : std::uint8_t {
    kNone = 0,
    kRead = 1,
    kWrite = 2,
    kRegistered = 4,  // in the epoll set (a descriptor may be in it watching for nothing)
  };

  /// The loop's poller, made on first use. Loop thread.
  static Poller& of(EventLoop& loop) { return loop.service<Poller>(); }

  explicit Poller(EventLoop& loop);
  ~Poller() override;
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  /// Watches `fd` for `wanted` (kRead | kWrite) on behalf of `target`;
  /// `state` is the owner's record, updated. No system call when that
  /// changes nothing. Returns 0 or a negative errno. Loop thread.
  int watch(int fd, Target& target, std::uint8_t& state, std::uint8_t wanted) noexcept;
  /// Takes `fd` out of the set (before another target watches it). Closing
  /// the descriptor does the same without a call. Loop thread.
  void forget(int fd, std::uint8_t& state) noexcept;

  void close_all(bool deadline_passed) noexcept override;

 private:
  static void on_ready(uv_poll_t* handle, int status, int events);
  void dispatch() noexcept;

  EventLoop& loop_;
  int epoll_fd_ = -1;
  uv_poll_t handle_{};
  bool handle_open_ = false;
};

}  // namespace sluice::detail
