// Pipelining and streaming through HttpServerCodec + HttpServerHandler on an
// EmbeddedChannel: answers in request order and in one flush per read, the
// in-flight bound, a client that never reads, chunked responses with
// backpressure, and handler exceptions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/http/http_server_codec.hpp"
#include "sluice/http/http_server_handler.hpp"
#include "sluice/http/router.hpp"
#include "support/http_harness.hpp"
#include "support/http_responses.hpp"

using namespace sluice;
using Catch::Matchers::Contains;

namespace {

using test::parse_responses;
using test::Response;
using test::statuses;

// ---- the pipeline under test ----------------------------------------------

// Sits at the head (next to the "socket"): counts flushes that carried bytes.
class FlushCounter final : public HandlerBase {
 public:
  std::size_t flushes = 0;
  void write_erased(HandlerContext& ctx, MessageRef message) override {
    if (message.is<Buffer>()) unflushed_ += static_cast<Buffer*>(message.object)->readable_bytes();
    ctx.write_erased(message);
  }
  void flush(HandlerContext& ctx) override {
    if (unflushed_ != 0) ++flushes;
    unflushed_ = 0;
    ctx.flush();
  }

 private:
  std::size_t unflushed_ = 0;
};

using test::http_channel_options;

// FlushCounter + HttpServerCodec + HttpServerHandler on an EmbeddedChannel.
struct Server : test::HttpHarness {
  std::shared_ptr<FlushCounter> counter;

  explicit Server(std::shared_ptr<HttpHandler> handler, HttpCodecOptions options = {},
                  ChannelOptions channel_options = http_channel_options(),
                  std::shared_ptr<FlushCounter> flushes = std::make_shared<FlushCounter>())
      : HttpHarness(std::move(handler), std::move(options), channel_options, flushes), counter(std::move(flushes)) {}
};

// Holds the writers of the requests it gets, to answer them later.
struct Deferred {
  std::vector<ResponseWriter> writers;
  std::vector<std::string> targets;
  std::shared_ptr<HttpHandler> handler() {
    return make_handler([this](HttpRequest& r, ResponseWriter w) {
      targets.push_back(r.target);
      writers.push_back(std::move(w));
    });
  }
};

// Answers at once with the target as the body.
std::shared_ptr<HttpHandler> target_echo() {
  return make_handler([](HttpRequest& r, ResponseWriter w) { w.send(HttpResponse::text(r.target)); });
}

std::string get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: example.com\r\n" + std::string(extra_headers) + "\r\n";
}

std::string gets(int from, int to) {
  std::string out;
  for (int i = from; i < to; ++i) out += get("/" + std::to_string(i));
  return out;
}

std::vector<std::string> bodies(const std::vector<Response>& responses) {
  std::vector<std::string> out;
  for (const auto& r : responses) out.push_back(r.body);
  return out;
}

std::vector<std::string> numbered(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back("/" + std::to_string(i));
  return out;
}

// A body of `n` bytes that shows where it was cut or reordered.
std::string pattern(std::size_t n, std::size_t offset = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i + offset) % 26);
  return s;
}

}  // namespace

// ============================================================================
// Ordering and batching
// ============================================================================

TEST_CASE("pipelining: many requests in one read are answered in order, in one flush", "[http][pipelining]") {
  Server s(target_echo());
  s.ch->write_inbound(gets(0, 40));  // more than max_pipelined_requests (16): all answered at once anyway
  CHECK(s.counter->flushes == 1);
  auto rs = s.take();
  REQUIRE(rs.size() == 40);
  CHECK(bodies(rs) == numbered(0, 40));
  for (const auto& r : rs) {
    CHECK(r.status == 200);
    CHECK_FALSE(r.closes());
  }
  CHECK(s.ch->is_open());

  // The next read: one more flush for its whole batch.
  s.ch->write_inbound(gets(40, 45));
  CHECK(s.counter->flushes == 2);
  CHECK(bodies(s.take()) == numbered(40, 45));
}

TEST_CASE("pipelining: a batch split over reads is answered per read", "[http][pipelining]") {
  Server s(target_echo());
  std::string batch = gets(0, 3);
  std::size_t cut = batch.size() - 5;  // the third request is incomplete in the first read
  s.ch->write_inbound(std::string_view(batch).substr(0, cut));
  CHECK(s.counter->flushes == 1);
  CHECK(bodies(s.take()) == numbered(0, 2));
  s.ch->write_inbound(std::string_view(batch).substr(cut));
  CHECK(bodies(s.take()) == numbered(2, 3));
}

TEST_CASE("pipelining: answers completed out of order leave in request order", "[http][pipelining]") {
  Deferred d;
  Server s(d.handler());
  s.ch->write_inbound(gets(1, 4));
  REQUIRE(d.writers.size() == 3);
  CHECK(s.ch->read_outbound_bytes().empty());

  d.writers[2].send(HttpResponse::text("third"));
  s.ch->run_pending_tasks();
  CHECK(s.ch->read_outbound_bytes().empty());  // waits for 1 and 2

  d.writers[0].send(HttpResponse::text("first"));
  s.ch->run_pending_tasks();
  auto rs = s.take();
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].body == "first");

  d.writers[1].send(HttpResponse::text("second"));
  s.ch->run_pending_tasks();
  rs = s.take();
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].body == "second");
  CHECK(rs[1].body == "third");

  // A writer answers once: later sends are ignored.
  d.writers[0].send(HttpResponse::text("again"));
  s.ch->run_pending_tasks();
  CHECK(s.ch->read_outbound_bytes().empty());
  CHECK(d.writers[0].answered());
}

TEST_CASE("pipelining: an answer from another thread is posted to the loop", "[http][pipelining]") {
  Deferred d;
  Server s(d.handler());
  s.ch->write_inbound(gets(0, 2));
  REQUIRE(d.writers.size() == 2);
  std::thread([w = d.writers[1]] { w.send(HttpResponse::text("from a thread")); }).join();
  std::thread([w = d.writers[0]] { w.send(HttpResponse::text("also")); }).join();
  CHECK(s.ch->read_outbound_bytes().empty());  // nothing runs until the loop does
  s.ch->run_pending_tasks();
  CHECK(bodies(s.take()) == std::vector<std::string>{"also", "from a thread"});
}

// ============================================================================
// The in-flight bound
// ============================================================================

TEST_CASE("pipelining: at most max_pipelined_requests in flight; reading stops and resumes", "[http][pipelining]") {
  HttpCodecOptions o;
  o.max_pipelined_requests = 4;
  Deferred d;
  Server s(d.handler(), o);
  s.ch->write_inbound(gets(0, 10));
  CHECK(d.writers.size() == 4);
  CHECK(s.codec->in_flight() == 4);
  CHECK_FALSE(s.channel().is_reading());

  // More bytes while paused (a read already under way) are held, not parsed.
  s.ch->write_inbound(gets(10, 12));
  CHECK(d.writers.size() == 4);

  // Answering a later request frees nothing: answers leave in order.
  d.writers[3].send(HttpResponse::text("/3"));
  s.ch->run_pending_tasks();
  CHECK(d.writers.size() == 4);
  CHECK(s.ch->read_outbound_bytes().empty());
  CHECK_FALSE(s.channel().is_reading());

  std::string out;
  std::size_t answered = 1;  // writers[3]
  for (std::size_t i = 0; i < 12; ++i) {
    if (i != 3) {
      d.writers.at(i).send(HttpResponse::text(d.targets.at(i)));
      ++answered;
    }
    s.ch->run_pending_tasks();
    out += s.ch->read_outbound_bytes();
    // The bound holds throughout, and requests are taken as answers leave.
    std::size_t sent = parse_responses(out).size();
    CHECK(s.codec->in_flight() == std::min<std::size_t>(4, 12 - sent));
    CHECK(d.writers.size() == std::min<std::size_t>(12, sent + 4));
    if (d.writers.size() < 12) CHECK_FALSE(s.channel().is_reading());
  }
  CHECK(answered == 12);
  auto rs = parse_responses(out);
  REQUIRE(rs.size() == 12);
  CHECK(bodies(rs) == numbered(0, 12));
  CHECK(s.codec->in_flight() == 0);
  CHECK(s.channel().is_reading());
  CHECK(s.ch->is_open());
}

TEST_CASE("pipelining: answers given outside a read leave at once, and held requests follow in order",
          "[http][pipelining]") {
  HttpCodecOptions o;
  o.max_pipelined_requests = 2;
  Deferred d;
  Server s(d.handler(), o);
  s.ch->write_inbound(gets(0, 6));
  REQUIRE(d.writers.size() == 2);
  for (std::size_t i = 0; i < 6; ++i) {
    std::size_t flushes = s.counter->flushes;
    d.writers.at(i).send(HttpResponse::text(std::to_string(i)));
    s.ch->run_pending_tasks();
    // Flushed now: no read is coming to flush it.
    auto rs = s.take();
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].body == std::to_string(i));
    CHECK(s.counter->flushes == flushes + 1);
    CHECK(d.targets.size() == std::min<std::size_t>(6, i + 3));
  }
  CHECK(d.targets == numbered(0, 6));
  CHECK(s.channel().is_reading());
}

// ============================================================================
// A client that never reads
// ============================================================================

TEST_CASE("pipelining: a client that never reads cannot make the server buffer without bound",
          "[http][pipelining][backpressure]") {
  constexpr std::size_t kBody = 4096;
  constexpr int kPerRead = 8;
  constexpr int kTotal = 400;
  auto handler = make_handler([](HttpRequest& r, ResponseWriter w) {
    w.send(HttpResponse::text(pattern(kBody, std::stoul(r.target.substr(1)))));
  });
  Server s(handler);
  const std::size_t high = s.channel().options().write_high_watermark;
  // What one read's batch of answers adds: its heads and bodies.
  const std::size_t batch_bytes = kPerRead * (kBody + 256);

  std::string out;
  int sent = 0;
  int stalls = 0;
  while (sent < kTotal) {
    s.ch->set_peer_reading(false);
    std::size_t max_pending = 0;
    // The transport delivers a read only while the channel reads.
    while (sent < kTotal && s.channel().is_reading()) {
      s.ch->write_inbound(gets(sent, sent + kPerRead));
      sent += kPerRead;
      max_pending = std::max(max_pending, s.channel().pending_outbound_bytes());
    }
    CHECK(max_pending <= high + batch_bytes);
    // In fact no request is taken while the channel is above its high
    // watermark: one answer past it at most, whatever a read holds.
    CHECK(max_pending <= high + kBody + 256);
    if (sent < kTotal) {
      ++stalls;
      CHECK_FALSE(s.channel().is_reading());
      CHECK_FALSE(s.channel().is_writable());
      CHECK(s.channel().pending_outbound_bytes() > high);
    }
    CHECK(s.ch->read_outbound_bytes().empty());  // nothing reached the peer
    s.ch->set_peer_reading(true);                // drains everything
    CHECK(s.channel().pending_outbound_bytes() == 0);
    CHECK(s.channel().is_reading());
    out += s.ch->read_outbound_bytes();
  }
  CHECK(stalls >= 5);
  auto rs = parse_responses(out);
  REQUIRE(rs.size() == static_cast<std::size_t>(kTotal));
  for (int i = 0; i < kTotal; ++i) {
    if (rs[static_cast<std::size_t>(i)].body != pattern(kBody, static_cast<std::size_t>(i))) {
      FAIL("response " << i << " is not the answer to request " << i);
    }
  }
}

TEST_CASE("pipelining: one read of many small requests does not queue all their answers",
          "[http][pipelining][backpressure]") {
  // 28-byte requests, 8 KiB answers: without a bound one 64 KiB read would
  // queue 2300 answers (19 MB). Requests are not taken while the channel is
  // above its high watermark.
  constexpr std::size_t kBody = 8192;
  int handled = 0;
  auto handler = make_handler([&](HttpRequest& r, ResponseWriter w) {
    ++handled;
    w.send(HttpResponse::text(pattern(kBody, std::stoul(r.target.substr(1)))));
  });
  Server s(handler);
  const std::size_t high = s.channel().options().write_high_watermark;
  s.ch->set_peer_reading(false);
  s.ch->write_inbound(gets(0, 200));
  CHECK(handled < 20);
  CHECK(s.channel().pending_outbound_bytes() <= high + kBody + 256);
  CHECK_FALSE(s.channel().is_reading());
  std::string out;
  for (int round = 0; round < 100 && handled < 200; ++round) {
    s.ch->set_peer_reading(true);  // drains; the held requests are taken on the next turn
    out += s.ch->read_outbound_bytes();
    s.ch->set_peer_reading(false);
    s.ch->run_pending_tasks();
    CHECK(s.channel().pending_outbound_bytes() <= high + kBody + 256);
  }
  s.ch->set_peer_reading(true);
  out += s.ch->read_outbound_bytes();
  CHECK(handled == 200);
  CHECK(s.channel().is_reading());
  auto rs = parse_responses(out);
  REQUIRE(rs.size() == 200);
  for (std::size_t i = 0; i < rs.size(); ++i) {
    if (rs[i].body != pattern(kBody, i)) FAIL("response " << i << " is not the answer to request " << i);
  }
}

TEST_CASE("pipelining: deferred answers to a client that never reads drain when it does",
          "[http][pipelining][backpressure]") {
  HttpCodecOptions o;
  o.max_pipelined_requests = 4;
  Deferred d;
  Server s(d.handler(), o);
  s.ch->set_peer_reading(false);
  s.ch->write_inbound(gets(0, 20));
  std::size_t answered = 0;
  // Answer whatever reached the handler, with big bodies, until it stalls.
  while (answered < d.writers.size()) {
    d.writers[answered].send(HttpResponse::text(pattern(20000, answered)));
    ++answered;
    s.ch->run_pending_tasks();
  }
  CHECK(answered < 20);  // the codec stopped taking requests: the peer is not draining
  CHECK(s.channel().pending_outbound_bytes() <= s.channel().options().write_high_watermark + 4 * 21000);
  s.ch->set_peer_reading(true);
  std::string out = s.ch->read_outbound_bytes();
  while (answered < 20) {
    REQUIRE(answered < d.writers.size());
    d.writers[answered].send(HttpResponse::text(pattern(20000, answered)));
    ++answered;
    s.ch->run_pending_tasks();
    out += s.ch->read_outbound_bytes();
  }
  auto rs = parse_responses(out);
  REQUIRE(rs.size() == 20);
  for (std::size_t i = 0; i < rs.size(); ++i) CHECK(rs[i].body == pattern(20000, i));
}

// ============================================================================
// Streamed (chunked) responses
// ============================================================================

TEST_CASE("streaming: begin_chunked, write, end", "[http][pipelining][streaming]") {
  auto handler = make_handler([](HttpRequest&, ResponseWriter w) {
    ChunkedWriter body = w.begin_chunked(HttpResponse(200).header("Content-Type", "text/plain"));
    body.write("hello ");
    body.write(std::string_view());  // an empty write is not a terminating chunk
    body.write(Buffer::copy_of("world"));
    body.end();
    body.write("after the end");  // dropped
  });
  Server s(handler);
  s.ch->write_inbound(get("/a") + get("/b"));
  std::string raw = s.ch->read_outbound_bytes();
  CHECK_THAT(raw, Contains("\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"));
  auto rs = parse_responses(raw);
  REQUIRE(rs.size() == 2);
  for (const auto& r : rs) {
    CHECK(r.status == 200);
    CHECK(r.chunked);
    CHECK_FALSE(r.header("Content-Length"));
    CHECK(r.header("Content-Type") == "text/plain");
    CHECK(r.body == "hello world");
  }
  CHECK(s.ch->is_open());
}

TEST_CASE("streaming: a producer that honours writable() stays near the high watermark",
          "[http][pipelining][streaming][backpressure]") {
  constexpr std::size_t kChunk = 16 * 1024;
  constexpr std::size_t kTotal = 1024 * 1024;
  struct Producer : std::enable_shared_from_this<Producer> {
    ChunkedWriter out;
    std::size_t written = 0;
    int resumes = 0;
    bool ended = false;
    explicit Producer(ChunkedWriter w) : out(std::move(w)) {}
    void run() {
      while (written < kTotal && out.writable()) {
        out.write(pattern(kChunk, written));
        written += kChunk;
      }
      if (written < kTotal) {
        out.on_writable([self = shared_from_this()] {
          if (self->out.closed()) return;
          ++self->resumes;
          self->run();
        });
      } else if (!ended) {
        ended = true;
        out.end();
      }
    }
  };
  std::shared_ptr<Producer> producer;
  auto handler = make_handler([&](HttpRequest&, ResponseWriter w) {
    producer = std::make_shared<Producer>(w.begin_chunked(HttpResponse(200)));
    producer->run();
  });
  Server s(handler);
  const std::size_t high = s.channel().options().write_high_watermark;
  s.ch->set_peer_reading(false);
  s.ch->write_inbound(get("/big"));
  REQUIRE(producer);
  CHECK(producer->written < kTotal);
  CHECK(s.channel().pending_outbound_bytes() <= high + kChunk + 512);
  s.ch->run_pending_tasks();
  CHECK(producer->written < kTotal);  // still waiting: nothing drained

  std::string out;
  int rounds = 0;
  while (!producer->ended && rounds < 1000) {
    ++rounds;
    s.ch->set_peer_reading(true);  // drain: the producer is resumed and writes on
    s.ch->run_pending_tasks();
    out += s.ch->read_outbound_bytes();
    s.ch->set_peer_reading(false);
    s.ch->run_pending_tasks();
    CHECK(s.channel().pending_outbound_bytes() <= high + kChunk + 512);
  }
  s.ch->set_peer_reading(true);
  out += s.ch->read_outbound_bytes();
  CHECK(producer->ended);
  CHECK(producer->resumes >= 1);
  auto rs = parse_responses(out);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].chunked);
  CHECK(rs[0].body.size() == kTotal);
  CHECK(rs[0].body == pattern(kTotal));
}

TEST_CASE("streaming: a streamed answer queued behind a slow one keeps order", "[http][pipelining][streaming]") {
  std::optional<ResponseWriter> slow;
  std::optional<ChunkedWriter> stream;
  bool resumed = false;
  auto handler = make_handler([&](HttpRequest& r, ResponseWriter w) {
    if (r.target == "/slow") {
      slow = w;
      return;
    }
    stream = w.begin_chunked(HttpResponse(200));
    stream->write("queued-");
    stream->write(std::string(70 * 1024, 'q'));  // more than the high watermark, behind the slow answer
  });
  Server s(handler);
  s.ch->write_inbound(get("/slow") + get("/stream"));
  REQUIRE(slow);
  REQUIRE(stream);
  CHECK(s.ch->read_outbound_bytes().empty());
  CHECK_FALSE(stream->writable());  // its own queue is above the high watermark
  stream->on_writable([&] { resumed = true; });
  s.ch->run_pending_tasks();
  CHECK_FALSE(resumed);

  slow->send(HttpResponse::text("slow answer"));
  s.ch->run_pending_tasks();
  CHECK(resumed);
  CHECK(stream->writable());
  stream->write("-tail");
  stream->end();
  s.ch->run_pending_tasks();
  auto rs = s.take();
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].body == "slow answer");
  CHECK(rs[1].chunked);
  CHECK(rs[1].body == "queued-" + std::string(70 * 1024, 'q') + "-tail");
}

TEST_CASE("streaming: answers behind an unfinished stream wait for its end", "[http][pipelining][streaming]") {
  std::optional<ChunkedWriter> stream;
  auto handler = make_handler([&](HttpRequest& r, ResponseWriter w) {
    if (r.target == "/stream") {
      stream = w.begin_chunked(HttpResponse(200));
      stream->write("part1");
    } else {
      w.send(HttpResponse::text("after"));
    }
  });
  Server s(handler);
  s.ch->write_inbound(get("/stream") + get("/next"));
  std::string raw = s.ch->read_outbound_bytes();
  CHECK_THAT(raw, Contains("5\r\npart1\r\n"));
  CHECK_THAT(raw, !Contains("after"));
  stream->write("part2");
  stream->end();
  s.ch->run_pending_tasks();
  raw += s.ch->read_outbound_bytes();
  auto rs = parse_responses(raw);
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].body == "part1part2");
  CHECK(rs[1].body == "after");
}

TEST_CASE("streaming: HEAD on a streamed route sends no body", "[http][pipelining][streaming]") {
  auto router = std::make_shared<Router>();
  router->get("/stream", [](HttpRequest&, ResponseWriter w) {
    ChunkedWriter body = w.begin_chunked(HttpResponse(200).header("Content-Type", "text/plain"));
    body.write("abc");
    body.write("def");
    body.end();
  });
  Server s(router);
  // If the HEAD answer carried any chunk (or the last-chunk), the GET answer
  // after it would not parse.
  auto rs = s.send("HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n" + get("/stream"), {0});
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].status == 200);
  CHECK(rs[0].header("Transfer-Encoding") == "chunked");
  CHECK(rs[0].body.empty());
  CHECK(rs[1].body == "abcdef");
}

TEST_CASE("streaming: to an HTTP/1.0 client the body is not chunked and ends with the connection",
          "[http][pipelining][streaming]") {
  auto handler = make_handler([](HttpRequest&, ResponseWriter w) {
    ChunkedWriter body = w.begin_chunked(HttpResponse(200));
    body.write("one,");
    body.write("two");
    body.end();
  });
  Server s(handler);
  auto rs = s.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(rs.size() == 1);
  CHECK_FALSE(rs[0].header("Transfer-Encoding"));
  CHECK_FALSE(rs[0].header("Content-Length"));
  CHECK(rs[0].closes());
  CHECK(rs[0].body == "one,two");
  CHECK(s.lingers_until_peer_closes());
}

TEST_CASE("streaming: writers learn when the connection goes away", "[http][pipelining][streaming]") {
  std::optional<ChunkedWriter> stream;
  bool told = false;
  auto handler = make_handler([&](HttpRequest&, ResponseWriter w) {
    stream = w.begin_chunked(HttpResponse(200));
    stream->write("x");
  });
  Server s(handler);
  s.ch->set_peer_reading(false);
  s.ch->write_inbound(get("/"));
  REQUIRE(stream);
  stream->write(std::string(100 * 1024, 'y'));
  CHECK_FALSE(stream->writable());
  stream->on_writable([&] { told = true; });
  s.ch->run_pending_tasks();
  CHECK_FALSE(told);
  s.channel().close_now();
  s.ch->run_pending_tasks();
  CHECK(told);
  CHECK(stream->closed());
  CHECK_FALSE(stream->writable());
  stream->write("ignored");  // no effect, no crash
  stream->end();
  s.ch->run_pending_tasks();
}

// ============================================================================
// Handler exceptions
// ============================================================================

TEST_CASE("pipelining: exceptions from handlers become answers, and the connection lives on",
          "[http][pipelining][errors]") {
  auto handler = make_handler([](HttpRequest& r, ResponseWriter w) {
    if (r.target == "/boom") throw std::runtime_error("database password is hunter2");
    if (r.target == "/teapot") throw HttpError(418, "teapot");
    if (r.target == "/odd") throw 42;
    w.send(HttpResponse::text("fine " + r.target));
  });
  Server s(handler);
  auto rs = s.send(get("/boom") + get("/ok1") + get("/teapot") + get("/odd") + get("/ok2"));
  REQUIRE(rs.size() == 5);
  CHECK(statuses(rs) == std::vector<int>{500, 200, 418, 500, 200});

  CHECK(rs[0].reason == "Internal Server Error");
  CHECK_THAT(rs[0].body, !Contains("hunter2") && !Contains("password"));
  CHECK(rs[0].body == "500 Internal Server Error\n");
  CHECK_FALSE(rs[0].closes());

  CHECK(rs[1].body == "fine /ok1");
  CHECK(rs[2].body == "teapot\n");
  CHECK_FALSE(rs[2].closes());
  CHECK(rs[3].body == "500 Internal Server Error\n");
  CHECK(rs[4].body == "fine /ok2");
  CHECK(s.ch->is_open());

  // And later reads are still served.
  rs = s.send(get("/boom") + get("/ok3"));
  CHECK(statuses(rs) == std::vector<int>{500, 200});
  CHECK(s.ch->is_open());
}

TEST_CASE("pipelining: a handler that throws after answering keeps its answer", "[http][pipelining][errors]") {
  auto handler = make_handler([](HttpRequest&, ResponseWriter w) {
    w.send(HttpResponse::text("answered"));
    throw std::runtime_error("too late");
  });
  Server s(handler);
  auto rs = s.send(get("/1") + get("/2"));
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].body == "answered");
  CHECK(rs[1].body == "answered");
}

TEST_CASE("pipelining: a client that reads none of its answers is cut off after send_timeout_ms",
          "[http][pipelining][backpressure]") {
  HttpCodecOptions o;
  o.send_timeout_ms = 2000;
  auto handler = make_handler([](HttpRequest& r, ResponseWriter w) {
    w.send(HttpResponse::text(pattern(16 * 1024, std::stoul(r.target.substr(1)))));
  });
  Server s(handler, o);
  s.ch->set_peer_reading(false);
  s.ch->write_inbound(gets(0, 16));
  REQUIRE_FALSE(s.channel().is_writable());
  s.ch->advance_time(1900);
  CHECK(s.ch->is_open());  // not yet
  s.ch->advance_time(200);
  CHECK_FALSE(s.ch->is_open());
}

TEST_CASE("pipelining: a client that reads slowly but steadily is not cut off", "[http][pipelining][backpressure]") {
  HttpCodecOptions o;
  o.send_timeout_ms = 2000;
  auto handler = make_handler([](HttpRequest& r, ResponseWriter w) {
    w.send(HttpResponse::text(pattern(16 * 1024, std::stoul(r.target.substr(1)))));
  });
  Server s(handler, o);
  for (int round = 0; round < 5; ++round) {
    s.ch->set_peer_reading(false);
    s.ch->write_inbound(gets(round * 16, round * 16 + 16));
    s.ch->advance_time(1500);  // under the timeout each time, 7.5 s in all
    REQUIRE(s.ch->is_open());
    s.ch->set_peer_reading(true);
    s.ch->run_pending_tasks();
  }
  CHECK(s.ch->is_open());
}

TEST_CASE("requests are recycled only once nothing holds them", "[http][pipelining]") {
  // Two connections on one thread share its pool of recycled requests and
  // exchanges. One holds a request (through its writer) while the other
  // serves many; the held one must come through untouched.
  struct Held {
    HttpRequest* request = nullptr;
    std::optional<ResponseWriter> writer;
  } held;
  auto holder = make_handler([&](HttpRequest& r, ResponseWriter w) {
    held.request = &r;
    held.writer = std::move(w);
  });
  Server a(holder);
  Server b(target_echo());
  a.ch->write_inbound(get("/held?mark=1", "X-Mark: still here\r\n"));
  REQUIRE(held.request != nullptr);
  for (int round = 0; round < 20; ++round) {
    auto responses = b.send(gets(round * 8, round * 8 + 8));
    REQUIRE(bodies(responses) == numbered(round * 8, round * 8 + 8));
  }
  CHECK(held.request->target == "/held?mark=1");
  CHECK(held.request->headers.get("X-Mark") == "still here");
  CHECK(held.request->query_param("mark") == "1");
  held.writer->send(HttpResponse::text(held.request->target));
  held.writer.reset();
  auto answered = a.take();
  REQUIRE(answered.size() == 1);
  CHECK(answered[0].body == "/held?mark=1");
  // The connection goes on with a recycled request after the held one.
  auto again = b.send(get("/after"));
  REQUIRE(again.size() == 1);
  CHECK(again[0].body == "/after");
}
