#pragma once
// Internal: the bytes in front of a frame's payload (RFC 6455, section 5.2),
// written by the codec's encoder and by the hub, which frames once for all.

#include <cstddef>
#include <cstdint>

#include "sluice/websocket/websocket_frame.hpp"

namespace sluice::detail {

/// The most a header takes: 2 bytes, an 8-byte length, a 4-byte mask key.
inline constexpr std::size_t kMaxFrameHeaderBytes = 14;

/// Writes FIN/opcode, the mask bit and the length of a `size`-byte payload
/// in its shortest form into `out`; returns the bytes written (2, 4 or 10).
/// A masked frame's key is for the caller to append.
inline std::size_t write_frame_header(char* out, WebSocketOpcode opcode, bool fin, bool masked,
                                      std::uint64_t size) noexcept {
  std::size_t n = 0;
  out[n++] = static_cast<char>((fin ? 0x80 : 0) | static_cast<std::uint8_t>(opcode));
  char mask_bit = masked ? static_cast<char>(0x80) : 0;
  if (size < 126) {
    out[n++] = static_cast<char>(mask_bit | static_cast<char>(size));
  } else if (size <= 0xFFFF) {
    out[n++] = static_cast<char>(mask_bit | 126);
    out[n++] = static_cast<char>(size >> 8);
    out[n++] = static_cast<char>(size);
  } else {
    out[n++] = static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out[n++] = static_cast<char>(size >> shift);
  }
  return n;
}

}  // namespace sluice::detail
