#pragma once
// Internal: a loop's sends, gathered over a turn and handed to the kernel
// in one system call (io_uring), where each flush made one sendmsg.
//
// A connection's flush puts it in the batch; the batch runs once the turn's
// callbacks are done (EventLoop::defer), as one io_uring_enter for up to
// kRingEntries connections, and tells each what the kernel took. Nothing
// waits: every send is MSG_DONTWAIT, so the kernel tries it within the
// call and answers -EAGAIN instead of holding it, and a connection whose
// socket is full waits for EPOLLOUT as before. Each buffer stays in its
// connection's queue, untouched, until its answer is read in the same call.
//
// Why: on this machine a system call's entry and exit were a quarter of a
// WebSocket echo server's time (perf, tools/ws-bench echo at 64 B:
// pvm_irq_enable under do_syscall_64 14%, the syscall instruction 11%),
// and a server under load has many sockets to answer in each turn.
//
// When the kernel refuses io_uring (an old kernel, a seccomp filter,
// io_uring_disabled, valgrind) the batch is off and connections send at
// once, as they did.

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/core/event_loop.hpp"

struct io_uring;

namespace sluice {
class TcpChannel;
}

namespace sluice::detail {

class SendBatch final : public LoopService {
 public:
  static SendBatch& of(EventLoop& loop) { return loop.service<SendBatch>(); }

  explicit SendBatch(EventLoop& loop);
  ~SendBatch() override;
  SendBatch(const SendBatch&) = delete;
  SendBatch& operator=(const SendBatch&) = delete;

  /// Whether sends are batched on this loop (else a writer sends at once).
  bool enabled() const noexcept { return ring_ != nullptr; }
  /// Sends `channel`'s flushed bytes at the end of this turn: asks
  /// TcpChannel::gather() for them then, and tells TcpChannel::sent() what
  /// the kernel took. Once per channel until told. Loop thread.
  void add(std::shared_ptr<TcpChannel> channel);

  /// Sends made through the batch, and system calls made for them.
  /// Loop thread.
  std::uint64_t sends() const noexcept { return sends_; }
  std::uint64_t calls() const noexcept { return calls_; }

 private:
  struct Entry {
    std::shared_ptr<TcpChannel> channel;
    std::size_t offered = 0;
  };

  static constexpr unsigned kRingEntries = 256;
  static constexpr std::size_t kMaxIovPerSend = 64;  // as TcpChannel's own sendmsg
  static constexpr std::size_t kIovPool = 2048;      // shared by a call's sends

  void run() noexcept;
  /// Sends entries of `running_` from `begin` in one call, as many as the
  /// ring and the iovec pool hold; returns the index after the last.
  std::size_t send_some(std::size_t begin) noexcept;
  /// Stops batching after the ring failed: writers waiting are told
  /// `error`, and later flushes send at once.
  void give_up(std::size_t begin, std::size_t end, int error) noexcept;

  EventLoop& loop_;
  std::unique_ptr<io_uring> ring_;
  std::vector<Entry> queued_;   // this turn's, in flush order
  std::vector<Entry> running_;  // the batch being sent
  std::vector<iovec> iov_;      // kIovPool, made with the ring
  std::vector<msghdr> msgs_;    // kRingEntries
  struct Result {
    std::uint64_t index;  // in running_
    int result;
  };
  std::vector<Result> results_;  // kRingEntries: a call's answers
  bool scheduled_ = false;      // run() is deferred, or running
  std::uint64_t sends_ = 0;
  std::uint64_t calls_ = 0;
};

}  // namespace sluice::detail
