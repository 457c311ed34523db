#pragma once
// Which sanitizer this test build runs under, for the few checks that must
// know: GCC defines __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, clang (14)
// answers __has_feature instead.
//   SLUICE_TEST_ASAN  AddressSanitizer (its quarantine keeps freed memory)
//   SLUICE_TEST_TSAN  ThreadSanitizer (shadow memory per byte touched; code
//                     runs 5-15 times slower)

#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_TEST_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define SLUICE_TEST_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(SLUICE_TEST_ASAN)
#define SLUICE_TEST_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(SLUICE_TEST_TSAN)
#define SLUICE_TEST_TSAN 1
#endif
#endif

#include <regex>
#include <string>

namespace sluice::test {

/// The first sanitizer report in a child process's stderr (a sample server
/// built with the tests' sanitizer reports there, not in the test's own
/// output), from its first line on; "" when there is none.
inline std::string sanitizer_report(const std::string& log) {
  static const std::regex start("(WARNING|ERROR|SUMMARY): [A-Za-z]+Sanitizer|:[0-9]+:[0-9]+: runtime error: ");
  std::smatch m;
  if (!std::regex_search(log, m, start)) return {};
  std::size_t line = log.rfind('\n', static_cast<std::size_t>(m.position(0)));
  return log.substr(line == std::string::npos ? 0 : line + 1, 16 * 1024);
}

}  // namespace sluice::test
