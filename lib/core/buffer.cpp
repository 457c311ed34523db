#include "sluice/core/buffer.hpp"

#include <limits>
#include <stdexcept>

#include "sluice/core/buffer_pool.hpp"

namespace sluice {

Buffer::Buffer(std::size_t writable) {
  std::size_t block = BufferPool::block_size_for(writable + kCheapPrepend);
  if (block > std::numeric_limits<std::uint32_t>::max()) throw std::length_error("Buffer too large");
  data_ = BufferPool::take(block);
  capacity_ = static_cast<std::uint32_t>(block);
  reader_ = writer_ = kCheapPrepend;
  owned_ = true;
}

Buffer Buffer::copy_of(std::string_view bytes) {
  Buffer b(bytes.size());
  b.append(bytes);
  return b;
}

Buffer Buffer::borrow(char* data, std::size_t size) noexcept {
  Buffer b;
  b.data_ = data;
  b.capacity_ = static_cast<std::uint32_t>(size);
  b.reader_ = 0;
  b.writer_ = static_cast<std::uint32_t>(size);
  b.owned_ = false;
  return b;
}

void Buffer::release() noexcept {
  if (owned_) BufferPool::give_back(data_, capacity_);
  data_ = nullptr;
  capacity_ = reader_ = writer_ = 0;
  owned_ = false;
}

void Buffer::grow(std::size_t n) {
  std::size_t readable = readable_bytes();
  // Compacting is enough when the slack in front plus behind fits the request.
  if (owned_ && reader_ >= kCheapPrepend && (reader_ - kCheapPrepend) + writable_bytes() >= n) {
    std::memmove(data_ + kCheapPrepend, data_ + reader_, readable);
    reader_ = kCheapPrepend;
    writer_ = static_cast<std::uint32_t>(kCheapPrepend + readable);
    return;
  }
  std::size_t wanted = kCheapPrepend + readable + n;
  if (owned_ && wanted < 2 * static_cast<std::size_t>(capacity_)) wanted = 2 * static_cast<std::size_t>(capacity_);
  Buffer bigger(wanted - kCheapPrepend);
  if (readable != 0) bigger.append(peek(), readable);
  *this = std::move(bigger);
}

}  // namespace sluice
