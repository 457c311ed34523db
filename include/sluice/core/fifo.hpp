#pragma once
// A first-in-first-out queue: a ring with room for one element inside.
//
// Every connection holds a queue of outbound buffers, and most of the time
// it holds one buffer or none. std::deque allocates a map and a 512-byte
// node as soon as it is built; a std::vector allocates on the first push
// and keeps that allocation for the connection's life, and allocations made
// by many connections while a burst of requests comes and goes pin the
// burst's freed pages (tools/idle-conns --burst). Here the first element
// lives in the queue itself; a second one moves the queue to the heap, into
// a ring that doubles when full and is kept, so a busy queue stops
// allocating once warm. Popping releases the element at once.

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace sluice {

/// FIFO with random access to the live elements. NOT thread safe; neither
/// copied nor moved (it lives inside its owner).
template <class T>
class Fifo {
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "heap rings use plain operator new");
  static_assert(std::is_nothrow_move_constructible_v<T>, "growing moves the elements");

 public:
  Fifo() noexcept = default;
  ~Fifo() {
    clear();
    if (on_heap()) ::operator delete(items_);
  }
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  T& front() noexcept { return items_[head_]; }
  const T& front() const noexcept { return items_[head_]; }
  T& back() noexcept { return at(size_ - 1); }
  T& operator[](std::size_t i) noexcept { return at(i); }
  const T& operator[](std::size_t i) const noexcept { return at(i); }

  void push_back(T value) {
    if (size_ == capacity_) grow();
    new (&items_[slot(size_)]) T(std::move(value));
    ++size_;
  }

  void pop_front() noexcept {
    items_[head_].~T();
    head_ = slot(1);
    if (--size_ == 0) head_ = 0;
  }

  /// Drops every element; keeps the storage for reuse.
  void clear() noexcept {
    while (!empty()) pop_front();
  }

  class iterator {
   public:
    iterator(Fifo& q, std::size_t i) noexcept : q_(&q), i_(i) {}
    T& operator*() const noexcept { return q_->at(i_); }
    T* operator->() const noexcept { return &q_->at(i_); }
    iterator& operator++() noexcept {
      ++i_;
      return *this;
    }
    bool operator==(const iterator& o) const noexcept { return i_ == o.i_; }
    bool operator!=(const iterator& o) const noexcept { return i_ != o.i_; }

   private:
    Fifo* q_;
    std::size_t i_;
  };
  iterator begin() noexcept { return iterator(*this, 0); }
  iterator end() noexcept { return iterator(*this, size_); }

 private:
  // Capacities are powers of two: a slot is an index masked.
  std::uint32_t slot(std::size_t i) const noexcept {
    return static_cast<std::uint32_t>((head_ + i) & (capacity_ - 1));
  }
  T& at(std::size_t i) noexcept { return items_[slot(i)]; }
  const T& at(std::size_t i) const noexcept { return items_[slot(i)]; }
  bool on_heap() const noexcept { return items_ != inline_slot(); }
  T* inline_slot() noexcept { return reinterpret_cast<T*>(inline_); }
  const T* inline_slot() const noexcept { return reinterpret_cast<const T*>(inline_); }

  void grow() {
    std::uint32_t capacity = capacity_ * 2;
    T* items = static_cast<T*>(::operator new(capacity * sizeof(T)));
    for (std::uint32_t i = 0; i < size_; ++i) {
      new (&items[i]) T(std::move(at(i)));
      at(i).~T();
    }
    if (on_heap()) ::operator delete(items_);
    items_ = items;
    capacity_ = capacity;
    head_ = 0;
  }

  T* items_ = inline_slot();
  std::uint32_t head_ = 0;
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = 1;
  alignas(T) unsigned char inline_[sizeof(T)];
};

}  // namespace sluice
