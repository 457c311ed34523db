#include "request_decoder.hpp"

#include <cstring>
#include <utility>

#include "recycler.hpp"
#include "text.hpp"

namespace sluice::detail {

namespace {
// A pooled decoder keeps up to this much capacity in each scratch string.
constexpr std::size_t kMaxKeptScratch = 1024;

void clear_keeping(std::string& text) noexcept {
  text.clear();
  if (text.capacity() > kMaxKeptScratch) text.shrink_to_fit();
}

// The common methods' names without llhttp_method_name()'s strlen.
std::string_view method_name(llhttp_method_t method) noexcept {
  switch (method) {
    case HTTP_GET: return "GET";
    case HTTP_HEAD: return "HEAD";
    case HTTP_POST: return "POST";
    case HTTP_PUT: return "PUT";
    case HTTP_DELETE: return "DELETE";
    case HTTP_PATCH: return "PATCH";
    case HTTP_OPTIONS: return "OPTIONS";
    default: return llhttp_method_name(method);
  }
}
}  // namespace

// One table of callbacks for every connection (llhttp keeps a pointer).
const llhttp_settings_t& RequestDecoder::settings() {
  static const llhttp_settings_t table = [] {
    llhttp_settings_t t;
    llhttp_settings_init(&t);
    t.on_message_begin = &on_message_begin;
    t.on_url = &on_url;
    t.on_header_field = &on_header_field;
    t.on_header_value = &on_header_value;
    t.on_header_value_complete = &on_header_value_complete;
    t.on_headers_complete = &on_headers_complete;
    t.on_body = &on_body;
    t.on_chunk_header = &on_chunk_header;
    t.on_chunk_complete = &on_chunk_complete;
    t.on_message_complete = &on_message_complete;
    return t;
  }();
  return table;
}

void RequestDecoder::reset() noexcept {
  if (fresh_.body_stream) end_body_stream(499);
  kept_.field.clear();
  kept_.value.clear();
  for (std::string* text : {&kept_.field.owned(), &kept_.value.owned(), &kept_.error_message}) clear_keeping(*text);
  fresh_ = {};
  input_follows_line_start_ = false;
}

void RequestDecoder::start(const HttpCodecOptions& options) {
  reset();
  options_ = &options;
  // llhttp_init takes a non-const pointer but only reads the settings.
  llhttp_init(&parser_, HTTP_REQUEST, const_cast<llhttp_settings_t*>(&settings()));
  parser_.data = this;
}

// ---- the decoding loop ----
//
// Callbacks pause llhttp (HPE_PAUSED) where the connection must act: the
// event is noted in paused_for and decode() returns it. They also pause at
// both ends of every chunk-size line, with no event, so each llhttp_execute
// call runs either entirely inside such a line or entirely outside one and
// the line's length is what the calls inside it consumed (llhttp bounds
// neither leading zeros nor extensions).

RequestDecoder::Event RequestDecoder::decode(const char*& data, std::size_t& len) {
  input_begin_ = data;
  Event event = Event::need_more;
  while (len > 0 && event == Event::need_more) {
    bool chunk_line = fresh_.in_chunk_line;
    llhttp_errno_t err = llhttp_execute(&parser_, data, len);
    const char* stop = err == HPE_OK ? data + len : llhttp_get_error_pos(&parser_);
    // Counted up to a syntax error too: a line already too long before its
    // bad byte is refused as too long, as it is when a read ends inside it.
    if (chunk_line && fresh_.error_status == 0) {
      fresh_.chunk_line_bytes += static_cast<std::size_t>(stop - data);
      if (fresh_.chunk_line_bytes > options_->max_chunk_line_bytes) {
        refuse(400, "Bad Request: chunk-size line too long");
        event = Event::error;
        break;
      }
    }
    event = stopped(err, data, len);
  }
  // Whether the next input continues after a line's end (value_is_folded).
  const char* q = data;
  while (q > input_begin_ && (q[-1] == ' ' || q[-1] == '\t')) --q;
  if (q > input_begin_) input_follows_line_start_ = q[-1] == '\n';  // else: all SP/HT, unchanged
  if (event == Event::error) len = 0;  // nothing after a refused request is read
  // A field cut by the end of this input outlives it.
  kept_.field.keep();
  kept_.value.keep();
  return event;
}

// After llhttp_execute returned `err` for [data, data + len).
RequestDecoder::Event RequestDecoder::stopped(llhttp_errno_t err, const char*& data, std::size_t& len) {
  if (err == HPE_OK) {
    data += len;
    len = 0;
    return Event::need_more;
  }
  if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
    const char* stop = llhttp_get_error_pos(&parser_);
    len -= static_cast<std::size_t>(stop - data);
    data = stop;
    if (err == HPE_PAUSED_UPGRADE) {
      llhttp_resume_after_upgrade(&parser_);  // the connection holds what follows until the answer (HttpRequest::upgrade)
    } else {
      llhttp_resume(&parser_);
    }
    return std::exchange(fresh_.paused_for, Event::need_more);
  }
  // The bytes before the error may already have broken a limit.
  if (fresh_.error_status == 0) flush_open_span(llhttp_get_error_pos(&parser_));
  if (fresh_.error_status == 0) {
    int status = status_for(err, llhttp_get_error_reason(&parser_));
    refuse(status, std::string(reason_phrase(status)) + ": " + llhttp_get_error_reason(&parser_));
  }
  return Event::error;
}

// llhttp hands a span (the target, a field's name or value) to its callback
// at the span's end or at the end of the input, but not when it stops at an
// error inside the span. Handed over here, that part meets the same limits
// however the input was cut: a target too long before a bad byte is a 414
// whether or not a read ended inside it (found by test/fuzz).
void RequestDecoder::flush_open_span(const char* end) {
  if (parser_._span_pos0 == nullptr) return;
  // llhttp's own span callback, called as its execute loop calls it at the
  // end of the input: it calls ours (on_url, on_header_field, ...).
  using SpanCallback = int (*)(llhttp_t*, const char*, const char*);
  auto callback = reinterpret_cast<SpanCallback>(parser_._span_cb0);
  const auto* begin = static_cast<const char*>(parser_._span_pos0);
  parser_._span_pos0 = nullptr;
  if (begin < end) callback(&parser_, begin, end);
}

int RequestDecoder::status_for(llhttp_errno_t err, const char* reason) noexcept {
  // llhttp reports syntax errors around the version ("Expected CRLF after
  // version", "Expected dot") as HPE_INVALID_VERSION too: those are 400.
  if (err == HPE_INVALID_VERSION && reason != nullptr &&
      (std::strcmp(reason, "Invalid HTTP version") == 0 ||
       std::strcmp(reason, "Expected HTTP/2 Connection Preface") == 0)) {
    return 505;
  }
  return 400;
}

int RequestDecoder::refuse(int status, std::string_view message) {
  fresh_.error_status = status;
  kept_.error_message.assign(message);
  return -1;  // llhttp stops with HPE_USER
}

int RequestDecoder::refuse(const Verdict& verdict) {
  refuse(verdict.status, verdict.message);
  kept_.error_message.append(verdict.detail);
  return -1;
}

HttpRequestPtr RequestDecoder::take_refused(int status, std::string message) {
  fresh_.in_message = false;
  HttpRequestPtr request = fresh_.current ? std::move(fresh_.current) : Recycler<HttpRequest>::take();
  if (request->method.empty()) request->method = "GET";  // for the access log; never dispatched
  request->error_status = status;
  request->error_message = std::move(message);
  request->keep_alive = false;
  return request;
}

void RequestDecoder::end_body_stream(int status) {
  fresh_.in_message = false;
  auto stream = std::move(fresh_.body_stream);
  BodyStreamFeed::set_flow(*stream, nullptr);
  BodyStreamFeed::finish(*stream, status);
}

// ---- the head ----

int RequestDecoder::on_message_begin(llhttp_t* p) {
  RequestDecoder& d = of(p);
  d.fresh_ = {};
  d.fresh_.current = Recycler<HttpRequest>::take();
  d.fresh_.in_message = true;
  d.kept_.field.clear();
  d.kept_.value.clear();
  return 0;
}

int RequestDecoder::on_url(llhttp_t* p, const char* at, std::size_t len) {
  RequestDecoder& d = of(p);
  d.fresh_.header_bytes += len;
  if (d.fresh_.current->target.size() + len > d.options_->max_target_bytes) return d.refuse(414, "URI Too Long");
  d.fresh_.current->target.append(at, len);
  return 0;
}

// Inline, as value_is_folded below: run for every field and value
// (tools/profile: 19 instructions per request with one field).
inline int RequestDecoder::count_header_bytes(std::size_t len) {
  fresh_.header_bytes += len;
  if (fresh_.header_bytes > options_->max_header_bytes) return refuse(431, "Request Header Fields Too Large");
  return 0;
}

int RequestDecoder::on_header_field(llhttp_t* p, const char* at, std::size_t len) {
  RequestDecoder& d = of(p);
  if (d.count_header_bytes(len) != 0) return -1;
  d.kept_.field.add(at, len);
  return 0;
}

// llhttp 8 accepts obs-fold (a value continued on a line starting with
// SP/HT) and hands the continuation over as a span that starts on the new
// line, after the CR LF (and after the folding whitespace when the first
// line's value was empty). A span of an ordinary value is never preceded by
// a '\n' and whitespace only.
inline bool RequestDecoder::value_is_folded(const char* at) const noexcept {
  const char* q = at;
  while (q > input_begin_ && (q[-1] == ' ' || q[-1] == '\t')) --q;
  return q > input_begin_ ? q[-1] == '\n' : input_follows_line_start_;
}

int RequestDecoder::on_header_value(llhttp_t* p, const char* at, std::size_t len) {
  RequestDecoder& d = of(p);
  // The fold before the size: it is at the span's first byte, so it comes
  // first in the bytes whether the span arrives whole or in pieces.
  // (An empty value arrives as a zero-length span at the start of the next
  // line: not a fold.)
  if (len != 0 && d.value_is_folded(at)) return d.refuse(400, "Bad Request: obs-fold in a header value");
  if (d.count_header_bytes(len) != 0) return -1;
  d.kept_.value.add(at, len);
  return 0;
}

int RequestDecoder::on_header_value_complete(llhttp_t* p) {
  RequestDecoder& d = of(p);
  std::string_view field = d.kept_.field.view();
  std::string_view value = d.kept_.value.view();
  if (++d.fresh_.header_count > d.options_->max_headers) return d.refuse(431, "Request Header Fields Too Large");
  // A field-name is a token, never empty; llhttp takes ": x" as a field.
  if (field.empty()) return d.refuse(400, "Bad Request: a field with no name");
  // llhttp strict mode refuses bare CR and LF; NUL is ours to catch.
  if (value.find('\0') != std::string_view::npos) return d.refuse(400, "Bad Request: NUL in a header value");
  // Trailing whitespace is not part of a field value (RFC 9110 5.5);
  // llhttp drops only the leading.
  value = value.substr(0, trim_ows(value).size());
  // Trailer fields (after a chunked body) are dropped: merged into the
  // header section they could pose as fields checked at the head
  // (RFC 9110 6.5.1).
  if (!d.fresh_.in_trailers) {
    d.fresh_.facts.note(field);
    d.fresh_.current->headers.add(field, value);
  }
  d.kept_.field.clear();
  d.kept_.value.clear();
  return 0;
}

int RequestDecoder::on_headers_complete(llhttp_t* p) {
  RequestDecoder& d = of(p);
  d.fresh_.in_trailers = true;
  HttpRequest& r = *d.fresh_.current;
  r.method = method_name(static_cast<llhttp_method_t>(llhttp_get_method(p)));
  r.version_major = llhttp_get_http_major(p);
  r.version_minor = llhttp_get_http_minor(p);
  r.keep_alive = llhttp_should_keep_alive(p) != 0;
  r.upgrade = llhttp_get_upgrade(p) != 0;  // llhttp decides it before this callback
  if (Verdict verdict = validate_request(r, d.fresh_.facts); !verdict.ok()) return d.refuse(verdict);
  return d.decide_body(p);
}

// Where the body goes (aggregated or streamed), its bound, and Expect.
// A head with a body pauses: the connection acts on it before the body.
int RequestDecoder::decide_body(llhttp_t* p) {
  HttpRequest& r = *fresh_.current;
  const HttpCodecOptions& o = *options_;
  bool chunked = (p->flags & F_CHUNKED) != 0;
  bool has_body = chunked || ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length != 0);
  bool streamed = has_body && o.stream_body && o.stream_body(r);
  std::uint64_t max_body = streamed ? o.max_streamed_body_bytes : o.max_body_bytes;
  if ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length > max_body) return refuse(413, "Content Too Large");
  if (fresh_.facts.expect && r.version_minor >= 1) {
    if (Verdict verdict = validate_expect(r, fresh_.facts); !verdict.ok()) return refuse(verdict);
    if (o.continue_check) {
      int status = o.continue_check(r);
      if (status != 0) return refuse(status, reason_phrase(status));
    }
    fresh_.expect_continue = true;
  }
  if (!has_body) return 0;  // on_message_complete follows at once
  if (streamed) {
    fresh_.body_stream = std::make_shared<HttpBodyStream>();
    r.body_stream = fresh_.body_stream;
  }
  fresh_.paused_for = Event::head;
  // A chunked body's first size line starts here and is measured from here.
  return chunked ? begin_chunk_line() : HPE_PAUSED;
}

// ---- the body ----

int RequestDecoder::begin_chunk_line() noexcept {
  fresh_.in_chunk_line = true;
  fresh_.chunk_line_bytes = 0;
  return HPE_PAUSED;
}

int RequestDecoder::on_chunk_header(llhttp_t* p) {
  RequestDecoder& d = of(p);
  d.fresh_.in_chunk_line = false;
  d.fresh_.last_chunk = p->content_length == 0;
  return HPE_PAUSED;
}

// After the last chunk (and the trailers) the message is complete: no
// pause, so on_message_complete follows in the same call.
int RequestDecoder::on_chunk_complete(llhttp_t* p) {
  RequestDecoder& d = of(p);
  return d.fresh_.last_chunk ? 0 : d.begin_chunk_line();
}

int RequestDecoder::on_body(llhttp_t* p, const char* at, std::size_t len) {
  RequestDecoder& d = of(p);
  const HttpCodecOptions& o = *d.options_;
  if (HttpBodyStream* stream = d.fresh_.body_stream.get()) {
    if (stream->received() + len > o.max_streamed_body_bytes) return d.refuse(413, "Content Too Large");
    BodyStreamFeed::push(*stream, std::string_view(at, len));
    // The consumer ran: it may have closed the connection, ending the stream.
    if (d.fresh_.body_stream && BodyStreamFeed::wants_stop(*d.fresh_.body_stream)) {
      d.fresh_.paused_for = Event::body_stopped;
      return HPE_PAUSED;  // the consumer is behind: stop until it resumes
    }
    return 0;
  }
  std::string& body = d.fresh_.current->body;
  if (body.size() + len > o.max_body_bytes) return d.refuse(413, "Content Too Large");
  body.append(at, len);
  return 0;
}

int RequestDecoder::on_message_complete(llhttp_t* p) {
  RequestDecoder& d = of(p);
  d.fresh_.in_message = false;
  d.fresh_.in_chunk_line = false;
  if (d.fresh_.body_stream) {
    d.end_body_stream(0);  // its request was handed on at its head
    d.fresh_.paused_for = Event::body_end;
  } else {
    d.fresh_.paused_for = Event::request;
  }
  // Paused so each request is handed on outside llhttp, one at a time: the
  // in-flight limit is then exact and handlers may re-enter the connection.
  return HPE_PAUSED;
}

}  // namespace sluice::detail
