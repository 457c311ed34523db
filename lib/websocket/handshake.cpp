#include "handshake.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace sluice::detail {

namespace {
constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool is_base64_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}
}  // namespace

bool valid_key(std::string_view key) noexcept {
  // 16 bytes are 22 base64 characters and "==".
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22)) {
    if (!is_base64_char(c)) return false;
  }
  return true;
}

HandshakeVerdict check_handshake(const HttpRequest& request) noexcept {
  // The version first: a client that speaks another one learns which we do.
  auto version = request.headers.get("Sec-WebSocket-Version");
  if (!version || *version != "13") return {426, "Sec-WebSocket-Version must be 13"};
  if (request.method != "GET") return {400, "a WebSocket handshake is a GET"};
  if (request.version_major != 1 || request.version_minor != 1) return {400, "a WebSocket handshake is HTTP/1.1"};
  if (!request.headers.has_token("Upgrade", "websocket")) return {400, "Upgrade must be websocket"};
  if (!request.headers.has_token("Connection", "upgrade")) return {400, "Connection must hold the upgrade token"};
  if (!request.upgrade) return {400, "not an upgrade request"};
  auto key = request.headers.get("Sec-WebSocket-Key");
  if (!key || request.headers.count("Sec-WebSocket-Key") != 1 || !valid_key(*key)) {
    return {400, "Sec-WebSocket-Key must be 16 bytes in base64"};
  }
  return {};
}

std::string accept_key(std::string_view key) {
  std::string input(key);
  input.append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_size, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("SHA-1 failed");
  }
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_size));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(n));
}

int choose_subprotocol(const HttpHeaders& headers, const std::vector<std::string>& ours) {
  if (ours.empty()) return -1;
  int best = -1;
  for (std::string_view field : headers.get_all("Sec-WebSocket-Protocol")) {
    for_each_token(field, [&](std::string_view offered) {
      for (std::size_t i = 0; i < ours.size(); ++i) {
        if (ours[i] == offered && (best < 0 || static_cast<int>(i) < best)) best = static_cast<int>(i);
      }
    });
  }
  return best;
}

}  // namespace sluice::detail
