#include "poller.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include "sluice/core/log.hpp"

namespace sluice::detail {

namespace {
// Events taken per loop iteration. More stay in the set, which stays
// readable, so libuv comes back for them on its next iteration after its
// timers and other handles had their turn.
constexpr int kBatch = 256;
constexpr long kSigsetBytes = 8;  // the kernel's sigset_t (no mask is passed)

std::uint32_t epoll_events(std::uint8_t interest) noexcept {
  std::uint32_t events = 0;
  if ((interest & Poller::kRead) != 0) events |= EPOLLIN;
  if ((interest & Poller::kWrite) != 0) events |= EPOLLOUT;
  return events;
}
}  // namespace

Poller::Poller(EventLoop& loop) : loop_(loop) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  int rc = uv_poll_init(loop.uv(), &handle_, epoll_fd_);
  if (rc == 0) {
    handle_.data = this;
    handle_open_ = true;
    rc = uv_poll_start(&handle_, UV_READABLE, &Poller::on_ready);
  }
  if (rc != 0) {
    if (handle_open_) uv_close(reinterpret_cast<uv_handle_t*>(&handle_), nullptr);
    ::close(epoll_fd_);
    throw std::runtime_error(std::string("uv_poll on the loop's epoll set: ") + uv_strerror(rc));
  }
}

Poller::~Poller() {
  // The loop is closed by now (services go with it), and the handle with it.
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void Poller::close_all(bool) noexcept {
  // The loop stops. Sockets still in the set are closed by their owners;
  // the set itself stays open until the service goes, for their last calls.
  if (handle_open_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&handle_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), nullptr);
  }
}

int Poller::watch(int fd, Target& target, std::uint8_t& state, std::uint8_t wanted) noexcept {
  wanted &= kRead | kWrite;
  bool registered = (state & kRegistered) != 0;
  // Nothing to tell epoll: the same interest, or none for a socket not in the set.
  if (registered ? (state & (kRead | kWrite)) == wanted : wanted == kNone) return 0;
  epoll_event ev{};
  ev.events = epoll_events(wanted);
  ev.data.ptr = &target;
  if (::epoll_ctl(epoll_fd_, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) return -errno;
  state = static_cast<std::uint8_t>(wanted | kRegistered);
  return 0;
}

void Poller::forget(int fd, std::uint8_t& state) noexcept {
  if ((state & kRegistered) != 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  state = kNone;
}

void Poller::on_ready(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<Poller*>(handle->data);
  self->loop_.note_back_from_poll();  // socket callbacks run inside libuv's poll phase
  if (status < 0) {
    log().error("{}: polling the loop's epoll set: {}", self->loop_.name(), uv_strerror(status));
    return;
  }
  self->dispatch();
}

void Poller::dispatch() noexcept {
  epoll_event events[kBatch];
  // Through syscall(), as TcpChannel reads and writes: glibc's epoll_wait is
  // a thread cancellation point and pays for it on every call.
  auto n = static_cast<int>(::syscall(SYS_epoll_pwait, epoll_fd_, events, kBatch, 0, nullptr, kSigsetBytes));
  for (int i = 0; i < n; ++i) static_cast<Target*>(events[i].data.ptr)->ready(events[i].events);
}

}  // namespace sluice::detail
