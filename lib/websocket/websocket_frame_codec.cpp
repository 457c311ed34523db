#include <sys/random.h>

#include "frame_coding.hpp"
#include "masking.hpp"
#include "sluice/channel/channel.hpp"
#include "sluice/websocket/websocket_frame.hpp"

namespace sluice {

bool close_code::valid_on_wire(std::uint16_t code) noexcept {
  // 1004 is reserved; 1005, 1006 and 1015 are for reporting only; 1012-1014
  // were registered after the RFC (IANA); 3000-4999 belong to libraries and
  // applications.
  return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
         (code >= 3000 && code <= 4999);
}

namespace detail {

void next_mask_key(unsigned char key[4]) noexcept {
  thread_local std::uint64_t state = [] {
    std::uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed) || seed == 0) {
      seed = reinterpret_cast<std::uintptr_t>(&seed) ^ 0x9E3779B97F4A7C15ULL;
    }
    return seed;
  }();
  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  std::uint64_t r = state * 0x2545F4914F6CDD1DULL;
  std::memcpy(key, &r, 4);
}

}  // namespace detail

WebSocketFrameCodec::WebSocketFrameCodec(WebSocketRole role, std::size_t max_message_bytes)
    : decoder_(std::make_unique<detail::FrameDecoder>(role, max_message_bytes)), role_(role) {}

WebSocketFrameCodec::~WebSocketFrameCodec() = default;

std::size_t WebSocketFrameCodec::held_bytes() const noexcept { return decoder_->held_bytes(); }

void WebSocketFrameCodec::read(HandlerContext& ctx, Buffer& bytes) {
  detail::HeldBytesAccount account(*decoder_, ctx.channel());
  while (auto message = decoder_->next(bytes)) ctx.fire_read(*message);
}

void WebSocketFrameCodec::handler_removed(HandlerContext& ctx) {
  detail::HeldBytesAccount account(*decoder_, ctx.channel());
  decoder_->drop_held();
}

void WebSocketFrameCodec::write(HandlerContext& ctx, WebSocketFrame& frame) {
  if (frame.framed) {
    ctx.write(frame.payload);
    return;
  }
  Buffer bytes = detail::encode_frame(frame.opcode, frame.fin, std::move(frame.payload), role_);
  ctx.write(bytes);
}

}  // namespace sluice
