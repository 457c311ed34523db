#pragma once
// Internal: the connection's side of an HttpBodyStream (what users never call).

#include <functional>
#include <string_view>
#include <utility>

#include "sluice/http/http_body_stream.hpp"

namespace sluice::detail {

/// Feeds a streamed request body. Loop thread only.
struct BodyStreamFeed {
  /// `flow(true)` asks the connection to stop reading, `flow(false)` to go on.
  static void set_flow(HttpBodyStream& s, std::function<void(bool stop)> flow) { s.flow_ = std::move(flow); }
  static void push(HttpBodyStream& s, std::string_view piece) { s.push(piece); }
  /// Ends the body: 0 complete, else the status its handler learns of.
  static void finish(HttpBodyStream& s, int error_status) { s.finish(error_status); }
  /// Whether to stop feeding (paused, or too much held for a consumer
  /// that has not started yet).
  static bool wants_stop(const HttpBodyStream& s) noexcept { return s.wants_stop(); }
};

}  // namespace sluice::detail
