#pragma once
// Internal: handler names, interned.

#include <cstdint>
#include <string_view>

namespace sluice::detail {

/// The process's one copy of each handler name, known by its number (a
/// context holds the number: 4 bytes, not a pointer's 8). Names come from
/// code, so the table stays small; it is never trimmed. Each thread keeps a
/// copy of what it has met, and takes the lock only for a name new to it.
class HandlerNames {
 public:
  /// Any thread.
  static std::uint32_t intern(std::string_view name);
  /// Any thread; without the lock on one that interned the name (a
  /// context's loop thread). Valid for the life of the process.
  static std::string_view name_of(std::uint32_t number) noexcept;
};

}  // namespace sluice::detail
