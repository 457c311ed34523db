#pragma once
// WebSocket frames as a test writes and reads them on the wire: client
// frames (masked) built byte by byte, server frames parsed back.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/websocket/websocket_frame.hpp"

namespace sluice::test {

/// Bits of a frame's first byte.
inline constexpr std::uint8_t kFin = 0x80;
inline constexpr std::uint8_t kRsv1 = 0x40;
inline constexpr std::uint8_t kRsv2 = 0x20;
inline constexpr std::uint8_t kRsv3 = 0x10;

/// How the length is written: the shortest form, or forced to 16 or 64 bits.
enum class LengthForm { shortest, bits16, bits64 };

/// A frame with first byte `first` (FIN, RSV and opcode bits), masked with
/// a fixed key unless `masked` is false.
inline std::string raw_frame(std::uint8_t first, std::string_view payload, bool masked = true,
                             LengthForm form = LengthForm::shortest) {
  std::string f;
  f += static_cast<char>(first);
  char mask_bit = masked ? static_cast<char>(0x80) : 0;
  std::uint64_t n = payload.size();
  if (form == LengthForm::shortest && n < 126) {
    f += static_cast<char>(mask_bit | static_cast<char>(n));
  } else if (form == LengthForm::bits16 || (form == LengthForm::shortest && n <= 0xFFFF)) {
    f += static_cast<char>(mask_bit | 126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n);
  } else {
    f += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>(n >> shift);
  }
  const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (masked) f.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    f += masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i];
  }
  return f;
}

inline std::string client_frame(WebSocketOpcode op, std::string_view payload, bool fin = true) {
  return raw_frame(static_cast<std::uint8_t>((fin ? kFin : 0) | static_cast<std::uint8_t>(op)), payload);
}

inline std::string close_body(std::uint16_t code, std::string_view reason = {}) {
  std::string b;
  b += static_cast<char>(code >> 8);
  b += static_cast<char>(code & 0xFF);
  b.append(reason);
  return b;
}

/// One frame read back.
struct WireFrame {
  std::uint8_t first = 0;  // FIN, RSV, opcode
  bool masked = false;
  std::string payload;     // unmasked
  WebSocketOpcode opcode() const { return static_cast<WebSocketOpcode>(first & 0x0F); }
  bool fin() const { return (first & kFin) != 0; }
  /// A close frame's code (0 when it has none).
  std::uint16_t close_code() const {
    if (payload.size() < 2) return 0;
    return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                      static_cast<unsigned char>(payload[1]));
  }
};

/// Parses whole frames from the front of `bytes` (consumed); stops at an
/// incomplete one.
inline std::vector<WireFrame> parse_frames(std::string& bytes) {
  std::vector<WireFrame> out;
  std::size_t at = 0;
  while (bytes.size() - at >= 2) {
    auto b0 = static_cast<unsigned char>(bytes[at]);
    auto b1 = static_cast<unsigned char>(bytes[at + 1]);
    std::size_t pos = at + 2;
    std::uint64_t n = b1 & 0x7F;
    int ext = n == 126 ? 2 : n == 127 ? 8 : 0;
    if (bytes.size() - pos < static_cast<std::size_t>(ext)) break;
    if (ext != 0) {
      n = 0;
      for (int i = 0; i < ext; ++i) n = (n << 8) | static_cast<unsigned char>(bytes[pos + i]);
      pos += ext;
    }
    bool masked = (b1 & 0x80) != 0;
    unsigned char key[4] = {0, 0, 0, 0};
    if (masked) {
      if (bytes.size() - pos < 4) break;
      for (int i = 0; i < 4; ++i) key[i] = static_cast<unsigned char>(bytes[pos + i]);
      pos += 4;
    }
    if (bytes.size() - pos < n) break;
    WireFrame f;
    f.first = b0;
    f.masked = masked;
    f.payload = bytes.substr(pos, n);
    if (masked) {
      for (std::size_t i = 0; i < f.payload.size(); ++i) f.payload[i] = static_cast<char>(f.payload[i] ^ key[i % 4]);
    }
    out.push_back(std::move(f));
    at = pos + n;
  }
  bytes.erase(0, at);
  return out;
}

}  // namespace sluice::test
