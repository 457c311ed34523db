// --mode broadcast: fan-out to /ws/push subscribers from a closed-loop publisher (see modes.hpp).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "client.hpp"
#include "histogram.hpp"
#include "measure.hpp"
#include "modes.hpp"

namespace ws_bench {

namespace {

constexpr std::uint64_t kDrainTimeoutNs = 5 * kNsPerS;
constexpr std::string_view kTopic = "bench";

// The one keep-alive HTTP connection that publishes, blocking on connect
// (it is made once) and non-blocking after.
class Publisher {
 public:
  void connect_to(const Options& o) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(o.port);
    inet_pton(AF_INET, o.host.c_str(), &server.sin_addr);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) {
      fail(errno_text("publisher connect"));
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
    head_ = "POST /publish/" + std::string(kTopic) + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
            "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(o.size) + "\r\n\r\n";
    padding_.assign(o.size - kTimestampDigits, 'x');
  }
  int fd() const { return fd_; }

  // Sends one publish whose body starts with the time now.
  void publish() {
    char stamp[kTimestampDigits + 1];
    std::snprintf(stamp, sizeof stamp, "%020" PRIu64, now_ns());
    std::string request = head_;
    request.append(stamp, kTimestampDigits).append(padding_);
    unsent_ += request;
    flush();
  }
  bool flush() {
    while (!unsent_.empty()) {
      ssize_t sent = ::send(fd_, unsent_.data(), unsent_.size(), MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EAGAIN) return false;
        fail(errno_text("publisher send"));
      }
      unsent_.erase(0, static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Reads what arrived; returns how many whole answers (each must be a 200).
  std::size_t read_answers() {
    char buffer[16 * 1024];
    ssize_t got = recv(fd_, buffer, sizeof buffer, 0);
    if (got == 0) fail("the server closed the publishing connection");
    if (got < 0) {
      if (errno == EAGAIN) return 0;
      fail(errno_text("publisher recv"));
    }
    received_.append(buffer, static_cast<std::size_t>(got));
    std::size_t answers = 0;
    for (std::size_t size; (size = whole_answer()) != 0; ++answers) {
      if (!received_.starts_with("HTTP/1.1 200")) {
        fail("POST /publish answered `" + received_.substr(0, received_.find("\r\n")) + "`");
      }
      received_.erase(0, size);
    }
    return answers;
  }

 private:
  // The size of the whole answer at the start of received_, or 0.
  std::size_t whole_answer() const {
    std::size_t end = received_.find("\r\n\r\n");
    if (end == std::string::npos) return 0;
    std::string_view head(received_.data(), end);
    std::string_view length = header_value(head, "Content-Length");
    if (!length.empty()) {
      std::size_t body = 0;
      std::from_chars(length.data(), length.data() + length.size(), body);
      return received_.size() >= end + 4 + body ? end + 4 + body : 0;
    }
    if (!header_value(head, "Transfer-Encoding").empty()) {
      std::size_t last = received_.find("\r\n0\r\n\r\n", end);
      return last == std::string::npos ? 0 : last + 7;
    }
    return end + 4;
  }

  int fd_ = -1;
  std::string head_;
  std::string padding_;
  std::string unsent_;
  std::string received_;
};

class BroadcastBench final : public Client {
 public:
  using Client::Client;

  void run() {
    subscribe_ = masked_frame(kText, "subscribe " + std::string(kTopic), random_mask());
    open_all(options_.connections, "/ws/push");
    publisher_.connect_to(options_);
    watch_other(publisher_.fd(), EPOLLIN, EPOLL_CTL_ADD);
    publishing_ = true;
    publisher_.publish();
    run_for(options_.warmup_s);
    latency_.clear();
    std::uint64_t publishes_before = publishes_;
    std::uint64_t deliveries_before = deliveries_;
    BusyMark busy = busy_mark();
    ServerCpu server_cpu(options_.server_pid);
    std::uint64_t start = now_ns();
    measure_from_ = start;
    run_for(options_.duration_s);
    measure_to_ = now_ns();
    double client_busy = busy_pct(busy);
    double seconds = static_cast<double>(measure_to_ - start) / 1e9;
    std::uint64_t publishes = publishes_ - publishes_before;
    std::uint64_t deliveries = deliveries_ - deliveries_before;
    Result server;
    server_cpu.add_to(server, static_cast<double>(deliveries));
    // The latencies of the window's last publishes arrive while draining.
    std::uint64_t missing = drain();
    const Histogram& latency = latency_;

    Result r;
    r.add("mode", "broadcast");
    r.add("subscribers", static_cast<double>(count()));
    r.add("size", static_cast<double>(options_.size));
    r.add("seconds", seconds, 2);
    r.add("publishes", static_cast<double>(publishes));
    r.add("publishes_per_s", static_cast<double>(publishes) / seconds);
    r.add("deliveries_per_s", static_cast<double>(deliveries) / seconds);
    r.add("latency_p50_us", latency.percentile(0.50) / 1e3, 1);
    r.add("latency_p99_us", latency.percentile(0.99) / 1e3, 1);
    r.add("client_busy_pct", client_busy, 1);
    r.add("client_io", std::string(io()));
    r.append(server);
    r.add("missing", static_cast<double>(missing));
    r.add("closed", static_cast<double>(closed()));
    if (closed() != 0) r.add("first_close", first_loss_);
    r.print(options_.json);
  }

 private:
  void on_open(Connection& c) override { send(c, subscribe_); }

  void on_message(Connection& c, std::uint8_t opcode, std::string_view payload) override {
    if (!c.ready) {
      if (opcode != kText || payload != "subscribed " + std::string(kTopic)) {
        fail("`subscribe bench` answered with `" + std::string(payload.substr(0, 80)) + "`");
      }
      return mark_ready(c);
    }
    std::uint64_t sent = 0;
    auto [end, ec] = std::from_chars(payload.data(), payload.data() + std::min(payload.size(), kTimestampDigits), sent);
    if (opcode != kText || payload.size() != options_.size || ec != std::errc()) {
      fail("a pushed message that is not a publish body (" + std::to_string(payload.size()) + " bytes)");
    }
    ++deliveries_;
    if (sent >= measure_from_ && sent < measure_to_) latency_.record(now_ns() - sent);
  }

  void on_other(std::uint32_t events) override {
    if (events & EPOLLOUT && publisher_.flush()) watch_other(publisher_.fd(), EPOLLIN, EPOLL_CTL_MOD);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    std::size_t answers = publisher_.read_answers();
    publishes_ += answers;
    if (answers != 0 && publishing_) {
      publisher_.publish();
      if (!publisher_.flush()) watch_other(publisher_.fd(), EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    }
  }

  // Stops publishing and waits (up to kDrainTimeoutNs) for every publish to
  // reach every open subscriber; returns the deliveries still missing.
  std::uint64_t drain() {
    publishing_ = false;
    std::uint64_t answered = publishes_;
    run_until([&] { return publishes_ > answered; }, now_ns() + kDrainTimeoutNs);  // the one in flight
    auto expected = [&] { return publishes_ * (count() - closed()); };
    run_until([&] { return deliveries_ >= expected(); }, now_ns() + kDrainTimeoutNs);
    return deliveries_ >= expected() ? 0 : expected() - deliveries_;
  }

  std::string subscribe_;
  Publisher publisher_;
  bool publishing_ = false;
  std::uint64_t publishes_ = 0;   // answered with 200
  std::uint64_t deliveries_ = 0;  // publish bodies received, over all subscribers
  // Latencies count for publishes sent in [measure_from_, measure_to_).
  std::uint64_t measure_from_ = ~std::uint64_t{0};
  std::uint64_t measure_to_ = ~std::uint64_t{0};
  Histogram latency_;
};

}  // namespace

void run_broadcast(const Options& options) { BroadcastBench(options).run(); }

}  // namespace ws_bench
