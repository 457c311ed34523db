#pragma once
// Internal: the HTTP side of a WebSocket opening handshake (RFC 6455,
// section 4): checking the client's request, and the server's answer key.

#include <string>
#include <string_view>
#include <vector>

#include "sluice/http/http_headers.hpp"
#include "sluice/http/http_request.hpp"

namespace sluice::detail {

/// What a request is worth as a WebSocket handshake: status 0 when it is
/// one; else the answer (400, or 426 when the version is not 13) and why.
struct HandshakeVerdict {
  int status = 0;
  const char* why = "";
  bool ok() const noexcept { return status == 0; }
};
HandshakeVerdict check_handshake(const HttpRequest& request) noexcept;

/// Whether `key` is a Sec-WebSocket-Key: base64 of 16 bytes.
bool valid_key(std::string_view key) noexcept;

/// Sec-WebSocket-Accept for `key`: base64(SHA-1(key + the RFC's GUID)).
std::string accept_key(std::string_view key);

/// The index in `ours` of the first subprotocol of ours that the client's
/// Sec-WebSocket-Protocol fields offer, or -1.
int choose_subprotocol(const HttpHeaders& headers, const std::vector<std::string>& ours);

/// Calls fn(token) for each comma-separated token of `value`, trimmed.
template <class Fn>
void for_each_token(std::string_view value, Fn fn) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view token = value.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (!token.empty()) fn(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace sluice::detail
