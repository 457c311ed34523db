#pragma once
// The sample HTTP server's routes, shared by samples/http and its tests.

#include <memory>
#include <string>

#include "sluice/http/http_body_stream.hpp"

#include <nlohmann/json.hpp>

#include "sluice/core/event_loop.hpp"
#include "sluice/http/router.hpp"

namespace sluice::sample {

constexpr std::uint64_t kMaxComputeN = 50'000'000;
constexpr std::uint64_t kMaxStreamKb = 1024 * 1024;  // 1 GiB

/// Counts the primes below n (CPU work for /compute).
inline std::uint64_t count_primes(std::uint64_t n) {
  if (n < 3) return 0;
  std::vector<bool> composite(n, false);
  std::uint64_t count = 0;
  for (std::uint64_t i = 2; i < n; ++i) {
    if (composite[i]) continue;
    ++count;
    for (std::uint64_t j = i * i; j < n; j += i) composite[j] = true;
  }
  return count;
}

/// Parses a decimal query parameter in [0, max]; throws HttpError(400).
inline std::uint64_t number_param(const HttpRequest& request, std::string_view name, std::uint64_t fallback,
                                  std::uint64_t max) {
  auto text = request.query_param(name);
  if (!text) return fallback;
  if (text->empty() || text->size() > 19 || text->find_first_not_of("0123456789") != std::string::npos) {
    throw HttpError(400, "Bad Request: " + std::string(name) + " must be a whole number");
  }
  std::uint64_t v = std::stoull(*text);
  if (v > max) throw HttpError(400, "Bad Request: " + std::string(name) + " must be at most " + std::to_string(max));
  return v;
}

/// Streams `remaining` bytes of 'x' in 16 KiB chunks, pausing whenever the
/// connection is above its high watermark.
class StreamProducer : public std::enable_shared_from_this<StreamProducer> {
 public:
  StreamProducer(ChunkedWriter writer, std::uint64_t bytes) : writer_(std::move(writer)), remaining_(bytes) {}
  void pump() {
    static const std::string chunk(16 * 1024, 'x');
    while (remaining_ > 0 && writer_.writable()) {
      std::size_t n = remaining_ < chunk.size() ? static_cast<std::size_t>(remaining_) : chunk.size();
      writer_.write(std::string_view(chunk.data(), n));
      remaining_ -= n;
    }
    if (remaining_ == 0) {
      writer_.end();
    } else if (!writer_.closed()) {
      writer_.on_writable([self = shared_from_this()] { self->pump(); });
    }
  }

 private:
  ChunkedWriter writer_;
  std::uint64_t remaining_;
};

inline std::shared_ptr<Router> make_routes(std::function<nlohmann::json()> health) {
  auto router = std::make_shared<Router>();
  router->get("/plaintext", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("Hello, World!")); });
  router->get("/json", [](HttpRequest&, ResponseWriter w) {
    // Written straight into a pooled buffer: no document, no allocation.
    JsonWriter body;
    body.begin_object().field("message", "Hello, World!").end_object();
    w.send(HttpResponse::json(std::move(body)));
  });
  router->post("/echo", [](HttpRequest& r, ResponseWriter w) {
    HttpResponse response(200);
    auto type = r.headers.get("Content-Type");
    response.header("Content-Type", type ? std::string(*type) : "application/octet-stream");
    response.set_body(r.body);
    w.send(std::move(response));
  });
  router->get("/users/:id", [](HttpRequest& r, ResponseWriter w) {
    std::string_view id = r.param("id");
    if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string_view::npos) {
      w.send(HttpResponse::json({{"error", "no such user"}}, 404));
      return;
    }
    w.send(HttpResponse::json({{"id", std::stoll(std::string(id))}, {"name", "user " + std::string(id)}}));
  });
  router->get("/compute", [](HttpRequest& r, ResponseWriter w) {
    std::uint64_t n = number_param(r, "n", 100'000, kMaxComputeN);
    auto result = std::make_shared<std::uint64_t>(0);
    // The sieve runs on libuv's thread pool; the answer goes back on the loop.
    w.loop().offload([n, result] { *result = count_primes(n); },
                     [w, n, result] { w.send(HttpResponse::json({{"n", n}, {"primes_below_n", *result}})); });
  });
  router->get("/stream", [](HttpRequest& r, ResponseWriter w) {
    std::uint64_t kb = number_param(r, "kb", 64, kMaxStreamKb);
    auto writer = w.begin_chunked(HttpResponse(200).header("Content-Type", "application/octet-stream"));
    std::make_shared<StreamProducer>(writer, kb * 1024)->pump();
  });
  // The body arrives piece by piece (RouteOptions::stream_body): an upload of
  // any size up to max_streamed_body_bytes is counted, never held whole.
  router->add(
      "POST", "/upload",
      [](HttpRequest& r, ResponseWriter w) {
        auto bytes = std::make_shared<std::uint64_t>(0);
        auto sum = std::make_shared<std::uint32_t>(0);
        r.body_stream->on_data(
            [bytes, sum](std::string_view piece) {
              *bytes += piece.size();
              for (unsigned char c : piece) *sum = *sum * 31 + c;
            },
            [w, bytes, sum](int error) {
              if (error != 0) {
                w.send(HttpResponse::error(error));
                return;
              }
              w.send(HttpResponse::json({{"bytes", *bytes}, {"checksum", *sum}}));
            });
      },
      RouteOptions{.stream_body = true});
  router->get("/health", [health](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::json(health())); });
  return router;
}

}  // namespace sluice::sample
