#pragma once
// A request body handed to the handler piece by piece as it arrives.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sluice {

namespace detail {
struct BodyStreamFeed;
}

/// The body of a request whose route asked for streaming
/// (Router::add(..., RouteOptions{.stream_body = true})): the handler runs as
/// soon as the headers arrive, and reads the body with on_data(). Such a
/// route's handler always gets one; for a request without a body it has
/// already ended (on_data's end callback runs at once with 0). pause()
/// stops the connection reading from the socket (backpressure) until
/// resume(), so a slow consumer never makes the server buffer a large body.
/// Loop thread only.
class HttpBodyStream {
 public:
  using DataFn = std::function<void(std::string_view piece)>;
  /// 0 when the whole body arrived; else the status the request failed with
  /// (413 too large, 408 too slow, 400 malformed, 499 the client went away).
  using EndFn = std::function<void(int error_status)>;

  /// A stream that already holds all of `body` and has ended: what a
  /// streamed route gets for a request without a body, or whose body was
  /// read whole before the route was known.
  static std::shared_ptr<HttpBodyStream> finished(std::string body = {});

  /// Starts delivery. Pieces that arrived before are delivered at once.
  void on_data(DataFn data, EndFn end);
  void pause();
  void resume();
  bool paused() const noexcept { return paused_; }
  bool ended() const noexcept { return ended_; }
  std::uint64_t received() const noexcept { return received_; }

 private:
  friend struct detail::BodyStreamFeed;  // the connection's side (lib/http)
  void push(std::string_view piece);
  void finish(int error_status);
  bool wants_stop() const noexcept;
  void deliver();

  std::function<void(bool stop)> flow_;  // the connection's: true to stop reading, false to go on

  DataFn data_;
  EndFn end_;
  std::deque<std::string> early_;  // pieces before on_data()
  std::size_t early_bytes_ = 0;
  std::uint64_t received_ = 0;
  int end_status_ = 0;
  bool paused_ = false;
  bool ended_ = false;
  bool end_delivered_ = false;
};

}  // namespace sluice
