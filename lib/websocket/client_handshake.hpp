#pragma once
// Internal: the client's side of the WebSocket opening handshake (RFC 6455,
// section 4.1) as a pipeline handler, and the parser of the server's answer.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/channel/handler.hpp"
#include "sluice/core/buffer.hpp"
#include "sluice/core/timer_wheel.hpp"
#include "sluice/http/http_headers.hpp"
#include "sluice/websocket/websocket_client.hpp"

namespace sluice::detail {

struct SessionConfig;

/// The status and fields of the server's answer to a handshake.
struct HandshakeResponse {
  int version_major = 0;
  int version_minor = 0;
  int status = 0;
  HttpHeaders headers;
};

/// Reads a response head (the status line to the blank line) with llhttp;
/// false when it is not one response's head, whole. Any thread.
bool parse_response_head(std::string_view head, HandshakeResponse& out);

/// A new Sec-WebSocket-Key: 16 random bytes in base64. Any thread.
std::string new_handshake_key();

/// What the handshake request says: the target and Host field as the URL
/// wrote them, the key, and the application's extra fields.
struct HandshakeRequest {
  std::string target = "/";
  std::string host_field;
  std::string key;
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

/// Sends the handshake request when the connection opens, reads the answer
/// (at most `max_head_bytes` of head), and on a good 101 gives its
/// place to the WebSocket codec and session, handing them what came after
/// the head. Reports once through `done`: the WebSocket, or why not (then
/// the connection closes). The only handler of its channel until then; one
/// per connection; loop thread.
class ClientHandshake final : public InboundHandler<Buffer> {
 public:
  static constexpr std::size_t kMaxResponseHead = 16 * 1024;

  ClientHandshake(const HandshakeRequest& request, std::shared_ptr<SessionConfig> config,
                  std::shared_ptr<WebSocketHandler> handler, WebSocketClient::ConnectCallback done,
                  std::uint64_t timeout_ms, std::size_t max_head_bytes = kMaxResponseHead);

  void channel_active(HandlerContext& ctx) override;
  void read(HandlerContext& ctx, Buffer& bytes) override;
  void channel_inactive(HandlerContext& ctx) override;

 private:
  /// Why the answer does not complete the handshake ("" when it does);
  /// `subprotocol` gets the index of the one the server chose, or -1.
  std::string check(const HandshakeResponse& r, int& subprotocol) const;
  void succeeded(HandlerContext& ctx, Buffer rest, int subprotocol);
  void failed(HandlerContext& ctx, const std::string& why);
  void report(std::shared_ptr<WebSocket> ws, std::string error);
  static void timed_out(void* self);

  std::shared_ptr<SessionConfig> config_;
  std::shared_ptr<WebSocketHandler> handler_;
  WebSocketClient::ConnectCallback done_;
  std::uint64_t timeout_ms_;
  std::size_t max_head_bytes_;
  std::string request_;
  std::string expected_accept_;
  std::string head_;
  HandlerContext* ctx_ = nullptr;
  TimerWheel::Entry timer_{&ClientHandshake::timed_out, this};
};

}  // namespace sluice::detail
