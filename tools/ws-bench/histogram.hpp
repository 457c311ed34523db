// A latency histogram for ws-bench.

#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace ws_bench {

// Log-linear buckets: exact below 128 ns, then 64 per power of two (1.6%
// resolution), so millions of samples cost a fixed 32 KiB and a percentile
// is one pass instead of a sort.
class Histogram {
 public:
  void record(std::uint64_t ns) {
    ++counts_[index_of(ns)];
    ++total_;
  }
  void clear() {
    counts_.fill(0);
    total_ = 0;
  }
  std::uint64_t total() const { return total_; }
  // The value below which a fraction q of the samples lie (bucket midpoint), in ns.
  double percentile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return midpoint_of(i);
    }
    return midpoint_of(counts_.size() - 1);
  }

 private:
  static constexpr unsigned kSubBits = 6;  // 64 buckets per power of two
  static constexpr std::size_t kBuckets = 64 * 64;

  static std::size_t index_of(std::uint64_t ns) {
    if (ns < 2 * (1u << kSubBits)) return ns;
    unsigned shift = static_cast<unsigned>(std::bit_width(ns)) - 1 - kSubBits;
    return std::min<std::size_t>(kBuckets - 1, (std::size_t{1} << kSubBits) * shift + (ns >> shift));
  }
  static double midpoint_of(std::size_t index) {
    if (index < 2 * (1u << kSubBits)) return static_cast<double>(index);
    std::size_t shift = index / (1u << kSubBits) - 1;
    std::uint64_t top = index % (1u << kSubBits) + (1u << kSubBits);
    return static_cast<double>(top << shift) + static_cast<double>(std::uint64_t{1} << shift) / 2;
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
};

}  // namespace ws_bench
