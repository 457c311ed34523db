// SocketAddress: numeric IPv4 and IPv6 text in and out, ports, sockaddr
// round trips.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <cstring>

#include "sluice/core/socket_address.hpp"

using sluice::SocketAddress;

TEST_CASE("SocketAddress parses numeric IPv4 and prints it back", "[socket_address]") {
  auto a = SocketAddress::parse("127.0.0.1", 8080);
  REQUIRE(a);
  CHECK_FALSE(a->empty());
  CHECK_FALSE(a->is_ipv6());
  CHECK(a->family() == AF_INET);
  CHECK(a->port() == 8080);
  CHECK(a->host() == "127.0.0.1");
  CHECK(a->to_string() == "127.0.0.1:8080");
  CHECK(a->length() == sizeof(sockaddr_in));
  a->set_port(1);
  CHECK(a->to_string() == "127.0.0.1:1");
}

TEST_CASE("SocketAddress parses numeric IPv6 and brackets it with a port", "[socket_address]") {
  auto a = SocketAddress::parse("::1", 443);
  REQUIRE(a);
  CHECK(a->is_ipv6());
  CHECK(a->family() == AF_INET6);
  CHECK(a->host() == "::1");
  CHECK(a->to_string() == "[::1]:443");
  CHECK(a->length() == sizeof(sockaddr_in6));
  auto bracketed = SocketAddress::parse("[::1]", 80);  // as written in a URL
  REQUIRE(bracketed);
  CHECK(bracketed->host() == "::1");
  auto any = SocketAddress::parse("::", 0);
  REQUIRE(any);
  CHECK(any->to_string() == "[::]:0");
  auto doc = SocketAddress::parse("2001:db8::8:800:200c:417a", 65535);
  REQUIRE(doc);
  CHECK(doc->host() == "2001:db8::8:800:200c:417a");
  CHECK(doc->port() == 65535);
}

TEST_CASE("SocketAddress refuses what is not a numeric address", "[socket_address]") {
  for (const char* bad : {"", "localhost", "example.com", "1.2.3", "1.2.3.4.5", "256.0.0.1", "::g", "[::1", "[]",
                          "127.0.0.1:80", " 127.0.0.1"}) {
    INFO(bad);
    CHECK_FALSE(SocketAddress::parse(bad, 80));
  }
}

TEST_CASE("SocketAddress from a sockaddr, and an empty one", "[socket_address]") {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(9000);
  ::inet_pton(AF_INET, "10.1.2.3", &v4.sin_addr);
  SocketAddress a = SocketAddress::from(reinterpret_cast<const sockaddr*>(&v4));
  CHECK(a.to_string() == "10.1.2.3:9000");
  CHECK(std::memcmp(a.sockaddr_ptr(), &v4, sizeof v4) == 0);

  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(53);
  ::inet_pton(AF_INET6, "fe80::1", &v6.sin6_addr);
  SocketAddress b = SocketAddress::from(reinterpret_cast<const sockaddr*>(&v6));
  CHECK(b.to_string() == "[fe80::1]:53");

  SocketAddress none;
  CHECK(none.empty());
  CHECK(none.port() == 0);
  CHECK(none.to_string() == "-");  // as logs print an unknown peer
  SocketAddress copy = a;  // a value: copies compare equal byte for byte
  CHECK(copy.to_string() == a.to_string());
}
