#pragma once
// A vector of trivially copyable values that keeps its first N inline.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>

namespace sluice {

/// Like std::vector for trivially copyable T, with room for N elements
/// inside the object: small contents never touch the heap, and clear()
/// keeps whatever capacity was reached (a recycled owner stops allocating
/// once warm). Elements are not initialised by resize_uninitialized().
/// NOT thread safe.
template <class T, std::size_t N>
class SmallVector {
  static_assert(std::is_trivially_copyable_v<T>, "SmallVector holds trivially copyable values only");
  static_assert(N > 0);

 public:
  SmallVector() noexcept = default;
  SmallVector(const SmallVector& other) { append(other.data(), other.size()); }
  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) {
      size_ = 0;
      append(other.data(), other.size());
    }
    return *this;
  }
  SmallVector(SmallVector&& other) noexcept { steal(other); }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) {
      free_heap();
      steal(other);
    }
    return *this;
  }
  ~SmallVector() { free_heap(); }

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  bool on_heap() const noexcept { return heap_ != nullptr; }

  T* data() noexcept { return heap_ != nullptr ? heap_ : inline_data(); }
  const T* data() const noexcept { return heap_ != nullptr ? heap_ : inline_data(); }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size_; }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size_; }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }
  T& back() noexcept { return data()[size_ - 1]; }

  void push_back(const T& value) {
    if (size_ == capacity_) grow(size_ + 1);
    data()[size_++] = value;
  }
  void append(const T* values, std::size_t n) {
    if (n == 0) return;
    if (size_ + n > capacity_) grow(size_ + n);
    std::memcpy(static_cast<void*>(data() + size_), values, n * sizeof(T));
    size_ += static_cast<std::uint32_t>(n);
  }
  /// Grows by `n` elements left for the caller to fill; returns the first.
  T* extend_uninitialized(std::size_t n) {
    if (size_ + n > capacity_) grow(size_ + n);
    T* first = data() + size_;
    size_ += static_cast<std::uint32_t>(n);
    return first;
  }
  void resize_down(std::size_t n) noexcept {
    if (n < size_) size_ = static_cast<std::uint32_t>(n);
  }
  void clear() noexcept { size_ = 0; }
  /// Gives heap storage back (and empties) when more than `max` elements of
  /// capacity are held, so a recycled owner does not hoard a rare big one.
  void clear_and_trim(std::size_t max) noexcept {
    size_ = 0;
    if (capacity_ > max && heap_ != nullptr) {
      free_heap();
      heap_ = nullptr;
      capacity_ = N;
    }
  }

 private:
  T* inline_data() noexcept { return reinterpret_cast<T*>(inline_); }
  const T* inline_data() const noexcept { return reinterpret_cast<const T*>(inline_); }

  void grow(std::size_t needed) {
    std::size_t cap = capacity_ * 2;
    if (cap < needed) cap = needed;
    if (cap > UINT32_MAX) throw std::bad_alloc();
    // operator new, not malloc: allocation-counting tests see it.
    auto* fresh = static_cast<T*>(::operator new(cap * sizeof(T)));
    if (size_ != 0) std::memcpy(static_cast<void*>(fresh), data(), size_ * sizeof(T));
    free_heap();
    heap_ = fresh;
    capacity_ = static_cast<std::uint32_t>(cap);
  }
  // Tested inline: nearly every SmallVector ends without a heap, and
  // operator delete(nullptr) is still a call into the allocator
  // (tools/profile: about 30 instructions a request, two HttpHeaders).
  void free_heap() noexcept {
    if (heap_ != nullptr) ::operator delete(heap_);
  }
  void steal(SmallVector& other) noexcept {
    size_ = other.size_;
    capacity_ = other.capacity_;
    heap_ = other.heap_;
    if (heap_ == nullptr) std::memcpy(inline_, other.inline_, other.size_ * sizeof(T));
    other.heap_ = nullptr;
    other.size_ = 0;
    other.capacity_ = N;
  }

  T* heap_ = nullptr;
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = N;
  alignas(T) unsigned char inline_[N * sizeof(T)];
};

}  // namespace sluice
