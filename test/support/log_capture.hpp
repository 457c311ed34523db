#pragma once
// Reading what the loggers wrote, for the logging tests: a sink that keeps
// its lines, a log file's lines, and the status of a combined-format line.

#include <spdlog/sinks/base_sink.h>

#include <filesystem>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace sluice::test {

// Keeps the lines logged to it; read from the test thread while loops write.
class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

inline std::vector<std::string> file_lines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// The status of a combined-format line: the number after the quoted request.
inline int combined_status(const std::string& line) {
  static const std::regex status(R"(\] "[^"]*" (\d{3}) )");
  std::smatch m;
  return std::regex_search(line, m, status) ? std::stoi(m[1]) : 0;
}

}  // namespace sluice::test
