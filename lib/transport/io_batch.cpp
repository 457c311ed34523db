#include "io_batch.hpp"

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

IoBatch::IoBatch(EventLoop& loop) : loop_(loop) {
  if (!io_uring_wanted()) return;
  auto ring = std::make_unique<io_uring>();
  // One thread submits (the loop's), and completions need no interrupt:
  // every operation completes within the call that submits it.
  int rc = io_uring_queue_init(kRingEntries, ring.get(), IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN);
  if (rc == -EINVAL) rc = io_uring_queue_init(kRingEntries, ring.get(), 0);  // a kernel before 6.0
  if (rc != 0) {
    log().info("loop {}: io_uring unavailable ({}): each socket reads and sends at once", loop.name(),
               std::strerror(-rc));
    return;
  }
  ring_ = std::move(ring);
  enabled_.store(true, std::memory_order_relaxed);
  iov_.resize(kIovPool);
  msgs_.resize(kRingEntries);
  results_.resize(kRingEntries);
}

IoBatch::~IoBatch() {
  if (ring_) io_uring_queue_exit(ring_.get());
}

void IoBatch::add_read(std::shared_ptr<TcpChannel> channel) {
  reads_.push_back(Entry{std::move(channel), 0});
  if (!std::exchange(scheduled_, true)) loop_.defer([this] { run(); });
}

void IoBatch::add_send(std::shared_ptr<TcpChannel> channel) {
  sends_.push_back(Entry{std::move(channel), 0});
  if (!std::exchange(scheduled_, true)) loop_.defer([this] { run(); });
}

void IoBatch::run() noexcept {
  // The wait's reads, a call's worth at a time, each followed by the sends
  // its handlers' answers made: with hundreds of sockets ready, the first
  // answer waits for one call's reads, not for them all.
  reading_.swap(reads_);  // only a wait's callbacks add reads, and none run meanwhile
  for (std::size_t i = 0; i < reading_.size();) {
    if (ring_) {
      i = read_some(i);
    } else {
      reading_[i++].channel->read_at_once();  // the ring failed
    }
    send_all();
  }
  reading_.clear();
  send_all();
  scheduled_ = false;
}

void IoBatch::send_all() noexcept {
  // Channels told of their send may flush again (more than one call's worth
  // queued, or a handler that writes when told): they go in the next round.
  while (!sends_.empty()) {
    sending_.swap(sends_);
    std::size_t i = 0;
    while (i < sending_.size() && ring_) i = send_some(i);
    for (; i < sending_.size(); ++i) sending_[i].channel->send_at_once();  // the ring failed
    sending_.clear();
  }
}

std::size_t IoBatch::read_some(std::size_t begin) noexcept {
  if (reading_.size() - begin == 1) {
    // One socket: its own read costs less than the ring.
    if (reading_[begin].channel->read_at_once()) {
      reads_made_.add();
      calls_made_.add();
    }
    return begin + 1;
  }
  if (!read_area_) read_area_ = std::make_unique_for_overwrite<char[]>(kReadSlots * kReadSlotBytes);
  read_area_used_ = true;
  io_uring* ring = ring_.get();
  unsigned submitted = 0;
  std::size_t i = begin;
  for (; i < reading_.size() && submitted < kReadSlots; ++i) {
    int fd = -1;
    if (!reading_[i].channel->wants_read(fd)) continue;  // closed or paused since
    io_uring_sqe* sqe = io_uring_get_sqe(ring);           // never null: kReadSlots < kRingEntries
    io_uring_prep_recv(sqe, fd, read_area_.get() + submitted * kReadSlotBytes, kReadSlotBytes, MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, (i << 8) | submitted);  // the entry and its slot
    ++submitted;
  }
  if (submitted == 0) return i;
  unsigned answered = submit_and_reap(submitted);
  reads_made_.add(answered);
  for (unsigned k = 0; k < answered; ++k) {
    std::uint64_t data = results_[k].index;
    char* slot = read_area_.get() + (data & 0xff) * kReadSlotBytes;
    reading_[data >> 8].channel->received(results_[k].result, slot, kReadSlotBytes);
  }
  if (answered < submitted) {
    // The ring failed: the reads not answered may not have been made. Each
    // channel reads on its own (again, for one whose answer came: it finds
    // nothing more, or what came since).
    for (std::size_t k = begin; k < i; ++k) reading_[k].channel->read_at_once();
  }
  return i;
}

std::size_t IoBatch::send_some(std::size_t begin) noexcept {
  if (sending_.size() - begin == 1) {
    // One channel: its own sendmsg costs less than the ring (tools/profile
    // --depth 1, 4 connections, before reads were batched: 5,176
    // instructions a request through the ring, 5,027 this way).
    if (sending_[begin].channel->send_now()) {
      sends_made_.add();
      calls_made_.add();
    }
    return begin + 1;
  }
  io_uring* ring = ring_.get();
  unsigned submitted = 0;
  std::size_t iov_used = 0;
  std::size_t i = begin;
  for (; i < sending_.size() && submitted < kRingEntries && iov_used < kIovPool; ++i) {
    Entry& e = sending_[i];
    int fd = -1;
    iovec* iov = &iov_[iov_used];
    std::size_t count = e.channel->gather(fd, iov, std::min(kMaxIovPerSend, kIovPool - iov_used), e.offered);
    if (count == 0) continue;  // closed since, or sent already
    iov_used += count;
    msghdr& msg = msgs_[submitted];
    msg = msghdr{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    io_uring_sqe* sqe = io_uring_get_sqe(ring);  // never null: at most kRingEntries per call
    // MSG_NOSIGNAL: a peer that reset gets us EPIPE, not SIGPIPE.
    io_uring_prep_sendmsg(sqe, fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, i);
    ++submitted;
  }
  if (submitted == 0) return i;
  unsigned answered = submit_and_reap(submitted);
  sends_made_.add(answered);
  for (unsigned k = 0; k < answered; ++k) {
    Entry& e = sending_[results_[k].index];
    e.channel->sent(results_[k].result, std::exchange(e.offered, 0));  // may queue it again, in sends_
  }
  if (answered < submitted) {
    // The ring failed: whether the sends not answered were made nobody can
    // say, so those channels fail as on a write error.
    for (std::size_t k = begin; k < i; ++k) {
      Entry& e = sending_[k];
      if (e.offered != 0) e.channel->sent(-EIO, std::exchange(e.offered, 0));
    }
  }
  return i;
}

std::size_t IoBatch::trim() noexcept {
  if (std::exchange(read_area_used_, false) || !read_area_) return 0;
  read_area_.reset();
  return kReadSlots * kReadSlotBytes;
}

void IoBatch::collect(MetricSink& sink) const {
  sink.gauge("sluice_io_uring_enabled",
             "1 when the loop reads and sends its sockets in batches through io_uring, 0 when each socket makes its "
             "own system calls (SLUICE_IO_URING=0, or the kernel refused io_uring).",
             {}, enabled_.load(std::memory_order_relaxed) ? 1 : 0);
  const char* ops_help = "Socket reads and sends made by the loop's batch, by operation.";
  sink.counter("sluice_io_batch_operations_total", ops_help, {{"op", "read"}},
               static_cast<double>(reads_made_.value()));
  sink.counter("sluice_io_batch_operations_total", ops_help, {{"op", "send"}},
               static_cast<double>(sends_made_.value()));
  sink.counter("sluice_io_batch_calls_total",
               "System calls the loop's batch made for them: operations over calls is the batch's mean size.", {},
               static_cast<double>(calls_made_.value()));
}

unsigned IoBatch::submit_and_reap(unsigned count) noexcept {
  io_uring* ring = ring_.get();
  int rc;
  do {
    rc = io_uring_submit_and_wait(ring, count);
  } while (rc == -EINTR);
  calls_made_.add();
  // Every answer is in once the call returns (it waited for them): read
  // them all before any channel is told, which may queue more.
  unsigned done = 0;
  while (rc >= 0 && done < count) {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(ring, head, cqe) {
      results_[done + seen] = Result{io_uring_cqe_get_data64(cqe), cqe->res};
      if (done + ++seen == count) break;
    }
    io_uring_cq_advance(ring, seen);
    done += seen;
    while (done < count && (rc = io_uring_wait_cqe(ring, &cqe)) == -EINTR) {
    }
  }
  if (done == count) return done;
  log().error("loop {}: io_uring: {}; each socket reads and sends at once from now on", loop_.name(),
              std::strerror(-rc));
  io_uring_queue_exit(ring);
  ring_.reset();
  enabled_.store(false, std::memory_order_relaxed);
  return done;
}

}  // namespace sluice::detail
