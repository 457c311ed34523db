// SocketAddress: numeric IPv4 and IPv6 text in and out, ports, sockaddr
// round trips, and what is refused.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "sluice/core/socket_address.hpp"

using sluice::SocketAddress;

TEST_CASE("SocketAddress: a default address is empty", "[socket_address]") {
  SocketAddress a;
  CHECK(a.empty());
  CHECK(a.family() == AF_UNSPEC);
  CHECK(a.port() == 0);
  CHECK(a.host().empty());
  CHECK(a.to_string() == "-");
}

TEST_CASE("SocketAddress: parses IPv4", "[socket_address]") {
  auto a = SocketAddress::parse("127.0.0.1", 8080);
  REQUIRE(a.has_value());
  CHECK_FALSE(a->empty());
  CHECK_FALSE(a->is_ipv6());
  CHECK(a->family() == AF_INET);
  CHECK(a->port() == 8080);
  CHECK(a->host() == "127.0.0.1");
  CHECK(a->to_string() == "127.0.0.1:8080");
  CHECK(a->length() == sizeof(sockaddr_in));
  CHECK(a->sockaddr_ptr()->sa_family == AF_INET);
}

TEST_CASE("SocketAddress: parses IPv6", "[socket_address]") {
  auto a = SocketAddress::parse("::1", 443);
  REQUIRE(a.has_value());
  CHECK(a->is_ipv6());
  CHECK(a->family() == AF_INET6);
  CHECK(a->port() == 443);
  CHECK(a->host() == "::1");
  CHECK(a->to_string() == "[::1]:443");
  CHECK(a->length() == sizeof(sockaddr_in6));
}

TEST_CASE("SocketAddress: parses a bracketed IPv6 host", "[socket_address]") {
  auto a = SocketAddress::parse("[fe80::1:2]", 9);
  REQUIRE(a.has_value());
  CHECK(a->is_ipv6());
  CHECK(a->host() == "fe80::1:2");
  CHECK(a->to_string() == "[fe80::1:2]:9");
}

TEST_CASE("SocketAddress: parses the wildcard addresses", "[socket_address]") {
  auto v4 = SocketAddress::parse("0.0.0.0", 0);
  auto v6 = SocketAddress::parse("::", 0);
  REQUIRE(v4.has_value());
  REQUIRE(v6.has_value());
  CHECK(v4->to_string() == "0.0.0.0:0");
  CHECK(v6->to_string() == "[::]:0");
}

TEST_CASE("SocketAddress: IPv6 text is printed in canonical form", "[socket_address]") {
  auto a = SocketAddress::parse("2001:0db8:0000:0000:0000:0000:0000:0001", 80);
  REQUIRE(a.has_value());
  CHECK(a->host() == "2001:db8::1");
}

TEST_CASE("SocketAddress: the port can be changed", "[socket_address]") {
  auto v4 = SocketAddress::parse("10.1.2.3", 1);
  auto v6 = SocketAddress::parse("::1", 1);
  REQUIRE(v4.has_value());
  REQUIRE(v6.has_value());
  v4->set_port(65535);
  v6->set_port(12345);
  CHECK(v4->port() == 65535);
  CHECK(v6->port() == 12345);
  CHECK(v4->to_string() == "10.1.2.3:65535");
  CHECK(v6->to_string() == "[::1]:12345");

  SocketAddress empty;
  empty.set_port(80);  // no family: nothing to set
  CHECK(empty.port() == 0);
  CHECK(empty.empty());
}

TEST_CASE("SocketAddress: text that is not a numeric address is rejected", "[socket_address]") {
  for (const char* bad : {"", "localhost", "example.com", "256.0.0.1", "1.2.3", "1.2.3.4.5", "::g", ":::",
                          "[::1", "::1]", "[]", "127.0.0.1 ", " 127.0.0.1", "1.2.3.4:80"}) {
    CAPTURE(bad);
    CHECK_FALSE(SocketAddress::parse(bad, 80).has_value());
  }
}

TEST_CASE("SocketAddress: from() copies a sockaddr", "[socket_address]") {
  auto v4 = SocketAddress::parse("192.168.0.7", 5000);
  auto v6 = SocketAddress::parse("::ffff:1.2.3.4", 6000);
  REQUIRE(v4.has_value());
  REQUIRE(v6.has_value());
  SocketAddress c4 = SocketAddress::from(v4->sockaddr_ptr());
  SocketAddress c6 = SocketAddress::from(v6->sockaddr_ptr());
  CHECK(c4.to_string() == "192.168.0.7:5000");
  CHECK(c6.is_ipv6());
  CHECK(c6.port() == 6000);
  CHECK(c6.host() == v6->host());
  CHECK(SocketAddress::from(nullptr).empty());
}

TEST_CASE("SocketAddress: copies are independent values", "[socket_address]") {
  auto a = SocketAddress::parse("1.1.1.1", 53);
  REQUIRE(a.has_value());
  SocketAddress b = *a;
  b.set_port(54);
  CHECK(a->port() == 53);
  CHECK(b.port() == 54);
}
