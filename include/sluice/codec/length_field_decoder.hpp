#pragma once
// Splits a byte stream into frames that carry their own length
// (Netty's LengthFieldBasedFrameDecoder).

#include <cstddef>
#include <cstdint>

#include "sluice/codec/byte_to_message_decoder.hpp"

namespace sluice {

/// Frame layout:
///
///   +--------+--------------+----------------------------------+
///   | prefix | length field |   length + adjustment  bytes     |
///   +--------+--------------+----------------------------------+
///   <-offset-><-field_size->
///   <-strip-> bytes are cut from the front of each emitted frame
///
/// Emits each frame as a Buffer that borrows its bytes (valid during the
/// read callback; copy what you keep). A frame longer than max_frame_length
/// throws TooLongFrameError as soon as its header arrives, before its body is
/// read; a negative length throws DecoderError. Either closes the channel by
/// default; when a later handler handles the error, decoding goes on after
/// the bad frame (a too-long frame's bytes are skipped as they arrive; after a
/// negative length only its header can be skipped).
class LengthFieldDecoder final : public ByteToMessageDecoder<Buffer> {
 public:
  struct Options {
    std::size_t max_frame_length = 1024 * 1024;
    std::size_t length_field_offset = 0;
    std::size_t length_field_size = 4;  // 1, 2, 4 or 8 bytes
    std::int64_t length_adjustment = 0;
    std::size_t initial_bytes_to_strip = 4;
    bool big_endian = true;
  };
  LengthFieldDecoder() : LengthFieldDecoder(Options{}) {}
  explicit LengthFieldDecoder(Options options);

  bool decode(HandlerContext& ctx, Buffer& in) override;

 private:
  /// Consumes `n` bytes: those in `in` now, the rest as they arrive.
  void skip(Buffer& in, std::uint64_t n) noexcept;

  Options options_;
  std::uint64_t discard_remaining_ = 0;
};

/// Reads an unsigned integer of `size` bytes (1, 2, 4 or 8).
std::uint64_t read_uint(const char* bytes, std::size_t size, bool big_endian) noexcept;
/// Writes `value` as an unsigned integer of `size` bytes.
void write_uint(char* out, std::uint64_t value, std::size_t size, bool big_endian) noexcept;

}  // namespace sluice
