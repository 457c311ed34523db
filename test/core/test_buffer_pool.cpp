// BufferPool: size classes, block reuse, the cache limit, threads without a pool.

#include <catch2/catch.hpp>

#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/buffer.hpp"
#include "sluice/core/buffer_pool.hpp"

using sluice::Buffer;
using sluice::BufferPool;

namespace {

// Installs `pool` as the calling thread's pool for one scope.
class LocalPool {
 public:
  explicit LocalPool(BufferPool& pool) : previous_(BufferPool::local()) { BufferPool::set_local(&pool); }
  ~LocalPool() { BufferPool::set_local(previous_); }
  LocalPool(const LocalPool&) = delete;
  LocalPool& operator=(const LocalPool&) = delete;

 private:
  BufferPool* previous_;
};

}  // namespace

TEST_CASE("BufferPool: block sizes are powers of two from 512 B to 64 KiB, exact above", "[buffer_pool]") {
  CHECK(BufferPool::block_size_for(0) == 512);
  CHECK(BufferPool::block_size_for(1) == 512);
  CHECK(BufferPool::block_size_for(512) == 512);
  CHECK(BufferPool::block_size_for(513) == 1024);
  CHECK(BufferPool::block_size_for(3000) == 4096);
  CHECK(BufferPool::block_size_for(32 * 1024 + 1) == 64 * 1024);
  CHECK(BufferPool::block_size_for(64 * 1024) == 64 * 1024);
  CHECK(BufferPool::block_size_for(64 * 1024 + 1) == 64 * 1024 + 1);
  CHECK(BufferPool::block_size_for(1000000) == 1000000);
}

TEST_CASE("BufferPool: set_local installs and uninstalls the thread's pool", "[buffer_pool]") {
  BufferPool* before = BufferPool::local();
  BufferPool pool;
  {
    LocalPool scoped(pool);
    CHECK(BufferPool::local() == &pool);
  }
  CHECK(BufferPool::local() == before);
}

TEST_CASE("BufferPool: a destroyed pool uninstalls itself from its thread", "[buffer_pool]") {
  BufferPool* before = BufferPool::local();
  {
    BufferPool pool;
    BufferPool::set_local(&pool);
  }
  CHECK(BufferPool::local() == nullptr);
  BufferPool::set_local(before);
}

TEST_CASE("BufferPool: a block given back is handed out again", "[buffer_pool]") {
  BufferPool pool;
  LocalPool scoped(pool);

  char* first = BufferPool::take(512);
  CHECK(pool.stats().misses == 1);
  CHECK(pool.stats().hits == 0);
  std::memset(first, 0x5a, 512);  // the whole block is usable

  BufferPool::give_back(first, 512);
  CHECK(pool.stats().cached_bytes == 512);

  char* second = BufferPool::take(512);
  CHECK(second == first);
  CHECK(pool.stats().hits == 1);
  CHECK(pool.stats().misses == 1);
  CHECK(pool.stats().cached_bytes == 0);
  BufferPool::give_back(second, 512);
}

TEST_CASE("BufferPool: the most recently returned block is reused first", "[buffer_pool]") {
  BufferPool pool;
  LocalPool scoped(pool);
  char* a = BufferPool::take(1024);
  char* b = BufferPool::take(1024);
  BufferPool::give_back(a, 1024);
  BufferPool::give_back(b, 1024);
  CHECK(pool.stats().cached_bytes == 2048);

  char* c = BufferPool::take(1024);
  char* d = BufferPool::take(1024);
  CHECK(c == b);
  CHECK(d == a);
  CHECK(pool.stats().hits == 2);
  BufferPool::give_back(c, 1024);
  BufferPool::give_back(d, 1024);
}

TEST_CASE("BufferPool: each size class has its own free list", "[buffer_pool]") {
  BufferPool pool;
  LocalPool scoped(pool);
  char* big = BufferPool::take(4096);
  BufferPool::give_back(big, 4096);

  char* small = BufferPool::take(512);  // a cached 4 KiB block does not serve a 512 B request
  CHECK(small != big);
  CHECK(pool.stats().hits == 0);
  CHECK(pool.stats().misses == 2);

  char* again = BufferPool::take(4096);
  CHECK(again == big);
  CHECK(pool.stats().hits == 1);

  BufferPool::give_back(small, 512);
  BufferPool::give_back(again, 4096);
  CHECK(pool.stats().cached_bytes == 512 + 4096);
}

TEST_CASE("BufferPool: every class from 512 B to 64 KiB is cached", "[buffer_pool]") {
  BufferPool pool;
  LocalPool scoped(pool);
  for (std::size_t size = BufferPool::kMinBlock; size <= BufferPool::kMaxPooledBlock; size *= 2) {
    char* block = BufferPool::take(size);
    BufferPool::give_back(block, size);
    CHECK(BufferPool::take(size) == block);
    BufferPool::give_back(block, size);
  }
  CHECK(pool.stats().hits == BufferPool::kClasses);
  CHECK(pool.stats().misses == BufferPool::kClasses);
}

TEST_CASE("BufferPool: blocks larger than 64 KiB are never cached", "[buffer_pool]") {
  BufferPool pool;
  LocalPool scoped(pool);
  const std::size_t size = BufferPool::block_size_for(100000);
  char* block = BufferPool::take(size);
  BufferPool::give_back(block, size);
  CHECK(pool.stats().cached_bytes == 0);

  char* again = BufferPool::take(size);
  CHECK(pool.stats().hits == 0);
  CHECK(pool.stats().misses == 2);
  BufferPool::give_back(again, size);

  // A power of two above the largest class is not cached either.
  char* two_pow = BufferPool::take(128 * 1024);
  BufferPool::give_back(two_pow, 128 * 1024);
  CHECK(pool.stats().cached_bytes == 0);
}

TEST_CASE("BufferPool: the cache limit bounds the idle bytes kept", "[buffer_pool]") {
  BufferPool pool(1024);
  LocalPool scoped(pool);
  char* a = BufferPool::take(512);
  char* b = BufferPool::take(512);
  char* c = BufferPool::take(512);
  BufferPool::give_back(a, 512);
  BufferPool::give_back(b, 512);
  BufferPool::give_back(c, 512);  // over the limit: freed
  CHECK(pool.stats().cached_bytes == 1024);

  char* x = BufferPool::take(512);
  char* y = BufferPool::take(512);
  char* z = BufferPool::take(512);
  CHECK(pool.stats().hits == 2);
  CHECK(pool.stats().misses == 4);
  CHECK(pool.stats().cached_bytes == 0);
  for (char* p : {x, y, z}) BufferPool::give_back(p, 512);
}

TEST_CASE("BufferPool: a block that would cross the cache limit is freed even if smaller ones fit", "[buffer_pool]") {
  BufferPool pool(4096);
  LocalPool scoped(pool);
  char* big = BufferPool::take(8192);
  BufferPool::give_back(big, 8192);
  CHECK(pool.stats().cached_bytes == 0);
  char* small = BufferPool::take(4096);
  BufferPool::give_back(small, 4096);
  CHECK(pool.stats().cached_bytes == 4096);
}

TEST_CASE("BufferPool: a zero cache limit caches nothing", "[buffer_pool]") {
  BufferPool pool(0);
  LocalPool scoped(pool);
  char* a = BufferPool::take(512);
  BufferPool::give_back(a, 512);
  CHECK(pool.stats().cached_bytes == 0);
  char* b = BufferPool::take(512);
  CHECK(pool.stats().hits == 0);
  BufferPool::give_back(b, 512);
}

TEST_CASE("BufferPool: Buffer storage comes from and returns to the thread's pool", "[buffer_pool]") {
  BufferPool pool;
  LocalPool scoped(pool);
  const char* first_block = nullptr;
  {
    Buffer b(100);
    first_block = b.peek() - b.prependable_bytes();
    CHECK(pool.stats().misses == 1);
  }
  CHECK(pool.stats().cached_bytes == 512);
  Buffer again(200);
  CHECK(again.peek() - again.prependable_bytes() == first_block);
  CHECK(pool.stats().hits == 1);
}

TEST_CASE("BufferPool: a thread without a pool uses the allocator", "[buffer_pool]") {
  BufferPool mine;
  LocalPool scoped(mine);

  std::promise<bool> had_no_pool;
  std::promise<std::string> contents;
  std::thread t([&] {
    had_no_pool.set_value(BufferPool::local() == nullptr);
    char* block = BufferPool::take(512);
    std::memset(block, 1, 512);
    BufferPool::give_back(block, 512);
    Buffer b(10);
    b.append("no pool here");
    contents.set_value(std::string(b.view()));
  });
  t.join();

  CHECK(had_no_pool.get_future().get());
  CHECK(contents.get_future().get() == "no pool here");
  // Nothing on that thread touched this thread's pool.
  CHECK(mine.stats().hits == 0);
  CHECK(mine.stats().misses == 0);
  CHECK(mine.stats().cached_bytes == 0);
}

TEST_CASE("BufferPool: a block freed on another thread joins that thread's cache", "[buffer_pool]") {
  BufferPool here;
  LocalPool scoped(here);
  char* block = BufferPool::take(2048);
  CHECK(here.stats().misses == 1);

  std::size_t cached_there = 0;
  char* reused_there = nullptr;
  std::thread t([&] {
    BufferPool there;
    LocalPool scoped_there(there);
    BufferPool::give_back(block, 2048);
    cached_there = there.stats().cached_bytes;
    reused_there = BufferPool::take(2048);
    BufferPool::give_back(reused_there, 2048);
  });
  t.join();

  CHECK(cached_there == 2048);
  CHECK(reused_there == block);
  CHECK(here.stats().cached_bytes == 0);
}

TEST_CASE("BufferPool: trim gives back what no take needed since the last trim, and keeps what is in use",
          "[buffer_pool]") {
  BufferPool pool;
  LocalPool local(pool);
  // A burst: eight blocks out at once, then all back.
  std::vector<char*> burst;
  for (int i = 0; i < 8; ++i) burst.push_back(BufferPool::take(1024));
  for (char* b : burst) BufferPool::give_back(b, 1024);
  REQUIRE(pool.stats().cached_bytes == 8 * 1024);
  // Since the (first) trim the cache never went below 0: nothing is known
  // to be spare yet.
  CHECK(pool.trim() == 0);
  // Steady use of two blocks at a time.
  for (int round = 0; round < 3; ++round) {
    char* a = BufferPool::take(1024);
    char* b = BufferPool::take(1024);
    BufferPool::give_back(a, 1024);
    BufferPool::give_back(b, 1024);
  }
  // The cache held at least six blocks all along: those go.
  CHECK(pool.trim() == 6 * 1024);
  CHECK(pool.stats().cached_bytes == 2 * 1024);
  // Load has stopped: the next trim gives back the rest.
  CHECK(pool.trim() == 2 * 1024);
  CHECK(pool.stats().cached_bytes == 0);
  CHECK(pool.trim() == 0);
}
