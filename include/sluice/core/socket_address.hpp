#pragma once
// An IPv4 or IPv6 socket address: parsed from text, printed as text.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

/// A value type (copyable, thread safe to read). Empty until set.
class SocketAddress {
 public:
  SocketAddress() noexcept = default;
  /// Numeric host ("127.0.0.1", "::1", "0.0.0.0", "::") and port; nullopt
  /// when `host` is not a numeric address.
  static std::optional<SocketAddress> parse(std::string_view host, std::uint16_t port);
  static SocketAddress from(const sockaddr* addr) noexcept;

  bool empty() const noexcept { return storage_.sa.sa_family == AF_UNSPEC; }
  bool is_ipv6() const noexcept { return storage_.sa.sa_family == AF_INET6; }
  int family() const noexcept { return storage_.sa.sa_family; }
  std::uint16_t port() const noexcept;
  void set_port(std::uint16_t port) noexcept;
  /// "1.2.3.4" or "::1" (no port).
  std::string host() const;
  /// "1.2.3.4:80" or "[::1]:80".
  std::string to_string() const;

  const sockaddr* sockaddr_ptr() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const noexcept { return is_ipv6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in); }

 private:
  // Only the families we speak, not a 128-byte sockaddr_storage: every
  // connection and request carries one. v6 first, so {} zeroes all of it.
  union Storage {
    sockaddr_in6 v6;
    sockaddr_in v4;
    sockaddr sa;
  };
  Storage storage_{};
};

}  // namespace sluice
