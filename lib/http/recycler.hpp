#pragma once
// Internal: per-thread free lists of shared objects that are reset and
// reused instead of freed, so a warm loop serves requests without touching
// the heap.

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace sluice::detail {

/// T needs reset(): back to a fresh state, keeping what capacity is worth
/// keeping. An object comes back only when its last owner gives it back
/// (use_count() == 1 on the giving thread); anything still shared elsewhere
/// (a handler answering from another thread) is simply let go and freed by
/// whoever drops it last. Nothing may hold a weak_ptr to a T.
template <class T, std::size_t kMaxFree = 256>
class Recycler {
 public:
  static std::shared_ptr<T> take() {
    auto& list = free_list();
    if (list.empty()) return std::make_shared<T>();
    std::shared_ptr<T> object = std::move(list.back());
    list.pop_back();
    return object;
  }

  /// Gives `object` back if this is its last owner; either way `object` is
  /// empty afterwards.
  static void give(std::shared_ptr<T>& object) noexcept {
    if (!object) return;
    if (object.use_count() != 1 || list_gone()) {
      object.reset();
      return;
    }
    // The other owners released with acq_rel; see their writes before reset().
    std::atomic_thread_fence(std::memory_order_acquire);
    auto& list = free_list();
    if (list.size() >= kMaxFree || (list.capacity() == list.size() && !grow(list))) {
      object.reset();
      return;
    }
    object->reset();
    list.push_back(std::move(object));
  }

 private:
  static bool grow(std::vector<std::shared_ptr<T>>& list) noexcept {
    try {
      list.reserve(kMaxFree);
      return true;
    } catch (...) {
      return false;
    }
  }
  struct FreeList : std::vector<std::shared_ptr<T>> {
    ~FreeList() { list_gone() = true; }
  };
  // Trivially destructible, so still readable after FreeList's destructor
  // has run at thread exit (an object given back then is just freed).
  static bool& list_gone() noexcept {
    thread_local bool gone = false;
    return gone;
  }
  static std::vector<std::shared_ptr<T>>& free_list() {
    thread_local FreeList list;
    return list;
  }
};

}  // namespace sluice::detail
