#include "sluice/http/json_writer.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../core/utf8.hpp"

namespace sluice {

namespace {

// The bytes a string may hold as they are: not a quote, a backslash or a
// control character (RFC 8259, section 7).
constexpr bool plain(unsigned char c) noexcept { return c >= 0x20 && c != '"' && c != '\\'; }
// plain() and ASCII, as a table: one load per byte where the four tests
// cost about ten instructions (tools/profile, /json).
constexpr auto kPlainAscii = [] {
  std::array<bool, 256> table{};
  for (unsigned c = 0; c < 0x80; ++c) table[c] = plain(static_cast<unsigned char>(c));
  return table;
}();

}  // namespace

JsonWriter::JsonWriter(std::size_t reserve) : out_(reserve) {}

JsonWriter& JsonWriter::begin_object() {
  open_value();
  push(Nest::object);
  out_.append("{", 1);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  if (next_ != Next::key) misuse(depth_ == 0 ? "end_object() with no object open" : "end_object() where a value is due");
  pop(Nest::object);
  out_.append("}", 1);
  close_value();
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  open_value();
  push(Nest::array);
  out_.append("[", 1);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  if (depth_ == 0 || next_ != Next::value) misuse("end_array() with no array open");
  pop(Nest::array);
  out_.append("]", 1);
  close_value();
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  if (next_ != Next::key) misuse("key() outside an object, or where a value is due");
  if (!first_) out_.append(",", 1);
  write_string(name);
  out_.append(":", 1);
  next_ = Next::member_value;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view text) {
  open_value();
  write_string(text);
  close_value();
  return *this;
}

JsonWriter& JsonWriter::value(bool b) {
  open_value();
  out_.append(b ? std::string_view("true") : std::string_view("false"));
  close_value();
  return *this;
}

JsonWriter& JsonWriter::value(double number) {
  if (!std::isfinite(number)) return null();
  open_value();
  out_.ensure_writable(32);  // the longest shortest form of a double is 24 characters
  char* begin = out_.begin_write();
  char* end = std::to_chars(begin, begin + 32, number).ptr;
  // A whole number keeps a fraction, as nlohmann::json writes it, so that
  // a reader still sees a floating-point number: 2.0, not 2.
  if (std::string_view(begin, static_cast<std::size_t>(end - begin)).find_first_of(".e") == std::string_view::npos) {
    *end++ = '.';
    *end++ = '0';
  }
  out_.has_written(static_cast<std::size_t>(end - begin));
  close_value();
  return *this;
}

template <class Integer>
JsonWriter& JsonWriter::integer(Integer number) {
  open_value();
  out_.ensure_writable(20);  // the longest 64-bit integer, with its sign
  char* begin = out_.begin_write();
  out_.has_written(static_cast<std::size_t>(std::to_chars(begin, begin + 20, number).ptr - begin));
  close_value();
  return *this;
}
template JsonWriter& JsonWriter::integer(std::int64_t);
template JsonWriter& JsonWriter::integer(std::uint64_t);

JsonWriter& JsonWriter::null() {
  open_value();
  out_.append("null", 4);
  close_value();
  return *this;
}

Buffer JsonWriter::take() {
  if (!complete()) misuse("take() before the value is whole");
  Buffer done = std::move(out_);
  out_ = Buffer();
  next_ = Next::value;
  first_ = true;
  return done;
}

void JsonWriter::open_value() {
  switch (next_) {
    case Next::value:
      if (depth_ != 0 && !first_) out_.append(",", 1);  // in an array
      break;
    case Next::member_value:
      break;
    case Next::key:
      misuse("a value where a key is due");
    case Next::nothing:
      misuse("a second value after a whole one");
    case Next::broken:
      misuse("used after an error");
  }
}

void JsonWriter::close_value() noexcept {
  first_ = false;
  if (depth_ == 0) {
    next_ = Next::nothing;
  } else {
    next_ = nests_[depth_ - 1] == Nest::object ? Next::key : Next::value;
  }
}

void JsonWriter::push(Nest nest) {
  if (depth_ == kMaxDepth) misuse("nested deeper than 32 levels");
  nests_[depth_++] = nest;
  first_ = true;
  next_ = nest == Nest::object ? Next::key : Next::value;
}

void JsonWriter::pop(Nest nest) {
  if (depth_ == 0 || nests_[depth_ - 1] != nest) {
    misuse(nest == Nest::object ? "end_object() inside an array" : "end_array() inside an object");
  }
  --depth_;
}

void JsonWriter::write_string(std::string_view text) {
  // Most keys and strings are ASCII with nothing to escape: found in one
  // pass and copied whole (tools/profile on the sample's /json: the
  // general path below cost about 250 instructions per short string).
  std::size_t ascii = 0;
  while (ascii < text.size() && kPlainAscii[static_cast<unsigned char>(text[ascii])]) ++ascii;
  if (ascii == text.size()) {
    out_.ensure_writable(text.size() + 2);
    char* w = out_.begin_write();
    *w = '"';
    if (!text.empty()) std::memcpy(w + 1, text.data(), text.size());
    w[text.size() + 1] = '"';
    out_.has_written(text.size() + 2);
    return;
  }
  // No sequence starts inside the ASCII prefix: the rest is what to check.
  if (!detail::Utf8Validator::valid(text.data() + ascii, text.size() - ascii)) {
    next_ = Next::broken;
    throw std::invalid_argument("JsonWriter: a string that is not UTF-8");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out_.append("\"", 1);
  std::size_t run = 0;  // start of the bytes not written yet
  for (std::size_t i = ascii; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (plain(c)) continue;
    out_.append(text.substr(run, i - run));
    run = i + 1;
    switch (c) {
      case '"': out_.append("\\\"", 2); break;
      case '\\': out_.append("\\\\", 2); break;
      case '\n': out_.append("\\n", 2); break;
      case '\r': out_.append("\\r", 2); break;
      case '\t': out_.append("\\t", 2); break;
      case '\b': out_.append("\\b", 2); break;
      case '\f': out_.append("\\f", 2); break;
      default: {
        const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out_.append(escaped, 6);
      }
    }
  }
  out_.append(text.substr(run));
  out_.append("\"", 1);
}

void JsonWriter::misuse(const char* what) {
  next_ = Next::broken;  // take() refuses what was written
  throw std::logic_error(std::string("JsonWriter: ") + what);
}

}  // namespace sluice
