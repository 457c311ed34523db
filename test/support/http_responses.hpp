#pragma once
// HTTP/1.1 response parsing for tests: a strict parser for everything a
// server wrote (parse_responses: throws on anything malformed or incomplete)
// and an incremental one for bytes still arriving (parse_response,
// read_responses).

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/http/http_headers.hpp"
#include "support/test_support.hpp"

namespace sluice::test {

struct Response {
  std::string version;
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> trailers;
  std::string body;
  bool chunked = false;
  std::size_t raw_bytes = 0;    // what it took on the wire (parse_response)
  std::size_t chunk_count = 0;  // data chunks of a chunked body (parse_response)

  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (iequals(n, name)) return v;
    }
    return std::nullopt;
  }
  std::size_t count(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& h : headers) n += iequals(h.first, name) ? 1 : 0;
    return n;
  }
  bool closes() const {
    auto c = header("Connection");
    return c && iequals(*c, "close");
  }
  // Everything but the Date header (which moves with the clock).
  std::string normalized() const {
    std::string out = version + " " + std::to_string(status) + " " + reason + "\n";
    for (const auto& [n, v] : headers) {
      if (!iequals(n, "Date")) out += n + ": " + v + "\n";
    }
    return out + "\n" + body;
  }
};

[[noreturn]] inline void malformed(const std::string& what, std::string_view rest) {
  throw std::runtime_error("malformed response stream: " + what + " at: " + std::string(rest.substr(0, 80)));
}

inline std::string_view take_line(std::string_view& bytes) {
  std::size_t end = bytes.find("\r\n");
  if (end == std::string_view::npos) malformed("incomplete line", bytes);
  std::string_view line = bytes.substr(0, end);
  bytes.remove_prefix(end + 2);
  return line;
}

inline std::pair<std::string, std::string> split_field(std::string_view line) {
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) malformed("bad field line", line);
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return {std::string(line.substr(0, colon)), std::string(value)};
}

// Splits `bytes` into responses: status line, header fields, and a body
// delimited by Content-Length, chunked framing or (with neither) the end of
// the bytes. `head_replies` are the indices, among final (non-1xx)
// responses, that answer a HEAD and so carry no body. Throws on anything
// malformed or incomplete.
inline std::vector<Response> parse_responses(std::string_view bytes, const std::set<std::size_t>& head_replies = {}) {
  std::vector<Response> out;
  std::size_t finals = 0;
  while (!bytes.empty()) {
    Response r;
    std::string_view line = take_line(bytes);
    if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) {
      malformed("bad status line", line);
    }
    r.version = std::string(line.substr(0, 8));
    r.status = std::stoi(std::string(line.substr(9, 3)));
    if (line.size() > 13) r.reason = std::string(line.substr(13));
    for (std::string_view field = take_line(bytes); !field.empty(); field = take_line(bytes)) {
      r.headers.push_back(split_field(field));
    }
    bool informational = r.status >= 100 && r.status < 200;
    auto length = r.header("Content-Length");
    auto coding = r.header("Transfer-Encoding");
    if (r.count("Content-Length") > 1) malformed("two Content-Length", line);
    if (length && coding) malformed("Content-Length and Transfer-Encoding", line);
    bool no_body = informational || r.status == 204 || r.status == 304 || head_replies.count(finals) != 0;
    if (!no_body) {
      if (coding) {
        if (*coding != "chunked") malformed("unexpected Transfer-Encoding " + *coding, line);
        r.chunked = true;
        for (;;) {
          std::string size_line(take_line(bytes));
          std::size_t used = 0;
          std::size_t size = std::stoul(size_line, &used, 16);
          if (used != size_line.size()) malformed("bad chunk size line", size_line);
          if (size == 0) break;
          if (bytes.size() < size + 2 || bytes.substr(size, 2) != "\r\n") malformed("incomplete chunk", bytes);
          r.body.append(bytes.substr(0, size));
          bytes.remove_prefix(size + 2);
        }
        for (std::string_view field = take_line(bytes); !field.empty(); field = take_line(bytes)) {
          r.trailers.push_back(split_field(field));
        }
      } else if (length) {
        std::size_t n = std::stoul(*length);
        if (bytes.size() < n) malformed("body shorter than Content-Length " + *length, bytes);
        r.body = std::string(bytes.substr(0, n));
        bytes.remove_prefix(n);
      } else {
        r.body = std::string(bytes);  // delimited by the connection's end
        bytes = {};
      }
    }
    if (!informational) ++finals;
    out.push_back(std::move(r));
  }
  return out;
}

inline std::vector<int> statuses(const std::vector<Response>& responses) {
  std::vector<int> out;
  for (const auto& r : responses) out.push_back(r.status);
  return out;
}

/// Parses one response at the front of `data`; returns the bytes it took,
/// or 0 when it is not complete yet. `head`: the answer to a HEAD (no body).
/// Throws on a malformed status line.
inline std::size_t parse_response(std::string_view data, Response& out, bool head = false) {
  std::size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  std::string_view head_text = data.substr(0, end + 2);
  out = Response{};
  std::string_view line = take_line(head_text);
  if (line.size() < 12 || (line.substr(0, 9) != "HTTP/1.1 " && line.substr(0, 9) != "HTTP/1.0 ")) {
    malformed("bad status line", line);
  }
  out.version = std::string(line.substr(0, 8));
  out.status = std::stoi(std::string(line.substr(9, 3)));
  if (line.size() > 13) out.reason = std::string(line.substr(13));
  while (!head_text.empty()) out.headers.push_back(split_field(take_line(head_text)));
  std::size_t p = end + 4;
  bool no_body = head || out.status == 204 || out.status == 304 || (out.status >= 100 && out.status < 200);
  if (!no_body) {
    if (auto te = out.header("Transfer-Encoding"); te && *te == "chunked") {
      out.chunked = true;
      while (true) {
        std::size_t size_end = data.find("\r\n", p);
        if (size_end == std::string_view::npos) return 0;
        std::size_t size = std::stoul(std::string(data.substr(p, size_end - p)), nullptr, 16);
        p = size_end + 2;
        if (size == 0) break;
        if (data.size() < p + size + 2) return 0;
        out.body.append(data.substr(p, size));
        ++out.chunk_count;
        p += size + 2;
      }
      while (true) {  // trailers, then the empty line
        std::size_t line_end = data.find("\r\n", p);
        if (line_end == std::string_view::npos) return 0;
        bool last = line_end == p;
        if (!last) out.trailers.push_back(split_field(data.substr(p, line_end - p)));
        p = line_end + 2;
        if (last) break;
      }
    } else if (auto cl = out.header("Content-Length")) {
      std::size_t length = std::stoul(*cl);
      if (data.size() < p + length) return 0;
      out.body = std::string(data.substr(p, length));
      p += length;
    }
  }
  return out.raw_bytes = p;
}

/// Every complete response in `bytes` (an incomplete tail is left out);
/// `heads[i]` says whether the i-th answers a HEAD.
inline std::vector<Response> parse_all(std::string_view bytes, const std::vector<bool>& heads = {}) {
  std::vector<Response> out;
  while (!bytes.empty()) {
    Response r;
    bool head = out.size() < heads.size() && heads[out.size()];
    std::size_t used = parse_response(bytes, r, head);
    if (used == 0) break;
    out.push_back(std::move(r));
    bytes.remove_prefix(used);
  }
  return out;
}

/// Reads from a real socket until `n` responses arrived (or EOF / timeout).
inline std::vector<Response> read_responses(BlockingClient& client, std::size_t n,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  std::string buffer;
  std::vector<Response> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char chunk[65536];
  while (true) {
    Response r;
    while (out.size() < n) {
      std::size_t used = parse_response(buffer, r);
      if (used == 0) break;
      out.push_back(std::move(r));
      buffer.erase(0, used);
    }
    if (out.size() >= n) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{client.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t got = ::recv(client.fd(), chunk, sizeof chunk, 0);
    if (got <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(got));
  }
  return out;
}

}  // namespace sluice::test
