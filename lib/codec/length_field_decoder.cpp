#include "sluice/codec/length_field_decoder.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace sluice {

std::uint64_t read_uint(const char* bytes, std::size_t size, bool big_endian) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < size; ++i) {
    auto byte = static_cast<unsigned char>(bytes[big_endian ? i : size - 1 - i]);
    v = (v << 8) | byte;
  }
  return v;
}

void write_uint(char* out, std::uint64_t value, std::size_t size, bool big_endian) noexcept {
  for (std::size_t i = 0; i < size; ++i) {
    auto byte = static_cast<char>((value >> (8 * (size - 1 - i))) & 0xff);
    out[big_endian ? i : size - 1 - i] = byte;
  }
}

LengthFieldDecoder::LengthFieldDecoder(Options options) : options_(options) {
  std::size_t s = options_.length_field_size;
  if (s != 1 && s != 2 && s != 4 && s != 8) {
    throw std::invalid_argument("LengthFieldDecoder: length_field_size must be 1, 2, 4 or 8");
  }
}

void LengthFieldDecoder::skip(Buffer& in, std::uint64_t n) noexcept {
  std::size_t now = n < in.readable_bytes() ? static_cast<std::size_t>(n) : in.readable_bytes();
  in.retrieve(now);
  discard_remaining_ = n - now;
}

bool LengthFieldDecoder::decode(HandlerContext& ctx, Buffer& in) {
  if (discard_remaining_ != 0) {
    // The rest of a frame already reported as too long.
    skip(in, discard_remaining_);
    return true;
  }
  const std::size_t header_end = options_.length_field_offset + options_.length_field_size;
  if (in.readable_bytes() < header_end) return false;
  std::uint64_t field = read_uint(in.peek() + options_.length_field_offset, options_.length_field_size,
                                  options_.big_endian);
  // A field this large makes the frame too long whatever the adjustment; the
  // check also keeps the signed arithmetic below from overflowing.
  auto slack = static_cast<std::uint64_t>(options_.length_adjustment < 0 ? -options_.length_adjustment
                                                                         : options_.length_adjustment);
  if (field > options_.max_frame_length + slack + header_end) {
    // Skip the whole frame (saturating: an absurd field skips the rest of the stream).
    std::uint64_t length = options_.length_adjustment < 0 ? field - slack : field + slack;
    if (options_.length_adjustment > 0 && length < field) length = UINT64_MAX;
    skip(in, length > UINT64_MAX - header_end ? UINT64_MAX : length + header_end);
    throw TooLongFrameError("frame length field " + std::to_string(field) + " exceeds " +
                            std::to_string(options_.max_frame_length));
  }
  auto frame_length = static_cast<std::int64_t>(field) + options_.length_adjustment + static_cast<std::int64_t>(header_end);
  if (frame_length < static_cast<std::int64_t>(header_end)) {
    in.retrieve(header_end);  // no way to tell where the frame ends: skip its header
    throw DecoderError("negative frame length (field " + std::to_string(field) + ")");
  }
  if (static_cast<std::uint64_t>(frame_length) > options_.max_frame_length) {
    skip(in, static_cast<std::uint64_t>(frame_length));
    throw TooLongFrameError("frame of " + std::to_string(frame_length) + " bytes exceeds " +
                            std::to_string(options_.max_frame_length));
  }
  auto length = static_cast<std::size_t>(frame_length);
  if (options_.initial_bytes_to_strip > length) {
    skip(in, length);
    throw DecoderError("initial_bytes_to_strip is larger than the frame");
  }
  if (in.readable_bytes() < length) return false;
  Buffer frame = Buffer::borrow(in.peek_mut() + options_.initial_bytes_to_strip, length - options_.initial_bytes_to_strip);
  in.retrieve(length);
  ctx.fire_read(frame);
  return true;
}

}  // namespace sluice
