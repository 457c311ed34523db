#pragma once
// Internal: RFC 6455 framing apart from any pipeline. The codec handler
// (WebSocketFrameCodec) and the session, which decodes and encodes for
// itself so that a WebSocket costs its channel one handler, use these.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "sluice/core/buffer.hpp"
#include "sluice/websocket/websocket_frame.hpp"

namespace sluice {
class Channel;
}

namespace sluice::detail {

/// Bytes to messages (see websocket_frame.hpp for the rules it checks):
///
///   while (auto message = decoder.next(bytes)) use(*message);
///
/// next() takes the next whole message or control frame from `bytes`, or
/// from input it holds from an earlier read, unmasking it where it lies,
/// and returns a view of it that lives until the next call. When no whole
/// frame is left it keeps the rest of `bytes` and returns nullopt. A
/// violation throws WebSocketProtocolError; every later call drops its
/// input. An idle decoder holds no buffer: what a frame cut by a read or a
/// message in fragments needs is made when needed and freed after. One
/// user at a time.
class FrameDecoder {
 public:
  FrameDecoder(WebSocketRole role, std::size_t max_message_bytes) noexcept;
  ~FrameDecoder();
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  std::optional<WebSocketMessage> next(Buffer& bytes);

  /// Bytes held for a frame cut by a read or a message in fragments (its
  /// owner tells the channel how that changes: Channel::account_memory).
  std::size_t held_bytes() const noexcept;
  /// Frees what is held (the decoder's owner is going).
  void drop_held() noexcept;

 private:
  struct Held;
  enum class Step : std::uint8_t { more_bytes, fragment, message };
  Step decode_frame(char* data, std::size_t len, std::size_t& used, WebSocketMessage& out);
  Step take_data(WebSocketOpcode opcode, bool fin, char* payload, std::size_t size, WebSocketMessage& out);
  void check_control(WebSocketOpcode opcode, std::string_view payload);
  [[noreturn]] void fail(std::uint16_t code, const char* reason);
  bool gathering() const noexcept;
  Held& hold();
  void shrink_held() noexcept;

  std::unique_ptr<Held> held_;
  std::uint32_t max_message_bytes_;
  WebSocketRole role_;
  bool failed_ = false;
};

/// Tells `channel` how what `decoder` holds changed between this object's
/// making and its end, whatever way the use in between ends (a violation
/// throws): what a decoder holds counts as its channel's memory.
class HeldBytesAccount {
 public:
  HeldBytesAccount(const FrameDecoder& decoder, Channel& channel) noexcept
      : decoder_(decoder), channel_(channel), before_(decoder.held_bytes()) {}
  ~HeldBytesAccount();
  HeldBytesAccount(const HeldBytesAccount&) = delete;
  HeldBytesAccount& operator=(const HeldBytesAccount&) = delete;

 private:
  const FrameDecoder& decoder_;
  Channel& channel_;
  std::size_t before_;
};

/// A frame's bytes on the wire: the header goes into the payload's
/// prependable room when there is enough (a copy otherwise); a client's
/// payload is masked in place with a fresh key.
Buffer encode_frame(WebSocketOpcode opcode, bool fin, Buffer payload, WebSocketRole role);

}  // namespace sluice::detail
