#pragma once
// Bytes <-> std::string.

#include <string>

#include "sluice/channel/pipeline.hpp"
#include "sluice/core/buffer.hpp"

namespace sluice {

/// Each inbound Buffer (usually one frame from a framing decoder) becomes a
/// std::string. Stateless: one instance may serve many channels.
class StringDecoder final : public InboundHandler<Buffer, std::string> {
 public:
  void read(HandlerContext& ctx, Buffer& message) override;
};

/// Each outbound std::string becomes a Buffer. Stateless.
class StringEncoder final : public OutboundHandler<std::string, Buffer> {
 public:
  void write(HandlerContext& ctx, std::string& message) override;
};

/// Both directions in one handler.
class StringCodec final : public Handler<Buffer, std::string, std::string, Buffer> {
 public:
  void read(HandlerContext& ctx, Buffer& message) override;
  void write(HandlerContext& ctx, std::string& message) override;
};

}  // namespace sluice
