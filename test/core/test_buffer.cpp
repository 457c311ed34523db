// Buffer: reader/writer/prepend regions, growth, compaction, borrowing, moves.

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "sluice/core/buffer.hpp"
#include "sluice/core/buffer_pool.hpp"

using sluice::Buffer;
using sluice::BufferPool;

namespace {

// Installs a private BufferPool as the calling thread's pool for one test, so
// the test can watch storage being taken and given back.
class ScopedPool {
 public:
  explicit ScopedPool(std::size_t cache_limit = 8 * 1024 * 1024) : pool_(cache_limit), previous_(BufferPool::local()) {
    BufferPool::set_local(&pool_);
  }
  ~ScopedPool() { BufferPool::set_local(previous_); }
  ScopedPool(const ScopedPool&) = delete;
  ScopedPool& operator=(const ScopedPool&) = delete;
  BufferPool& pool() { return pool_; }

 private:
  BufferPool pool_;
  BufferPool* previous_;
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

}  // namespace

TEST_CASE("Buffer: a default buffer is empty and has no storage", "[buffer]") {
  Buffer b;
  CHECK(b.empty());
  CHECK(b.readable_bytes() == 0);
  CHECK(b.writable_bytes() == 0);
  CHECK(b.prependable_bytes() == 0);
  CHECK(b.capacity() == 0);
  CHECK_FALSE(b.owns_storage());
  CHECK(b.view().empty());
}

TEST_CASE("Buffer: a sized buffer reserves the cheap prepend and the writable room", "[buffer]") {
  Buffer b(100);
  CHECK(b.owns_storage());
  CHECK(b.empty());
  CHECK(b.prependable_bytes() == Buffer::kCheapPrepend);
  CHECK(b.writable_bytes() >= 100);
  CHECK(b.capacity() == BufferPool::block_size_for(100 + Buffer::kCheapPrepend));
  CHECK(b.capacity() == b.prependable_bytes() + b.readable_bytes() + b.writable_bytes());
}

TEST_CASE("Buffer: append then retrieve moves the reader index", "[buffer]") {
  Buffer b(64);
  const std::size_t writable_before = b.writable_bytes();
  b.append("hello world");
  CHECK(b.readable_bytes() == 11);
  CHECK(b.writable_bytes() == writable_before - 11);
  CHECK(b.view() == "hello world");

  b.retrieve(6);
  CHECK(b.view() == "world");
  CHECK(b.prependable_bytes() == Buffer::kCheapPrepend + 6);

  b.append(std::string_view("!"));
  CHECK(b.view() == "world!");
}

TEST_CASE("Buffer: draining every byte resets both indices to the cheap prepend", "[buffer]") {
  Buffer b(64);
  b.append("abcdef");
  const std::size_t writable_empty = b.writable_bytes() + 6;

  SECTION("by retrieve") { b.retrieve(6); }
  SECTION("by retrieve_all") { b.retrieve_all(); }
  SECTION("by retrieve_all_as_string") { CHECK(b.retrieve_all_as_string() == "abcdef"); }

  CHECK(b.empty());
  CHECK(b.prependable_bytes() == Buffer::kCheapPrepend);
  CHECK(b.writable_bytes() == writable_empty);
}

TEST_CASE("Buffer: retrieve_as_string returns and consumes a prefix", "[buffer]") {
  Buffer b = Buffer::copy_of("GET / HTTP/1.1");
  CHECK(b.retrieve_as_string(3) == "GET");
  CHECK(b.view() == " / HTTP/1.1");
  CHECK(b.retrieve_all_as_string() == " / HTTP/1.1");
  CHECK(b.empty());
}

TEST_CASE("Buffer: copy_of owns a copy of the bytes", "[buffer]") {
  std::string source = "payload";
  Buffer b = Buffer::copy_of(source);
  source[0] = 'X';
  CHECK(b.owns_storage());
  CHECK(b.view() == "payload");
  CHECK(b.prependable_bytes() == Buffer::kCheapPrepend);
}

TEST_CASE("Buffer: prepend writes a header in front of the body without moving it", "[buffer]") {
  Buffer b(64);
  b.append("body");
  const char* body = b.peek();

  const std::uint32_t length = 4;
  b.prepend(&length, sizeof length);
  CHECK(b.readable_bytes() == 8);
  CHECK(b.prependable_bytes() == Buffer::kCheapPrepend - sizeof length);
  CHECK(b.peek() + sizeof length == body);  // the body was not copied

  std::uint32_t header = 0;
  std::memcpy(&header, b.peek(), sizeof header);
  CHECK(header == 4);
  CHECK(b.view().substr(4) == "body");
}

TEST_CASE("Buffer: prepend can use the whole cheap prepend region", "[buffer]") {
  Buffer b(16);
  b.append("x");
  const std::string header(Buffer::kCheapPrepend, 'h');
  b.prepend(header.data(), header.size());
  CHECK(b.prependable_bytes() == 0);
  CHECK(b.view() == header + "x");
}

TEST_CASE("Buffer: begin_write and has_written append in place", "[buffer]") {
  Buffer b(8);
  b.append("ab");
  b.ensure_writable(3);
  REQUIRE(b.writable_bytes() >= 3);
  std::memcpy(b.begin_write(), "cde", 3);
  b.has_written(3);
  CHECK(b.view() == "abcde");
}

TEST_CASE("Buffer: appending past the capacity grows the buffer and keeps the bytes", "[buffer]") {
  Buffer b(8);
  const std::size_t first_capacity = b.capacity();
  const std::string big = pattern(first_capacity * 3 + 7);
  b.append("head:");
  b.append(big);
  CHECK(b.capacity() > first_capacity);
  CHECK(b.view() == "head:" + big);
  CHECK(b.prependable_bytes() == Buffer::kCheapPrepend);  // a grown buffer keeps its cheap prepend
  CHECK(b.owns_storage());
}

TEST_CASE("Buffer: growth at least doubles the capacity", "[buffer]") {
  Buffer b(8);
  const std::size_t first_capacity = b.capacity();
  b.append(pattern(b.writable_bytes()));
  REQUIRE(b.writable_bytes() == 0);
  b.append("z");
  CHECK(b.capacity() >= 2 * first_capacity);
  CHECK(b.view().back() == 'z');
  CHECK(b.readable_bytes() == first_capacity - Buffer::kCheapPrepend + 1);
}

TEST_CASE("Buffer: growth beyond the largest pooled block still works", "[buffer]") {
  Buffer b(8);
  const std::string huge = pattern(BufferPool::kMaxPooledBlock * 2 + 123);
  b.append(huge);
  CHECK(b.view() == huge);
  CHECK(b.capacity() >= huge.size() + Buffer::kCheapPrepend);
}

TEST_CASE("Buffer: a request over 4 GiB is refused", "[buffer]") {
  CHECK_THROWS_AS(Buffer(std::size_t{1} << 32), std::length_error);
}

TEST_CASE("Buffer: free space in front is reclaimed by compaction instead of growth", "[buffer]") {
  Buffer b(8);
  const std::size_t capacity = b.capacity();
  const char* base = b.peek() - b.prependable_bytes();
  const std::size_t room = capacity - Buffer::kCheapPrepend;

  // Fill most of it, consume most of what was written: the slack is now in front.
  b.append(pattern(room - 10));
  b.retrieve(room - 40);  // 30 readable bytes left, 10 writable
  const std::string rest(b.view());
  REQUIRE(b.writable_bytes() == 10);

  b.append(pattern(100));  // fits once the 30 bytes move back to the front
  CHECK(b.capacity() == capacity);
  CHECK(b.peek() - b.prependable_bytes() == base);  // same block
  CHECK(b.prependable_bytes() == Buffer::kCheapPrepend);
  CHECK(b.view() == rest + pattern(100));
}

TEST_CASE("Buffer: ensure_writable grows only when compaction cannot make room", "[buffer]") {
  Buffer b(8);
  const std::size_t capacity = b.capacity();
  b.append(pattern(capacity - Buffer::kCheapPrepend));
  b.retrieve(10);
  b.ensure_writable(11);  // 10 bytes of slack in front are not enough
  CHECK(b.capacity() > capacity);
  CHECK(b.writable_bytes() >= 11);
  CHECK(b.view() == pattern(capacity - Buffer::kCheapPrepend).substr(10));
}

TEST_CASE("Buffer: a borrowed buffer reads the lender's bytes in place", "[buffer]") {
  char slab[] = "abcdef";
  Buffer b = Buffer::borrow(slab, 6);
  CHECK_FALSE(b.owns_storage());
  CHECK(b.peek() == slab);
  CHECK(b.view() == "abcdef");
  CHECK(b.prependable_bytes() == 0);
  CHECK(b.writable_bytes() == 0);

  b.retrieve(2);
  CHECK(b.peek() == slab + 2);
  CHECK(b.view() == "cdef");

  b.retrieve(4);
  CHECK(b.empty());
  CHECK(b.prependable_bytes() == 0);  // a borrowed buffer has no cheap prepend
}

TEST_CASE("Buffer: a borrowed buffer copies itself into owned storage before it grows", "[buffer]") {
  char slab[] = "abcdef";
  Buffer b = Buffer::borrow(slab, 6);
  b.retrieve(2);

  b.append("gh");
  CHECK(b.owns_storage());
  CHECK(b.view() == "cdefgh");
  CHECK(b.peek() != slab + 2);
  CHECK(std::string(slab) == "abcdef");  // the lender's bytes are untouched
  CHECK(b.prependable_bytes() == Buffer::kCheapPrepend);
}

TEST_CASE("Buffer: any write into a borrowed buffer copies it first, even one that fits", "[buffer]") {
  char slab[] = "abcdef";
  Buffer b = Buffer::borrow(slab, 4);  // two bytes of the slab lie beyond the borrowed range
  b.ensure_writable(1);
  CHECK(b.owns_storage());
  CHECK(b.view() == "abcd");
  std::memcpy(b.begin_write(), "Z", 1);
  b.has_written(1);
  CHECK(b.view() == "abcdZ");
  CHECK(std::string(slab) == "abcdef");
}

TEST_CASE("Buffer: releasing a borrowed buffer gives nothing to the pool", "[buffer]") {
  ScopedPool scoped;
  char slab[] = "abcdef";
  {
    Buffer b = Buffer::borrow(slab, 6);
    b.release();
    CHECK(b.capacity() == 0);
    CHECK(b.empty());
  }
  CHECK(scoped.pool().stats().cached_bytes == 0);
  CHECK(std::string(slab) == "abcdef");
}

TEST_CASE("Buffer: move construction transfers the storage and empties the source", "[buffer]") {
  Buffer a = Buffer::copy_of("moved bytes");
  const char* data = a.peek();
  const std::size_t capacity = a.capacity();

  Buffer b(std::move(a));
  CHECK(b.peek() == data);
  CHECK(b.view() == "moved bytes");
  CHECK(b.capacity() == capacity);
  CHECK(b.owns_storage());

  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  CHECK(a.capacity() == 0);
  CHECK_FALSE(a.owns_storage());

  a.append("reused");  // a moved-from buffer is usable again
  CHECK(a.view() == "reused");
}

TEST_CASE("Buffer: move assignment releases the target's storage and takes the source's", "[buffer]") {
  ScopedPool scoped;
  Buffer target = Buffer::copy_of("old");
  Buffer source = Buffer::copy_of("new");
  const std::size_t old_capacity = target.capacity();
  const char* new_data = source.peek();

  target = std::move(source);
  CHECK(target.view() == "new");
  CHECK(target.peek() == new_data);
  CHECK(scoped.pool().stats().cached_bytes == old_capacity);  // the old block went back
  CHECK(source.capacity() == 0);  // NOLINT(bugprone-use-after-move)
  CHECK_FALSE(source.owns_storage());
}

TEST_CASE("Buffer: self move assignment keeps the contents", "[buffer]") {
  Buffer b = Buffer::copy_of("self");
  Buffer& alias = b;
  b = std::move(alias);
  CHECK(b.view() == "self");
  CHECK(b.owns_storage());
}

TEST_CASE("Buffer: a borrowed buffer moves as a borrowed buffer", "[buffer]") {
  char slab[] = "xyz";
  Buffer a = Buffer::borrow(slab, 3);
  Buffer b = std::move(a);
  CHECK_FALSE(b.owns_storage());
  CHECK(b.peek() == slab);
  CHECK(b.view() == "xyz");
}

TEST_CASE("Buffer: release returns the block to the pool and leaves an empty buffer", "[buffer]") {
  ScopedPool scoped;
  Buffer b = Buffer::copy_of("abc");
  const std::size_t capacity = b.capacity();
  b.release();
  CHECK(b.empty());
  CHECK(b.capacity() == 0);
  CHECK_FALSE(b.owns_storage());
  CHECK(scoped.pool().stats().cached_bytes == capacity);

  b.release();  // twice is harmless
  CHECK(scoped.pool().stats().cached_bytes == capacity);

  b.append("again");
  CHECK(b.view() == "again");
  CHECK(scoped.pool().stats().hits == 1);  // the block came back from the pool
}

TEST_CASE("Buffer: destruction returns the block to the calling thread's pool", "[buffer]") {
  ScopedPool scoped;
  std::size_t capacity = 0;
  {
    Buffer b(1000);
    capacity = b.capacity();
  }
  CHECK(scoped.pool().stats().cached_bytes == capacity);
}

TEST_CASE("Buffer: growing returns the old block to the pool", "[buffer]") {
  ScopedPool scoped;
  Buffer b(8);
  const std::size_t first_capacity = b.capacity();
  b.append(pattern(first_capacity + 1));
  CHECK(scoped.pool().stats().cached_bytes == first_capacity);
}

TEST_CASE("Buffer: a buffer may be made on one thread and destroyed on another", "[buffer]") {
  Buffer b = Buffer::copy_of("crosses threads");
  std::string seen;
  std::thread t([&seen, moved = std::move(b)]() mutable {
    seen = std::string(moved.view());
    moved.append("!");
    seen += moved.view().back();
  });
  t.join();
  CHECK(seen == "crosses threads!");
}
