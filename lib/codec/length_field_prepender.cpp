#include "sluice/codec/length_field_prepender.hpp"

#include <stdexcept>
#include <string>

#include "sluice/channel/pipeline.hpp"
#include "sluice/codec/length_field_decoder.hpp"

namespace sluice {

LengthFieldPrepender::LengthFieldPrepender(Options options) : options_(options) {
  std::size_t s = options_.length_field_size;
  if (s != 1 && s != 2 && s != 4 && s != 8) {
    throw std::invalid_argument("LengthFieldPrepender: length_field_size must be 1, 2, 4 or 8");
  }
}

void LengthFieldPrepender::write(HandlerContext& ctx, Buffer& message) {
  const std::size_t size = options_.length_field_size;
  std::int64_t length = static_cast<std::int64_t>(message.readable_bytes()) + options_.length_adjustment;
  if (options_.length_includes_field) length += static_cast<std::int64_t>(size);
  if (length < 0) throw std::invalid_argument("LengthFieldPrepender: negative length");
  if (size < 8 && static_cast<std::uint64_t>(length) >= (std::uint64_t{1} << (8 * size))) {
    throw std::length_error("LengthFieldPrepender: " + std::to_string(length) + " does not fit in " +
                            std::to_string(size) + " bytes");
  }
  char field[8];
  write_uint(field, static_cast<std::uint64_t>(length), size, options_.big_endian);
  if (message.owns_storage() && message.prependable_bytes() >= size) {
    message.prepend(field, size);
    ctx.write(message);
    return;
  }
  Buffer framed(size + message.readable_bytes());
  framed.append(field, size);
  framed.append(message.view());
  message.retrieve_all();
  ctx.write(framed);
}

}  // namespace sluice
