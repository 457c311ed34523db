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

  // Only create() can name this: the constructor is public for make_shared
  // (one block for the channel and its reference counts), not for users.
  class Key {
    friend class TcpChannel;
    Key() = default;
  };
  TcpChannel(Key, EventLoop& loop, ChannelOptions options);

  uv_tcp_t* handle() noexcept { return &handle_; }
  /// Registers the channel with its loop, runs `initializer`, validates the
  /// pipeline and fires channel_active. Loop thread.
  void start(const ChannelInitializer& initializer);
  /// Runs once when the socket is closed (used by servers to count connections).
  void on_closed(std::function<void()> hook) { closed_hook_ = std::move(hook); }

 private:
  void transport_start_reading() override;
  void transport_stop_reading() override;
  void transport_flush() override;
  void transport_shutdown_output() override;
  void transport_close() override;

  void consume_written(std::size_t n) noexcept;
  void write_rest();

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_close(uv_handle_t* handle);

  // The one uv_write under way and the buffers it owns.
  struct WriteState {
    uv_write_t req;
    std::vector<Buffer> buffers;
    std::size_t bytes = 0;
  };

  uv_tcp_t handle_{};
  // Made on first use: most connections never fill the kernel's buffer or
  // half-close, and every byte of an idle connection adds up.
  std::unique_ptr<WriteState> write_;
  std::unique_ptr<uv_shutdown_t> shutdown_req_;
  bool writing_ = false;
  std::function<void()> closed_hook_;
  std::shared_ptr<TcpChannel> closing_self_;
};

}  // namespace sluice
