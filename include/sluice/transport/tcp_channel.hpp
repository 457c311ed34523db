#pragma once
// A Channel over a TCP socket.

#include <functional>
#include <memory>

#include "sluice/channel/channel.hpp"
#include "sluice/core/detail/poll_target.hpp"

struct iovec;

namespace sluice {

namespace detail {
class IoBatch;
}

/// Builds a new channel's pipeline; runs on the channel's loop before the
/// channel becomes active.
using ChannelInitializer = std::function<void(Channel&)>;

/// A TCP connection. Made by TcpServer (accepted) and TcpClient (connected);
/// see Channel for the thread rules.
///
/// The socket sits in its loop's epoll set (see lib/transport/poller.hpp),
/// edge-triggered, so a connection holds its descriptor and nothing else of
/// the transport's. Reads land in the loop's
/// read slab (or, batched, in a slot of the loop's read area) and are lent
/// to the pipeline as a borrowed Buffer. A flush puts the channel in its
/// loop's batch: at the end of the turn every flushed buffer goes at once
/// (a writev). The batch makes the reads of a wait's sockets in one system
/// call and their sends in another (io_uring; a read and a sendmsg each
/// where the kernel refuses io_uring). What the kernel did not take waits
/// in the channel's queue until the socket is writable again.
class TcpChannel final : public Channel, private detail::PollTarget {
 public:
  /// Takes a connected socket (non-blocking; the channel closes it) whose
  /// peer is `remote`, on `loop`, with `options` shared by many channels (a
  /// server's), and `block_bytes` of room after the channel, in the same
  /// allocation, for the handlers its initializer emplaces
  /// (Pipeline::give_block; a server asks for what its last pipelines
  /// wanted). Loop thread. Then start().
  static std::shared_ptr<TcpChannel> create(EventLoop& loop, int fd, const SocketAddress& remote,
                                            std::shared_ptr<const ChannelOptions> options,
                                            std::size_t block_bytes = 0);

  // Only create() can name this: the constructor is public for make_shared
  // (one block for the channel and its reference counts), not for users.
  class Key {
    friend class TcpChannel;
    Key() = default;
  };
  TcpChannel(Key, EventLoop& loop, int fd, const SocketAddress& remote, std::shared_ptr<const ChannelOptions> options);
  ~TcpChannel() override;

  /// Registers the channel with its loop, runs `initializer`, validates the
  /// pipeline and fires channel_active. Loop thread.
  void start(const ChannelInitializer& initializer);

  /// Told once, on the channel's loop, when its socket is closed (servers
  /// count connections with it).
  class CloseObserver {
   public:
    virtual void channel_closed(TcpChannel& channel) noexcept = 0;

   protected:
    ~CloseObserver() = default;
  };
  /// `observer` must outlive the channel's socket. A pointer to an observer
  /// rather than a std::function: every connection carries it. Loop thread.
  void on_closed(CloseObserver& observer) noexcept { close_observer_ = &observer; }

 private:
  void transport_start_reading() override;
  void transport_stop_reading() override;
  void transport_flush() override;
  void transport_shutdown_output() override;
  void transport_close() override;
  SocketAddress transport_local_address() const override;

  void ready(std::uint32_t events) noexcept override;
  /// Reads what the socket holds (or, reading paused, notes that it holds
  /// some); `to_the_end`: on past a short read, up to the peer's end of
  /// input (which has come).
  void read_ready(bool to_the_end);
  /// Has epoll report the socket again if it holds input (see ready()).
  void rearm() noexcept;
  // The loop's batch of reads and sends (lib/transport/io_batch.hpp) calls
  // these.
  friend class detail::IoBatch;
  /// Whether to read now, with the socket's descriptor in `fd` (not when
  /// closed, or paused: then the input is noted).
  bool wants_read(int& fd) noexcept;
  /// A read into `data` (`capacity` bytes) returned `result` (bytes, or
  /// -errno).
  void received(int result, char* data, std::size_t capacity) noexcept;
  /// Reads now, without the batch; false when closed.
  bool read_at_once() noexcept;
  /// Fills up to `max` of `iov` with the flushed bytes and sets `fd` and
  /// `bytes` (their sum); returns how many it filled (0: closed, or nothing
  /// left to send).
  std::size_t gather(int& fd, iovec* iov, std::size_t max, std::size_t& bytes) noexcept;
  /// The kernel took `result` of the `offered` bytes gathered (or failed
  /// with -`result`).
  void sent(int result, std::size_t offered) noexcept;
  /// Sends what is flushed now, without the batch (it failed).
  void send_at_once() noexcept;
  /// One sendmsg (without the batch), and more while the kernel takes all;
  /// false when there was nothing to send.
  bool send_now() noexcept;
  void consume_written(std::size_t n) noexcept;
  void released() noexcept;

  // What flushed bytes wait for.
  enum class Sending : std::uint8_t {
    idle,     // nothing: a flush sends (or queues the channel in the batch)
    batched,  // the end of the turn, in the loop's send batch
    blocked,  // the kernel took less than offered: room, which EPOLLOUT reports
  };

  // After Channel's flags, in what would be padding.
  std::uint8_t interest_ = 0;       // Poller::Interest: what the socket is watched for
  Sending sending_ = Sending::idle;
  bool input_left_ = false;         // reported input not read (reading paused): read when reading resumes
  int fd_ = -1;                     // -1 once closed
  CloseObserver* close_observer_ = nullptr;
};

}  // namespace sluice
