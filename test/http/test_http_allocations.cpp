// Heap allocations on the request path, counted (support/allocation_counter:
// this executable replaces the global operator new). A count does not depend
// on machine speed: this is the allocation-free request path asserted, not
// estimated.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <string_view>

#include "http/routes.hpp"
#include "support/allocation_counter.hpp"
#include "sluice/channel/embedded_channel.hpp"
#include "sluice/core/fifo.hpp"
#include "sluice/http/http_server.hpp"

using namespace sluice;
using sluice::test::AllocationCounter;

namespace {

// Stands in for the socket at the head of the pipeline: takes every byte
// written, counts the responses, and keeps nothing (a real socket's write
// queue is a Fifo that keeps its capacity; this test is about the HTTP path).
class Sink final : public HandlerBase {
 public:
  std::size_t responses_200 = 0;
  std::size_t bytes = 0;

  void write_erased(HandlerContext&, MessageRef message) override {
    if (!message.is<Buffer>()) return;
    std::string_view v = static_cast<Buffer*>(message.object)->view();
    bytes += v.size();
    for (std::size_t at = v.find("HTTP/1.1 200 OK\r\n"); at != std::string_view::npos;
         at = v.find("HTTP/1.1 200 OK\r\n", at + 1)) {
      ++responses_200;
    }
  }
};

// What a browser-like client sends for `path`: several headers, some longer
// than a std::string keeps inline.
std::string request_for(std::string_view path) {
  return "GET " + std::string(path) +
         " HTTP/1.1\r\n"
         "Host: server.example.com:8080\r\n"
         "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
         "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
         "Accept-Language: en-GB,en;q=0.5\r\n"
         "Accept-Encoding: gzip, deflate, br\r\n"
         "Connection: keep-alive\r\n"
         "\r\n";
}

// The sample server's routes behind the pipeline HttpServer installs (with
// its default 30 s request timeout), on an EmbeddedChannel.
struct PlaintextServer {
  std::shared_ptr<Sink> sink = std::make_shared<Sink>();
  std::unique_ptr<EmbeddedChannel> ch;

  explicit PlaintextServer(HttpServerOptions options = {}) {
    auto initializer = http_pipeline(options, sample::make_routes([] { return nlohmann::json::object(); }));
    ChannelOptions channel_options;
    channel_options.allow_half_close = true;
    ch = std::make_unique<EmbeddedChannel>(
        [&](Channel& c) {
          c.pipeline().add_last("sink", sink);
          initializer(c);
        },
        channel_options);
  }
};

std::string repeat(std::string_view request, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += request;
  return out;
}

}  // namespace

// The sample's /json writes its answer with a JsonWriter (no document).
TEST_CASE("a pipelined /plaintext or /json batch allocates nothing once warm", "[http][alloc]") {
  const std::string path = GENERATE(std::string("/plaintext"), std::string("/json"));
  INFO(path);
  PlaintextServer server;
  const std::string batch = repeat(request_for(path), 16);
  for (int i = 0; i < 4; ++i) server.ch->write_inbound(batch);  // warm-up: pools and scratch grow
  REQUIRE(server.sink->responses_200 == 4 * 16);

  std::size_t allocations = 0;
  {
    AllocationCounter counter;
    for (int i = 0; i < 50; ++i) server.ch->write_inbound(batch);
    allocations = counter.count();
  }
  CHECK(server.sink->responses_200 == 54 * 16);
  CHECK(server.ch->is_open());
  INFO("allocations in 800 pipelined requests (SLUICE_ALLOC_TRACE=1 shows where)");
  CHECK(allocations == 0);
}

TEST_CASE("one request per read (keep-alive, not pipelined) allocates nothing once warm", "[http][alloc]") {
  const std::string path = GENERATE(std::string("/plaintext"), std::string("/json"));
  INFO(path);
  const std::string request = request_for(path);
  PlaintextServer server;
  for (int i = 0; i < 8; ++i) server.ch->write_inbound(request);
  REQUIRE(server.sink->responses_200 == 8);

  std::size_t allocations = 0;
  {
    AllocationCounter counter;
    for (int i = 0; i < 200; ++i) server.ch->write_inbound(request);
    allocations = counter.count();
  }
  CHECK(server.sink->responses_200 == 208);
  INFO("allocations in 200 keep-alive requests");
  CHECK(allocations == 0);
}

TEST_CASE("the allocation counter sees an allocation", "[http][alloc]") {
  // Guards the two tests above against a counter that cannot count.
  std::size_t allocations = 0;
  {
    AllocationCounter counter;
    auto p = std::make_unique<std::string>(100, 'x');
    REQUIRE(p->size() == 100);
    allocations = counter.count();
  }
  CHECK(allocations >= 2);
}

TEST_CASE("a Fifo holding one element at a time never allocates; a second one does, once", "[alloc][fifo]") {
  // Every connection's outbound queue is a Fifo: a connection that writes
  // one buffer at a time must hold nothing on the heap for it.
  sluice::Fifo<std::string> q;
  std::size_t one_at_a_time = 0;
  {
    AllocationCounter counter;
    for (int i = 0; i < 100; ++i) {
      q.push_back(std::string());
      q.pop_front();
    }
    one_at_a_time = counter.count();
  }
  CHECK(one_at_a_time == 0);
  std::size_t two = 0;
  {
    AllocationCounter counter;
    for (int i = 0; i < 100; ++i) {
      q.push_back(std::string());
      q.push_back(std::string());
      q.pop_front();
      q.pop_front();
    }
    two = counter.count();
  }
  CHECK(two == 1);  // the ring, kept
}
