// The WebSocket wire as a client sees it (RFC 6455): the opening handshake
// and frames, just what ws-bench needs.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ws_bench {

// Base64 of `size` bytes (the handshake's key and accept values).
std::string base64(const unsigned char* data, std::size_t size);

// The Sec-WebSocket-Accept a server must answer to Sec-WebSocket-Key `key`.
std::string expected_accept(const std::string& key);

// The value of header `name` in an HTTP head, compared without case; empty if absent.
std::string_view header_value(std::string_view head, std::string_view name);

enum Opcode : std::uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

struct FrameHeader {
  bool fin;
  std::uint8_t opcode;
  std::size_t header_bytes;
  std::uint64_t payload_bytes;
};

// A whole client frame (FIN set, masked as RFC 6455 requires of clients).
std::string masked_frame(std::uint8_t opcode, std::string_view payload, std::uint32_t mask);

// The header of the frame at the start of `data`, if all of it has arrived;
// fails the run on a frame a server may not send.
bool parse_frame_header(std::string_view data, FrameHeader& frame);

}  // namespace ws_bench
