// ws-bench: a WebSocket load generator for tools/ws-bench-compare.
//
// It measures any server with sluice-ws's endpoints (/ws/echo, /ws/push,
// POST /publish/:topic), so it must not share code with the library under
// test: plain sockets and one epoll loop on one thread. Run pinned to a CPU
// of its own; one thread that only parses frames stays well ahead of a
// server that also has to frame, copy and write them.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cctype>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

const char* kUsage = R"(usage: ws-bench --mode echo|broadcast|idle [options]

  --mode echo        N connections to /ws/echo, each in a closed loop: one
                     masked binary message of --size bytes, then wait for the
                     whole echo. Reports messages (round trips)/s and RTT.
  --mode broadcast   N connections to /ws/push subscribe to topic `bench`;
                     then one keep-alive HTTP connection POSTs /publish/bench
                     in a closed loop (the next after the 200), each body the
                     CLOCK_MONOTONIC ns it was sent (20 digits) padded to
                     --size. Reports publishes/s, deliveries/s and delivery
                     latency (receipt minus that timestamp).
  --mode idle        N connections to /ws/echo, each echoes one message and
                     then stays idle; once the RSS of --server-pid is stable,
                     reports its growth per connection.

  --host ADDR          server address (default 127.0.0.1)
  --port N             server port (default 8090)
  --connections N      connections (default 64 for echo, 10000 otherwise)
  --subscribers N      the same, for broadcast
  --size BYTES         message or publish body size (default 64)
  --duration SECONDS   measuring time after the warm-up (default 10)
  --warmup SECONDS     before measuring (default 1)
  --server-pid PID     the server process: idle mode reads its RSS; echo and
                       broadcast its CPU time over the measured window
  --window N           connections opening at once (default 256): a listen
                       backlog overflows if 10,000 SYNs come together
  --sources K          spread connections over source addresses 127.0.0.1..K
                       (default: one per 8,000 connections on a loopback host)
  --no-spin            sleep in epoll_wait when nothing is ready, instead of
                       polling without a timeout on the CPU ws-bench owns
  --json               print the result as one JSON object
  --help               this text

One result line on stdout; exit status 1 when the run could not be made
(refused connection, failed handshake, a connection closed while opening).
)";

// A port range per source address holds ~28k; TIME_WAIT sockets of earlier
// runs hold some, so stay well below it (tools/idle-conns does the same).
constexpr std::size_t kConnectionsPerSource = 8000;
constexpr std::size_t kTimestampDigits = 20;  // 2^64 ns in decimal
constexpr std::uint64_t kNsPerS = 1'000'000'000;
constexpr std::uint64_t kOpeningTimeoutNs = 120 * kNsPerS;
constexpr std::uint64_t kDrainTimeoutNs = 5 * kNsPerS;
constexpr std::size_t kMaxHandshakeBytes = 16 * 1024;
constexpr int kEpollBatch = 1024;
// sluice-ws closes at its --max-message-bytes (1 MiB); the client refuses
// larger ones so a broken length field cannot make it allocate without end.
constexpr std::uint64_t kMaxMessageBytes = 64 * 1024 * 1024;

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "ws-bench: %s\n", why.c_str());
  std::exit(1);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * kNsPerS + static_cast<std::uint64_t>(ts.tv_nsec);
}

// This process's CPU time (user + system) so far, in seconds.
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU seconds (user + system) of process `pid` and all its threads so far
// (/proc/PID/stat, in clock ticks: 10 ms steps, 0.1% of a 10 s window).
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

// The server's CPU over a window, when --server-pid names it: a server
// below 100% was waiting for the client, and its CPU per message is then
// the figure that compares servers.
class ServerCpu {
 public:
  explicit ServerCpu(long pid) : pid_(pid), start_s_(pid ? process_cpu_seconds(pid) : 0), start_ns_(now_ns()) {}
  void add_to(class Result& result, double messages) const;

 private:
  long pid_;
  double start_s_;
  std::uint64_t start_ns_;
};

// --- options ---------------------------------------------------------------------

enum class Mode { echo, broadcast, idle };

struct Options {
  Mode mode = Mode::echo;
  std::string host = "127.0.0.1";
  std::uint16_t port = 8090;
  std::size_t connections = 0;  // 0: the mode's default
  std::size_t size = 64;
  double duration_s = 10;
  double warmup_s = 1;
  long server_pid = 0;
  std::size_t window = 256;
  std::size_t sources = 0;  // 0: from the count
  bool json = false;
  bool spin = true;
};

std::uint64_t parse_number(const std::string& flag, const char* text, std::uint64_t max) {
  std::uint64_t value = 0;
  const char* end = text + std::strlen(text);
  auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || ptr != end || value > max) fail(flag + " wants a number up to " + std::to_string(max));
  return value;
}

double parse_seconds(const std::string& flag, const char* text) {
  char* end = nullptr;
  double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || value < 0 || value > 86400) fail(flag + " wants seconds (0 to 86400)");
  return value;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag == "--json") {
      o.json = true;
      continue;
    }
    if (flag == "--no-spin") {
      o.spin = false;
      continue;
    }
    if (i + 1 >= argc) fail("unknown flag or missing value: " + flag + " (see --help)");
    const char* value = argv[++i];
    if (flag == "--mode") {
      std::string_view m = value;
      if (m == "echo") o.mode = Mode::echo;
      else if (m == "broadcast") o.mode = Mode::broadcast;
      else if (m == "idle") o.mode = Mode::idle;
      else fail("--mode is echo, broadcast or idle");
    } else if (flag == "--host") {
      o.host = value;
    } else if (flag == "--port") {
      o.port = static_cast<std::uint16_t>(parse_number(flag, value, 65535));
    } else if (flag == "--connections" || flag == "--subscribers") {
      o.connections = parse_number(flag, value, 1'000'000);
    } else if (flag == "--size") {
      o.size = parse_number(flag, value, 16 * 1024 * 1024);
    } else if (flag == "--duration") {
      o.duration_s = parse_seconds(flag, value);
    } else if (flag == "--warmup") {
      o.warmup_s = parse_seconds(flag, value);
    } else if (flag == "--server-pid") {
      o.server_pid = static_cast<long>(parse_number(flag, value, 1u << 22));
    } else if (flag == "--window") {
      o.window = parse_number(flag, value, 1'000'000);
    } else if (flag == "--sources") {
      o.sources = parse_number(flag, value, 254);
    } else {
      fail("unknown flag " + flag + " (see --help)");
    }
  }
  if (o.connections == 0) o.connections = o.mode == Mode::echo ? 64 : 10000;
  if (o.size == 0 || o.window == 0) fail("--size and --window must be positive");
  if (o.mode == Mode::broadcast && o.size < kTimestampDigits) {
    fail("--size must hold the " + std::to_string(kTimestampDigits) + "-digit timestamp in broadcast mode");
  }
  if (o.mode == Mode::idle && o.server_pid == 0) fail("--mode idle needs --server-pid");
  if (o.sources == 0) {
    bool loopback = o.host.starts_with("127.");
    o.sources = loopback ? (o.connections + kConnectionsPerSource - 1) / kConnectionsPerSource : 1;
  }
  return o;
}

// --- latency histogram ------------------------------------------------------------

// Log-linear buckets: exact below 128 ns, then 64 per power of two (1.6%
// resolution), so millions of samples cost a fixed 32 KiB and a percentile
// is one pass instead of a sort.
class Histogram {
 public:
  void record(std::uint64_t ns) {
    ++counts_[index_of(ns)];
    ++total_;
  }
  void clear() {
    counts_.fill(0);
    total_ = 0;
  }
  std::uint64_t total() const { return total_; }
  // The value below which a fraction q of the samples lie (bucket midpoint), in ns.
  double percentile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return midpoint_of(i);
    }
    return midpoint_of(counts_.size() - 1);
  }

 private:
  static constexpr unsigned kSubBits = 6;  // 64 buckets per power of two
  static constexpr std::size_t kBuckets = 64 * 64;

  static std::size_t index_of(std::uint64_t ns) {
    if (ns < 2 * (1u << kSubBits)) return ns;
    unsigned shift = static_cast<unsigned>(std::bit_width(ns)) - 1 - kSubBits;
    return std::min<std::size_t>(kBuckets - 1, (std::size_t{1} << kSubBits) * shift + (ns >> shift));
  }
  static double midpoint_of(std::size_t index) {
    if (index < 2 * (1u << kSubBits)) return static_cast<double>(index);
    std::size_t shift = index / (1u << kSubBits) - 1;
    std::uint64_t top = index % (1u << kSubBits) + (1u << kSubBits);
    return static_cast<double>(top << shift) + static_cast<double>(std::uint64_t{1} << shift) / 2;
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
};

// --- the handshake and frames (RFC 6455) ------------------------------------------

std::string base64(const unsigned char* data, std::size_t size) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < size; i += 3) {
    std::uint32_t chunk = static_cast<std::uint32_t>(data[i]) << 16;
    if (i + 1 < size) chunk |= static_cast<std::uint32_t>(data[i + 1]) << 8;
    if (i + 2 < size) chunk |= data[i + 2];
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < size ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < size ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

std::string expected_accept(const std::string& key) {
  std::string text = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return base64(digest, sizeof digest);
}

// The value of header `name` in an HTTP head, compared without case; empty if absent.
std::string_view header_value(std::string_view head, std::string_view name) {
  std::size_t line = head.find("\r\n");
  while (line != std::string_view::npos && line + 2 < head.size()) {
    std::size_t start = line + 2;
    std::size_t end = head.find("\r\n", start);
    std::string_view field = head.substr(start, end == std::string_view::npos ? head.size() - start : end - start);
    std::size_t colon = field.find(':');
    if (colon == name.size() && std::equal(name.begin(), name.end(), field.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      std::string_view value = field.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      return value;
    }
    line = end;
  }
  return {};
}

enum Opcode : std::uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// A whole client frame (FIN set, masked as RFC 6455 requires of clients).
std::string masked_frame(std::uint8_t opcode, std::string_view payload, std::uint32_t mask) {
  std::string frame;
  frame += static_cast<char>(0x80 | opcode);
  std::uint64_t size = payload.size();
  if (size < 126) {
    frame += static_cast<char>(0x80 | size);
  } else if (size <= 0xffff) {
    frame += static_cast<char>(0x80 | 126);
    for (int shift = 8; shift >= 0; shift -= 8) frame += static_cast<char>(size >> shift);
  } else {
    frame += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) frame += static_cast<char>(size >> shift);
  }
  char key[4] = {static_cast<char>(mask >> 24), static_cast<char>(mask >> 16), static_cast<char>(mask >> 8),
                 static_cast<char>(mask)};
  frame.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ key[i % 4]);
  return frame;
}

struct FrameHeader {
  bool fin;
  std::uint8_t opcode;
  std::size_t header_bytes;
  std::uint64_t payload_bytes;
};

// The header of the frame at the start of `data`, if all of it has arrived.
bool parse_frame_header(std::string_view data, FrameHeader& frame) {
  if (data.size() < 2) return false;
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(data[i]); };
  frame.fin = byte(0) & 0x80;
  frame.opcode = byte(0) & 0x0f;
  if (byte(0) & 0x70) fail("the server set a reserved bit (RSV1-3): no extension was negotiated");
  if (byte(1) & 0x80) fail("the server masked a frame (RFC 6455 5.1 forbids it)");
  std::uint64_t size = byte(1) & 0x7f;
  frame.header_bytes = 2;
  if (size >= 126) {
    std::size_t length_bytes = size == 126 ? 2 : 8;
    if (data.size() < 2 + length_bytes) return false;
    size = 0;
    for (std::size_t i = 0; i < length_bytes; ++i) size = (size << 8) | byte(2 + i);
    frame.header_bytes += length_bytes;
  }
  if (size > kMaxMessageBytes) fail("the server sent a frame of " + std::to_string(size) + " bytes");
  frame.payload_bytes = size;
  return true;
}

// --- connections and the loop -------------------------------------------------------

enum class State { connecting, handshaking, open, closed };

struct Connection {
  int fd = -1;
  State state = State::connecting;
  std::string key;        // Sec-WebSocket-Key
  std::string pending;    // received bytes not yet a whole frame (or handshake)
  std::string unsent;     // what the socket did not take yet
  std::string fragments;  // a fragmented message so far
  std::uint8_t fragments_opcode = 0;
  bool ready = false;    // done opening (handshake and the mode's first exchange)
  std::uint64_t sent_at = 0;
  std::uint16_t close_code = 0;  // the server's, when it closed
};

// Opens WebSocket connections (at most --window at a time), runs the epoll
// loop, and hands each whole message to the mode. Modes override the hooks.
class Client {
 public:
  explicit Client(const Options& options) : options_(options), random_(std::random_device{}()) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) fail(errno_text("epoll_create1"));
    server_.sin_family = AF_INET;
    server_.sin_port = htons(options.port);
    if (inet_pton(AF_INET, options.host.c_str(), &server_.sin_addr) != 1) fail("--host must be an IPv4 address");
  }
  virtual ~Client() {
    for (auto& c : connections_) {
      if (c.fd >= 0 && c.state != State::closed) ::close(c.fd);
    }
    ::close(epoll_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Opens `count` connections to `path`; returns once each is ready (the
  // mode called mark_ready) or fails the run.
  void open_all(std::size_t count, const std::string& path) {
    path_ = path;
    connections_.resize(count);
    std::uint64_t deadline = now_ns() + kOpeningTimeoutNs;
    start_more();
    bool done = run_until([&] { return ready_ == count; }, deadline);
    if (!done) {
      fail(std::to_string(ready_) + " of " + std::to_string(count) + " connections ready after " +
           std::to_string(kOpeningTimeoutNs / kNsPerS) + " s");
    }
  }

  // Runs the loop until done() or the deadline (CLOCK_MONOTONIC ns); returns done().
  bool run_until(const std::function<bool()>& done, std::uint64_t deadline) {
    epoll_event events[kEpollBatch];
    while (!done()) {
      std::uint64_t now = now_ns();
      if (now >= deadline) return false;
      int timeout_ms =
          options_.spin ? 0 : static_cast<int>(std::min<std::uint64_t>((deadline - now) / 1'000'000 + 1, 100));
      int n = epoll_wait(epoll_, events, kEpollBatch, timeout_ms);
      if (n < 0 && errno != EINTR) fail(errno_text("epoll_wait"));
      if (n <= 0 && options_.spin) idle_ns_ += now_ns() - now;
      for (int i = 0; i < n; ++i) dispatch(events[i]);
    }
    return true;
  }

  void run_for(double seconds) {
    run_until([] { return false; }, now_ns() + static_cast<std::uint64_t>(seconds * 1e9));
  }

  std::size_t closed() const { return closed_; }

  // How busy the client was since `since` (its CPU time then, and the time
  // then), in % of its CPU. Spinning, the CPU is always in use: what counts
  // is the share of polls that found work, so a client near 100 set the pace.
  struct BusyMark {
    double cpu_s;
    std::uint64_t idle_ns;
    std::uint64_t at_ns;
  };
  BusyMark busy_mark() const { return {cpu_seconds(), idle_ns_, now_ns()}; }
  double busy_pct(const BusyMark& since) const {
    double wall = static_cast<double>(now_ns() - since.at_ns);
    if (options_.spin) return 100 * (1 - static_cast<double>(idle_ns_ - since.idle_ns) / wall);
    return 100 * (cpu_seconds() - since.cpu_s) * 1e9 / wall;
  }
  std::size_t count() const { return connections_.size(); }
  Connection& connection(std::size_t i) { return connections_[i]; }

 protected:
  virtual void on_open(Connection& c) = 0;
  virtual void on_message(Connection& c, std::uint8_t opcode, std::string_view payload) = 0;
  // Readiness on a descriptor a mode registered itself (watch_other).
  virtual void on_other(std::uint32_t /*events*/) {}

  void mark_ready(Connection& c) {
    if (c.ready) return;
    c.ready = true;
    ++ready_;
    --opening_;
    start_more();
  }

  void send(Connection& c, std::string_view bytes) {
    if (c.state == State::closed) return;
    if (!c.unsent.empty()) {
      c.unsent.append(bytes);
      return;
    }
    ssize_t sent = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno != EAGAIN) return lost(c, errno_text("send"));
      sent = 0;
    }
    if (static_cast<std::size_t>(sent) < bytes.size()) {
      c.unsent.assign(bytes.substr(static_cast<std::size_t>(sent)));
      watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    }
  }

  std::uint32_t random_mask() { return static_cast<std::uint32_t>(random_()); }

  static constexpr std::uint64_t kOtherId = ~std::uint64_t{0};
  void watch_other(int fd, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = kOtherId;
    if (epoll_ctl(epoll_, op, fd, &ev) != 0) fail(errno_text("epoll_ctl"));
  }

  const Options& options_;

 private:
  void start_more() {
    while (opening_ < options_.window && next_ < connections_.size()) {
      start(next_++);
      ++opening_;
    }
  }

  void start(std::size_t i) {
    Connection& c = connections_[i];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (c.fd < 0) fail(errno_text("socket") + " (connection " + std::to_string(i) + "; the fd limit?)");
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (options_.sources > 1) {
      // Pick the port at connect() (per destination), not at bind().
      setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in source{};
      source.sin_family = AF_INET;
      source.sin_addr.s_addr = htonl(0x7f000001 + static_cast<std::uint32_t>(i % options_.sources));
      if (bind(c.fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) fail(errno_text("bind"));
    }
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&server_), sizeof server_) != 0 && errno != EINPROGRESS) {
      fail(errno_text("connect") + " (connection " + std::to_string(i) + ")");
    }
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = i;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev) != 0) fail(errno_text("epoll_ctl"));
  }

  void watch(Connection& c, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = static_cast<std::uint64_t>(&c - connections_.data());
    if (epoll_ctl(epoll_, op, c.fd, &ev) != 0) fail(errno_text("epoll_ctl"));
  }

  void dispatch(const epoll_event& event) {
    if (event.data.u64 == kOtherId) return on_other(event.events);
    Connection& c = connections_[event.data.u64];
    if (c.state == State::closed) return;
    if (c.state == State::connecting) return connected(c);
    if (event.events & EPOLLOUT) flush(c);
    if (event.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) receive(c);
  }

  void connected(Connection& c) {
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) {
      fail("connect to " + options_.host + ":" + std::to_string(options_.port) + ": " + std::strerror(error));
    }
    unsigned char nonce[16];
    for (auto& b : nonce) b = static_cast<unsigned char>(random_());
    c.key = base64(nonce, sizeof nonce);
    c.state = State::handshaking;
    watch(c, EPOLLIN, EPOLL_CTL_MOD);
    send(c, "GET " + path_ + " HTTP/1.1\r\nHost: " + options_.host + ":" + std::to_string(options_.port) +
                "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + c.key +
                "\r\nSec-WebSocket-Version: 13\r\n\r\n");
  }

  void flush(Connection& c) {
    ssize_t sent = ::send(c.fd, c.unsent.data(), c.unsent.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno != EAGAIN) lost(c, errno_text("send"));
      return;
    }
    c.unsent.erase(0, static_cast<std::size_t>(sent));
    if (c.unsent.empty()) watch(c, EPOLLIN, EPOLL_CTL_MOD);
  }

  // One recv per readiness (level-triggered: the rest comes on the next
  // wait), into a scratch buffer shared by all connections; only a partial
  // frame is kept per connection, so 10,000 idle ones hold no buffers.
  void receive(Connection& c) {
    ssize_t got = recv(c.fd, scratch_.data(), scratch_.size(), 0);
    if (got == 0) return lost(c, "closed by the server");
    if (got < 0) {
      if (errno != EAGAIN) lost(c, errno_text("recv"));
      return;
    }
    std::string_view data(scratch_.data(), static_cast<std::size_t>(got));
    if (!c.pending.empty()) {
      c.pending.append(data);
      data = c.pending;
    }
    std::size_t used = consume(c, data);
    if (c.state == State::closed) return;
    if (c.pending.empty()) {
      c.pending.assign(data.substr(used));
    } else {
      c.pending.erase(0, used);
    }
  }

  // Handles every whole handshake or frame at the start of `data`; returns the bytes used.
  std::size_t consume(Connection& c, std::string_view data) {
    std::size_t used = 0;
    if (c.state == State::handshaking) {
      std::size_t end = data.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (data.size() > kMaxHandshakeBytes) fail("a handshake answer without an end");
        return 0;
      }
      check_handshake(c, data.substr(0, end));
      used = end + 4;
      c.state = State::open;
      on_open(c);
    }
    FrameHeader frame{};
    while (c.state == State::open && parse_frame_header(data.substr(used), frame)) {
      std::size_t whole = frame.header_bytes + frame.payload_bytes;
      if (data.size() - used < whole) break;
      handle_frame(c, frame, data.substr(used + frame.header_bytes, frame.payload_bytes));
      used += whole;
    }
    return used;
  }

  void check_handshake(const Connection& c, std::string_view head) {
    std::string_view status = head.substr(0, head.find("\r\n"));
    if (!status.starts_with("HTTP/1.1 101")) {
      fail("GET " + path_ + " answered `" + std::string(status) + "`, not 101 Switching Protocols");
    }
    std::string_view accept = header_value(head, "Sec-WebSocket-Accept");
    if (accept != expected_accept(c.key)) {
      fail("Sec-WebSocket-Accept `" + std::string(accept) + "` is not " + expected_accept(c.key));
    }
  }

  void handle_frame(Connection& c, const FrameHeader& frame, std::string_view payload) {
    switch (frame.opcode) {
      case kPing:
        return send(c, masked_frame(kPong, payload, random_mask()));
      case kPong:
        return;
      case kClose:
        c.close_code = payload.size() >= 2 ? static_cast<std::uint16_t>(static_cast<std::uint8_t>(payload[0]) << 8 |
                                                                        static_cast<std::uint8_t>(payload[1]))
                                           : 1005;
        return lost(c, "closed by the server with code " + std::to_string(c.close_code));
      case kContinuation:
        c.fragments.append(payload);
        if (frame.fin) {
          std::string message = std::move(c.fragments);
          c.fragments.clear();
          on_message(c, c.fragments_opcode, message);
        }
        return;
      case kText:
      case kBinary:
        if (frame.fin) return on_message(c, frame.opcode, payload);
        c.fragments.assign(payload);
        c.fragments_opcode = frame.opcode;
        return;
      default:
        fail("the server sent opcode " + std::to_string(frame.opcode));
    }
  }

  // A connection the server ended. While opening it fails the run; once
  // measuring it is counted and reported (a slow-consumer policy may do it).
  void lost(Connection& c, const std::string& why) {
    if (!c.ready) fail("connection " + std::to_string(&c - connections_.data()) + " while opening: " + why);
    if (closed_ == 0) first_loss_ = why;
    ::close(c.fd);
    c.state = State::closed;
    ++closed_;
  }

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
  std::array<char, 256 * 1024> scratch_{};
  std::mt19937_64 random_;
};

// --- results ---------------------------------------------------------------------------

// One result: printed as `ws-bench: key=value ...` or, with --json, as a JSON object.
class Result {
 public:
  void add(const std::string& key, double value, int decimals = 0) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    fields_.emplace_back(key, text);
  }
  void add(const std::string& key, const std::string& text) { fields_.emplace_back(key, "\"" + text + "\""); }
  void append(const Result& other) { fields_.insert(fields_.end(), other.fields_.begin(), other.fields_.end()); }
  void print(bool json) const {
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

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

void ServerCpu::add_to(Result& result, double messages) const {
  if (pid_ == 0) return;
  double cpu = process_cpu_seconds(pid_) - start_s_;
  double wall = static_cast<double>(now_ns() - start_ns_) / 1e9;
  result.add("server_cpu_pct", 100 * cpu / wall, 1);
  result.add("server_cpu_us_per_message", messages > 0 ? cpu * 1e6 / messages : 0, 2);
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// --- echo ------------------------------------------------------------------------------

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
    r.append(server);
    r.add("closed", static_cast<double>(closed()));
    if (closed() != 0) r.add("first_close", first_line(first_loss_));
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

// --- broadcast -------------------------------------------------------------------------

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
    r.append(server);
    r.add("missing", static_cast<double>(missing));
    r.add("closed", static_cast<double>(closed()));
    if (closed() != 0) r.add("first_close", first_line(first_loss_));
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

// --- idle ------------------------------------------------------------------------------

// VmRSS of `pid` in bytes, from /proc/PID/status.
std::uint64_t rss_bytes(long pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  fail("no VmRSS for pid " + std::to_string(pid) + ": has the server exited?");
}

class IdleBench final : public Client {
 public:
  using Client::Client;

  void run() {
    message_ = masked_frame(kText, "idle", random_mask());
    warm_up();
    run_for(0.5);
    std::uint64_t before = rss_bytes(options_.server_pid);
    std::uint64_t start = now_ns();
    open_all(options_.connections, "/ws/echo");
    double opened_s = static_cast<double>(now_ns() - start) / 1e9;
    auto [after, settled_s, stable] = settle();

    double per_connection = (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(count());
    Result r;
    r.add("mode", "idle");
    r.add("connections", static_cast<double>(count()));
    r.add("opened_s", opened_s, 1);
    r.add("rss_before_mb", static_cast<double>(before) / 1e6, 1);
    r.add("rss_after_mb", static_cast<double>(after) / 1e6, 1);
    r.add("bytes_per_connection", per_connection);
    r.add("settled_s", settled_s, 1);
    r.add("stable", stable ? 1 : 0);
    r.add("open", static_cast<double>(count() - closed()));
    r.add("closed", static_cast<double>(closed()));
    if (closed() != 0) r.add("first_close", first_line(first_loss_));
    r.print(options_.json);
  }

 private:
  // RSS is stable when three samples half a second apart lie within 1% of
  // it (at least 64 KiB): a Go GC or a late free has finished. Returns
  // (RSS, seconds it took, whether it settled within 30 s).
  std::tuple<std::uint64_t, double, bool> settle() {
    constexpr double kSampleS = 0.5;
    constexpr double kMaxS = 30;
    std::uint64_t start = now_ns();
    std::vector<std::uint64_t> samples;
    std::uint64_t baseline = rss_bytes(options_.server_pid);
    for (double waited = 0; waited < kMaxS; waited += kSampleS) {
      run_for(kSampleS);
      samples.push_back(rss_bytes(options_.server_pid));
      if (samples.size() >= 3) {
        auto last = samples.end() - 3;
        auto [low, high] = std::minmax_element(last, samples.end());
        std::uint64_t tolerance = std::max<std::uint64_t>(64 * 1024, (std::max(*high, baseline) / 100));
        if (*high - *low <= tolerance) return {samples.back(), static_cast<double>(now_ns() - start) / 1e9, true};
      }
    }
    return {samples.back(), static_cast<double>(now_ns() - start) / 1e9, false};
  }

  // One echo on a connection of its own before the baseline, so the server's
  // first-connection allocations are not counted per idle connection.
  void warm_up() {
    IdleBench warm(options_);
    warm.message_ = message_;
    warm.open_all(1, "/ws/echo");
  }

  void on_open(Connection& c) override { send(c, message_); }

  void on_message(Connection& c, std::uint8_t opcode, std::string_view payload) override {
    if (opcode != kText || payload != "idle") fail("the echo of `idle` came back as something else");
    mark_ready(c);
  }

  std::string message_;
};

// 10,000 connections and more need descriptors past the usual soft limit of 1,024.
void raise_fd_limit(std::size_t needed) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    fail("need " + std::to_string(needed) + " descriptors; the hard limit is " + std::to_string(limit.rlim_max));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  raise_fd_limit(options.connections + 64);
  switch (options.mode) {
    case Mode::echo:
      EchoBench(options).run();
      break;
    case Mode::broadcast:
      BroadcastBench(options).run();
      break;
    case Mode::idle:
      IdleBench(options).run();
      break;
  }
  return 0;
}
