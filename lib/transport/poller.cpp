#include "poller.hpp"

#include <sys/epoll.h>

#include <cerrno>

namespace sluice::detail {

namespace {
std::uint32_t epoll_events(std::uint8_t interest) noexcept {
  std::uint32_t events = 0;
  if ((interest & Poller::kRead) != 0) events |= EPOLLIN;
  if ((interest & Poller::kWrite) != 0) events |= EPOLLOUT;
  if ((interest & Poller::kEdge) != 0) events |= EPOLLET;
  if ((interest & Poller::kEdge) != 0 && (interest & Poller::kRead) != 0) events |= EPOLLRDHUP;
  return events;
}
}  // namespace

int Poller::watch(int fd, Target& target, std::uint8_t& state, std::uint8_t wanted) noexcept {
  wanted &= kRead | kWrite | kEdge;
  bool registered = (state & kRegistered) != 0;
  // Nothing to tell epoll: the same interest, or none for a socket not in the set.
  if (registered ? (state & (kRead | kWrite | kEdge)) == wanted : (wanted & (kRead | kWrite)) == kNone) return 0;
  if (int rc = ctl(registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, target, wanted); rc != 0) return rc;
  state = static_cast<std::uint8_t>(wanted | kRegistered);
  return 0;
}

int Poller::rearm(int fd, Target& target, std::uint8_t state) noexcept {
  // EPOLL_CTL_MOD looks at the descriptor again and queues it if it is ready
  // for what it is watched for: the edge that was spent, given back.
  return ctl(EPOLL_CTL_MOD, fd, target, state);
}

int Poller::ctl(int op, int fd, Target& target, std::uint8_t interest) noexcept {
  epoll_event ev{};
  ev.events = epoll_events(interest);
  ev.data.ptr = &target;
  return ::epoll_ctl(epoll_fd_, op, fd, &ev) != 0 ? -errno : 0;
}

void Poller::forget(int fd, std::uint8_t& state) noexcept {
  if ((state & kRegistered) != 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  state = kNone;
}

}  // namespace sluice::detail
