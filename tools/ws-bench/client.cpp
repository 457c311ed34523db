#include "client.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ws_bench {

namespace {

constexpr std::uint64_t kOpeningTimeoutNs = 120 * kNsPerS;
constexpr std::size_t kMaxHandshakeBytes = 16 * 1024;
constexpr int kEpollBatch = 1024;

}  // namespace

Client::Client(const Options& options) : options_(options), random_(std::random_device{}()) {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) fail(errno_text("epoll_create1"));
  server_.sin_family = AF_INET;
  server_.sin_port = htons(options.port);
  if (inet_pton(AF_INET, options.host.c_str(), &server_.sin_addr) != 1) fail("--host must be an IPv4 address");
  // Without io_uring (a kernel or a container that refuses it, or
  // SLUICE_IO_URING=0 as for sluice) each send and receive is its own
  // system call.
  const char* wanted = std::getenv("SLUICE_IO_URING");
  uring_ = (wanted == nullptr || std::strcmp(wanted, "0") != 0) && io_uring_queue_init(kRingEntries, &ring_, 0) == 0;
  scratch_.resize((uring_ ? kRingEntries : 1) * kSlotBytes);
}

Client::~Client() {
  for (auto& c : connections_) {
    if (c.fd >= 0 && c.state != State::closed) ::close(c.fd);
  }
  ::close(epoll_);
  if (uring_) io_uring_queue_exit(&ring_);
}

void Client::open_all(std::size_t count, const std::string& path) {
  path_ = path;
  connections_.resize(count);
  std::uint64_t deadline = now_ns() + kOpeningTimeoutNs;
  start_more();
  bool done = run_until([&] { return ready_ == count; }, deadline);
  if (!done) {
    fail(std::to_string(ready_) + " of " + std::to_string(count) + " connections ready after " +
         std::to_string(kOpeningTimeoutNs / kNsPerS) + " s");
  }
}

bool Client::run_until(const std::function<bool()>& done, std::uint64_t deadline) {
  epoll_event events[kEpollBatch];
  while (!done()) {
    send_queued();
    std::uint64_t now = now_ns();
    if (now >= deadline) return false;
    int timeout_ms =
        options_.spin ? 0 : static_cast<int>(std::min<std::uint64_t>((deadline - now) / 1'000'000 + 1, 100));
    int n = epoll_wait(epoll_, events, kEpollBatch, timeout_ms);
    if (n < 0 && errno != EINTR) fail(errno_text("epoll_wait"));
    if (n <= 0 && options_.spin) idle_ns_ += now_ns() - now;
    for (int i = 0; i < n; ++i) dispatch(events[i]);
    receive_all(events, n);
  }
  return true;
}

void Client::run_for(double seconds) {
  run_until([] { return false; }, now_ns() + static_cast<std::uint64_t>(seconds * 1e9));
}

double Client::busy_pct(const BusyMark& since) const {
  double wall = static_cast<double>(now_ns() - since.at_ns);
  if (options_.spin) return 100 * (1 - static_cast<double>(idle_ns_ - since.idle_ns) / wall);
  return 100 * (cpu_seconds() - since.cpu_s) * 1e9 / wall;
}

void Client::mark_ready(Connection& c) {
  if (c.ready) return;
  c.ready = true;
  ++ready_;
  --opening_;
  start_more();
}

void Client::send(Connection& c, std::string_view bytes) {
  if (c.state == State::closed) return;
  // Non-empty: queued already, or waiting for room (EPOLLOUT).
  if (c.unsent.empty()) to_send_.push_back(static_cast<std::size_t>(&c - connections_.data()));
  c.unsent.append(bytes);
}

void Client::send_queued() {
  if (!uring_) {
    for (std::size_t i : to_send_) {
      Connection& c = connections_[i];
      if (c.state == State::closed) continue;
      ssize_t n = ::send(c.fd, c.unsent.data(), c.unsent.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      sent(c, n < 0 ? -errno : static_cast<int>(n));
    }
    to_send_.clear();
    return;
  }
  std::size_t begin = 0;
  while (begin < to_send_.size()) {
    std::size_t end = std::min(to_send_.size(), begin + kRingEntries);
    unsigned submitted = 0;
    for (std::size_t k = begin; k < end; ++k) {
      Connection& c = connections_[to_send_[k]];
      if (c.state == State::closed) continue;
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      // MSG_DONTWAIT: -EAGAIN rather than a send that waits, so every one
      // completes within the call.
      io_uring_prep_send(sqe, c.fd, c.unsent.data(), c.unsent.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      io_uring_sqe_set_data64(sqe, to_send_[k]);
      ++submitted;
    }
    submit_and_wait(submitted);
    for (unsigned seen = 0; seen < submitted; ++seen) {
      io_uring_cqe* cqe = next_cqe();
      Connection& c = connections_[io_uring_cqe_get_data64(cqe)];
      int result = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      sent(c, result);
    }
    begin = end;
  }
  to_send_.clear();
}

void Client::sent(Connection& c, int result) {
  if (result < 0 && result != -EAGAIN) return lost(c, std::string("send: ") + std::strerror(-result));
  c.unsent.erase(0, static_cast<std::size_t>(std::max(result, 0)));
  if (!c.unsent.empty()) watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
}

void Client::submit_and_wait(unsigned count) {
  if (count == 0) return;
  int rc;
  do {
    rc = io_uring_submit_and_wait(&ring_, count);
  } while (rc == -EINTR);
  if (rc < 0) fail(std::string("io_uring_submit_and_wait: ") + std::strerror(-rc));
}

io_uring_cqe* Client::next_cqe() {
  io_uring_cqe* cqe = nullptr;
  if (int rc = io_uring_wait_cqe(&ring_, &cqe); rc != 0) fail(std::string("io_uring_wait_cqe: ") + std::strerror(-rc));
  return cqe;
}

void Client::watch_other(int fd, std::uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = kOtherId;
  if (epoll_ctl(epoll_, op, fd, &ev) != 0) fail(errno_text("epoll_ctl"));
}

void Client::start_more() {
  while (opening_ < options_.window && next_ < connections_.size()) {
    start(next_++);
    ++opening_;
  }
}

void Client::start(std::size_t i) {
  Connection& c = connections_[i];
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (c.fd < 0) fail(errno_text("socket") + " (connection " + std::to_string(i) + "; the fd limit?)");
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (options_.sources > 1) {
    // Pick the port at connect() (per destination), not at bind().
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = htonl(0x7f000001 + static_cast<std::uint32_t>(i % options_.sources));
    if (bind(c.fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) fail(errno_text("bind"));
  }
  if (connect(c.fd, reinterpret_cast<sockaddr*>(&server_), sizeof server_) != 0 && errno != EINPROGRESS) {
    fail(errno_text("connect") + " (connection " + std::to_string(i) + ")");
  }
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = i;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev) != 0) fail(errno_text("epoll_ctl"));
}

void Client::watch(Connection& c, std::uint32_t events, int op) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = static_cast<std::uint64_t>(&c - connections_.data());
  if (epoll_ctl(epoll_, op, c.fd, &ev) != 0) fail(errno_text("epoll_ctl"));
}

void Client::dispatch(const epoll_event& event) {
  if (event.data.u64 == kOtherId) return on_other(event.events);
  Connection& c = connections_[event.data.u64];
  if (c.state == State::closed) return;
  if (c.state == State::connecting) return connected(c);
  if (event.events & EPOLLOUT) flush(c);  // received in receive_all()
}

void Client::connected(Connection& c) {
  int error = 0;
  socklen_t size = sizeof error;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &size);
  if (error != 0) {
    fail("connect to " + options_.host + ":" + std::to_string(options_.port) + ": " + std::strerror(error));
  }
  unsigned char nonce[16];
  for (auto& b : nonce) b = static_cast<unsigned char>(random_());
  c.key = base64(nonce, sizeof nonce);
  c.state = State::handshaking;
  watch(c, EPOLLIN, EPOLL_CTL_MOD);
  send(c, "GET " + path_ + " HTTP/1.1\r\nHost: " + options_.host + ":" + std::to_string(options_.port) +
              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + c.key +
              "\r\nSec-WebSocket-Version: 13\r\n\r\n");
}

void Client::flush(Connection& c) {
  ssize_t sent = ::send(c.fd, c.unsent.data(), c.unsent.size(), MSG_NOSIGNAL);
  if (sent < 0) {
    if (errno != EAGAIN) lost(c, errno_text("send"));
    return;
  }
  c.unsent.erase(0, static_cast<std::size_t>(sent));
  if (c.unsent.empty()) watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

void Client::receive_all(const epoll_event* events, int n) {
  auto wants_receive = [&](const epoll_event& e) {
    if (e.data.u64 == kOtherId || (e.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0) return false;
    State state = connections_[e.data.u64].state;
    return state == State::handshaking || state == State::open;
  };
  if (!uring_) {
    for (int i = 0; i < n; ++i) {
      if (!wants_receive(events[i])) continue;
      Connection& c = connections_[events[i].data.u64];
      ssize_t got = recv(c.fd, scratch_.data(), kSlotBytes, MSG_DONTWAIT);
      received(c, got < 0 ? -errno : got, std::string_view(scratch_.data(), got > 0 ? static_cast<std::size_t>(got) : 0));
    }
    return;
  }
  int i = 0;
  while (i < n) {
    unsigned submitted = 0;
    for (; i < n && submitted < kRingEntries; ++i) {
      if (!wants_receive(events[i])) continue;
      Connection& c = connections_[events[i].data.u64];
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      io_uring_prep_recv(sqe, c.fd, scratch_.data() + submitted * kSlotBytes, kSlotBytes, MSG_DONTWAIT);
      io_uring_sqe_set_data64(sqe, (events[i].data.u64 << 16) | submitted);
      ++submitted;
    }
    submit_and_wait(submitted);
    for (unsigned seen = 0; seen < submitted; ++seen) {
      io_uring_cqe* cqe = next_cqe();
      std::uint64_t data = io_uring_cqe_get_data64(cqe);
      int got = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      Connection& c = connections_[data >> 16];
      const char* slot = scratch_.data() + (data & 0xffff) * kSlotBytes;
      received(c, got, std::string_view(slot, got > 0 ? static_cast<std::size_t>(got) : 0));
    }
  }
}

void Client::received(Connection& c, long got, std::string_view data) {
  if (c.state == State::closed) return;  // lost while this poll's receives were handled
  if (got == 0) return lost(c, "closed by the server");
  if (got < 0) {
    if (got != -EAGAIN) lost(c, std::string("recv: ") + std::strerror(static_cast<int>(-got)));
    return;
  }
  if (!c.pending.empty()) {
    c.pending.append(data);
    data = c.pending;
  }
  std::size_t used = consume(c, data);
  if (c.state == State::closed) return;
  if (c.pending.empty()) {
    c.pending.assign(data.substr(used));
  } else {
    c.pending.erase(0, used);
  }
}

std::size_t Client::consume(Connection& c, std::string_view data) {
  std::size_t used = 0;
  if (c.state == State::handshaking) {
    std::size_t end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (data.size() > kMaxHandshakeBytes) fail("a handshake answer without an end");
      return 0;
    }
    check_handshake(c, data.substr(0, end));
    used = end + 4;
    c.state = State::open;
    on_open(c);
  }
  FrameHeader frame{};
  while (c.state == State::open && parse_frame_header(data.substr(used), frame)) {
    std::size_t whole = frame.header_bytes + frame.payload_bytes;
    if (data.size() - used < whole) break;
    handle_frame(c, frame, data.substr(used + frame.header_bytes, frame.payload_bytes));
    used += whole;
  }
  return used;
}

void Client::check_handshake(const Connection& c, std::string_view head) {
  std::string_view status = head.substr(0, head.find("\r\n"));
  if (!status.starts_with("HTTP/1.1 101")) {
    fail("GET " + path_ + " answered `" + std::string(status) + "`, not 101 Switching Protocols");
  }
  std::string_view accept = header_value(head, "Sec-WebSocket-Accept");
  if (accept != expected_accept(c.key)) {
    fail("Sec-WebSocket-Accept `" + std::string(accept) + "` is not " + expected_accept(c.key));
  }
}

void Client::handle_frame(Connection& c, const FrameHeader& frame, std::string_view payload) {
  switch (frame.opcode) {
    case kPing:
      return send(c, masked_frame(kPong, payload, random_mask()));
    case kPong:
      return;
    case kClose:
      c.close_code = payload.size() >= 2 ? static_cast<std::uint16_t>(static_cast<std::uint8_t>(payload[0]) << 8 |
                                                                      static_cast<std::uint8_t>(payload[1]))
                                         : 1005;
      return lost(c, "closed by the server with code " + std::to_string(c.close_code));
    case kContinuation:
      c.fragments.append(payload);
      if (frame.fin) {
        std::string message = std::move(c.fragments);
        c.fragments.clear();
        on_message(c, c.fragments_opcode, message);
      }
      return;
    case kText:
    case kBinary:
      if (frame.fin) return on_message(c, frame.opcode, payload);
      c.fragments.assign(payload);
      c.fragments_opcode = frame.opcode;
      return;
    default:
      fail("the server sent opcode " + std::to_string(frame.opcode));
  }
}

void Client::lost(Connection& c, const std::string& why) {
  if (!c.ready) fail("connection " + std::to_string(&c - connections_.data()) + " while opening: " + why);
  if (closed_ == 0) first_loss_ = why;
  ::close(c.fd);
  c.state = State::closed;
  ++closed_;
}

}  // namespace ws_bench
