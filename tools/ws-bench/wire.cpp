#include "wire.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

#include "options.hpp"

namespace ws_bench {

namespace {

// sluice-ws closes at its --max-message-bytes (1 MiB); the client refuses
// larger ones so a broken length field cannot make it allocate without end.
constexpr std::uint64_t kMaxMessageBytes = 64 * 1024 * 1024;

}  // namespace

std::string base64(const unsigned char* data, std::size_t size) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < size; i += 3) {
    std::uint32_t chunk = static_cast<std::uint32_t>(data[i]) << 16;
    if (i + 1 < size) chunk |= static_cast<std::uint32_t>(data[i + 1]) << 8;
    if (i + 2 < size) chunk |= data[i + 2];
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < size ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < size ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

std::string expected_accept(const std::string& key) {
  std::string text = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return base64(digest, sizeof digest);
}

std::string_view header_value(std::string_view head, std::string_view name) {
  std::size_t line = head.find("\r\n");
  while (line != std::string_view::npos && line + 2 < head.size()) {
    std::size_t start = line + 2;
    std::size_t end = head.find("\r\n", start);
    std::string_view field = head.substr(start, end == std::string_view::npos ? head.size() - start : end - start);
    std::size_t colon = field.find(':');
    if (colon == name.size() && std::equal(name.begin(), name.end(), field.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      std::string_view value = field.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      return value;
    }
    line = end;
  }
  return {};
}

std::string masked_frame(std::uint8_t opcode, std::string_view payload, std::uint32_t mask) {
  std::string frame;
  frame += static_cast<char>(0x80 | opcode);
  std::uint64_t size = payload.size();
  if (size < 126) {
    frame += static_cast<char>(0x80 | size);
  } else if (size <= 0xffff) {
    frame += static_cast<char>(0x80 | 126);
    for (int shift = 8; shift >= 0; shift -= 8) frame += static_cast<char>(size >> shift);
  } else {
    frame += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) frame += static_cast<char>(size >> shift);
  }
  char key[4] = {static_cast<char>(mask >> 24), static_cast<char>(mask >> 16), static_cast<char>(mask >> 8),
                 static_cast<char>(mask)};
  frame.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ key[i % 4]);
  return frame;
}

bool parse_frame_header(std::string_view data, FrameHeader& frame) {
  if (data.size() < 2) return false;
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(data[i]); };
  frame.fin = byte(0) & 0x80;
  frame.opcode = byte(0) & 0x0f;
  if (byte(0) & 0x70) fail("the server set a reserved bit (RSV1-3): no extension was negotiated");
  if (byte(1) & 0x80) fail("the server masked a frame (RFC 6455 5.1 forbids it)");
  std::uint64_t size = byte(1) & 0x7f;
  frame.header_bytes = 2;
  if (size >= 126) {
    std::size_t length_bytes = size == 126 ? 2 : 8;
    if (data.size() < 2 + length_bytes) return false;
    size = 0;
    for (std::size_t i = 0; i < length_bytes; ++i) size = (size << 8) | byte(2 + i);
    frame.header_bytes += length_bytes;
  }
  if (size > kMaxMessageBytes) fail("the server sent a frame of " + std::to_string(size) + " bytes");
  frame.payload_bytes = size;
  return true;
}

}  // namespace ws_bench
