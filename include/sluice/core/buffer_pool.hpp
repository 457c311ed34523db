#pragma once
// Per-loop cache of buffer storage blocks, sized in powers of two.
//
// Each EventLoop installs its pool as the thread's pool; Buffer storage taken
// on that thread comes from it and storage freed on that thread goes back to
// it. Threads without a pool (a user's thread) use plain operator new/delete,
// so a Buffer may be created or destroyed on any thread. A block freed on a
// thread other than the one that took it simply joins that thread's cache.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace sluice {

/// Size-classed free lists of raw blocks (512 B .. 64 KiB). One per loop thread;
/// NOT thread safe: only its own thread touches it (through BufferPool::local()).
class BufferPool {
 public:
  static constexpr std::size_t kMinBlock = 512;
  static constexpr std::size_t kMaxPooledBlock = 64 * 1024;
  static constexpr std::size_t kClasses = 8;  // 512 .. 64 KiB

  /// `cache_limit_bytes` bounds what the pool keeps idle; beyond it, freed
  /// blocks go back to the allocator. trim() gives back, besides, what the
  /// pool kept without needing it.
  explicit BufferPool(std::size_t cache_limit_bytes = 8 * 1024 * 1024);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  /// The calling thread's pool, or nullptr when the thread has none.
  static BufferPool* local() noexcept;
  /// Installs `pool` as the calling thread's pool (nullptr uninstalls).
  static void set_local(BufferPool* pool) noexcept;

  /// Rounds a request up to the size that will actually be handed out.
  static std::size_t block_size_for(std::size_t bytes) noexcept {
    if (bytes <= kMinBlock) return kMinBlock;
    if (bytes > kMaxPooledBlock) return bytes;
    return std::bit_ceil(bytes);
  }

  /// Takes a block of exactly block_size_for(bytes) bytes. Uses the calling
  /// thread's pool when there is one.
  static char* take(std::size_t block_size);
  static void give_back(char* block, std::size_t block_size) noexcept;

  /// Frees the cached blocks that no take() needed since the last trim (the
  /// least the cache held in that time): a cache that a burst filled drains
  /// within two calls once load falls, and one in steady use keeps what it
  /// uses. The loop calls it every second. Returns the bytes freed.
  std::size_t trim() noexcept;

  struct Stats {
    std::uint64_t hits = 0;     // served from the cache
    std::uint64_t misses = 0;   // had to ask the allocator
    std::size_t cached_bytes = 0;
  };
  const Stats& stats() const noexcept { return stats_; }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  // Inline, as block_size_for: run twice for every buffer a request takes
  // and gives back (tools/profile: about 20 instructions a request).
  static int class_of(std::size_t block_size) noexcept {
    // (x & (x - 1)), not std::has_single_bit: without -mpopcnt that is a libgcc call.
    if (block_size > kMaxPooledBlock || block_size == 0 || (block_size & (block_size - 1)) != 0) return -1;
    return std::countr_zero(block_size) - std::countr_zero(kMinBlock);
  }
  char* take_block(std::size_t block_size);
  void give_back_block(char* block, std::size_t block_size) noexcept;

  std::array<FreeBlock*, kClasses> free_{};
  std::size_t cache_limit_bytes_;
  std::size_t cached_low_ = 0;  // the least cached_bytes since the last trim
  Stats stats_;
};

}  // namespace sluice
