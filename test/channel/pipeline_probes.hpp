#pragma once
// The pipeline tests' probes of handler order: a handler that tags what
// passes it, and one string sent through an EmbeddedChannel's pipeline with
// what came out the other end.

#include <catch2/catch.hpp>

#include <string>
#include <utility>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/channel/handler.hpp"

namespace sluice::test {

// Appends "-<tag>" to every string it sees, in both directions, so the final
// message spells out the order it travelled in.
class Tagger final : public Handler<std::string, std::string, std::string, std::string> {
 public:
  explicit Tagger(std::string tag) : tag_(std::move(tag)) {}
  void read(HandlerContext& ctx, std::string& message) override {
    message += "-" + tag_;
    ctx.fire_read(message);
  }
  void write(HandlerContext& ctx, std::string& message) override {
    message += "-" + tag_;
    ctx.write(message);
  }
  const std::string& tag() const noexcept { return tag_; }

 private:
  std::string tag_;
};

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
