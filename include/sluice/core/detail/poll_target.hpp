#pragma once
// Internal: what a loop calls when a descriptor in its epoll set is ready
// (EventLoop::poll_fd(); the transport's Poller adds sockets to it). In a
// public header only because TcpChannel derives from it.

#include <cstdint>

namespace sluice::detail {

class PollTarget {
 public:
  /// `events`: epoll's bits (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP). Loop thread.
  virtual void ready(std::uint32_t events) noexcept = 0;

 protected:
  ~PollTarget() = default;
};

}  // namespace sluice::detail
