#include "send_batch.hpp"

#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "sluice/core/log.hpp"
#include "sluice/transport/tcp_channel.hpp"

namespace sluice::detail {

namespace {
// SLUICE_IO_URING=0 turns the batch off (as libuv's UV_USE_IO_URING=0 does
// its io_uring): for a kernel whose io_uring misbehaves, and to compare.
bool io_uring_wanted() noexcept {
  const char* v = std::getenv("SLUICE_IO_URING");
  return v == nullptr || std::strcmp(v, "0") != 0;
}
}  // namespace

SendBatch::SendBatch(EventLoop& loop) : loop_(loop) {
  if (!io_uring_wanted()) return;
  auto ring = std::make_unique<io_uring>();
  // One thread submits (the loop's), and completions need no interrupt:
  // every send completes within the call that submits it.
  int rc = io_uring_queue_init(kRingEntries, ring.get(), IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN);
  if (rc == -EINVAL) rc = io_uring_queue_init(kRingEntries, ring.get(), 0);  // a kernel before 6.0
  if (rc != 0) {
    log().info("loop {}: io_uring unavailable ({}): each flush sends at once", loop.name(), std::strerror(-rc));
    return;
  }
  ring_ = std::move(ring);
  iov_.resize(kIovPool);
  msgs_.resize(kRingEntries);
  results_.resize(kRingEntries);
}

SendBatch::~SendBatch() {
  if (ring_) io_uring_queue_exit(ring_.get());
}

void SendBatch::add(std::shared_ptr<TcpChannel> channel) {
  queued_.push_back(Entry{std::move(channel), 0});
  if (!std::exchange(scheduled_, true)) loop_.defer([this] { run(); });
}

void SendBatch::run() noexcept {
  // Channels told of their send may flush again (more than one call's worth
  // queued, or a handler that writes when told): they go in the next round.
  while (!queued_.empty()) {
    running_.swap(queued_);
    std::size_t i = 0;
    while (i < running_.size() && ring_) i = send_some(i);
    for (; i < running_.size(); ++i) running_[i].channel->send_at_once();  // the ring failed
    running_.clear();
  }
  scheduled_ = false;
}

std::size_t SendBatch::send_some(std::size_t begin) noexcept {
  if (running_.size() - begin == 1) {
    // One channel: its own sendmsg costs less than the ring (tools/profile
    // --depth 1, 4 connections, where most turns answer one request: 5,176
    // instructions a request through the ring, 5,027 this way).
    if (running_[begin].channel->send_now()) {
      ++sends_;
      ++calls_;
    }
    return begin + 1;
  }
  io_uring* ring = ring_.get();
  unsigned submitted = 0;
  std::size_t iov_used = 0;
  std::size_t i = begin;
  for (; i < running_.size() && submitted < kRingEntries && iov_used < kIovPool; ++i) {
    Entry& e = running_[i];
    int fd = -1;
    iovec* iov = &iov_[iov_used];
    std::size_t count = e.channel->gather(fd, iov, std::min(kMaxIovPerSend, kIovPool - iov_used));
    if (count == 0) continue;  // closed since, or sent already
    e.offered = 0;
    for (std::size_t k = 0; k < count; ++k) e.offered += iov[k].iov_len;
    iov_used += count;
    msghdr& msg = msgs_[submitted];
    msg = msghdr{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    io_uring_sqe* sqe = io_uring_get_sqe(ring);  // never null: at most kRingEntries per call
    // MSG_DONTWAIT: the kernel answers -EAGAIN rather than waiting for room,
    // so every send completes within the call. MSG_NOSIGNAL: a peer that
    // reset gets us EPIPE, not SIGPIPE.
    io_uring_prep_sendmsg(sqe, fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, i);
    ++submitted;
  }
  if (submitted == 0) return i;
  int rc;
  do {
    rc = io_uring_submit_and_wait(ring, submitted);
  } while (rc == -EINTR);
  ++calls_;
  if (rc < 0) {
    log().error("loop {}: io_uring_submit_and_wait: {}", loop_.name(), std::strerror(-rc));
    give_up(begin, i, rc);
    return i;
  }
  sends_ += submitted;
  // Every answer is in (the call waited for them): read them all, then tell
  // each channel, which may queue itself again (in queued_, for the next
  // round).
  unsigned done = 0;
  while (done < submitted) {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(ring, head, cqe) {
      results_[done + seen] = Result{io_uring_cqe_get_data64(cqe), cqe->res};
      if (done + ++seen == submitted) break;
    }
    io_uring_cq_advance(ring, seen);
    done += seen;
    if (done < submitted && io_uring_wait_cqe(ring, &cqe) != 0) {
      give_up(begin, i, -EIO);
      return i;
    }
  }
  for (unsigned k = 0; k < submitted; ++k) {
    Entry& e = running_[results_[k].index];
    e.channel->sent(results_[k].result, std::exchange(e.offered, 0));
  }
  return i;
}

void SendBatch::give_up(std::size_t begin, std::size_t end, int error) noexcept {
  // The ring is gone with what it held; every channel still offered is
  // failed with the error (it closes), and later flushes send at once.
  io_uring_queue_exit(ring_.get());
  ring_.reset();
  for (std::size_t k = begin; k < end; ++k) {
    Entry& e = running_[k];
    if (e.offered != 0) e.channel->sent(error, std::exchange(e.offered, 0));
  }
}

}  // namespace sluice::detail
