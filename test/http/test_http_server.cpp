// HttpServer over real loopback sockets: the sample server's routes through
// real clients (curl, Python's http.client, wrk), slowloris, a pipelining
// client that never reads, out-of-order asynchronous answers and graceful
// shutdown. Black-box checks run the built sample server (SLUICE_HTTP_BINARY)
// as a child process and end it with SIGTERM, which must exit 0; checks that
// look inside the server run it in-process.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/routes.hpp"
#include "sluice/channel/channel_registry.hpp"
#include "sluice/core/event_loop.hpp"
#include "sluice/core/event_loop_group.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/router.hpp"
#include "support/http_responses.hpp"
#include "support/process.hpp"
#include "support/child_server.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::find_in_path;
using sluice::test::ProcessResult;
using sluice::test::run_process;
using sluice::test::wait_until;
using json = nlohmann::json;

namespace {

// ---- a small HTTP/1.1 response parser (Content-Length and chunked) ----

using test::parse_response;
using test::read_responses;
using test::Response;

std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: test\r\n\r\n"; }

/// Whether bytes (or EOF) are waiting on the socket right now.
bool readable_now(const BlockingClient& client) {
  pollfd p{client.fd(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// ---- processes ----

/// The sample server as a child process on 127.0.0.1, port 0.
class ChildServer : public sluice::test::ChildServer {
 public:
  explicit ChildServer(const std::vector<std::string>& extra_args)
      : sluice::test::ChildServer(SLUICE_HTTP_BINARY, "sluice-http", extra_args) {}
};

// curl -i output: the head as received and the (de-chunked) body.
struct CurlResponse {
  int status = 0;
  std::string head;
  std::string body;
  std::optional<std::string> header(std::string_view name) const {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      std::size_t next = head.find("\r\n", pos + 2);
      std::string line = head.substr(pos + 2, (next == std::string::npos ? head.size() : next) - pos - 2);
      std::size_t colon = line.find(':');
      if (colon != std::string::npos && iequals(line.substr(0, colon), name)) {
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(value.begin());
        return value;
      }
      pos = next;
    }
    return std::nullopt;
  }
};

CurlResponse curl(const std::string& curl_path, std::uint16_t port, const std::string& target,
                  std::vector<std::string> extra = {}) {
  std::vector<std::string> args{curl_path, "-s", "-i", "--max-time", "30", "-H", "Expect:"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("http://127.0.0.1:" + std::to_string(port) + target);
  ProcessResult r = run_process(args, std::chrono::seconds(60));
  INFO("curl " << target << ": " << r.err);
  REQUIRE(r.exited_zero());
  CurlResponse out;
  std::size_t end = r.out.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  out.head = r.out.substr(0, end);
  out.body = r.out.substr(end + 4);
  REQUIRE(out.head.rfind("HTTP/1.1 ", 0) == 0);
  out.status = std::stoi(out.head.substr(9, 3));
  return out;
}

std::uint32_t upload_checksum(const std::string& bytes) {
  std::uint32_t sum = 0;
  for (unsigned char c : bytes) sum = sum * 31 + c;
  return sum;
}

}  // namespace

// ------------------------------------------------------------ black box ----

TEST_CASE("server: every sample route answers as documented (curl, child process)", "[server]") {
  std::string curl_path = find_in_path("curl");
  if (curl_path.empty()) {
    WARN("curl is not installed: skipped");
    return;
  }
  ChildServer server({"--loops", "2"});
  const std::uint16_t port = server.port();

  CurlResponse plain = curl(curl_path, port, "/plaintext");
  CHECK(plain.status == 200);
  CHECK(plain.body == "Hello, World!");
  CHECK(plain.header("Content-Type") == "text/plain; charset=utf-8");
  CHECK(plain.header("Content-Length") == "13");
  CHECK(plain.header("Server") == "sluice");
  CHECK(plain.header("Date").has_value());

  CurlResponse j = curl(curl_path, port, "/json");
  CHECK(j.status == 200);
  CHECK(j.header("Content-Type") == "application/json");
  CHECK(json::parse(j.body) == json{{"message", "Hello, World!"}});

  CurlResponse echo = curl(curl_path, port, "/echo",
                           {"--data-binary", "some bytes & symbols = 100%", "-H", "Content-Type: application/x-test"});
  CHECK(echo.status == 200);
  CHECK(echo.body == "some bytes & symbols = 100%");
  CHECK(echo.header("Content-Type") == "application/x-test");
  CurlResponse echo_untyped = curl(curl_path, port, "/echo", {"--data-binary", "raw", "-H", "Content-Type:"});
  CHECK(echo_untyped.body == "raw");
  CHECK(echo_untyped.header("Content-Type") == "application/octet-stream");

  CurlResponse user = curl(curl_path, port, "/users/42");
  CHECK(user.status == 200);
  CHECK(json::parse(user.body) == json{{"id", 42}, {"name", "user 42"}});
  CurlResponse no_user = curl(curl_path, port, "/users/abc");
  CHECK(no_user.status == 404);
  CHECK(json::parse(no_user.body) == json{{"error", "no such user"}});

  CurlResponse compute = curl(curl_path, port, "/compute?n=100");
  CHECK(compute.status == 200);
  CHECK(json::parse(compute.body) == json{{"n", 100}, {"primes_below_n", 25}});
  CurlResponse compute_default = curl(curl_path, port, "/compute");
  CHECK(json::parse(compute_default.body) == json{{"n", 100000}, {"primes_below_n", 9592}});
  CHECK(curl(curl_path, port, "/compute?n=abc").status == 400);
  CurlResponse too_big = curl(curl_path, port, "/compute?n=50000001");
  CHECK(too_big.status == 400);
  CHECK(too_big.body.find("at most 50000000") != std::string::npos);

  CurlResponse stream = curl(curl_path, port, "/stream?kb=3");
  CHECK(stream.status == 200);
  CHECK(stream.header("Transfer-Encoding") == "chunked");
  CHECK_FALSE(stream.header("Content-Length").has_value());
  CHECK(stream.header("Content-Type") == "application/octet-stream");
  CHECK(stream.body == std::string(3 * 1024, 'x'));
  CHECK(curl(curl_path, port, "/stream?kb=0").body.empty());

  CurlResponse health = curl(curl_path, port, "/health");
  CHECK(health.status == 200);
  json h = json::parse(health.body);
  CHECK(h["status"] == "ok");
  CHECK(h["loops"] == 2);
  CHECK(h["connections"].get<int>() >= 1);

  CurlResponse head = curl(curl_path, port, "/plaintext", {"-I"});
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == "13");
  CHECK(head.body.empty());

  CHECK(curl(curl_path, port, "/nope").status == 404);
  CurlResponse wrong = curl(curl_path, port, "/plaintext", {"-X", "DELETE"});
  CHECK(wrong.status == 405);
  CHECK(wrong.header("Allow") == "GET, HEAD, OPTIONS");

  // A keep-alive connection left idle is closed by the graceful shutdown,
  // and the process exits 0.
  BlockingClient idle(port);
  idle.send_all(get("/plaintext"));
  auto first = read_responses(idle, 1);
  REQUIRE(first.size() == 1);
  CHECK_FALSE(first[0].header("Connection").has_value());
  INFO(server.log());
  CHECK(server.terminate_gracefully());
  CHECK(idle.wait_closed());
}

TEST_CASE("server: a streamed route without a body gets a stream that has ended (the sample's /upload; child "
          "process)",
          "[server]") {
  ChildServer server({"--loops", "1"});
  // Content-Length: 0, no framing at all, and a GET-like POST with a body
  // that is chunked but empty: each answered, on one connection.
  BlockingClient client(server.port());
  client.send_all("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n"
                  "POST /upload HTTP/1.1\r\nHost: test\r\n\r\n"
                  "POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  auto responses = read_responses(client, 3);
  REQUIRE(responses.size() == 3);
  for (const auto& r : responses) {
    CHECK(r.status == 200);
    json body = json::parse(r.body);
    CHECK(body["bytes"] == 0);
  }
  // The server lives on: a fresh connection is served.
  BlockingClient fresh(server.port());
  fresh.send_all(get("/plaintext"));
  auto after = read_responses(fresh, 1);
  REQUIRE(after.size() == 1);
  CHECK(after[0].status == 200);
  CHECK_FALSE(server.exited());
}

TEST_CASE("server: /stream sends exactly kb KiB in chunks and the connection lives on (raw socket)", "[server]") {
  ChildServer server({"--loops", "1"});
  BlockingClient client(server.port());
  for (int kb : {0, 1, 100, 1000}) {
    client.send_all(get("/stream?kb=" + std::to_string(kb)));
    auto responses = read_responses(client, 1);
    REQUIRE(responses.size() == 1);
    const Response& r = responses[0];
    CHECK(r.status == 200);
    CHECK(r.header("Transfer-Encoding") == "chunked");
    CHECK(r.body.size() == static_cast<std::size_t>(kb) * 1024);
    CHECK(std::all_of(r.body.begin(), r.body.end(), [](char c) { return c == 'x'; }));
    if (kb >= 100) CHECK(r.chunk_count > 1);
  }
  client.send_all(get("/plaintext"));
  auto after = read_responses(client, 1);
  REQUIRE(after.size() == 1);
  CHECK(after[0].body == "Hello, World!");
  CHECK(server.terminate_gracefully());
}

TEST_CASE("server: Python http.client, many requests on one keep-alive connection (child process)", "[server]") {
  std::string python = find_in_path("python3");
  if (python.empty()) {
    WARN("python3 is not installed: skipped");
    return;
  }
  ChildServer server({"--loops", "2"});
  const char* script = R"PY(
import http.client, json, sys
port = int(sys.argv[1])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
results = []
def call(method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    results.append({
        "method": method, "path": path, "status": resp.status,
        "content_type": resp.getheader("Content-Type"),
        "transfer_encoding": resp.getheader("Transfer-Encoding"),
        "connection": resp.getheader("Connection"),
        "length": len(data),
        "all_x": data == b"x" * len(data),
        "hex": data.hex() if len(data) <= 4096 else "",
        "local_port": conn.sock.getsockname()[1] if conn.sock else None,
        "will_close": bool(resp.will_close),
    })
call("GET", "/plaintext")
call("GET", "/json")
call("POST", "/echo", body=b"echo \x00\x01\xff me", headers={"Content-Type": "application/x-test"})
call("GET", "/users/7")
call("GET", "/users/x7")
call("GET", "/compute?n=1000")
call("GET", "/stream?kb=100")
call("HEAD", "/stream?kb=5")
call("HEAD", "/plaintext")
call("POST", "/upload", body=bytes(i % 251 for i in range(300000)), headers={"Content-Type": "application/octet-stream"})
call("GET", "/health")
print(json.dumps(results))
)PY";
  ProcessResult r = run_process({python, "-c", script, std::to_string(server.port())}, std::chrono::seconds(120));
  INFO(r.err);
  REQUIRE(r.exited_zero());
  json results = json::parse(r.out);
  REQUIRE(results.size() == 11);
  auto text = [](const json& entry) {
    std::string hex = entry["hex"];
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
  };
  // One connection for everything: the same local port, never closing.
  for (const auto& entry : results) {
    INFO(entry.dump());
    CHECK(entry["local_port"] == results[0]["local_port"]);
    CHECK(entry["will_close"] == false);
    CHECK(entry["connection"].is_null());
  }
  CHECK(results[0]["status"] == 200);
  CHECK(text(results[0]) == "Hello, World!");
  CHECK(results[1]["content_type"] == "application/json");
  CHECK(json::parse(text(results[1])) == json{{"message", "Hello, World!"}});
  CHECK(results[2]["status"] == 200);
  CHECK(results[2]["content_type"] == "application/x-test");
  CHECK(text(results[2]) == std::string("echo \x00\x01\xff me", 11));
  CHECK(json::parse(text(results[3])) == json{{"id", 7}, {"name", "user 7"}});
  CHECK(results[4]["status"] == 404);
  CHECK(json::parse(text(results[5])) == json{{"n", 1000}, {"primes_below_n", 168}});
  CHECK(results[6]["status"] == 200);
  CHECK(results[6]["transfer_encoding"] == "chunked");
  CHECK(results[6]["length"] == 100 * 1024);
  CHECK(results[6]["all_x"] == true);
  CHECK(results[7]["status"] == 200);
  CHECK(results[7]["length"] == 0);  // HEAD of a streamed response: no body
  CHECK(results[8]["status"] == 200);
  CHECK(results[8]["length"] == 0);
  std::string upload;
  for (int i = 0; i < 300000; ++i) upload += static_cast<char>(i % 251);
  json uploaded = json::parse(text(results[9]));
  CHECK(uploaded["bytes"] == 300000);
  CHECK(uploaded["checksum"] == upload_checksum(upload));
  // The server agrees: one connection open while it answered /health.
  json health = json::parse(text(results[10]));
  CHECK(health["connections"] == 1);
  INFO(server.log());
  CHECK(server.terminate_gracefully());
}

TEST_CASE("server: a short pipelined wrk run has no errors and no non-2xx answers (child process)", "[server]") {
  std::string wrk = find_in_path("wrk");
  if (wrk.empty()) {
    WARN("wrk is not installed: skipped");
    return;
  }
  ChildServer server({"--loops", "2"});
  std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  ProcessResult r = run_process({wrk, "-t1", "-c8", "-d2s", "--timeout", "10s", "-s",
                                 std::string(SLUICE_SOURCE_ROOT) + "/tools/wrk/pipeline.lua", url, "--", "16"},
                                std::chrono::seconds(120));
  INFO(r.out << r.err);
  REQUIRE(r.exited_zero());
  std::smatch m;
  std::regex summary(
      "sluice-wrk: requests=([0-9]+) .* connect_errors=([0-9]+) read_errors=([0-9]+) write_errors=([0-9]+) "
      "timeouts=([0-9]+) non2xx=([0-9]+)");
  REQUIRE(std::regex_search(r.out, m, summary));
  CHECK(std::stoull(m[1]) > 0);
  CHECK(m[2] == "0");
  CHECK(m[3] == "0");
  CHECK(m[4] == "0");
  CHECK(m[5] == "0");
  CHECK(m[6] == "0");
  CHECK(r.out.find("Socket errors") == std::string::npos);
  CHECK(r.out.find("Non-2xx") == std::string::npos);
  // Still serving after it.
  BlockingClient client(server.port());
  client.send_all(get("/plaintext"));
  auto after = read_responses(client, 1);
  REQUIRE(after.size() == 1);
  CHECK(after[0].status == 200);
  client.close();
  INFO(server.log());
  CHECK(server.terminate_gracefully());
}

TEST_CASE("server: slowloris is answered 408 and cut off while other clients are served (child process)",
          "[server]") {
  ChildServer server({"--loops", "1", "--header-timeout", "500"});
  const auto start = std::chrono::steady_clock::now();
  BlockingClient slow(server.port());
  BlockingClient busy(server.port());
  slow.send_all("GET /plaintext HTTP/1.1\r\n");
  const std::string dribble = "Host: example\r\nX-Padding: " + std::string(400, 'p');
  std::size_t dribbled = 0;
  int served = 0;
  bool answered = false;
  // One header byte every ~50 ms from the slow client; a normal request from
  // the busy one each round. Bounded: the server must act long before this ends.
  for (int round = 0; round < 400 && !answered; ++round) {
    if (dribbled < dribble.size()) {
      try {
        slow.send_all(dribble.substr(dribbled, 1));
        ++dribbled;
      } catch (const std::exception&) {
        // the server may already have cut it off
      }
    }
    busy.send_all(get("/plaintext"));
    auto r = read_responses(busy, 1);
    REQUIRE(r.size() == 1);
    CHECK(r[0].status == 200);
    CHECK(r[0].body == "Hello, World!");
    ++served;
    pollfd p{slow.fd(), POLLIN, 0};
    answered = ::poll(&p, 1, 50) > 0;
  }
  REQUIRE(answered);
  auto elapsed = std::chrono::steady_clock::now() - start;
  auto answer = read_responses(slow, 1);
  REQUIRE(answer.size() == 1);
  CHECK(answer[0].status == 408);
  CHECK(answer[0].header("Connection") == "close");
  CHECK(slow.wait_closed());           // and then cut off
  CHECK(elapsed >= std::chrono::milliseconds(500));  // not before the timeout
  CHECK(dribbled > 1);
  CHECK(served > 1);
  // Others are still served, on old and new connections.
  busy.send_all(get("/json"));
  auto r = read_responses(busy, 1);
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == 200);
  BlockingClient fresh(server.port());
  fresh.send_all(get("/plaintext"));
  auto f = read_responses(fresh, 1);
  REQUIRE(f.size() == 1);
  CHECK(f[0].status == 200);
  INFO(server.log());
  CHECK(server.terminate_gracefully());
}

// ------------------------------------------------------------ in-process ----

TEST_CASE("server: a client that pipelines thousands of requests and never reads is held to bounded memory",
          "[server]") {
  EventLoopGroup group({1, false, "flood"});
  HttpServerOptions options;
  options.listen.host = "127.0.0.1";
  options.codec.max_requests_per_connection = 0;  // as many as it takes to fill the kernel's buffers
  auto routes = sample::make_routes([] { return json{{"status", "ok"}}; });
  HttpServer server(group, options, routes);
  server.start();

  // Far more than the kernel's socket buffers (several MiB on loopback) can
  // hide; only as many as it takes are sent.
  constexpr std::size_t kMaxRequests = 400'000;
  std::string requests;
  std::vector<std::size_t> request_end;  // offset just past request i
  request_end.reserve(kMaxRequests);
  for (std::size_t i = 0; i < kMaxRequests; ++i) {
    requests += get("/users/" + std::to_string(i));
    request_end.push_back(requests.size());
  }
  // Small socket buffers on the client side.
  BlockingClient client(server.port(), "127.0.0.1", 4096);
  REQUIRE(wait_until([&] { return server.tcp().connections() == 1; }));
  std::shared_ptr<Channel> conn;
  group.at(0).run_sync([&] { ChannelRegistry::of(group.at(0)).for_each([&](Channel& c) { conn = c.shared_from_this(); }); });
  REQUIRE(conn);
  // Whether the server holds off: unwritable (its queue above the high
  // watermark) and not reading, seen together on its loop between events.
  std::size_t pending_when_held = 0;
  auto server_holds_off = [&] {
    bool held = false;
    group.at(0).run_sync([&] {
      held = !conn->is_writable() && !conn->is_reading();
      if (held) pending_when_held = conn->pending_outbound_bytes();
    });
    return held;
  };

  // Phase 1: write as fast as the connection takes it, never reading, until
  // the client cannot write and the server has stopped reading.
  std::size_t sent = 0;
  std::size_t max_pending = 0;
  bool held_off = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline && sent < requests.size()) {
    max_pending = std::max(max_pending, conn->pending_outbound_bytes());
    ssize_t n = ::send(client.fd(), requests.data() + sent, requests.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    REQUIRE((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)));
    if (server_holds_off()) {
      held_off = true;
      break;
    }
    pollfd p{client.fd(), POLLOUT, 0};
    ::poll(&p, 1, 1);
  }
  max_pending = std::max(max_pending, pending_when_held);
  INFO("sent " << sent << " bytes; server pending " << pending_when_held);
  REQUIRE(held_off);
  // Unwritable means it went above the high watermark and has not drained
  // to the low one since.
  CHECK(pending_when_held > options.listen.channel.write_low_watermark);
  // Finish the request cut in the middle; that many requests are due.
  const std::size_t count =
      static_cast<std::size_t>(std::lower_bound(request_end.begin(), request_end.end(), sent) - request_end.begin()) + 1;
  const std::size_t total_bytes = request_end[count - 1];

  // Phase 2: read everything (and send the rest); every answer, in order.
  std::string buffer;
  std::vector<Response> responses;
  responses.reserve(count);
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  char chunk[65536];
  bool eof = false;
  while (responses.size() < count && !eof && std::chrono::steady_clock::now() < deadline) {
    max_pending = std::max(max_pending, conn->pending_outbound_bytes());
    pollfd p{client.fd(), static_cast<short>(POLLIN | (sent < total_bytes ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if ((p.revents & POLLOUT) != 0 && sent < total_bytes) {
      ssize_t n = ::send(client.fd(), requests.data() + sent, total_bytes - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ssize_t got = ::recv(client.fd(), chunk, sizeof chunk, MSG_DONTWAIT);
      if (got == 0) eof = true;
      if (got > 0) buffer.append(chunk, static_cast<std::size_t>(got));
      std::size_t offset = 0;
      while (true) {
        Response r;
        std::size_t used = parse_response(std::string_view(buffer).substr(offset), r);
        if (used == 0) break;
        offset += used;
        responses.push_back(std::move(r));
      }
      buffer.erase(0, offset);
    }
  }
  INFO(count << " requests; " << responses.size() << " answers");
  CHECK(sent == total_bytes);
  REQUIRE(responses.size() == count);
  CHECK(count > 1000);
  std::size_t largest_response = 0;
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const Response& r = responses[i];
    largest_response = std::max(largest_response, r.raw_bytes);
    if (r.status != 200 || json::parse(r.body)["id"] != i) ++wrong;
  }
  CHECK(wrong == 0);

  // Memory stayed bounded: above the high watermark no further request is
  // taken, so at most the answers already in flight come on top of it.
  const std::size_t bound = options.listen.channel.write_high_watermark +
                            options.codec.max_pipelined_requests * largest_response;
  INFO("max pending " << max_pending << ", bound " << bound);
  CHECK(max_pending <= bound);
  CHECK(server.tcp().connections() == 1);
  client.close();
  group.shutdown_gracefully();
}

TEST_CASE("server: handlers finishing out of order after offload still answer pipelined requests in order",
          "[server]") {
  EventLoopGroup group({1, false, "ooo"});
  std::mutex mutex;
  std::vector<int> completion_order;
  std::vector<std::pair<int, ResponseWriter>> held;
  auto router = std::make_shared<Router>();
  router->get("/delay/:i", [&](HttpRequest& r, ResponseWriter w) {
    int i = std::stoi(std::string(r.param("i")));
    int delay_ms = ((i * 7) % 8) * 5;  // 0..35 ms, varying
    w.loop().offload([delay_ms] { std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms)); },
                     [w, i, &mutex, &completion_order] {
                       {
                         std::lock_guard<std::mutex> lock(mutex);
                         completion_order.push_back(i);
                       }
                       w.send(HttpResponse::text("answer " + std::to_string(i)));
                     });
  });
  router->get("/held/:i", [&](HttpRequest& r, ResponseWriter w) {
    std::lock_guard<std::mutex> lock(mutex);
    held.emplace_back(std::stoi(std::string(r.param("i"))), w);
  });
  HttpServerOptions options;
  options.listen.host = "127.0.0.1";
  HttpServer server(group, options, router);
  server.start();

  SECTION("varying delays on the thread pool") {
    constexpr int kCount = 48;  // more than max_pipelined_requests (16): reading pauses and resumes
    BlockingClient client(server.port());
    std::string batch;
    for (int i = 0; i < kCount; ++i) batch += get("/delay/" + std::to_string(i));
    client.send_all(batch);
    auto responses = read_responses(client, kCount);
    REQUIRE(responses.size() == static_cast<std::size_t>(kCount));
    for (int i = 0; i < kCount; ++i) {
      CHECK(responses[static_cast<std::size_t>(i)].status == 200);
      CHECK(responses[static_cast<std::size_t>(i)].body == "answer " + std::to_string(i));
    }
    std::lock_guard<std::mutex> lock(mutex);
    CHECK(completion_order.size() == static_cast<std::size_t>(kCount));
    if (std::is_sorted(completion_order.begin(), completion_order.end())) {
      WARN("the handlers happened to finish in order; the next section reorders them deterministically");
    }
  }
  SECTION("answered in reverse order from another thread") {
    constexpr int kCount = 16;  // all dispatched at once (max_pipelined_requests)
    BlockingClient client(server.port());
    std::string batch;
    for (int i = 0; i < kCount; ++i) batch += get("/held/" + std::to_string(i));
    client.send_all(batch);
    REQUIRE(wait_until([&] {
      std::lock_guard<std::mutex> lock(mutex);
      return held.size() == static_cast<std::size_t>(kCount);
    }));
    std::vector<std::pair<int, ResponseWriter>> writers;
    {
      std::lock_guard<std::mutex> lock(mutex);
      writers = held;
    }
    for (int k = 0; k < kCount; ++k) REQUIRE(writers[static_cast<std::size_t>(k)].first == k);
    for (int k = kCount - 1; k >= 1; --k) {
      writers[static_cast<std::size_t>(k)].second.send(HttpResponse::text("answer " + std::to_string(k)));
    }
    group.at(0).run_sync([] {});  // the loop has taken every answer so far
    CHECK_FALSE(readable_now(client));  // all wait behind the first
    writers[0].second.send(HttpResponse::text("answer 0"));
    auto responses = read_responses(client, kCount);
    REQUIRE(responses.size() == static_cast<std::size_t>(kCount));
    for (int i = 0; i < kCount; ++i) CHECK(responses[static_cast<std::size_t>(i)].body == "answer " + std::to_string(i));
  }
  group.shutdown_gracefully();
}

TEST_CASE("server: graceful shutdown answers the request in flight with Connection: close and closes idle "
          "connections at once",
          "[server]") {
  EventLoopGroup group({1, false, "grace"});
  std::mutex mutex;
  std::optional<ResponseWriter> in_flight;
  auto router = std::make_shared<Router>();
  router->get("/plaintext", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("Hello, World!")); });
  router->get("/slow", [&](HttpRequest&, ResponseWriter w) {
    std::lock_guard<std::mutex> lock(mutex);
    in_flight = w;
  });
  HttpServerOptions options;
  options.listen.host = "127.0.0.1";
  HttpServer server(group, options, router);
  server.start();
  const std::uint16_t port = server.port();

  BlockingClient idle(port);
  idle.send_all(get("/plaintext"));
  auto first = read_responses(idle, 1);
  REQUIRE(first.size() == 1);
  CHECK_FALSE(first[0].header("Connection").has_value());  // kept alive

  BlockingClient busy(port);
  busy.send_all(get("/slow"));
  REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return in_flight.has_value();
  }));

  std::thread stopper([&] { group.shutdown_gracefully(50, 30'000); });
  // The idle connection closes at once: while the slow request is still unanswered.
  CHECK(idle.wait_closed());
  // No new connections are taken.
  CHECK(wait_until([&] {
    try {
      BlockingClient late(port);
      return late.wait_closed(std::chrono::milliseconds(200));
    } catch (const std::exception&) {
      return true;  // refused
    }
  }));
  CHECK_FALSE(readable_now(busy));

  {
    std::lock_guard<std::mutex> lock(mutex);
    in_flight->send(HttpResponse::text("finally"));
  }
  auto last = read_responses(busy, 1);
  REQUIRE(last.size() == 1);
  CHECK(last[0].status == 200);
  CHECK(last[0].body == "finally");
  CHECK(last[0].header("Connection") == "close");
  CHECK(busy.wait_closed());
  stopper.join();
  CHECK(group.is_shut_down());
  {
    std::lock_guard<std::mutex> lock(mutex);
    in_flight.reset();
  }
}
