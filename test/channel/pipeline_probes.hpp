#pragma once
// Sends one string through an EmbeddedChannel's pipeline and returns what
// came out the other end (the pipeline tests' probe of handler order).

#include <catch2/catch.hpp>

#include <string>
#include <utility>

#include "sluice/channel/embedded_channel.hpp"

namespace sluice::test {

inline std::string round_inbound(EmbeddedChannel& ch, std::string message) {
  ch.write_inbound_message(std::move(message));
  auto out = ch.read_inbound<std::string>();
  REQUIRE(out);
  REQUIRE(ch.inbound_count() == 0);
  return *out;
}

inline std::string round_outbound(EmbeddedChannel& ch, std::string message) {
  ch.write_outbound(std::move(message));
  auto out = ch.read_outbound<std::string>();
  REQUIRE(out);
  return *out;
}

}  // namespace sluice::test
