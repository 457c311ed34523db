#include "sluice/http/http_headers.hpp"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "short_copy.hpp"
#include "text.hpp"

namespace sluice {

namespace {
char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Arena capacity kept by clear(): enough for a browser's request headers; a
// rare huge header section is given back rather than hoarded by a pooled request.
constexpr std::size_t kKeptTextBytes = 8 * 1024;
constexpr std::size_t kKeptSlots = 64;
}  // namespace

bool detail::iequals_bytes(const char* a, const char* b, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i] && lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool HttpHeaders::views_arena(std::string_view s) const noexcept {
  auto at = reinterpret_cast<std::uintptr_t>(s.data());
  auto base = reinterpret_cast<std::uintptr_t>(text_.data());
  return at >= base && at < base + text_.size();
}

void HttpHeaders::add(std::string_view name, std::string_view value) {
  // The usual field fits the room there is: copied in, with nothing of the
  // growing below on this path (tools/profile: about 60 instructions
  // fewer a request, most of them saved registers). Room that is not
  // grown stays where the views of it point, and a field is copied past
  // the end, so a view of this arena is copied right.
  std::size_t at = text_.size();
  std::size_t n = name.size() + value.size();
  if (at + n > text_.capacity() || slots_.size() == slots_.capacity()) {
    add_growing(name, value);
    return;
  }
  char* out = text_.extend_uninitialized(n);
  detail::copy_short(out, name.data(), name.size());
  detail::copy_short(out + name.size(), value.data(), value.size());
  slots_.push_back(Slot{static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(name.size()),
                        static_cast<std::uint32_t>(value.size())});
}

[[gnu::noinline]] void HttpHeaders::add_growing(std::string_view name, std::string_view value) {
  std::size_t at = text_.size();
  std::size_t n = name.size() + value.size();
  if (at + n > UINT32_MAX) throw std::length_error("HttpHeaders: too large");
  // Either may view our own arena (copying a field). Only growing moves the
  // arena; then note where in it they are first. The copy goes past `at`,
  // so it never overlaps what it copies.
  std::size_t name_off = SIZE_MAX;
  std::size_t value_off = SIZE_MAX;
  if (at + n > text_.capacity()) {
    if (views_arena(name)) name_off = static_cast<std::size_t>(name.data() - text_.data());
    if (views_arena(value)) value_off = static_cast<std::size_t>(value.data() - text_.data());
  }
  char* out = text_.extend_uninitialized(n);
  const char* base = text_.data();
  std::memcpy(out, name_off == SIZE_MAX ? name.data() : base + name_off, name.size());
  std::memcpy(out + name.size(), value_off == SIZE_MAX ? value.data() : base + value_off, value.size());
  slots_.push_back(Slot{static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(name.size()),
                        static_cast<std::uint32_t>(value.size())});
}

void HttpHeaders::set(std::string_view name, std::string_view value) {
  if (count(name) == 0) {
    add(name, value);
    return;
  }
  if (views_arena(name) || views_arena(value)) {
    // remove() rewrites the arena these view: copy them out first.
    HttpHeaders copy;
    copy.add(name, value);
    remove(name);
    Field f = copy[0];
    add(f.first, f.second);
    return;
  }
  remove(name);
  add(name, value);
}

std::optional<std::string_view> HttpHeaders::get(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < size(); ++i) {
    Field f = (*this)[i];
    if (iequals(f.first, name)) return f.second;
  }
  return std::nullopt;
}

std::vector<std::string_view> HttpHeaders::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < size(); ++i) {
    Field f = (*this)[i];
    if (iequals(f.first, name)) out.push_back(f.second);
  }
  return out;
}

std::size_t HttpHeaders::count(std::string_view name) const noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < size(); ++i) n += iequals((*this)[i].first, name) ? 1 : 0;
  return n;
}

bool HttpHeaders::has_token(std::string_view name, std::string_view token) const noexcept {
  for (std::size_t i = 0; i < size(); ++i) {
    auto [n, v] = (*this)[i];
    if (!iequals(n, name)) continue;
    bool found = !detail::for_each_list_item(v, [&](std::string_view item) { return !iequals(item, token); });
    if (found) return true;
  }
  return false;
}

std::size_t HttpHeaders::remove(std::string_view name) {
  // Compacting rewrites the arena: a name that views it (h.remove(h[0].first))
  // is looked for as a copy.
  if (views_arena(name)) return remove(std::string(name));
  // Fields sit in the arena in slot order, so the survivors compact leftwards
  // in place.
  std::size_t kept = 0;
  std::uint32_t write_at = 0;
  char* text = text_.data();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot s = slots_[i];
    if (iequals(std::string_view(text + s.name_at, s.name_len), name)) continue;
    std::uint32_t len = s.name_len + s.value_len;
    if (write_at != s.name_at) std::memmove(text + write_at, text + s.name_at, len);
    slots_[kept++] = Slot{write_at, s.name_len, s.value_len};
    write_at += len;
  }
  std::size_t removed = slots_.size() - kept;
  slots_.resize_down(kept);
  text_.resize_down(write_at);
  return removed;
}

void HttpHeaders::clear() noexcept {
  text_.clear_and_trim(kKeptTextBytes);
  slots_.clear_and_trim(kKeptSlots);
}

}  // namespace sluice
