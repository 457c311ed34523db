#pragma once
// The echo protocol in three framings, shared by the echo sample, its tests
// and tools/echo-bench.

#include <memory>
#include <stdexcept>
#include <string>

#include "sluice/channel/channel.hpp"
#include "sluice/channel/idle_state_handler.hpp"
#include "sluice/codec/length_field_decoder.hpp"
#include "sluice/codec/length_field_prepender.hpp"
#include "sluice/codec/line_decoder.hpp"

namespace sluice::echo {

enum class Mode { raw, line, length };

inline Mode parse_mode(const std::string& text) {
  if (text == "raw") return Mode::raw;
  if (text == "line") return Mode::line;
  if (text == "length") return Mode::length;
  throw std::invalid_argument("unknown mode '" + text + "' (raw, line or length)");
}

/// Writes back whatever it reads; flushes once per socket read, so a burst of
/// frames from one read leaves in one writev.
class EchoHandler final : public InboundHandler<Buffer, Buffer> {
 public:
  void read(HandlerContext& ctx, Buffer& message) override { ctx.write(message); }
  void read_complete(HandlerContext& ctx) override { ctx.flush(); }
};

/// Builds an echo server pipeline: [idle] -> [framing] -> echo, each handler
/// placed in the channel's own block.
inline void init_echo_pipeline(Channel& channel, Mode mode, std::uint64_t idle_timeout_ms) {
  Pipeline& p = channel.pipeline();
  if (idle_timeout_ms != 0) {
    p.emplace_last<IdleStateHandler>("idle", IdleStateHandler::Options{0, 0, idle_timeout_ms, true});
  }
  switch (mode) {
    case Mode::raw: break;
    case Mode::line: p.emplace_last<LineDecoder>("framer", LineDecoder::Options{64 * 1024, false}); break;
    case Mode::length:
      p.emplace_last<LengthFieldDecoder>("framer");
      p.emplace_last<LengthFieldPrepender>("prepender");
      break;
  }
  p.emplace_last<EchoHandler>("echo");
}

}  // namespace sluice::echo
