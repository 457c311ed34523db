#include "sluice/core/socket_address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace sluice {

std::optional<SocketAddress> SocketAddress::parse(std::string_view host, std::uint16_t port) {
  std::string text(host);
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  SocketAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return a;
  }
  a.storage_ = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return a;
  }
  return std::nullopt;
}

SocketAddress SocketAddress::from(const sockaddr* addr) noexcept {
  SocketAddress a;
  if (addr == nullptr) return a;
  if (addr->sa_family == AF_INET) std::memcpy(&a.storage_, addr, sizeof(sockaddr_in));
  if (addr->sa_family == AF_INET6) std::memcpy(&a.storage_, addr, sizeof(sockaddr_in6));
  return a;
}

std::uint16_t SocketAddress::port() const noexcept {
  if (storage_.sa.sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (storage_.sa.sa_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

void SocketAddress::set_port(std::uint16_t port) noexcept {
  if (storage_.sa.sa_family == AF_INET) reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  if (storage_.sa.sa_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
}

std::string SocketAddress::host() const {
  char text[INET6_ADDRSTRLEN] = {0};
  if (storage_.sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text, sizeof text);
  } else if (storage_.sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text, sizeof text);
  }
  return text;
}

std::string SocketAddress::to_string() const {
  if (empty()) return "-";
  // Built by appending: GCC 12's -Wrestrict misfires on "[" + host() at -O3.
  std::string out;
  if (is_ipv6()) out += '[';
  out += host();
  if (is_ipv6()) out += ']';
  out += ':';
  out += std::to_string(port());
  return out;
}

}  // namespace sluice
