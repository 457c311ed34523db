#include "request_validator.hpp"

#include "text.hpp"

namespace sluice::detail {

namespace {
// Clients spell these names as the RFCs do, so the exact spelling is tried
// first: a few bytes compared at once, where iequals goes byte by byte
// (tools/profile: 34 instructions per request, for its Host).
bool is_field(std::string_view name, std::string_view canonical) noexcept {
  return name == canonical || iequals(name, canonical);
}
}  // namespace

void HeadFacts::note(std::string_view name) noexcept {
  // By length first: most fields are none of these four.
  switch (name.size()) {
    case 4: host_fields += is_field(name, "Host") ? 1 : 0; break;
    case 6: expect = expect || is_field(name, "Expect"); break;
    case 14: content_length = content_length || is_field(name, "Content-Length"); break;
    case 17: transfer_encoding = transfer_encoding || is_field(name, "Transfer-Encoding"); break;
    default: break;
  }
}

namespace {

Verdict refuse(int status, std::string_view message, std::string_view detail = {}) {
  return Verdict{status, message, detail};
}

// Transfer-Encoding: only "chunked" (last, once) is implemented. Anything
// malformed is 400; else the first offence in list order decides: "chunked"
// before another coding is 400, a well-formed coding we do not implement 501.
// Out of line: inlined, its frame is paid by every head, most having no
// Transfer-Encoding (tools/profile: 12 instructions per request).
[[gnu::noinline]] Verdict check_transfer_codings(const HttpHeaders& headers) {
  bool malformed = false;
  bool after_chunked = false;
  Verdict first;
  for (auto [name, value] : headers) {
    if (!iequals(name, "Transfer-Encoding")) continue;
    for_each_list_item(value, [&](std::string_view coding) {
      if (coding.empty()) return !(malformed = true);
      for (char c : coding) {
        if (!is_token_char(c)) return !(malformed = true);
      }
      if (after_chunked && first.ok()) first = refuse(400, "Bad Request: chunked must be the last transfer coding");
      after_chunked = iequals(coding, "chunked");
      if (!after_chunked && first.ok()) first = refuse(501, "Not Implemented: transfer coding ", coding);
      return true;
    });
    if (malformed) return refuse(400, "Bad Request: malformed Transfer-Encoding");
  }
  return first;
}

}  // namespace

Verdict validate_request(const HttpRequest& head, const HeadFacts& facts) {
  if (head.version_major != 1) return refuse(505, "HTTP Version Not Supported");
  // RFC 9112 6.1: the framing of an HTTP/1.0 message with Transfer-Encoding
  // is faulty. A 1.0 intermediary in front of us may frame it by the
  // connection's end instead, so any part of it could be a smuggled
  // request: refused whole rather than answered and closed.
  if (facts.transfer_encoding && head.version_minor == 0) {
    return refuse(400, "Bad Request: Transfer-Encoding in an HTTP/1.0 request");
  }
  if (head.target.empty()) return refuse(400, "Bad Request: empty target");
  if (facts.host_fields > 1) return refuse(400, "Bad Request: more than one Host");
  if (facts.host_fields == 0 && head.version_minor >= 1) return refuse(400, "Bad Request: missing Host");
  if (facts.transfer_encoding) {
    if (facts.content_length) return refuse(400, "Bad Request: Content-Length with Transfer-Encoding");
    if (Verdict v = check_transfer_codings(head.headers); !v.ok()) return v;
  }
  return {};
}

Verdict validate_expect(const HttpRequest& head, const HeadFacts& facts) {
  if (!facts.expect || head.version_minor < 1) return {};  // HTTP/1.0 ignores Expect
  auto expect = head.headers.get("Expect");
  if (expect && !iequals(trim_ows(*expect), "100-continue")) return refuse(417, "Expectation Failed");
  return {};
}

}  // namespace sluice::detail
