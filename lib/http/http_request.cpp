#include "sluice/http/http_request.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

#include <nlohmann/json.hpp>

namespace sluice {

namespace {
// Where the first '?' or '#' of `t` is (its size when there is none), eight
// bytes per step: every routed request asks for its path. A byte equal to c
// becomes zero in w ^ c*0x01..01, and (v - 0x01..01) & ~v & 0x80..80 sets
// the top bit of the lowest zero byte first (little-endian: the earliest).
std::size_t query_or_fragment(std::string_view t) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  std::size_t i = 0;
  if constexpr (std::endian::native == std::endian::little) {
    for (; i + 8 <= t.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, t.data() + i, 8);
      std::uint64_t q = w ^ (kOnes * '?');
      std::uint64_t f = w ^ (kOnes * '#');
      std::uint64_t hit = ((q - kOnes) & ~q & kHighs) | ((f - kOnes) & ~f & kHighs);
      if (hit != 0) return i + static_cast<std::size_t>(std::countr_zero(hit)) / 8;
    }
  }
  for (; i < t.size(); ++i) {
    if (t[i] == '?' || t[i] == '#') return i;
  }
  return t.size();
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string_view HttpRequest::path() const noexcept {
  std::string_view t = target;
  if (!t.empty() && t.front() == '/') return t.substr(0, query_or_fragment(t));  // origin-form: nearly every request
  if (t == "*") return t;
  // absolute-form: scheme://authority/path?query
  if (std::size_t scheme = t.find("://"); scheme != std::string_view::npos && t.front() != '/') {
    std::size_t slash = t.find('/', scheme + 3);
    if (slash == std::string_view::npos) return "/";
    t = t.substr(slash);
  }
  return t.substr(0, query_or_fragment(t));
}

std::string_view HttpRequest::query() const noexcept {
  std::string_view t = target;
  std::size_t q = t.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = t.substr(q + 1);
  return rest.substr(0, rest.find('#'));
}

std::optional<std::string> HttpRequest::query_param(std::string_view name) const {
  std::string_view rest = query();
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    std::size_t eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    if (key && *key == name) {
      if (eq == std::string_view::npos) return std::string();
      return percent_decode(pair.substr(eq + 1), true);
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string_view HttpRequest::param(std::string_view name) const noexcept {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return {};
}

nlohmann::json HttpRequest::json() const {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    // Position only: the parser's full text may echo the client's bytes.
    throw HttpError(400, "Bad Request: malformed JSON at byte " + std::to_string(e.byte));
  }
}

namespace {
// A pooled request keeps up to this much of a string's capacity; a rare large
// body or target is given back instead of being held by an idle pool.
constexpr std::size_t kKeptStringBytes = 16 * 1024;

void clear_and_trim(std::string& s) noexcept {
  if (s.capacity() > kKeptStringBytes) {
    std::string().swap(s);
  } else {
    s.clear();
  }
}
}  // namespace

void HttpRequest::reset() noexcept {
  method = {};
  clear_and_trim(target);
  version_major = 1;
  version_minor = 1;
  headers.clear();
  clear_and_trim(body);
  keep_alive = true;
  upgrade = false;
  remote_address = SocketAddress();
  sequence = 0;
  error_status = 0;
  clear_and_trim(error_message);
  body_stream.reset();
  params.clear();
}

}  // namespace sluice
