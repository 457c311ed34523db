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

/// Copies `n` bytes from `in` to `out` (not overlapping). Up to 16 bytes
/// as two fixed-size moves that overlap in the middle; longer by memcpy.
inline void copy_short(char* out, const char* in, std::size_t n) noexcept {
  if (n > 16) {
    std::memcpy(out, in, n);
  } else if (n >= 8) {
    std::uint64_t head;
    std::uint64_t tail;
    std::memcpy(&head, in, 8);
    std::memcpy(&tail, in + n - 8, 8);
    std::memcpy(out, &head, 8);
    std::memcpy(out + n - 8, &tail, 8);
  } else if (n >= 4) {
    std::uint32_t head;
    std::uint32_t tail;
    std::memcpy(&head, in, 4);
    std::memcpy(&tail, in + n - 4, 4);
    std::memcpy(out, &head, 4);
    std::memcpy(out + n - 4, &tail, 4);
  } else if (n != 0) {  // 1 to 3 bytes: the first, the middle and the last
    out[0] = in[0];
    out[n / 2] = in[n / 2];
    out[n - 1] = in[n - 1];
  }
}

}  // namespace sluice::detail
