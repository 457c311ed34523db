#include "sluice/core/buffer_pool.hpp"

#include <algorithm>
#include <bit>
#include <new>

namespace sluice {

namespace {
thread_local BufferPool* t_pool = nullptr;
}

BufferPool::BufferPool(std::size_t cache_limit_bytes) : cache_limit_bytes_(cache_limit_bytes) {}

BufferPool::~BufferPool() {
  for (FreeBlock*& head : free_) {
    while (head != nullptr) {
      FreeBlock* next = head->next;
      ::operator delete(static_cast<void*>(head));
      head = next;
    }
  }
  if (t_pool == this) t_pool = nullptr;
}

BufferPool* BufferPool::local() noexcept { return t_pool; }
void BufferPool::set_local(BufferPool* pool) noexcept { t_pool = pool; }

// Inline into take() and give_back(), their only callers: one call, not
// two, for each buffer a request takes and gives back.
inline char* BufferPool::take_block(std::size_t block_size) {
  int cls = class_of(block_size);
  if (cls >= 0 && free_[cls] != nullptr) {
    FreeBlock* block = free_[cls];
    free_[cls] = block->next;
    stats_.cached_bytes -= block_size;
    cached_low_ = std::min(cached_low_, stats_.cached_bytes);
    ++stats_.hits;
    return reinterpret_cast<char*>(block);
  }
  ++stats_.misses;
  return static_cast<char*>(::operator new(block_size));
}

std::size_t BufferPool::trim() noexcept {
  std::size_t freed = 0;
  // Largest blocks first: the fewest frees for the bytes.
  for (std::size_t cls = kClasses; cls-- > 0 && freed < cached_low_;) {
    std::size_t size = kMinBlock << cls;
    while (free_[cls] != nullptr && freed + size <= cached_low_) {
      FreeBlock* block = free_[cls];
      free_[cls] = block->next;
      ::operator delete(static_cast<void*>(block));
      freed += size;
    }
  }
  stats_.cached_bytes -= freed;
  cached_low_ = stats_.cached_bytes;
  return freed;
}

inline void BufferPool::give_back_block(char* block, std::size_t block_size) noexcept {
  int cls = class_of(block_size);
  if (cls < 0 || stats_.cached_bytes + block_size > cache_limit_bytes_) {
    ::operator delete(static_cast<void*>(block));
    return;
  }
  auto* node = ::new (static_cast<void*>(block)) FreeBlock{free_[cls]};
  free_[cls] = node;
  stats_.cached_bytes += block_size;
}

char* BufferPool::take(std::size_t block_size) {
  if (t_pool != nullptr) return t_pool->take_block(block_size);
  return static_cast<char*>(::operator new(block_size));
}

void BufferPool::give_back(char* block, std::size_t block_size) noexcept {
  if (t_pool != nullptr) {
    t_pool->give_back_block(block, block_size);
  } else {
    ::operator delete(static_cast<void*>(block));
  }
}

}  // namespace sluice
