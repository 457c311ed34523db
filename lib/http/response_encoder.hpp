#pragma once
// Internal: a response's bytes. The head (status line, the server's own
// fields, the framing and Connection fields, then the application's) and
// the chunk framing of a streamed body, as pure functions.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sluice/core/buffer.hpp"
#include "sluice/http/http_response.hpp"

namespace sluice {
class EventLoop;
}

namespace sluice::detail {

/// How the body of one response is framed and what the connection does
/// after it: decided by the connection, written by encode_head.
struct ResponseFraming {
  enum class Body : std::uint8_t {
    content_length,  // Content-Length: `content_length`
    chunked,         // Transfer-Encoding: chunked (HTTP/1.1 streams)
    until_close,     // no framing field: the body ends with the connection (HTTP/1.0 streams)
  };
  Body body = Body::content_length;
  std::size_t content_length = 0;
  bool keep_alive = true;  // false: "Connection: close"
  bool http10 = false;     // an HTTP/1.0 request: "Connection: keep-alive" when kept
  bool upgrade = false;    // a 101 that switches protocols: "Connection: Upgrade"
};

/// Whether a response with `status` never has a body (1xx, 204, 304): no
/// framing field is written for it.
constexpr bool status_has_no_body(int status) noexcept {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

/// The head of `response`: status line; Server (`server_name` unless empty
/// or the application set one); Date (`date`); the framing field; the
/// Connection field; the application's fields except the four the server
/// owns (Content-Length, Transfer-Encoding, Connection, Date); the blank
/// line. `extra_room` bytes more are reserved behind it (for a small body
/// appended in place). Pure; any thread.
Buffer encode_head(const HttpResponse& response, const ResponseFraming& framing, std::string_view server_name,
                   std::string_view date, std::size_t extra_room = 0);
/// The same head appended to `out` (the answers of a pipelined batch
/// gather in one buffer).
void append_head(Buffer& out, const HttpResponse& response, const ResponseFraming& framing,
                 std::string_view server_name, std::string_view date, std::size_t extra_room = 0);

/// Frames `chunk` (not empty) as one chunk of a chunked body: the size line
/// before it (in its prependable room when it owns its storage), CRLF after.
void frame_chunk(Buffer& chunk);

/// The last chunk of a chunked body, with no trailers.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

/// "Mon, 23 Nov 2026 16:00:00 GMT": the Date field's value now, formatted
/// once a second per thread (the loop's cached clock says when to look at
/// the wall clock again). Loop thread.
std::string_view http_date(const EventLoop& loop);

}  // namespace sluice::detail
