#pragma once
// A Channel over a libuv TCP handle.

#include <uv.h>

#include <functional>
#include <memory>
#include <vector>

#include "sluice/channel/channel.hpp"

namespace sluice {

/// Builds a new channel's pipeline; runs on the channel's loop before the
/// channel becomes active.
using ChannelInitializer = std::function<void(Channel&)>;

/// A TCP connection. Made by TcpServer (accepted) and TcpClient (connected);
/// see Channel for the thread rules.
///
/// Reads land in the loop's read slab and are lent to the pipeline as a
/// borrowed Buffer. Flushes try uv_try_write with every flushed buffer at
/// once (writev) and hand what the kernel did not take to one uv_write.
class TcpChannel final : public Channel {
 public:
  /// Loop thread. The handle is initialised; connect or accept into it, then start().
  static std::shared_ptr<TcpChannel> create(EventLoop& loop, ChannelOptions options);
  /// The same with options shared by many channels (a server's), and
  /// `block_bytes` of room after the channel, in the same allocation, for
  /// the handlers its initializer emplaces (Pipeline::give_block; a server
  /// asks for what its last pipelines wanted).
  static std::shared_ptr<TcpChannel> create(EventLoop& loop, std::shared_ptr<const ChannelOptions> options,
                                            std::size_t block_bytes = 0);

  // Only create() can name this: the constructor is public for make_shared
  // (one block for the channel and its reference counts), not for users.
  class Key {
    friend class TcpChannel;
    Key() = default;
  };
  TcpChannel(Key, EventLoop& loop, std::shared_ptr<const ChannelOptions> options);

  uv_tcp_t* handle() noexcept { return &handle_; }
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

  void consume_written(std::size_t n) noexcept;
  void write_rest();

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_close(uv_handle_t* handle);

  // The libuv requests of a connection that fills the kernel's buffer or
  // half-closes: the one uv_write under way with the buffers it owns, and
  // the shutdown. Made on first use: most connections need neither, and
  // every byte of an idle connection adds up.
  struct Requests {
    uv_write_t write;
    std::vector<Buffer> write_buffers;
    std::size_t write_bytes = 0;
    uv_shutdown_t shutdown;
  };
  Requests& requests();

  bool writing_ = false;  // first: it fits in the padding after Channel's flags
  uv_tcp_t handle_{};
  std::unique_ptr<Requests> requests_;
  CloseObserver* close_observer_ = nullptr;
};

}  // namespace sluice
