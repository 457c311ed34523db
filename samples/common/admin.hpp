#pragma once
// The samples' admin listener flags: --admin-port and --admin-host.

#include <cstdint>
#include <string>

#include "common/flags.hpp"

namespace sluice::cli {

inline constexpr const char* kAdminUsage = R"(Operating it:
  --admin-port N              serve /metrics (Prometheus), /status (a live
                              page), /status.json and /debug/pprof/profile
                              (?seconds=N: a CPU profile for google-pprof) on
                              their own listener (0: a free port, logged);
                              off when not given
  --admin-host ADDR           the admin listener's address (default 127.0.0.1;
                              never the public port)
)";

/// `usage` with the admin flags' text before its "Other:" section (at the
/// end when it has none).
inline std::string with_admin_usage(std::string usage) {
  auto other = usage.find("\nOther:\n");
  std::size_t at = other == std::string::npos ? usage.size() : other + 1;
  usage.insert(at, std::string(kAdminUsage) + "\n");
  return usage;
}

struct AdminFlags {
  bool enabled = false;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;

  /// Takes `flag` if it is an admin flag.
  bool parse(const std::string& flag, Flags& flags) {
    if (flag == "--admin-port") {
      enabled = true;
      port = static_cast<std::uint16_t>(flags.number(65535));
      return true;
    }
    if (flag == "--admin-host") {
      host = flags.value();
      return true;
    }
    return false;
  }
};

}  // namespace sluice::cli
