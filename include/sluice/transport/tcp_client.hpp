#pragma once
// Outgoing TCP connections on the same channel/pipeline model as the server.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "sluice/transport/tcp_channel.hpp"

namespace sluice {

/// Connection options.
struct ClientOptions {
  std::uint64_t connect_timeout_ms = 5000;
  bool tcp_nodelay = true;
  ChannelOptions channel{};
};

/// Connects channels. Stateless: every call stands alone.
class TcpClient {
 public:
  /// `channel` is set (and already active) on success; otherwise `error` says why.
  using ConnectCallback = std::function<void(std::shared_ptr<Channel> channel, std::string error)>;

  /// Connects to host:port (a numeric address or a name, resolved through
  /// the loop's thread pool) on `loop`. `initializer` builds the pipeline;
  /// `done` runs once, on the loop. Any thread.
  static void connect(EventLoop& loop, std::string host, std::uint16_t port, ChannelInitializer initializer,
                      ConnectCallback done, ClientOptions options = {});

  /// Blocking form for tests and tools: waits for the outcome and throws
  /// std::runtime_error on failure. Any thread but `loop`'s own.
  static std::shared_ptr<Channel> connect_sync(EventLoop& loop, std::string host, std::uint16_t port,
                                               ChannelInitializer initializer, ClientOptions options = {});
};

}  // namespace sluice
