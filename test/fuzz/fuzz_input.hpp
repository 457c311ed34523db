#pragma once
// What every fuzz target reads from its input, and how it reports a broken
// invariant. An input is a few settings bytes (the target's options, and
// where to cut the data into reads) followed by the data itself, so a seed
// stays readable: "\x01\x03\x00\x07GET / HTTP/1.1\r\n...".

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::fuzz {

/// Reads an input front to back. A settings byte past the end reads as 0,
/// so every input, even an empty one, is a valid one.
class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) noexcept
      : rest_(reinterpret_cast<const char*>(data), size) {}

  std::uint8_t byte() noexcept {
    if (rest_.empty()) return 0;
    auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  std::uint16_t u16() noexcept {
    std::uint16_t high = byte();
    return static_cast<std::uint16_t>((high << 8) | byte());
  }
  /// Up to `n` bytes.
  std::string_view bytes(std::size_t n) noexcept {
    std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(out.size());
    return out;
  }
  /// Everything not read yet.
  std::string_view rest() noexcept { return bytes(rest_.size()); }
  bool empty() const noexcept { return rest_.empty(); }

 private:
  std::string_view rest_;
};

/// Where to cut the data into socket reads, from three settings bytes: how
/// many cuts (0-15; 16 and up: every byte a read of its own) and a seed for
/// where. Targets feed the same data once whole and once cut, and check
/// that both give the same result.
class Cuts {
 public:
  static Cuts read(FuzzInput& in) noexcept {
    Cuts c;
    c.count_ = in.byte() % 32;
    c.seed_ = in.u16();
    return c;
  }

  /// `data` as one read (none when it is empty).
  static std::vector<std::string_view> whole(std::string_view data) {
    if (data.empty()) return {};
    return {data};
  }

  /// The reads `data` arrives in, none empty (a socket never reads nothing).
  std::vector<std::string_view> apply(std::string_view data) const {
    std::vector<std::string_view> pieces;
    if (count_ >= 16) {
      for (std::size_t i = 0; i < data.size(); ++i) pieces.push_back(data.substr(i, 1));
      return pieces;
    }
    std::vector<std::size_t> at;
    std::uint32_t state = 0x9E3779B9u ^ seed_;
    for (unsigned i = 0; i < count_; ++i) {
      // xorshift32: cheap, and the same cuts for the same seed everywhere.
      state ^= state << 13;
      state ^= state >> 17;
      state ^= state << 5;
      at.push_back(state % (data.size() + 1));
    }
    at.push_back(data.size());
    std::sort(at.begin(), at.end());
    std::size_t from = 0;
    for (std::size_t cut : at) {
      if (cut > from) pieces.push_back(data.substr(from, cut - from));
      from = cut;
    }
    return pieces;
  }

 private:
  unsigned count_ = 0;
  std::uint16_t seed_ = 0;
};

/// A broken invariant: says which and what was seen, then aborts, which
/// libFuzzer reports as a crash (and saves the input).
[[noreturn]] inline void broken(const char* invariant, std::string_view detail = {}) {
  std::fprintf(stderr, "\n*** invariant broken: %s\n", invariant);
  if (!detail.empty()) std::fprintf(stderr, "%.*s\n", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

/// `bytes` with control and non-ASCII bytes escaped, for a report.
inline std::string printable(std::string_view bytes, std::size_t max = 2000) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u >= 0x7f || c == '\\') {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  if (bytes.size() > max) out += "...";
  return out;
}

}  // namespace sluice::fuzz
