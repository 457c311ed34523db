#pragma once
// Internal: the rules a request head must follow before anything acts on
// it (RFC 9112 / 9110 and the request-smuggling defences), as one pure
// function of the parsed head.

#include <cstddef>
#include <string>
#include <string_view>

#include "sluice/http/http_request.hpp"

namespace sluice::detail {

/// What the decoder notes about the fields as they arrive, so the checks at
/// the end of the head need not scan every field once per name.
struct HeadFacts {
  std::size_t host_fields = 0;
  bool transfer_encoding = false;
  bool content_length = false;
  bool expect = false;

  /// Notes one field name of the header section.
  void note(std::string_view name) noexcept;
};

/// The status to refuse a request with (0: acceptable) and the message of
/// that answer: fixed text, then what it names (a transfer coding), viewed
/// in the head checked. Views, not a string: most heads are acceptable, and
/// this one is made for every request.
struct Verdict {
  int status = 0;
  std::string_view message;  // static text
  std::string_view detail;   // in the head checked: copy before the head changes
  bool ok() const noexcept { return status == 0; }
  std::string text() const { return std::string(message).append(detail); }
};

/// Checks a complete request head: the version (505), HTTP/1.0 with
/// Transfer-Encoding (400), an empty target (400), Host missing in 1.1 or
/// repeated (400), Content-Length with Transfer-Encoding (400), the
/// transfer codings (only "chunked", once and last: 501 for a well-formed
/// coding we do not implement, 400 for anything malformed). llhttp has
/// already refused what it can see alone (bad syntax, two different
/// Content-Lengths). Pure: reads only its arguments. Any thread.
Verdict validate_request(const HttpRequest& head, const HeadFacts& facts);

/// Expect in an HTTP/1.1 request: anything but "100-continue" is 417
/// (checked after the body size, whose 413 comes first). Pure; any thread.
Verdict validate_expect(const HttpRequest& head, const HeadFacts& facts);

}  // namespace sluice::detail
