#pragma once
// A sample server (sluice-http, sluice-ws, ...) as a child process on
// 127.0.0.1, port 0: the port is read back from the line the sample logs once
// listening ("NAME on HOST port N"). Used from the test thread only.
// A sanitizer report on its stderr (a sanitizer build's samples are built
// so too) fails the test that ran it, whenever it came.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/sanitizers.hpp"
#include "support/test_support.hpp"

namespace sluice::test {

class ChildServer {
 public:
  /// Starts `binary --host 127.0.0.1 --port 0 extra_args...` and waits for
  /// "`name` on ... port N" in its log. Its stdout (an access log, if on)
  /// goes to `stdout_path`, or nowhere when that is empty.
  ChildServer(const std::string& binary, const std::string& name, const std::vector<std::string>& extra_args,
              const std::string& stdout_path = "")
      : binary_(binary) {
    std::vector<std::string> args{binary, "--host", "127.0.0.1", "--port", "0"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int pipefd[2];
    REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    REQUIRE(devnull >= 0);
    int out = stdout_path.empty() ? devnull : ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(out >= 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(devnull, 0);
      ::dup2(out, 1);
      ::dup2(pipefd[1], 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(pipefd[1]);
    if (out != devnull) ::close(out);
    ::close(devnull);
    log_fd_ = pipefd[0];
    // Drain stderr for the child's whole life so it never blocks on a full pipe.
    reader_ = std::thread([this] {
      char buf[4096];
      while (true) {
        ssize_t n = ::read(log_fd_, buf, sizeof buf);
        if (n > 0) {
          std::lock_guard<std::mutex> lock(mutex_);
          log_.append(buf, static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          break;
        }
      }
    });
    std::regex port_line(name + " on \\S+ port ([0-9]+)");
    bool found = wait_until([&] {
      std::string text = log();
      std::smatch m;
      if (std::regex_search(text, m, port_line)) {
        port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
        return true;
      }
      return exited();
    });
    // No destructor runs for a constructor that fails, and a joinable
    // std::thread destroyed would end the whole run (std::terminate).
    if (!found || port_ == 0) stop();
    INFO(binary << " log:\n" << log());
    REQUIRE(found);
    REQUIRE(port_ != 0);
  }
  ~ChildServer() {
    stop();
    ::close(log_fd_);
    std::string report = sanitizer_report(log_);
    if (!report.empty()) FAIL_CHECK(binary_ << " reported:\n" << report);
  }
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  /// Its stderr so far (thread safe: a reader thread appends to it).
  std::string log() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return log_;
  }
  bool exited() {
    if (reaped_) return true;
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
    return reaped_;
  }
  /// SIGTERM, then waits for the exit; true when it exited with status 0.
  bool terminate_gracefully(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    if (!reaped_) ::kill(pid_, SIGTERM);
    bool done = wait_until([&] { return exited(); }, timeout);
    if (!done) return false;
    return WIFEXITED(status_) && WEXITSTATUS(status_) == 0;
  }

 private:
  std::string binary_;
  /// Kills it unless it has exited, reaps it, and waits for the reader to
  /// collect the rest of its stderr.
  void stop() noexcept {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      reaped_ = true;
    }
    if (reader_.joinable()) reader_.join();
  }

  pid_t pid_ = -1;
  int log_fd_ = -1;
  std::uint16_t port_ = 0;
  int status_ = 0;
  bool reaped_ = false;
  mutable std::mutex mutex_;
  std::string log_;
  std::thread reader_;
};

}  // namespace sluice::test
