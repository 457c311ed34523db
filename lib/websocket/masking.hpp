#pragma once
// Internal: the XOR mask of client frames (RFC 6455, section 5.3).

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::detail {

/// XORs `size` bytes with the 4-byte `key`, the key's first byte on
/// data[0]. Eight bytes a step: a 1 MiB message is unmasked in place in
/// the read buffer, so this runs on every byte a server receives.
inline void apply_mask(char* data, std::size_t size, const unsigned char key[4]) noexcept {
  std::uint32_t key32;
  std::memcpy(&key32, key, 4);
  std::uint64_t key64 = (static_cast<std::uint64_t>(key32) << 32) | key32;
  std::size_t i = 0;
  for (; size - i >= 8; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, 8);
    word ^= key64;
    std::memcpy(data + i, &word, 8);
  }
  for (; i < size; ++i) data[i] = static_cast<char>(data[i] ^ key[i & 3]);
}

/// A new masking key for each client frame, from a per-thread xorshift
/// generator seeded by the kernel's entropy (getrandom). Fast rather than
/// cryptographic: the mask exists so that a browser's page cannot choose
/// the bytes a proxy sees, and sluice's client runs no untrusted page.
void next_mask_key(unsigned char key[4]) noexcept;

}  // namespace sluice::detail
