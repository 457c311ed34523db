#pragma once
// HTTP header fields: ordered, repeatable, looked up without regard to case.

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/core/small_vector.hpp"

namespace sluice {

namespace detail {
bool iequals_bytes(const char* a, const char* b, std::size_t n) noexcept;
}

/// ASCII case-insensitive equality (header names, tokens). Inline: most
/// comparisons end at the lengths.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && detail::iequals_bytes(a.data(), b.data(), a.size());
}

/// Header fields in arrival order. Repeated names are kept (get_all returns
/// each). Names and values live in one byte arena inside the object (spilling
/// to the heap past a few hundred bytes), so adding a field does not
/// allocate, and clear() keeps the arena for the next message. Fields read
/// back as string_views into that arena: valid until the headers change.
/// A value type; NOT thread safe.
class HttpHeaders {
 public:
  /// name, value
  using Field = std::pair<std::string_view, std::string_view>;

  class const_iterator {
   public:
    using value_type = Field;
    using difference_type = std::ptrdiff_t;
    const_iterator() = default;
    const_iterator(const HttpHeaders* h, std::size_t i) noexcept : headers_(h), index_(i) {}
    Field operator*() const noexcept { return (*headers_)[index_]; }
    const_iterator& operator++() noexcept {
      ++index_;
      return *this;
    }
    const_iterator operator++(int) noexcept { return {headers_, index_++}; }
    bool operator==(const const_iterator& o) const noexcept { return index_ == o.index_; }

   private:
    const HttpHeaders* headers_ = nullptr;
    std::size_t index_ = 0;
  };

  void add(std::string_view name, std::string_view value);
  /// Replaces every field called `name` with one.
  void set(std::string_view name, std::string_view value);
  /// The first value of `name`, if any.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  std::vector<std::string_view> get_all(std::string_view name) const;
  /// How many fields are called `name`.
  std::size_t count(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
  /// Whether a comma-separated header contains `token` (e.g. Connection: close).
  bool has_token(std::string_view name, std::string_view token) const noexcept;
  std::size_t remove(std::string_view name);
  /// Empties; the arena's capacity stays (up to a bound) for reuse.
  void clear() noexcept;

  std::size_t size() const noexcept { return slots_.size(); }
  bool empty() const noexcept { return slots_.empty(); }
  Field operator[](std::size_t i) const noexcept {
    const Slot& s = slots_[i];
    const char* text = text_.data();
    return {std::string_view(text + s.name_at, s.name_len), std::string_view(text + s.name_at + s.name_len, s.value_len)};
  }
  const_iterator begin() const noexcept { return {this, 0}; }
  const_iterator end() const noexcept { return {this, size()}; }
  /// Bytes of names and values held (what serialising them costs, roughly).
  std::size_t text_bytes() const noexcept { return text_.size(); }

 private:
  // Whether `s` points into text_ (a view of one of our own fields).
  bool views_arena(std::string_view s) const noexcept;
  void add_growing(std::string_view name, std::string_view value);

  // A field is its name followed by its value in text_.
  struct Slot {
    std::uint32_t name_at;
    std::uint32_t name_len;
    std::uint32_t value_len;
  };
  SmallVector<char, 128> text_;
  SmallVector<Slot, 6> slots_;
};

}  // namespace sluice
