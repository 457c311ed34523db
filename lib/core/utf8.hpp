#pragma once
// Internal: UTF-8 validation that can stop anywhere and go on, for text
// that arrives in pieces (a WebSocket message in fragments) or whole (a
// JSON string).

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::detail {

/// Checks bytes against RFC 3629 (no overlong forms, no surrogates, nothing
/// above U+10FFFF) as they come: feed() the pieces in order, then ask
/// complete(). Fails at the first byte that cannot start or continue a
/// valid sequence. Three bytes of state; any thread (one user at a time).
class Utf8Validator {
 public:
  /// False as soon as the text so far cannot be valid UTF-8.
  bool feed(const char* data, std::size_t size) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(data);
    std::size_t i = 0;
    while (i < size) {
      if (needed_ == 0) {
        i = skip_ascii(p, i, size);
        if (i == size) break;
        if (!start(p[i++])) return false;
      } else {
        unsigned char c = p[i++];
        if (c < low_ || c > high_) return false;
        low_ = 0x80;
        high_ = 0xBF;
        --needed_;
      }
    }
    return true;
  }
  /// Whether the text fed so far ends at a character boundary.
  bool complete() const noexcept { return needed_ == 0; }

  static bool valid(const char* data, std::size_t size) noexcept {
    Utf8Validator v;
    return v.feed(data, size) && v.complete();
  }

 private:
  // ASCII a word at a time: most text is ASCII, and eight bytes cost one
  // load and one test instead of eight of each.
  static std::size_t skip_ascii(const unsigned char* p, std::size_t i, std::size_t size) noexcept {
    while (size - i >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p + i, 8);
      if ((word & 0x8080808080808080ULL) != 0) break;
      i += 8;
    }
    while (i < size && p[i] < 0x80) ++i;
    return i;
  }
  // A lead byte: how many continuation bytes follow, and the range the
  // first of them must fall in (RFC 3629, section 4).
  bool start(unsigned char c) noexcept {
    if (c < 0xC2) return false;  // a continuation byte, or an overlong 2-byte form
    if (c < 0xE0) {
      needed_ = 1;
    } else if (c < 0xF0) {
      needed_ = 2;
      if (c == 0xE0) low_ = 0xA0;   // overlong
      if (c == 0xED) high_ = 0x9F;  // surrogates
    } else if (c < 0xF5) {
      needed_ = 3;
      if (c == 0xF0) low_ = 0x90;   // overlong
      if (c == 0xF4) high_ = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    return true;
  }

  std::uint8_t needed_ = 0;  // continuation bytes still to come
  std::uint8_t low_ = 0x80;  // the range of the next one
  std::uint8_t high_ = 0xBF;
};

}  // namespace sluice::detail
