#include "sluice/codec/line_decoder.hpp"

#include <cstring>
#include <string>

namespace sluice {

namespace {
[[noreturn]] void throw_too_long(std::size_t max_length) {
  throw TooLongFrameError("line longer than " + std::to_string(max_length) + " bytes");
}
}  // namespace

bool LineDecoder::decode(HandlerContext& ctx, Buffer& in) {
  const char* data = in.peek();
  std::size_t n = in.readable_bytes();
  std::size_t from = scanned_ < n ? scanned_ : n;
  const auto* newline = static_cast<const char*>(std::memchr(data + from, '\n', n - from));
  if (discarding_) {
    // The rest of a line already reported as too long: drop it, delimiter included.
    scanned_ = 0;
    if (newline == nullptr) {
      in.retrieve_all();
    } else {
      in.retrieve(static_cast<std::size_t>(newline - data) + 1);
      discarding_ = false;
    }
    return true;
  }
  if (newline == nullptr) {
    // A '\r' may still be waiting for its '\n'.
    if (n > options_.max_length + 1) {
      in.retrieve_all();
      scanned_ = 0;
      discarding_ = true;
      throw_too_long(options_.max_length);
    }
    scanned_ = n;
    return false;
  }
  scanned_ = 0;
  auto end = static_cast<std::size_t>(newline - data);
  std::size_t content = end;
  if (content > 0 && data[content - 1] == '\r') --content;
  if (content > options_.max_length) {
    in.retrieve(end + 1);
    throw_too_long(options_.max_length);
  }
  Buffer line = Buffer::borrow(in.peek_mut(), options_.strip_delimiter ? content : end + 1);
  in.retrieve(end + 1);  // the bytes stay where they are until this read returns
  ctx.fire_read(line);
  return true;
}

}  // namespace sluice
