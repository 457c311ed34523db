#pragma once
// WebSocket connections as the application sees them: a handler class with
// callbacks, a connection handle to send through, and the HTTP route that
// upgrades a request into a WebSocket.
//
//   class Echo : public sluice::WebSocketHandler {
//     void on_message(sluice::WebSocket& ws, const sluice::WebSocketMessage& m) override {
//       ws.send(m.opcode, m.data);
//     }
//   };
//   auto echo = std::make_shared<Echo>();
//   sluice::add_websocket_route(*router, "/ws/echo", [echo](sluice::HttpRequest&) { return echo; });

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/buffer.hpp"
#include "sluice/http/http_handler.hpp"
#include "sluice/websocket/websocket_frame.hpp"

namespace sluice {

class Channel;
class EventLoop;
class Router;
class WebSocket;

/// What happens to a message sent to a connection whose peer is not
/// reading: its write queue is above the channel's high watermark.
enum class SlowConsumerPolicy : std::uint8_t {
  /// Close it with 1008 (Policy Violation): the client reconnects and
  /// catches up. The default: nothing is lost without the client knowing.
  close,
  /// Drop the message and count it (WebSocket::dropped_messages).
  drop,
};

/// Limits and timeouts of one endpoint's connections.
struct WebSocketOptions {
  /// A message (all its fragments) beyond this is refused with 1009.
  std::size_t max_message_bytes = 1024 * 1024;
  /// The server pings a connection it has heard nothing from for this long
  /// (0: never)...
  std::uint64_t ping_interval_ms = 30'000;
  /// ...and cuts it when nothing (no pong, no message) arrives within this.
  std::uint64_t pong_timeout_ms = 10'000;
  /// After our close frame, how long the peer has to answer with its own
  /// before the TCP connection is cut.
  std::uint64_t close_timeout_ms = 5'000;
  SlowConsumerPolicy slow_consumer = SlowConsumerPolicy::close;
  /// Subprotocols this endpoint speaks, most preferred first. The first of
  /// them the client offers (Sec-WebSocket-Protocol) is chosen; none in
  /// common: the connection goes ahead with none, as RFC 6455 lets it.
  std::vector<std::string> subprotocols;
  /// Consulted with the Origin field ("" when absent); false: 403. Unset:
  /// every origin is accepted.
  std::function<bool(std::string_view origin)> check_origin;
};

/// The application's side of WebSocket connections: callbacks on the
/// connection's loop. One object may serve many connections (it is handed
/// the connection each time) or one each (made per request by the route's
/// factory).
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  /// The handshake is done: messages may be sent.
  virtual void on_open(WebSocket& ws);
  /// A whole text or binary message. `message.data` lives until the
  /// callback returns.
  virtual void on_message(WebSocket& ws, const WebSocketMessage& message);
  /// The connection is over: the code and reason of the close frame (the
  /// peer's, or ours when we closed first), 1005 when the frame had no
  /// code, 1006 when there was no close frame. Called once, last.
  virtual void on_close(WebSocket& ws, std::uint16_t code, std::string_view reason);
  /// The write queue fell below the low watermark after being above the
  /// high one: sending may go on.
  virtual void on_writable(WebSocket& ws);
};

/// One WebSocket connection. The handler's callbacks get it by reference;
/// keep shared() to use it later or from another thread. Sending methods
/// may be called from any thread (off the loop they are posted to it, in
/// call order); after the close began they do nothing.
class WebSocket {
 public:
  virtual ~WebSocket() = default;

  // Any thread.
  void send_text(std::string_view text) { send(WebSocketOpcode::text, text); }
  void send_binary(std::string_view bytes) { send(WebSocketOpcode::binary, bytes); }
  /// A text or binary message. Text must be valid UTF-8 (not checked).
  virtual void send(WebSocketOpcode opcode, std::string_view payload) = 0;
  /// The same, with a Buffer the caller filled (not copied; its 16 bytes of
  /// prependable room take the frame header).
  virtual void send(WebSocketOpcode opcode, Buffer payload) = 0;
  /// A ping (at most 125 bytes of payload); the pong is not reported.
  virtual void ping(std::string_view payload = {}) = 0;
  /// Starts the close handshake: our close frame, then the peer's, then
  /// the TCP connection closes (or after close_timeout_ms without it).
  virtual void close(std::uint16_t code = close_code::normal, std::string_view reason = {}) = 0;
  /// Whether the write queue is under the high watermark (sending will not
  /// meet the slow-consumer policy).
  virtual bool writable() const noexcept = 0;
  /// Whether the connection is open (the close handshake has not begun).
  virtual bool is_open() const noexcept = 0;
  /// Messages dropped by SlowConsumerPolicy::drop (counted up to 2^32 - 1).
  virtual std::uint64_t dropped_messages() const noexcept = 0;
  /// A reference that keeps the connection's memory alive (not the
  /// connection open): for other threads and later callbacks.
  virtual std::shared_ptr<WebSocket> shared() = 0;

  // Loop thread.
  virtual Channel& channel() noexcept = 0;
  EventLoop& loop() noexcept;
  /// The subprotocol chosen in the handshake ("" for none).
  virtual std::string_view subprotocol() const noexcept = 0;
  /// The handler this connection calls (for a handler that keeps state of
  /// its own per connection, made by the route's factory); null once
  /// on_close has returned: the connection lets go of it then, so a handler
  /// may keep shared() without making a cycle.
  virtual WebSocketHandler* handler() noexcept = 0;
};

/// Makes (or picks) the handler of a connection from its upgrade request;
/// runs on the loop after the middleware and after the handshake was found
/// valid. Returning nullptr refuses it with 403; throwing HttpError refuses
/// it with that status.
using WebSocketFactory = std::function<std::shared_ptr<WebSocketHandler>(HttpRequest& request)>;

/// An HTTP handler that checks a WebSocket handshake strictly and switches
/// the connection to WebSocket: GET, HTTP/1.1, "Upgrade: websocket", the
/// "upgrade" token in Connection, a Sec-WebSocket-Key of 16 bytes (400
/// otherwise) and Sec-WebSocket-Version 13 (426 with the version we speak
/// otherwise). Extensions (permessage-deflate) are declined: the answer
/// names none. Built once; serves every loop.
std::shared_ptr<HttpHandler> websocket_endpoint(WebSocketFactory factory, WebSocketOptions options = {});

/// Puts a WebSocket on `channel` after a handshake made elsewhere (a custom
/// transport; a test on an EmbeddedChannel): one handler ("ws") at the end
/// of its pipeline, which frames and unframes for itself. The handler's on_open
/// runs before it returns. Loop thread.
std::shared_ptr<WebSocket> start_websocket(Channel& channel, std::shared_ptr<WebSocketHandler> handler,
                                           WebSocketOptions options = {}, WebSocketRole role = WebSocketRole::server);

/// router.add("GET", pattern, websocket_endpoint(factory, options)).
Router& add_websocket_route(Router& router, std::string_view pattern, WebSocketFactory factory,
                            WebSocketOptions options = {});

}  // namespace sluice
