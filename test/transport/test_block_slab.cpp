// BlockSlab: connection blocks in chunks of their own, given back to the
// kernel when their blocks are freed, from whichever thread frees them.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "../lib/transport/block_slab.hpp"

using sluice::detail::BlockSlab;

namespace {
constexpr std::size_t kChunk = 256 * 1024;
}

TEST_CASE("BlockSlab: blocks are aligned, distinct and writable; freed ones are reused") {
  // A thread of its own: a fresh slab, whatever other tests left on this one.
  std::thread([] {
    std::vector<char*> blocks;
    for (int i = 0; i < 1000; ++i) {
      auto* b = static_cast<char*>(BlockSlab::allocate(600));
      CHECK(reinterpret_cast<std::uintptr_t>(b) % BlockSlab::kAlign == 0);
      std::memset(b, i & 0xff, 600);
      blocks.push_back(b);
    }
    std::set<char*> distinct(blocks.begin(), blocks.end());
    CHECK(distinct.size() == blocks.size());
    for (std::size_t i = 0; i < blocks.size(); ++i) CHECK(static_cast<unsigned char>(blocks[i][599]) == (i & 0xff));
    CHECK(BlockSlab::local_stats().blocks_in_use == 1000);

    char* freed = blocks[500];
    BlockSlab::deallocate(freed);
    CHECK(BlockSlab::allocate(600) == freed);
    for (char* b : blocks) BlockSlab::deallocate(b);
    CHECK(BlockSlab::local_stats().blocks_in_use == 0);
  }).join();
}

TEST_CASE("BlockSlab: emptied chunks go back to the kernel but one per size") {
  std::thread([] {
    std::vector<void*> blocks;
    for (int i = 0; i < 5000; ++i) blocks.push_back(BlockSlab::allocate(600));  // ~12 chunks
    std::size_t mapped = BlockSlab::local_stats().mapped_bytes;
    CHECK(mapped >= 5000 * 608);
    CHECK(mapped <= 5000 * 608 + 2 * kChunk);
    for (void* b : blocks) BlockSlab::deallocate(b);
    CHECK(BlockSlab::local_stats().mapped_bytes == kChunk);

    // Another size has chunks of its own; its empty one stays too.
    void* other = BlockSlab::allocate(2000);
    CHECK(BlockSlab::local_stats().mapped_bytes == 2 * kChunk);
    BlockSlab::deallocate(other);
    CHECK(BlockSlab::local_stats().mapped_bytes == 2 * kChunk);
  }).join();
}

TEST_CASE("BlockSlab: blocks freed on another thread, and after their thread has exited") {
  std::vector<void*> blocks;
  std::thread([&] {
    for (int i = 0; i < 2000; ++i) blocks.push_back(BlockSlab::allocate(1000));
  }).join();
  // The allocating thread is gone; its slab lives until the last block is
  // freed here (LeakSanitizer checks that it then goes).
  std::thread([&] {
    for (void* b : blocks) BlockSlab::deallocate(b);
  }).join();
  SUCCEED();
}

TEST_CASE("BlockSlab: a block larger than the largest is refused") {
  CHECK_THROWS_AS(BlockSlab::allocate(BlockSlab::kMaxBlockBytes + 1), std::bad_alloc);
}
