// Handlers answering from threads of their own, over real sockets: the
// ResponseWriter and ChunkedWriter promise "any thread". Worker threads
// answer, stream and drop their writers while loops write, recycle
// exchanges and close connections under them. Written for ThreadSanitizer
// (tools/run-tests tsan), which sees what goes unsynchronised; the other
// builds check the answers.

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/event_loop_group.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/router.hpp"
#include "support/http_responses.hpp"
#include "support/test_support.hpp"

using namespace sluice;
using sluice::test::BlockingClient;
using sluice::test::read_responses;
using sluice::test::wait_until;

namespace {

/// A few threads taking jobs from one queue: the "thread pool" of an
/// application that answers off the loop. Jobs run in no particular order.
class Workers {
 public:
  explicit Workers(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { run(); });
  }
  ~Workers() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void submit(std::function<void()> job) {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
  }

 private:
  void run() {
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();  // the job's writer copies die here, off the loop
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"; }

}  // namespace

TEST_CASE("threads: workers answer and stream pipelined requests from many connections, in request order",
          "[http][threads]") {
  constexpr int kClients = 4;
  constexpr int kRounds = 20;
  constexpr int kBatch = 16;  // max_pipelined_requests: all in flight at once

  EventLoopGroup loops({2, false, "thr"});
  auto workers = std::make_unique<Workers>(3);
  auto router = std::make_shared<Router>();
  router->get("/text/:n", [&](HttpRequest& req, ResponseWriter w) {
    workers->submit([w, n = std::string(req.param("n"))] { w.send(HttpResponse::text("text " + n)); });
  });
  router->get("/stream/:n", [&](HttpRequest& req, ResponseWriter w) {
    workers->submit([w, n = std::string(req.param("n"))] {
      ChunkedWriter body = w.begin_chunked(HttpResponse(200));
      for (int part = 0; part < 3; ++part) {
        (void)body.writable();  // read from a worker while the loop writes
        body.write("stream " + n + "." + std::to_string(part) + ";");
      }
      body.end();
    });
  });
  // Answered twice, on the loop and from a worker: whichever is first wins,
  // the other is ignored.
  router->get("/race/:n", [&](HttpRequest& req, ResponseWriter w) {
    std::string n(req.param("n"));
    workers->submit([w, n] { w.send(HttpResponse::text("race " + n)); });
    w.send(HttpResponse::text("race " + n));
  });
  HttpServerOptions options;
  options.listen.host = "127.0.0.1";
  HttpServer server(loops, options, router);
  server.start();

  std::atomic<int> bad{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      try {
        BlockingClient client(server.port());
        for (int round = 0; round < kRounds; ++round) {
          static const char* kKinds[] = {"text", "stream", "race"};
          std::string batch;
          std::vector<std::string> expected;
          for (int i = 0; i < kBatch; ++i) {
            std::string kind = kKinds[(c + round + i) % 3];
            std::string n = std::to_string(c) + "-" + std::to_string(round) + "-" + std::to_string(i);
            batch += get("/" + kind + "/" + n);
            expected.push_back(kind == "stream" ? "stream " + n + ".0;stream " + n + ".1;stream " + n + ".2;"
                                                : kind + " " + n);
          }
          client.send_all(batch);
          auto responses = read_responses(client, kBatch);
          if (responses.size() != static_cast<std::size_t>(kBatch)) {
            ++bad;
            return;
          }
          for (int i = 0; i < kBatch; ++i) {
            if (responses[static_cast<std::size_t>(i)].body != expected[static_cast<std::size_t>(i)]) ++bad;
          }
        }
      } catch (const std::exception&) {
        ++bad;
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(bad == 0);
  // The loops first: a handler may still be inside submit() after its
  // answer reached the client (the workers' queue must outlive it).
  loops.shutdown_gracefully();
  workers.reset();
}

TEST_CASE("threads: workers answer requests whose clients have gone", "[http][threads]") {
  constexpr int kClients = 8;
  constexpr int kBatch = 16;

  EventLoopGroup loops({2, false, "gone"});
  auto workers = std::make_unique<Workers>(3);
  std::atomic<int> dispatched{0};
  std::atomic<bool> clients_gone{false};
  std::atomic<int> answered{0};
  auto router = std::make_shared<Router>();
  router->get("/slow/:n", [&](HttpRequest&, ResponseWriter w) {
    ++dispatched;
    workers->submit([&, w] {
      // Answers and streams into a connection that is gone or going: the
      // loop closes it while the workers write.
      wait_until([&] { return clients_gone.load(); });
      ChunkedWriter body = w.begin_chunked(HttpResponse(200));
      body.write("late");
      (void)body.writable();
      (void)body.closed();
      body.end();
      ++answered;
    });
  });
  HttpServerOptions options;
  options.listen.host = "127.0.0.1";
  HttpServer server(loops, options, router);
  server.start();

  {
    std::vector<std::unique_ptr<BlockingClient>> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.push_back(std::make_unique<BlockingClient>(server.port()));
      std::string batch;
      for (int i = 0; i < kBatch; ++i) batch += get("/slow/" + std::to_string(i));
      clients.back()->send_all(batch);
    }
    REQUIRE(wait_until([&] { return dispatched.load() == kClients * kBatch; }));
  }  // the clients leave without reading
  clients_gone = true;
  CHECK(wait_until([&] { return answered.load() == kClients * kBatch; }));
  CHECK(wait_until([&] { return server.tcp().connections() == 0; }));
  loops.shutdown_gracefully();
  workers.reset();
}
