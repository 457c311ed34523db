#pragma once
// Internal: the two bits of HTTP field syntax every part of lib/http needs,
// written once: optional whitespace (SP / HTAB) trimming and comma-separated
// list items (RFC 9110 5.6.1).

#include <cstring>
#include <string_view>

namespace sluice::detail {

/// `text` without leading and trailing SP / HTAB.
inline std::string_view trim_ows(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

/// Calls `fn(item)` for each comma-separated item of `list`, trimmed, empty
/// ones included ("a, ,b" gives "a", "", "b"); stops early, returning false,
/// when `fn` returns false.
template <class Fn>
bool for_each_list_item(std::string_view list, Fn fn) {
  for (;;) {
    std::size_t comma = list.find(',');
    if (!fn(trim_ows(list.substr(0, comma)))) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

/// A tchar of RFC 9110 5.6.2 (the characters of a token).
inline bool is_token_char(char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

}  // namespace sluice::detail
