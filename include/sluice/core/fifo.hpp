#pragma once
// A first-in-first-out queue on one vector.
//
// std::deque allocates a map and a 512-byte node as soon as it is built,
// even when it stays empty, and every connection and request holds a few
// queues: an idle one should cost nothing. Fifo allocates on first push,
// pops by moving a head index, and compacts once the dead front outweighs
// the live part, so a long-lived queue stays O(1) amortised per operation.

#include <cstddef>
#include <utility>
#include <vector>

namespace sluice {

/// FIFO with random access to the live elements. A value type; NOT thread safe.
template <class T>
class Fifo {
 public:
  bool empty() const noexcept { return head_ == items_.size(); }
  std::size_t size() const noexcept { return items_.size() - head_; }

  T& front() noexcept { return items_[head_]; }
  const T& front() const noexcept { return items_[head_]; }
  T& back() noexcept { return items_.back(); }
  T& operator[](std::size_t i) noexcept { return items_[head_ + i]; }

  void push_back(T value) { items_.push_back(std::move(value)); }

  void pop_front() {
    items_[head_] = T();  // release what it holds now, not at the next compaction
    if (++head_ == items_.size()) {
      clear();
    } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  /// Drops every element; keeps the storage for reuse.
  void clear() noexcept {
    items_.clear();
    head_ = 0;
  }

  auto begin() noexcept { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() noexcept { return items_.end(); }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace sluice
