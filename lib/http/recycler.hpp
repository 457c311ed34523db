#pragma once
// Internal: per-thread free lists of objects that are reset and reused
// instead of freed, so a warm loop serves requests without touching the
// heap.

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace sluice::detail {

/// A bounded per-thread stack of spare objects, held by owning pointers `P`
/// (unique_ptr or shared_ptr). Objects given back after the thread's list
/// is destroyed (at thread exit) are simply freed.
template <class P, std::size_t kMaxFree>
class FreeList {
 public:
  /// A spare object, or an empty pointer when there is none.
  static P take() noexcept {
    if (list_gone()) return P();
    auto& list = spares();
    if (list.empty()) return P();
    P object = std::move(list.back());
    list.pop_back();
    return object;
  }

  /// The thread's list if it has room for one more (push_back will not
  /// throw), else nullptr (full, or destroyed at thread exit).
  [[gnu::always_inline]] static std::vector<P>* room() noexcept {
    if (list_gone()) return nullptr;
    auto& list = spares();
    if (list.size() >= kMaxFree || (list.capacity() == list.size() && !grow(list))) return nullptr;
    return &list;
  }

  /// Keeps `object` (already reset by the caller) if there is room, else
  /// frees it; either way `object` is empty afterwards.
  static void put(P& object) noexcept {
    if (auto* list = room()) {
      list->push_back(std::move(object));
    } else {
      object.reset();
    }
  }

 private:
  static bool grow(std::vector<P>& list) noexcept {
    try {
      list.reserve(kMaxFree);
      return true;
    } catch (...) {
      return false;
    }
  }
  struct List : std::vector<P> {
    ~List() { list_gone() = true; }
  };
  // Trivially destructible, so still readable after List's destructor has
  // run at thread exit.
  static bool& list_gone() noexcept {
    thread_local bool gone = false;
    return gone;
  }
  static std::vector<P>& spares() {
    thread_local List list;
    return list;
  }
};

/// Shared objects recycled on the loop thread. T needs reset(): back to a
/// fresh state, keeping what capacity is worth keeping. An object comes back
/// only when its last owner gives it back (use_count() == 1 on the giving
/// thread); anything still shared elsewhere (a handler answering from
/// another thread) is simply let go and freed by whoever drops it last.
/// Nothing may hold a weak_ptr to a T.
template <class T, std::size_t kMaxFree = 256>
class Recycler {
 public:
  static std::shared_ptr<T> take() {
    std::shared_ptr<T> object = Spares::take();
    if (!object) object = std::make_shared<T>();
    return object;
  }

  /// Gives `object` back if this is its last owner; either way `object` is
  /// empty afterwards.
  // Inlined: it runs once per request, and out of line it costs a
  // register-saving call frame around a few loads (tools/profile: +40
  // instructions per request).
  [[gnu::always_inline]] static void give(std::shared_ptr<T>& object) noexcept {
    if (!object) return;
    auto* list = object.use_count() == 1 ? Spares::room() : nullptr;
    if (list == nullptr) {
      object.reset();
      return;
    }
    // The other owners released with acq_rel; see their writes before reset().
    std::atomic_thread_fence(std::memory_order_acquire);
    object->reset();
    list->push_back(std::move(object));
  }

 private:
  using Spares = FreeList<std::shared_ptr<T>, kMaxFree>;
};

}  // namespace sluice::detail
