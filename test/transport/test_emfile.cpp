// Running out of file descriptors: the server neither dies nor spins, keeps
// serving the connections it has, and accepts again once descriptors free up.
// The server runs in a child process (the sample echo server) with a low
// RLIMIT_NOFILE, so the test process keeps its own limit.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <regex>
#include <vector>

#include "support/sanitizers.hpp"
#include "support/test_support.hpp"

using sluice::test::BlockingClient;
using sluice::test::wait_until;

namespace {

struct ChildServer {
  pid_t pid = -1;
  int log_fd = -1;
  std::uint16_t port = 0;
  std::string log;

  explicit ChildServer(rlim_t fd_limit) {
    int pipefd[2];
    REQUIRE(::pipe2(pipefd, O_CLOEXEC) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      rlimit rl{fd_limit, fd_limit};
      ::setrlimit(RLIMIT_NOFILE, &rl);
      ::dup2(pipefd[1], 2);
      const char* argv[] = {SLUICE_ECHO_BINARY, "--host", "127.0.0.1", "--port", "0", "--loops", "1", nullptr};
      ::execv(argv[0], const_cast<char* const*>(argv));
      ::_exit(127);
    }
    ::close(pipefd[1]);
    log_fd = pipefd[0];
    ::fcntl(log_fd, F_SETFL, O_NONBLOCK);
    std::regex port_line("port ([0-9]+)");
    bool found = wait_until([&] {
      char buf[4096];
      ssize_t n = ::read(log_fd, buf, sizeof buf);
      if (n > 0) log.append(buf, static_cast<std::size_t>(n));
      std::smatch m;
      if (std::regex_search(log, m, port_line)) {
        port = static_cast<std::uint16_t>(std::stoi(m[1]));
        return true;
      }
      return false;
    });
    INFO(log);
    REQUIRE(found);
  }
  bool alive() const { return ::kill(pid, 0) == 0 && ::waitpid(pid, nullptr, WNOHANG) == 0; }
  ~ChildServer() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      // Its stderr to the end (the pipe closes when it exits): a sanitizer
      // report there fails the test.
      ::fcntl(log_fd, F_SETFL, 0);
      char buf[4096];
      ssize_t n;
      while ((n = ::read(log_fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) log.append(buf, static_cast<std::size_t>(n));
      }
      ::waitpid(pid, nullptr, 0);
    }
    if (log_fd >= 0) ::close(log_fd);
    std::string report = sluice::test::sanitizer_report(log);
    if (!report.empty()) FAIL_CHECK("sluice-echo reported:\n" << report);
  }
};

}  // namespace

TEST_CASE("out of descriptors: the server keeps serving and recovers") {
  sluice::test::raise_fd_limit();
  ChildServer server(64);

  BlockingClient established(server.port);
  established.send_all("before");
  REQUIRE(established.recv_exact(6) == "before");

  // Far more connections than the child has descriptors for.
  std::vector<std::unique_ptr<BlockingClient>> flood;
  for (int i = 0; i < 300; ++i) {
    try {
      flood.push_back(std::make_unique<BlockingClient>(server.port));
    } catch (const std::exception&) {
      // the backlog may refuse some: that is fine
    }
  }
  REQUIRE(server.alive());
  // It did run out: the connections it had no descriptor for were shed
  // (libuv accepts and closes them with a reserved descriptor), which the
  // flood clients see as a close with no data.
  auto shed = [&] {
    std::vector<pollfd> fds;
    for (auto& c : flood) fds.push_back(pollfd{c->fd(), POLLIN | POLLRDHUP, 0});
    ::poll(fds.data(), fds.size(), 0);
    return std::count_if(fds.begin(), fds.end(), [](const pollfd& p) { return p.revents != 0; });
  };
  CHECK(wait_until([&] { return shed() > 0; }));
  // The connection it already had still works during the flood.
  established.send_all("during");
  CHECK(established.recv_exact(6) == "during");

  flood.clear();  // free the child's descriptors
  // It accepts and serves new connections again (it may take a moment to
  // notice the closes).
  bool recovered = wait_until([&] {
    try {
      BlockingClient fresh(server.port);
      fresh.send_all("after");
      return fresh.recv_exact(5, std::chrono::milliseconds(500)) == "after";
    } catch (const std::exception&) {
      return false;
    }
  }, std::chrono::seconds(30));
  CHECK(recovered);
  CHECK(server.alive());
  established.send_all("still");
  CHECK(established.recv_exact(5) == "still");
}
