// ws-bench's WebSocket connections and the one epoll loop that runs them.

#pragma once

#include <liburing.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "measure.hpp"
#include "options.hpp"
#include "wire.hpp"

namespace ws_bench {

enum class State { connecting, handshaking, open, closed };

struct Connection {
  int fd = -1;
  State state = State::connecting;
  std::string key;        // Sec-WebSocket-Key
  std::string pending;    // received bytes not yet a whole frame (or handshake)
  std::string unsent;     // queued for send_queued(), or what the socket did not take yet
  std::string fragments;  // a fragmented message so far
  std::uint8_t fragments_opcode = 0;
  bool ready = false;  // done opening (handshake and the mode's first exchange)
  std::uint64_t sent_at = 0;
  std::uint16_t close_code = 0;  // the server's, when it closed
};

// Opens WebSocket connections (at most --window at a time), runs the epoll
// loop, and hands each whole message to the mode. Modes override the hooks.
// One thread: nothing here may be used from another.
class Client {
 public:
  explicit Client(const Options& options);
  virtual ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Opens `count` connections to `path`; returns once each is ready (the
  // mode called mark_ready) or fails the run.
  void open_all(std::size_t count, const std::string& path);

  // Runs the loop until done() or the deadline (CLOCK_MONOTONIC ns); returns done().
  bool run_until(const std::function<bool()>& done, std::uint64_t deadline);

  void run_for(double seconds);

  std::size_t closed() const { return closed_; }
  // How the client reaches the kernel: "io_uring" or "syscalls".
  const char* io() const { return uring_ ? "io_uring" : "syscalls"; }

  // How busy the client was since `since` (its CPU time then, and the time
  // then), in % of its CPU. Spinning, the CPU is always in use: what counts
  // is the share of polls that found work, so a client near 100 set the pace.
  struct BusyMark {
    double cpu_s;
    std::uint64_t idle_ns;
    std::uint64_t at_ns;
  };
  BusyMark busy_mark() const { return {cpu_seconds(), idle_ns_, now_ns()}; }
  double busy_pct(const BusyMark& since) const;
  std::size_t count() const { return connections_.size(); }
  Connection& connection(std::size_t i) { return connections_[i]; }

 protected:
  virtual void on_open(Connection& c) = 0;
  virtual void on_message(Connection& c, std::uint8_t opcode, std::string_view payload) = 0;
  // Readiness on a descriptor a mode registered itself (watch_other).
  virtual void on_other(std::uint32_t /*events*/) {}

  void mark_ready(Connection& c);

  void send(Connection& c, std::string_view bytes);

  std::uint32_t random_mask() { return static_cast<std::uint32_t>(random_()); }

  static constexpr std::uint64_t kOtherId = ~std::uint64_t{0};
  void watch_other(int fd, std::uint32_t events, int op);

  const Options& options_;

 private:
  void start_more();

  void start(std::size_t i);

  void watch(Connection& c, std::uint32_t events, int op);

  void dispatch(const epoll_event& event);

  void connected(Connection& c);

  // The socket had room again (EPOLLOUT): sends what it did not take.
  void flush(Connection& c);

  // System calls cost as much as a server's on this machine, and a client
  // that made one per send and per receive would set the pace for a server
  // that makes fewer: so each poll's receives go to the kernel in one
  // io_uring call, and the sends they make in another.
  //
  // One recv per readiness (level-triggered: the rest comes on the next
  // wait), each into its own slot of a scratch area shared by all
  // connections; only a partial frame is kept per connection, so 10,000
  // idle ones hold no buffers.
  void receive_all(const epoll_event* events, int n);
  void received(Connection& c, long got, std::string_view data);
  // Sends what send() queued since the last call, in one io_uring call per
  // kRingEntries connections.
  void send_queued();
  // The kernel took `result` bytes of c.unsent (or failed: -errno).
  void sent(Connection& c, int result);
  void submit_and_wait(unsigned count);
  io_uring_cqe* next_cqe();

  // Handles every whole handshake or frame at the start of `data`; returns the bytes used.
  std::size_t consume(Connection& c, std::string_view data);

  void check_handshake(const Connection& c, std::string_view head);

  void handle_frame(Connection& c, const FrameHeader& frame, std::string_view payload);

  // A connection the server ended. While opening it fails the run; once
  // measuring it is counted and reported (a slow-consumer policy may do it).
  void lost(Connection& c, const std::string& why);

 protected:
  std::string first_loss_;

 private:
  int epoll_ = -1;
  sockaddr_in server_{};
  std::string path_;
  std::vector<Connection> connections_;
  std::size_t next_ = 0;     // the next connection to start
  std::size_t opening_ = 0;  // started, not ready
  std::size_t ready_ = 0;
  std::size_t closed_ = 0;
  std::uint64_t idle_ns_ = 0;  // spinning: time in polls that found nothing
  static constexpr unsigned kRingEntries = 256;
  static constexpr std::size_t kSlotBytes = 16 * 1024;
  io_uring ring_{};
  bool uring_ = false;  // else a system call for each send and receive
  std::vector<char> scratch_;          // kRingEntries slots of kSlotBytes
  std::vector<std::size_t> to_send_;  // connections whose unsent waits for send_queued()
  std::mt19937_64 random_;
};

}  // namespace ws_bench
