#pragma once
// Splits a byte stream into lines ending in "\n" or "\r\n".

#include <cstddef>

#include "sluice/codec/byte_to_message_decoder.hpp"

namespace sluice {

/// Emits each line as a Buffer that borrows the bytes it was read from
/// (valid during the read callback; copy what you keep). A line longer than
/// max_length throws TooLongFrameError, which closes the channel by default;
/// when a later handler handles the error, the long line is skipped up to its
/// delimiter and decoding goes on with the next line.
class LineDecoder final : public ByteToMessageDecoder<Buffer> {
 public:
  struct Options {
    std::size_t max_length = 8192;  // bytes, not counting the delimiter
    bool strip_delimiter = true;
  };
  LineDecoder() noexcept : LineDecoder(Options{}) {}
  explicit LineDecoder(Options options) noexcept : options_(options) {}

  bool decode(HandlerContext& ctx, Buffer& in) override;

 private:
  Options options_;
  std::size_t scanned_ = 0;  // bytes of the current partial line already searched
  bool discarding_ = false;  // skipping the rest of a too-long line
};

}  // namespace sluice
