#pragma once
// Internal: a loop's socket reads and sends, gathered over a turn and
// handed to the kernel in one system call each way (io_uring), where each
// socket made its own read and its own sendmsg.
//
// Reads: a socket epoll reports with input goes in the batch, and once the
// wait's callbacks are done (EventLoop::defer) its first read is made, with
// up to 31 other such sockets', in one io_uring_enter, each into its own
// 8 KiB slot of the batch's read area (256 KiB, returned once reads have
// not come in batches for a second: see trim()). A read that fills its slot goes on
// as any read does (TcpChannel::read_ready, into the loop's read slab).
//
// Sends: a channel's flush puts it in the batch. After each call's reads
// have been handled (and at the end of any turn), every queued channel's
// flushed buffers go as one sendmsg each, all in one io_uring_enter, and
// each channel is told what the kernel took. Each buffer stays in its
// channel's queue, untouched, until then.
//
// Nothing waits in the kernel: every operation is MSG_DONTWAIT, so it is
// tried within the call and answers -EAGAIN rather than being held, and the
// call returns with every answer in. A socket that is full waits for
// EPOLLOUT, and one with no input for epoll, as before. One socket alone
// in a batch makes its own system call, which costs less than the ring.
//
// Why: on this machine a system call's entry and exit were a quarter of a
// WebSocket echo server's time (perf, tools/ws-bench echo at 64 B:
// pvm_irq_enable under do_syscall_64 14%, the syscall instruction 11%),
// and a server under load has tens of sockets ready in each wait (echo at
// 4 KiB over 64 connections: about 40).
//
// When the kernel refuses io_uring (an old kernel, a seccomp filter,
// io_uring_disabled) or SLUICE_IO_URING=0 is set, the batch is off and each
// socket reads and sends at once.

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/core/event_loop.hpp"
#include "sluice/core/loop_metrics.hpp"

struct io_uring;

namespace sluice {
class TcpChannel;
}

namespace sluice::detail {

class IoBatch final : public LoopService {
 public:
  static IoBatch& of(EventLoop& loop) { return loop.service<IoBatch>(); }

  explicit IoBatch(EventLoop& loop);
  ~IoBatch() override;
  IoBatch(const IoBatch&) = delete;
  IoBatch& operator=(const IoBatch&) = delete;

  /// Whether reads and sends are batched on this loop (else a channel
  /// reads and sends at once). Loop thread.
  bool enabled() const noexcept { return ring_ != nullptr; }
  /// Reads from `channel`'s socket, which epoll reported with input, once
  /// this wait's callbacks are done: hands TcpChannel::received() what
  /// came. Once per report. Loop thread.
  void add_read(std::shared_ptr<TcpChannel> channel);
  /// Sends `channel`'s flushed bytes at the end of this turn: asks
  /// TcpChannel::gather() for them then, and tells TcpChannel::sent() what
  /// the kernel took. Once per channel until told. Loop thread.
  void add_send(std::shared_ptr<TcpChannel> channel);

  /// Reads and sends made through the batch, and system calls made for
  /// them. Any thread.
  struct Counts {
    std::uint64_t reads = 0;
    std::uint64_t sends = 0;
    std::uint64_t calls = 0;
  };
  Counts counts() const noexcept { return Counts{reads_made_.value(), sends_made_.value(), calls_made_.value()}; }
  /// Writes whether io_uring is on, and the counts. Any thread.
  void collect(MetricSink& sink) const override;
  /// Once a second: frees the read area if no batched read used it since
  /// the last call (a loop of idle connections holds none). Loop thread.
  std::size_t trim() noexcept override;

  static constexpr std::size_t kReadSlotBytes = 8 * 1024;

 private:
  static constexpr unsigned kRingEntries = 256;
  static constexpr unsigned kReadSlots = 32;         // reads per call: 256 KiB of slots
  static constexpr std::size_t kMaxIovPerSend = 64;  // as TcpChannel's own sendmsg
  static constexpr std::size_t kIovPool = 2048;      // shared by a call's sends

  struct Entry {
    std::shared_ptr<TcpChannel> channel;
    std::size_t offered = 0;  // a send's bytes
  };
  struct Result {
    std::uint64_t index;  // the operation's user_data: where in reading_ or sending_
    int result;
  };

  void run() noexcept;
  /// Sends what is queued, and what the sends' handlers queue meanwhile.
  void send_all() noexcept;
  /// Reads for entries of `reading_` from `begin` in one call, as many as
  /// the slots hold; returns the index after the last.
  std::size_t read_some(std::size_t begin) noexcept;
  /// Sends entries of `sending_` from `begin` in one call, as many as the
  /// ring and the iovec pool hold; returns the index after the last.
  std::size_t send_some(std::size_t begin) noexcept;
  /// Submits the `count` operations prepared and reads their answers into
  /// results_; returns how many. Fewer than `count`: the ring failed, and is
  /// gone (batching stops).
  unsigned submit_and_reap(unsigned count) noexcept;

  EventLoop& loop_;
  std::unique_ptr<io_uring> ring_;
  std::vector<Entry> reads_;    // this wait's, in the order epoll reported them
  std::vector<Entry> sends_;    // this turn's, in flush order
  std::vector<Entry> reading_;  // the reads being made
  std::vector<Entry> sending_;  // the sends being made
  std::unique_ptr<char[]> read_area_;  // kReadSlots x kReadSlotBytes, made when first needed
  bool read_area_used_ = false;        // since the last trim()
  std::vector<iovec> iov_;             // kIovPool
  std::vector<msghdr> msgs_;           // kRingEntries
  std::vector<Result> results_;        // kRingEntries: a call's answers
  bool scheduled_ = false;             // run() is deferred, or running
  std::atomic<bool> enabled_{false};   // ring_ is set (for collect, on any thread)
  Counter reads_made_;
  Counter sends_made_;
  Counter calls_made_;
};

}  // namespace sluice::detail
