#pragma once
// Puts a length field in front of each outbound Buffer.

#include <cstddef>
#include <cstdint>

#include "sluice/channel/pipeline.hpp"
#include "sluice/core/buffer.hpp"

namespace sluice {

/// The encoder that matches LengthFieldDecoder. The field goes into the
/// Buffer's prependable room when there is some, so the body is not copied.
/// Loop thread only; stateless, so one instance may serve many channels.
class LengthFieldPrepender final : public OutboundHandler<Buffer, Buffer> {
 public:
  struct Options {
    std::size_t length_field_size = 4;  // 1, 2, 4 or 8 bytes
    std::int64_t length_adjustment = 0;
    bool length_includes_field = false;
    bool big_endian = true;
  };
  LengthFieldPrepender() : LengthFieldPrepender(Options{}) {}
  explicit LengthFieldPrepender(Options options);

  void write(HandlerContext& ctx, Buffer& message) override;

 private:
  Options options_;
};

}  // namespace sluice
