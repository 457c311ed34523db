#pragma once
// JSON written straight into a Buffer, with no document built first.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sluice/core/buffer.hpp"

namespace sluice {

/// Writes one JSON value into a Buffer as it is described, for answers on
/// the request path: nlohmann::json builds a document (allocations for
/// every object, key and string) and serialises it into a std::string (one
/// more); this writes into a buffer from the loop's pool, so a handler that
/// answers with it allocates nothing once the pool is warm.
///
///   JsonWriter body;
///   body.begin_object().field("message", "Hello, World!").end_object();
///   response.send(HttpResponse::json(std::move(body)));
///
/// It keeps track of commas and nesting (up to 32 levels) and escapes
/// strings and keys as RFC 8259 asks (quote, backslash and control
/// characters; anything else is written as the UTF-8 it is). Numbers are
/// written in their shortest exact form (std::to_chars), a whole double
/// with ".0"; NaN and the infinities, which JSON cannot hold, as null; all
/// three as nlohmann::json writes them.
/// Misuse throws and leaves the writer unusable: std::logic_error for a
/// value where a key is due, a key outside an object, an end that does not
/// match, too deep a nesting, or take() before the value is whole;
/// std::invalid_argument for a string that is not UTF-8. One thread at a
/// time; moves, does not copy.
class JsonWriter {
 public:
  /// `reserve`: bytes to start with (more are taken as needed).
  explicit JsonWriter(std::size_t reserve = 256);

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  /// The next member's name, inside an object.
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(bool b);
  JsonWriter& value(double number);
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>)
  JsonWriter& value(T number) {
    if constexpr (std::signed_integral<T>) return integer(static_cast<std::int64_t>(number));
    return integer(static_cast<std::uint64_t>(number));
  }
  JsonWriter& null();

  /// key(name) then value(v).
  template <class T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  /// Whether one whole value has been written.
  bool complete() const noexcept { return next_ == Next::nothing; }
  /// The JSON written; the writer is empty afterwards, with no buffer (a
  /// new value may follow). Throws std::logic_error unless complete().
  Buffer take();

 private:
  static constexpr std::size_t kMaxDepth = 32;
  // What may come next (the writer's state): a value (at the top, after a
  // member's key, or in an array, where `]` may end it instead), a key or
  // `}`, nothing more (the value is whole), or nothing ever (misused).
  enum class Next : std::uint8_t { value, member_value, key, nothing, broken };
  enum class Nest : std::uint8_t { object, array };

  /// For std::int64_t and std::uint64_t (json_writer.cpp).
  template <class Integer>
  JsonWriter& integer(Integer number);
  /// Before a value: checks that one may come here and writes its comma.
  void open_value();
  /// After a value (a scalar, or a container's end): what comes next.
  void close_value() noexcept;
  void push(Nest nest);
  void pop(Nest nest);
  void write_string(std::string_view text);
  [[noreturn]] void misuse(const char* what);

  Buffer out_;
  Nest nests_[kMaxDepth];
  std::uint8_t depth_ = 0;
  Next next_ = Next::value;
  bool first_ = true;  // nothing yet in the innermost object or array
};

}  // namespace sluice
