#pragma once
// A small command-line reader for the samples and tools: "--name value" and
// "--switch" flags, with usage errors that print the help text.

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>

namespace sluice::cli {

/// Walks argv; each flag's handler asks for its value with value()/number().
class Flags {
 public:
  Flags(int argc, char** argv, const char* program, std::string usage)
      : argc_(argc), argv_(argv), program_(program), usage_(std::move(usage)) {}

  /// The next flag, or false at the end. "--help"/"-h" prints usage and exits.
  bool next(std::string& flag) {
    if (++index_ >= argc_) return false;
    flag = argv_[index_];
    if (flag == "--help" || flag == "-h") {
      std::cout << usage_;
      std::exit(0);
    }
    return true;
  }
  std::string value() {
    if (index_ + 1 >= argc_) fail(std::string(argv_[index_]) + " needs a value");
    return argv_[++index_];
  }
  std::uint64_t number(std::uint64_t max = UINT64_MAX) {
    std::string flag = argv_[index_];
    std::string text = value();
    char* end = nullptr;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || text[0] == '-') fail(flag + ": not a whole number: " + text);
    if (v > max) fail(flag + ": at most " + std::to_string(max));
    return v;
  }
  [[noreturn]] void fail(const std::string& message) const {
    std::cerr << program_ << ": " << message << "\n\n" << usage_;
    std::exit(2);
  }
  [[noreturn]] void unknown(const std::string& flag) const { fail("unknown option " + flag); }

 private:
  int argc_;
  char** argv_;
  const char* program_;
  std::string usage_;
  int index_ = 0;
};

}  // namespace sluice::cli
