// detail::encode_head and frame_chunk: a response's bytes, as pure
// functions (no channel, no loop).
#include <catch2/catch.hpp>

#include <string>

#include "../lib/http/response_encoder.hpp"
#include "../lib/http/short_copy.hpp"

using sluice::Buffer;
using sluice::HttpResponse;
using sluice::detail::encode_head;
using sluice::detail::frame_chunk;
using sluice::detail::ResponseFraming;

namespace {

constexpr const char* kDate = "Mon, 30 Nov 2026 16:00:00 GMT";

std::string head_of(const HttpResponse& r, ResponseFraming f, std::string_view server = "sluice") {
  return std::string(encode_head(r, f, server, kDate).view());
}

ResponseFraming length(std::size_t n, bool keep_alive = true, bool http10 = false) {
  return ResponseFraming{ResponseFraming::Body::content_length, n, keep_alive, http10};
}

}  // namespace

TEST_CASE("encoder: a 200 with a Content-Length", "[http][encoder]") {
  HttpResponse r;
  r.headers.add("Content-Type", "text/plain");
  CHECK(head_of(r, length(5)) ==
        "HTTP/1.1 200 OK\r\nServer: sluice\r\nDate: Mon, 30 Nov 2026 16:00:00 GMT\r\nContent-Length: 5\r\n"
        "Content-Type: text/plain\r\n\r\n");
}

TEST_CASE("encoder: the status line of other statuses", "[http][encoder]") {
  CHECK(head_of(HttpResponse(404), length(0)).rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
  CHECK(head_of(HttpResponse(599), length(0)).rfind("HTTP/1.1 599 Unknown\r\n", 0) == 0);
}

TEST_CASE("encoder: Server", "[http][encoder]") {
  HttpResponse r;
  CHECK(head_of(r, length(0), "").find("Server:") == std::string::npos);  // none configured
  r.headers.add("Server", "mine");
  std::string h = head_of(r, length(0));
  CHECK(h.find("Server: sluice") == std::string::npos);  // the application's wins
  CHECK(h.find("Server: mine\r\n") != std::string::npos);
}

TEST_CASE("encoder: the fields the server owns are its own", "[http][encoder]") {
  HttpResponse r;
  r.headers.add("Content-Length", "999");
  r.headers.add("transfer-encoding", "gzip");
  r.headers.add("Connection", "upgrade");
  r.headers.add("Date", "yesterday");
  r.headers.add("X-Kept", "1");
  CHECK(head_of(r, length(2)) ==
        "HTTP/1.1 200 OK\r\nServer: sluice\r\nDate: Mon, 30 Nov 2026 16:00:00 GMT\r\nContent-Length: 2\r\n"
        "X-Kept: 1\r\n\r\n");
}

TEST_CASE("encoder: framing", "[http][encoder]") {
  HttpResponse r;
  SECTION("chunked") {
    std::string h = head_of(r, ResponseFraming{ResponseFraming::Body::chunked, 0, true, false});
    CHECK(h.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    CHECK(h.find("Content-Length") == std::string::npos);
  }
  SECTION("until the connection closes (an HTTP/1.0 stream)") {
    std::string h = head_of(r, ResponseFraming{ResponseFraming::Body::until_close, 0, false, true});
    CHECK(h.find("Transfer-Encoding") == std::string::npos);
    CHECK(h.find("Content-Length") == std::string::npos);
    CHECK(h.find("Connection: close\r\n") != std::string::npos);
  }
  SECTION("no framing field for statuses without a body") {
    for (int status : {100, 204, 304}) {
      std::string h = head_of(HttpResponse(status), length(0));
      CHECK(h.find("Content-Length") == std::string::npos);
    }
  }
}

TEST_CASE("encoder: Connection", "[http][encoder]") {
  HttpResponse r;
  CHECK(head_of(r, length(0)).find("Connection") == std::string::npos);  // HTTP/1.1 keep-alive: nothing to say
  CHECK(head_of(r, length(0, false)).find("Connection: close\r\n") != std::string::npos);
  CHECK(head_of(r, length(0, true, true)).find("Connection: keep-alive\r\n") != std::string::npos);
  CHECK(head_of(r, length(0, false, true)).find("Connection: close\r\n") != std::string::npos);
}

TEST_CASE("encoder: room reserved behind the head takes a small body without growing", "[http][encoder]") {
  HttpResponse r;
  Buffer head = encode_head(r, length(3), "sluice", kDate, 3);
  CHECK(head.writable_bytes() >= 3);
}

TEST_CASE("encoder: chunk framing", "[http][encoder]") {
  SECTION("in the chunk's own room") {
    Buffer chunk = Buffer::copy_of("hello world, sixteen+");
    frame_chunk(chunk);
    CHECK(chunk.view() == "15\r\nhello world, sixteen+\r\n");
  }
  SECTION("a borrowed chunk is copied into a framed one") {
    std::string text(300, 'x');
    Buffer chunk = Buffer::borrow(text.data(), text.size());
    frame_chunk(chunk);
    CHECK(chunk.view() == "12c\r\n" + std::string(300, 'x') + "\r\n");
  }
  CHECK(sluice::detail::kLastChunk == "0\r\n\r\n");
}

TEST_CASE("copy_short: every length up to 40 bytes lands whole, and nothing past it", "[http][encoder]") {
  std::string source;
  for (int i = 0; i < 40; ++i) source.push_back(static_cast<char>('A' + i));
  for (std::size_t n = 0; n <= source.size(); ++n) {
    std::string out(48, '.');
    sluice::detail::copy_short(out.data() + 1, source.data(), n);  // off word alignment
    INFO(n);
    CHECK(out.substr(1, n) == source.substr(0, n));
    CHECK(out.front() == '.');
    CHECK(out.substr(1 + n) == std::string(47 - n, '.'));
  }
}
