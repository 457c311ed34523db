// --mode echo: closed-loop round trips on /ws/echo (see modes.hpp).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client.hpp"
#include "histogram.hpp"
#include "measure.hpp"
#include "modes.hpp"

namespace ws_bench {

namespace {

class EchoBench final : public Client {
 public:
  using Client::Client;

  void run() {
    payload_.resize(options_.size);
    for (std::size_t i = 0; i < payload_.size(); ++i) payload_[i] = static_cast<char>('a' + i % 26);
    frames_.resize(options_.connections);
    for (auto& frame : frames_) frame = masked_frame(kBinary, payload_, random_mask());
    open_all(options_.connections, "/ws/echo");
    // Every connection starts together: all are open before the first message.
    for (std::size_t i = 0; i < count(); ++i) send_next(connection(i));
    run_for(options_.warmup_s);
    latency_.clear();
    BusyMark busy = busy_mark();
    ServerCpu server_cpu(options_.server_pid);
    std::uint64_t start = now_ns();
    run_for(options_.duration_s);
    double seconds = static_cast<double>(now_ns() - start) / 1e9;
    double client_busy = busy_pct(busy);
    std::uint64_t messages = latency_.total();
    Result server;
    server_cpu.add_to(server, static_cast<double>(messages));

    Result r;
    r.add("mode", "echo");
    r.add("connections", static_cast<double>(count()));
    r.add("size", static_cast<double>(options_.size));
    r.add("seconds", seconds, 2);
    r.add("messages", static_cast<double>(messages));
    r.add("messages_per_s", static_cast<double>(messages) / seconds);
    r.add("rtt_p50_us", latency_.percentile(0.50) / 1e3, 1);
    r.add("rtt_p99_us", latency_.percentile(0.99) / 1e3, 1);
    r.add("client_busy_pct", client_busy, 1);
    r.add("client_io", std::string(io()));
    r.append(server);
    r.add("closed", static_cast<double>(closed()));
    if (closed() != 0) r.add("first_close", first_loss_);
    r.print(options_.json);
  }

 private:
  void on_open(Connection& c) override { mark_ready(c); }

  void on_message(Connection& c, std::uint8_t opcode, std::string_view payload) override {
    if (opcode != kBinary || payload != payload_) {
      fail("an echo that is not the message sent (opcode " + std::to_string(opcode) + ", " +
           std::to_string(payload.size()) + " bytes)");
    }
    latency_.record(now_ns() - c.sent_at);
    send_next(c);
  }

  void send_next(Connection& c) {
    c.sent_at = now_ns();
    send(c, frames_[static_cast<std::size_t>(&c - &connection(0))]);
  }

  std::string payload_;
  std::vector<std::string> frames_;  // each connection's, masked with its own key
  Histogram latency_;
};

}  // namespace

void run_echo(const Options& options) { EchoBench(options).run(); }

}  // namespace ws_bench
