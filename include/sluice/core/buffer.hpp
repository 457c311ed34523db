#pragma once
// A growable byte buffer with cheap prepend, in the style of muduo's Buffer.
//
//  +-------------------+------------------+------------------+
//  | prependable bytes |  readable bytes  |  writable bytes  |
//  |                   |     (CONTENT)    |                  |
//  +-------------------+------------------+------------------+
//  |                   |                  |                  |
//  0      <=      reader_index   <=   writer_index    <=  capacity
//
// Encoders that learn a frame's length only after writing its body (a length
// prefix, an HTTP chunk size) write the header into the prependable region
// instead of copying the body. Storage comes from the thread's BufferPool.
//
// A Buffer may also *borrow* memory it does not own (Buffer::borrow): that is
// how a loop's read slab is lent to the pipeline without a copy. A borrowed
// buffer that must grow copies itself into owned storage first.
//
// Or it may *share* read-only bytes with other Buffers (Buffer::shared_copy_of,
// share()): a message framed once and queued on many connections, each
// queue holding a reference, not a copy. The bytes go when the last
// reference does, on whichever thread that is.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace sluice {

/// Owned (pooled) or borrowed bytes with reader/writer indices. A value type:
/// move-only, NOT thread safe; may be moved between threads.
class Buffer {
 public:
  static constexpr std::size_t kCheapPrepend = 16;

  Buffer() noexcept = default;
  /// Owned storage with room for at least `writable` bytes after kCheapPrepend.
  explicit Buffer(std::size_t writable);
  /// Owned copy of `bytes`.
  static Buffer copy_of(std::string_view bytes);
  /// Borrows `size` readable bytes at `data`; the caller keeps them alive.
  static Buffer borrow(char* data, std::size_t size) noexcept;
  /// Read-only bytes that many Buffers may share (one allocation): a copy
  /// of `bytes` followed by `more`. Any thread.
  static Buffer shared_copy_of(std::string_view bytes, std::string_view more = {});
  /// Another reference to the readable bytes of a shared buffer (no copy,
  /// no allocation; an atomic count). Only for is_shared() buffers.
  Buffer share() const noexcept;

  Buffer(Buffer&& other) noexcept { steal(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      if (storage_ != Storage::borrowed) free_storage();
      steal(other);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  // Most buffers that end hold nothing (moved from, or never filled): the
  // test is inline and only storage of our own costs a call
  // (tools/profile --depth 16: Buffer::release, and free_storage since,
  // 111 -> 20 instructions a request).
  ~Buffer() {
    if (storage_ != Storage::borrowed) free_storage();
  }

  std::size_t readable_bytes() const noexcept { return writer_ - reader_; }
  std::size_t writable_bytes() const noexcept { return capacity_ - writer_; }
  std::size_t prependable_bytes() const noexcept { return reader_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return writer_ == reader_; }
  /// Whether the storage is this buffer's own to write (pooled).
  bool owns_storage() const noexcept { return storage_ == Storage::pooled; }
  bool is_shared() const noexcept { return storage_ == Storage::shared; }
  /// Whether the bytes are lent (Buffer::borrow): they must be copied to
  /// be kept beyond the lender's call.
  bool borrows() const noexcept { return storage_ == Storage::borrowed && data_ != nullptr; }

  const char* peek() const noexcept { return data_ + reader_; }
  char* peek_mut() noexcept { return data_ + reader_; }
  std::string_view view() const noexcept { return {peek(), readable_bytes()}; }

  /// Consumes `n` readable bytes (n <= readable_bytes()).
  void retrieve(std::size_t n) noexcept {
    reader_ += static_cast<std::uint32_t>(n);
    if (reader_ == writer_) reader_ = writer_ = prepend_floor();
  }
  void retrieve_all() noexcept { reader_ = writer_ = prepend_floor(); }
  std::string retrieve_as_string(std::size_t n) {
    std::string s(peek(), n);
    retrieve(n);
    return s;
  }
  std::string retrieve_all_as_string() { return retrieve_as_string(readable_bytes()); }

  void append(const void* bytes, std::size_t n) {
    ensure_writable(n);
    if (n != 0) std::memcpy(data_ + writer_, bytes, n);  // an empty view may have no data pointer
    writer_ += static_cast<std::uint32_t>(n);
  }
  void append(std::string_view s) { append(s.data(), s.size()); }

  /// Puts `n` bytes in front of the readable bytes; needs prependable_bytes() >= n.
  void prepend(const void* bytes, std::size_t n) noexcept {
    reader_ -= static_cast<std::uint32_t>(n);
    std::memcpy(data_ + reader_, bytes, n);
  }

  /// Makes room for `n` more bytes (compacting or moving to a larger block).
  void ensure_writable(std::size_t n) {
    if (writable_bytes() < n || storage_ != Storage::pooled) grow(n);
  }
  char* begin_write() noexcept { return data_ + writer_; }
  void has_written(std::size_t n) noexcept { writer_ += static_cast<std::uint32_t>(n); }

  /// Returns the storage to the pool; the buffer becomes empty with no storage.
  void release() noexcept;

 private:
  enum class Storage : std::uint8_t {
    borrowed,  // someone else's (or none)
    pooled,    // ours, from the thread's BufferPool
    shared,    // read-only, reference-counted (a SharedBlock header before data_)
  };
  /// Gives pooled storage back, or lets go of a shared block.
  void free_storage() noexcept;
  std::uint32_t prepend_floor() const noexcept {
    return storage_ == Storage::pooled ? static_cast<std::uint32_t>(kCheapPrepend) : 0;
  }
  void steal(Buffer& other) noexcept {
    data_ = other.data_;
    capacity_ = other.capacity_;
    reader_ = other.reader_;
    writer_ = other.writer_;
    storage_ = other.storage_;
    other.data_ = nullptr;
    other.capacity_ = other.reader_ = other.writer_ = 0;
    other.storage_ = Storage::borrowed;
  }
  void grow(std::size_t n);

  char* data_ = nullptr;
  std::uint32_t capacity_ = 0;
  std::uint32_t reader_ = 0;
  std::uint32_t writer_ = 0;
  Storage storage_ = Storage::borrowed;
};

}  // namespace sluice
