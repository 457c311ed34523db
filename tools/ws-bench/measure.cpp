#include "measure.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "options.hpp"

namespace ws_bench {

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double process_cpu_seconds(long pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::size_t name_end = stat.rfind(')');
  if (name_end == std::string::npos) fail("cannot read /proc/" + std::to_string(pid) + "/stat: has the server exited?");
  // After the command name: field 3 (state) first; utime and stime are fields 14 and 15.
  std::vector<std::string> fields;
  std::size_t at = name_end + 2;
  while (at < stat.size() && fields.size() < 13) {
    std::size_t end = stat.find(' ', at);
    fields.push_back(stat.substr(at, end - at));
    at = end == std::string::npos ? stat.size() : end + 1;
  }
  if (fields.size() < 13) fail("a short /proc/" + std::to_string(pid) + "/stat");
  double ticks = std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::uint64_t rss_bytes(long pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  fail("no VmRSS for pid " + std::to_string(pid) + ": has the server exited?");
}

void Result::add(const std::string& key, double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  fields_.emplace_back(key, text);
}

void Result::print(bool json) const {
  std::string line = json ? "{" : "ws-bench:";
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const auto& [key, value] = fields_[i];
    if (json) {
      line += (i ? ", \"" : "\"") + key + "\": " + value;
    } else {
      bool quoted = value.front() == '"';
      line += " " + key + "=" + (quoted ? value.substr(1, value.size() - 2) : value);
    }
  }
  std::printf("%s%s\n", line.c_str(), json ? "}" : "");
}

void ServerCpu::add_to(Result& result, double messages) const {
  if (pid_ == 0) return;
  double cpu = process_cpu_seconds(pid_) - start_s_;
  double wall = static_cast<double>(now_ns() - start_ns_) / 1e9;
  result.add("server_cpu_pct", 100 * cpu / wall, 1);
  result.add("server_cpu_us_per_message", messages > 0 ? cpu * 1e6 / messages : 0, 2);
}

}  // namespace ws_bench
