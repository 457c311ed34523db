#include "response_encoder.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "short_copy.hpp"
#include "sluice/core/event_loop.hpp"

namespace sluice::detail {

namespace {

// Writes into room reserved beforehand: no bounds check per piece.
struct HeadWriter {
  char* p;
  void put(std::string_view text) noexcept {
    copy_short(p, text.data(), text.size());
    p += text.size();
  }
  void put_number(std::uint64_t value) noexcept { p = std::to_chars(p, p + 20, value).ptr; }
  void put_field(std::string_view name, std::string_view value) noexcept {
    put(name);
    put(": ");
    put(value);
    put("\r\n");
  }
};

void put_status_line(HeadWriter& w, int status) {
  if (status == 200) {
    w.put("HTTP/1.1 200 OK\r\n");  // a constant: copied without a call
    return;
  }
  w.put("HTTP/1.1 ");
  w.put_number(static_cast<std::uint64_t>(status));
  w.put(" ");
  w.put(reason_phrase(status));
  w.put("\r\n");
}

void put_framing(HeadWriter& w, int status, const ResponseFraming& framing) {
  if (!status_has_no_body(status)) {
    if (framing.body == ResponseFraming::Body::chunked) {
      w.put("Transfer-Encoding: chunked\r\n");
    } else if (framing.body == ResponseFraming::Body::content_length) {
      w.put("Content-Length: ");
      w.put_number(framing.content_length);
      w.put("\r\n");
    }
  }
  if (framing.upgrade) {
    w.put("Connection: Upgrade\r\n");
  } else if (!framing.keep_alive) {
    w.put("Connection: close\r\n");
  } else if (framing.http10) {
    w.put("Connection: keep-alive\r\n");
  }
}

// The fields whose values the server decides. By length first: most
// fields an application sets (Content-Type, Cache-Control) have none of
// these lengths and cost no comparison.
bool server_owned(std::string_view name) noexcept {
  switch (name.size()) {
    case 4: return iequals(name, "Date");
    case 10: return iequals(name, "Connection");
    case 14: return iequals(name, "Content-Length");
    case 17: return iequals(name, "Transfer-Encoding");
    default: return false;
  }
}

bool sets_server(const HttpHeaders& headers) noexcept {
  for (const auto& [name, value] : headers) {
    if (name.size() == 6 && iequals(name, "Server")) return true;
  }
  return false;
}

}  // namespace

Buffer encode_head(const HttpResponse& response, const ResponseFraming& framing, std::string_view server_name,
                   std::string_view date, std::size_t extra_room) {
  Buffer head;
  append_head(head, response, framing, server_name, date, extra_room);
  return head;
}

void append_head(Buffer& head, const HttpResponse& response, const ResponseFraming& framing,
                 std::string_view server_name, std::string_view date, std::size_t extra_room) {
  // The head's size is bounded before a byte is written: 64 covers the
  // status line's and the fixed fields' punctuation, 40 the framing field,
  // 24 the Connection field.
  std::size_t reason_bytes = response.status == 200 ? 2 : reason_phrase(response.status).size();
  head.ensure_writable(64 + reason_bytes + server_name.size() + date.size() + 40 + 24 +
                       response.headers.text_bytes() + 4 * response.headers.size() + extra_room);
  char* const start = head.begin_write();
  HeadWriter w{start};
  put_status_line(w, response.status);
  if (!server_name.empty() && !sets_server(response.headers)) w.put_field("Server", server_name);
  w.put_field("Date", date);
  put_framing(w, response.status, framing);
  for (const auto& [name, value] : response.headers) {
    if (!server_owned(name)) w.put_field(name, value);
  }
  w.put("\r\n");
  head.has_written(static_cast<std::size_t>(w.p - start));
}

void frame_chunk(Buffer& chunk) {
  char size_line[24];
  int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.readable_bytes());
  auto line_bytes = static_cast<std::size_t>(n);
  if (chunk.owns_storage() && chunk.prependable_bytes() >= line_bytes) {
    chunk.prepend(size_line, line_bytes);
  } else {
    Buffer framed(line_bytes + chunk.readable_bytes() + 2);
    framed.append(size_line, line_bytes);
    framed.append(chunk.view());
    chunk = std::move(framed);
  }
  chunk.append("\r\n", 2);
}

std::string_view http_date(const EventLoop& loop) {
  thread_local const EventLoop* cached_loop = nullptr;
  thread_local std::uint64_t recheck_at = 0;  // on cached_loop's clock
  thread_local std::time_t cached_second = 0;
  thread_local char text[40];
  thread_local std::size_t text_bytes = 0;  // kept: the text as a view costs no strlen per answer
  std::uint64_t now_ms = loop.now();
  if (&loop == cached_loop && now_ms < recheck_at) return {text, text_bytes};
  timespec wall{};
  clock_gettime(CLOCK_REALTIME, &wall);
  if (wall.tv_sec != cached_second) {
    cached_second = wall.tv_sec;
    std::tm tm{};
    gmtime_r(&cached_second, &tm);
    text_bytes = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  }
  cached_loop = &loop;
  recheck_at = now_ms + static_cast<std::uint64_t>(1000 - wall.tv_nsec / 1'000'000);
  return {text, text_bytes};
}

}  // namespace sluice::detail
