#pragma once
// Internal: copying the short strings an HTTP head is made of (a field's
// name and value, the server's name) without a call.
//
// memcpy with a size known only at run time is a call into libc, and
// around it the caller saves and restores the registers it holds: about
// 16 instructions for a 10-byte copy where two loads and two stores do
// (tools/profile /plaintext pipelined x16: about 50 instructions a request
// over the head's fields and the request's Host field).

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::detail {

/// Copies `n` bytes, sizeof(Word) <= n <= 2 * sizeof(Word), as the first
/// and the last Word (overlapping in the middle when n is less than two).
template <class Word>
inline void copy_ends(char* out, const char* in, std::size_t n) noexcept {
  Word head;
  Word tail;
  std::memcpy(&head, in, sizeof(Word));
  std::memcpy(&tail, in + n - sizeof(Word), sizeof(Word));
  std::memcpy(out, &head, sizeof(Word));
  std::memcpy(out + n - sizeof(Word), &tail, sizeof(Word));
}

/// Copies `n` bytes from `in` to `out` (not overlapping). Up to 16 bytes
/// as two fixed-size moves; longer by memcpy.
inline void copy_short(char* out, const char* in, std::size_t n) noexcept {
  if (n > 16) {
    std::memcpy(out, in, n);
  } else if (n >= 8) {
    copy_ends<std::uint64_t>(out, in, n);
  } else if (n >= 4) {
    copy_ends<std::uint32_t>(out, in, n);
  } else if (n != 0) {  // 1 to 3 bytes: the first, the middle and the last
    out[0] = in[0];
    out[n / 2] = in[n / 2];
    out[n - 1] = in[n - 1];
  }
}

}  // namespace sluice::detail
