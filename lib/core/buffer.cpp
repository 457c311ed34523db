#include "sluice/core/buffer.hpp"

#include <atomic>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include "sluice/core/buffer_pool.hpp"

namespace sluice {

namespace {
// In front of shared bytes: how many Buffers refer to them.
struct alignas(16) SharedBlock {
  std::atomic<std::uint32_t> refs;
};

SharedBlock* block_of(char* data) noexcept { return reinterpret_cast<SharedBlock*>(data) - 1; }
}  // namespace

Buffer::Buffer(std::size_t writable) {
  std::size_t block = BufferPool::block_size_for(writable + kCheapPrepend);
  if (block > std::numeric_limits<std::uint32_t>::max()) throw std::length_error("Buffer too large");
  data_ = BufferPool::take(block);
  capacity_ = static_cast<std::uint32_t>(block);
  reader_ = writer_ = kCheapPrepend;
  storage_ = Storage::pooled;
}

Buffer Buffer::copy_of(std::string_view bytes) {
  Buffer b(bytes.size());
  if (!bytes.empty()) std::memcpy(b.data_ + b.writer_, bytes.data(), bytes.size());  // room made above
  b.writer_ += static_cast<std::uint32_t>(bytes.size());
  return b;
}

Buffer Buffer::borrow(char* data, std::size_t size) noexcept {
  Buffer b;
  b.data_ = data;
  b.capacity_ = static_cast<std::uint32_t>(size);
  b.reader_ = 0;
  b.writer_ = static_cast<std::uint32_t>(size);
  b.storage_ = Storage::borrowed;
  return b;
}

Buffer Buffer::shared_copy_of(std::string_view bytes, std::string_view more) {
  std::size_t size = bytes.size() + more.size();
  if (size > std::numeric_limits<std::uint32_t>::max()) throw std::length_error("Buffer too large");
  void* memory = ::operator new(sizeof(SharedBlock) + size);
  auto* block = new (memory) SharedBlock{1};
  Buffer b;
  b.data_ = reinterpret_cast<char*>(block + 1);
  if (!bytes.empty()) std::memcpy(b.data_, bytes.data(), bytes.size());
  if (!more.empty()) std::memcpy(b.data_ + bytes.size(), more.data(), more.size());
  b.capacity_ = b.writer_ = static_cast<std::uint32_t>(size);
  b.storage_ = Storage::shared;
  return b;
}

Buffer Buffer::share() const noexcept {
  block_of(data_)->refs.fetch_add(1, std::memory_order_relaxed);
  Buffer b;
  b.data_ = data_;
  b.capacity_ = capacity_;
  b.reader_ = reader_;
  b.writer_ = writer_;
  b.storage_ = Storage::shared;
  return b;
}

void Buffer::release() noexcept {
  if (storage_ != Storage::borrowed) free_storage();
  data_ = nullptr;
  capacity_ = reader_ = writer_ = 0;
  storage_ = Storage::borrowed;
}

void Buffer::free_storage() noexcept {
  if (storage_ == Storage::pooled) {
    BufferPool::give_back(data_, capacity_);
  } else if (storage_ == Storage::shared) {
    SharedBlock* block = block_of(data_);
    // The last reference frees, and must see every other owner's reads done.
    if (block->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      block->~SharedBlock();
      ::operator delete(block);
    }
  }
}

void Buffer::grow(std::size_t n) {
  std::size_t readable = readable_bytes();
  // Compacting is enough when the slack in front plus behind fits the request.
  bool pooled = storage_ == Storage::pooled;
  if (pooled && reader_ >= kCheapPrepend && (reader_ - kCheapPrepend) + writable_bytes() >= n) {
    std::memmove(data_ + kCheapPrepend, data_ + reader_, readable);
    reader_ = kCheapPrepend;
    writer_ = static_cast<std::uint32_t>(kCheapPrepend + readable);
    return;
  }
  std::size_t wanted = kCheapPrepend + readable + n;
  if (pooled && wanted < 2 * static_cast<std::size_t>(capacity_)) wanted = 2 * static_cast<std::size_t>(capacity_);
  Buffer bigger(wanted - kCheapPrepend);
  if (readable != 0) bigger.append(peek(), readable);
  *this = std::move(bigger);
}

}  // namespace sluice
