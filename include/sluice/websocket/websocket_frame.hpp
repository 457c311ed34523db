#pragma once
// RFC 6455 framing as a pipeline handler: bytes <-> WebSocket messages.
//
//   inbound:  Buffer (socket bytes) -> WebSocketMessage (a whole text or
//             binary message, or a control frame)
//   outbound: WebSocketFrame (opcode + payload) -> Buffer (header + payload)
//
// A frame on the wire:
//
//   0                   1                   2                   3
//   |F|R|R|R| opcode|M| len (7) |  extended length (0, 2 or 8) | mask (0/4) | payload ...
//   |I|S|S|S|  (4)  |A|         |                              |            |
//   |N|V|V|V|       |S|         |                              |            |
//
// The decoder works in place: the payload is unmasked where it lies in the
// read buffer, and a message that arrived whole in one read is delivered as
// a view of those bytes, with no copy. Only a frame cut by the end of a read
// waits in a buffer of its own, and a fragmented message is gathered in
// another, up to max_message_bytes. The encoder writes the header into the
// payload buffer's prependable room.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "sluice/channel/handler.hpp"
#include "sluice/core/buffer.hpp"

namespace sluice::detail {
class FrameDecoder;
}

namespace sluice {

enum class WebSocketOpcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// Close codes (RFC 6455, section 7.4.1) that sluice sends or reports.
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;          // server shutting down, page left
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;           // reported only: the close frame had no code
inline constexpr std::uint16_t abnormal = 1006;            // reported only: no close frame at all
inline constexpr std::uint16_t invalid_payload = 1007;     // text that is not UTF-8
inline constexpr std::uint16_t policy_violation = 1008;    // e.g. a consumer too slow for its pushes
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
/// Whether a peer may send `code` in a close frame.
bool valid_on_wire(std::uint16_t code) noexcept;
}  // namespace close_code

/// What the decoder passes on: a whole data message (text or binary) or a
/// control frame (ping, pong, close). `data` views bytes that live only
/// until the read callback returns: copy what you keep.
struct WebSocketMessage {
  WebSocketOpcode opcode = WebSocketOpcode::text;
  std::string_view data;
};

/// What the encoder takes: one frame. Its header goes into the payload's
/// prependable room (a Buffer made by sluice has 16 bytes of it); a client
/// encoder masks the payload in place.
struct WebSocketFrame {
  WebSocketOpcode opcode = WebSocketOpcode::text;
  Buffer payload;
  bool fin = true;
  /// `payload` already holds a whole server frame (a hub message framed
  /// once for all its recipients): passed on as it is.
  bool framed = false;
};

/// A peer broke the protocol: the code to close with, and why. Thrown by
/// the decoder (so it reaches the next handlers' error()); the connection
/// is then failed with that code.
class WebSocketProtocolError : public std::runtime_error {
 public:
  WebSocketProtocolError(std::uint16_t code, const std::string& reason) : std::runtime_error(reason), code_(code) {}
  std::uint16_t code() const noexcept { return code_; }

 private:
  std::uint16_t code_;
};

/// Which end of the connection the codec serves: a server requires masked
/// frames and sends unmasked ones; a client the reverse.
enum class WebSocketRole : std::uint8_t { server, client };

/// The frame codec (see the file comment). Checks every framing rule: RSV
/// bits without an extension, unknown opcodes, fragmented or oversized
/// control frames, continuation without a start or a new message inside a
/// fragmented one, the mask bit for the role, a close frame with a 1-byte
/// body or an invalid code (1002); text that is not UTF-8, checked as
/// fragments arrive (1007); a message beyond max_message_bytes, as soon as
/// a frame header says so (1009). After a violation it throws
/// WebSocketProtocolError and drops all further input. One per channel;
/// loop thread only. A WebSocket made by websocket_endpoint,
/// start_websocket or WebSocketClient does its framing itself, by the same
/// rules, with no codec in its pipeline: this handler is for pipelines of
/// your own.
class WebSocketFrameCodec final : public Handler<Buffer, WebSocketMessage, WebSocketFrame, Buffer> {
 public:
  WebSocketFrameCodec(WebSocketRole role, std::size_t max_message_bytes);
  ~WebSocketFrameCodec() override;

  void read(HandlerContext& ctx, Buffer& bytes) override;
  void write(HandlerContext& ctx, WebSocketFrame& frame) override;
  void handler_removed(HandlerContext& ctx) override;

  /// Bytes held for a frame cut by a read or a message in fragments.
  std::size_t held_bytes() const noexcept;

 private:
  std::unique_ptr<detail::FrameDecoder> decoder_;
  WebSocketRole role_;
};

}  // namespace sluice
