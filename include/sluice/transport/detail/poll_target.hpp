#pragma once
// Internal: what a loop's poller (lib/transport/poller.hpp) calls when a
// socket it watches is ready. In a public header only because TcpChannel
// derives from it.

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
