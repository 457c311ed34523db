#pragma once
// Internal: memory for connection blocks, apart from the heap where requests
// come and go.
//
// A connection's block (its channel, pipeline contexts and handlers: one
// allocation, see TcpChannel::create) lives as long as the connection;
// request state, exchanges and buffers live for a request. From one heap,
// a burst of requests on many new connections interleaves the two, and once
// the requests are answered their freed memory sits in holes between the
// blocks that no page can be given back from: RSS after a burst stayed 35%
// above the same connections opened one by one. Here blocks come from
// chunks of their own (256 KiB, mapped from the kernel), so what requests
// used is whole pages of heap again, which the loop's housekeeping returns.
//
// Bounds: a chunk goes back to the kernel once its last block is freed,
// except one empty chunk kept per block size (a server that connects and
// disconnects one client should not map and unmap each time).
//
// Each thread that allocates has its own slab (a server allocates on its
// loops); a block may be freed from any thread (the last reference to a
// channel may be dropped anywhere), under the slab's lock. A slab outlives
// its thread until its last block is freed.

#include <cstddef>
#include <cstdint>

namespace sluice::detail {

class BlockSlab {
 public:
  /// Blocks larger than this are not slab blocks (the caller uses the heap).
  static constexpr std::size_t kMaxBlockBytes = 16 * 1024;
  /// Every block is aligned for any object.
  static constexpr std::size_t kAlign = 16;

  /// A block of at least `bytes` (≤ kMaxBlockBytes) from the calling
  /// thread's slab. Throws std::bad_alloc.
  static void* allocate(std::size_t bytes);
  /// Gives back a block from allocate(). Any thread.
  static void deallocate(void* block) noexcept;

  /// The calling thread's slab: bytes mapped for blocks, and blocks in use.
  struct Stats {
    std::size_t mapped_bytes = 0;
    std::size_t blocks_in_use = 0;
  };
  static Stats local_stats() noexcept;
};

}  // namespace sluice::detail
