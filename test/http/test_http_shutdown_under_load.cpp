// Graceful shutdown under load loses nothing: the sample server (with its
// access log on) is sent SIGTERM while pipelining and keep-alive clients are
// busy on it. Every request the server handled (one access-log line each)
// reached its client whole; each connection then ends with a clean FIN
// (never a reset, never half a response), after an answer that says
// Connection: close or between answers, so a client may safely retry what
// was not answered.

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http/routes.hpp"
#include "support/child_server.hpp"
#include "support/http_responses.hpp"
#include "support/test_support.hpp"

namespace {

using sluice::test::BlockingClient;
using sluice::test::ChildServer;
using sluice::test::Response;

/// How one client connection ended, and what it saw on the way.
struct Outcome {
  enum class End { running, eof, reset, timeout, refused };
  End end = End::running;
  std::size_t sent = 0;      // requests written
  std::size_t answered = 0;  // whole responses read
  bool told_to_close = false;  // an answer said Connection: close
  std::string problem;       // the first thing that broke a rule, if any
  std::string describe() const {
    static const char* names[] = {"running", "eof", "reset", "timeout", "refused"};
    std::ostringstream out;
    out << names[static_cast<int>(end)] << " after " << answered << "/" << sent << " answers";
    if (told_to_close) out << ", the last with Connection: close";
    if (!problem.empty()) out << ": " << problem;
    return out.str();
  }
};

/// One connection sending batches of `depth` requests (1: keep-alive one at
/// a time; more: pipelined) and reading their answers, until the server
/// ends the connection.
class LoadClient {
 public:
  LoadClient(std::uint16_t port, std::size_t depth, std::string request, std::string expected_body,
             std::atomic<std::size_t>& answered_total)
      : port_(port),
        depth_(depth),
        request_(std::move(request)),
        expected_body_(std::move(expected_body)),
        answered_total_(answered_total) {
    thread_ = std::thread([this] { run(); });
  }
  ~LoadClient() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  const Outcome& outcome() const { return outcome_; }

 private:
  void run() {
    std::unique_ptr<BlockingClient> client;
    try {
      client = std::make_unique<BlockingClient>(port_);
    } catch (const std::exception&) {
      outcome_.end = Outcome::End::refused;  // the server stopped listening first
      return;
    }
    std::string batch;
    for (std::size_t i = 0; i < depth_; ++i) batch += request_;
    std::string pending;  // bytes read but not yet a whole response
    bool& closing = outcome_.told_to_close;
    while (outcome_.end == Outcome::End::running) {
      if (!closing) {
        if (::send(client->fd(), batch.data(), batch.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(batch.size())) {
          // The server may close between batches; its FIN shows up in the read below.
          if (errno != EPIPE && errno != ECONNRESET) fail("send: " + std::string(std::strerror(errno)));
        } else {
          outcome_.sent += depth_;
        }
      }
      std::size_t want = outcome_.answered + depth_;
      while (outcome_.end == Outcome::End::running && (closing || outcome_.answered < want)) {
        read_some(*client, pending);
        Response r;
        for (std::size_t used; (used = sluice::test::parse_response(pending, r)) != 0;) {
          pending.erase(0, used);
          if (closing) fail("an answer after the one that said Connection: close");
          if (r.status != 200 || r.body != expected_body_) fail("answer " + std::to_string(r.status) + " " + r.body);
          ++outcome_.answered;
          answered_total_.fetch_add(1, std::memory_order_relaxed);
          closing = closing || r.closes();
        }
      }
    }
    if (!pending.empty()) fail("half an answer before the end: " + pending.substr(0, 80));
    if (outcome_.end == Outcome::End::eof && outcome_.answered > outcome_.sent) fail("more answers than requests");
  }

  void read_some(BlockingClient& client, std::string& pending) {
    pollfd p{client.fd(), POLLIN, 0};
    int ready = ::poll(&p, 1, 30'000);  // a generous deadline for a live server
    if (ready == 0) {
      outcome_.end = Outcome::End::timeout;
      return;
    }
    char chunk[65536];
    ssize_t got = ::recv(client.fd(), chunk, sizeof chunk, 0);
    if (got > 0) {
      pending.append(chunk, static_cast<std::size_t>(got));
    } else if (got == 0) {
      outcome_.end = Outcome::End::eof;
    } else if (errno != EINTR) {
      outcome_.end = Outcome::End::reset;
      fail("recv: " + std::string(std::strerror(errno)));
    }
  }

  void fail(const std::string& what) {
    if (outcome_.problem.empty()) outcome_.problem = what;
  }

  std::uint16_t port_;
  std::size_t depth_;
  std::string request_;
  std::string expected_body_;
  std::atomic<std::size_t>& answered_total_;
  Outcome outcome_;
  std::thread thread_;
};

std::size_t count_lines_with(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("sluice-http: SIGTERM under pipelined and keep-alive load answers every request it handled and closes "
          "cleanly",
          "[http][server][shutdown]") {
  char log_template[] = "/tmp/sluice-shutdown-access-XXXXXX";
  int log_fd = ::mkstemp(log_template);
  REQUIRE(log_fd >= 0);
  ::close(log_fd);
  const std::string access_log = log_template;

  std::vector<Outcome> outcomes;
  std::size_t answered_before_signal = 0;
  {
    ChildServer server(SLUICE_HTTP_BINARY, "sluice-http", {"--loops", "2", "--access-log"}, access_log);
    const std::string get = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
    const std::string body(4096, 'b');
    const std::string post = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body;
    // Sieves on the thread pool: answers that take a while, so requests are
    // in flight when the signal comes.
    const std::string compute = "GET /compute?n=300000 HTTP/1.1\r\nHost: t\r\n\r\n";
    const std::string primes =
        "{\"n\":300000,\"primes_below_n\":" + std::to_string(sluice::sample::count_primes(300'000)) + "}";
    std::atomic<std::size_t> answered{0};
    std::vector<std::unique_ptr<LoadClient>> clients;
    for (int i = 0; i < 4; ++i) {
      clients.push_back(std::make_unique<LoadClient>(server.port(), 4, compute, primes, answered));
    }
    for (int i = 0; i < 4; ++i) {
      clients.push_back(std::make_unique<LoadClient>(server.port(), 16, get, "Hello, World!", answered));
      clients.push_back(std::make_unique<LoadClient>(server.port(), 8, post, body, answered));
      clients.push_back(std::make_unique<LoadClient>(server.port(), 1, get, "Hello, World!", answered));
      clients.push_back(std::make_unique<LoadClient>(server.port(), 1, post, body, answered));
    }
    // Load first, then the signal in the middle of it.
    REQUIRE(sluice::test::wait_until([&] { return answered.load() >= 5000; }, std::chrono::seconds(60)));
    answered_before_signal = answered.load();
    CHECK(server.terminate_gracefully());
    INFO("--- sluice-http log\n" << server.log());
    for (auto& c : clients) {
      c->join();
      outcomes.push_back(c->outcome());
    }
  }

  std::size_t answered_total = 0;
  std::size_t told_to_close = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const Outcome& o = outcomes[i];
    INFO("client " << i << ": " << o.describe());
    CHECK(o.end == Outcome::End::eof);
    CHECK(o.problem.empty());
    answered_total += o.answered;
    told_to_close += o.told_to_close ? 1 : 0;
  }
  // The sieve clients always have requests in flight: their last answers
  // carry Connection: close (the path where the shutdown waits for answers).
  CHECK(told_to_close > 0);
  // Every request the server handled was logged once, and reached its client.
  std::size_t handled = count_lines_with(access_log, "HTTP/1.1\" 200");
  INFO("answered before the signal: " << answered_before_signal);
  CHECK(handled == answered_total);
  CHECK(answered_total > answered_before_signal);
  std::remove(access_log.c_str());
}
