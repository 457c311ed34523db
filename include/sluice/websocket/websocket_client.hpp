#pragma once
// WebSocket connections to a server (ws://), on TcpClient: the same
// handler class and connection handle as the server side.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sluice/transport/tcp_client.hpp"
#include "sluice/websocket/websocket.hpp"

namespace sluice {

/// How a client connects. `websocket.subprotocols` are offered in order;
/// the server picks one or none (WebSocket::subprotocol).
struct WebSocketClientOptions {
  WebSocketOptions websocket{};
  ClientOptions tcp{};
  /// The server must answer the handshake within this.
  std::uint64_t handshake_timeout_ms = 10'000;
  /// More fields for the handshake request (Origin, Authorization, ...).
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Opens WebSocket connections. Frames it sends are masked with a new key
/// each (a fast per-thread generator seeded from the kernel). Stateless:
/// every call stands alone.
class WebSocketClient {
 public:
  /// Runs once, on the loop: the open connection (after the handler's
  /// on_open), or nullptr and why not.
  using ConnectCallback = std::function<void(std::shared_ptr<WebSocket> ws, std::string error)>;

  /// Connects to `url` ("ws://host[:port]/path?query") on `loop`. Any thread.
  static void connect(EventLoop& loop, const std::string& url, std::shared_ptr<WebSocketHandler> handler,
                      ConnectCallback done, WebSocketClientOptions options = {});
  /// Blocking form for tests and tools: throws std::runtime_error on
  /// failure. Any thread but `loop`'s own.
  static std::shared_ptr<WebSocket> connect_sync(EventLoop& loop, const std::string& url,
                                                 std::shared_ptr<WebSocketHandler> handler,
                                                 WebSocketClientOptions options = {});
};

}  // namespace sluice
