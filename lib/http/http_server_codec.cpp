#include "sluice/http/http_server_codec.hpp"

#include <llhttp.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <utility>

#include "sluice/channel/channel.hpp"
#include "sluice/core/log.hpp"
#include "sluice/core/fifo.hpp"
#include "sluice/core/timer_wheel.hpp"
#include "sluice/http/http_body_stream.hpp"
#include "recycler.hpp"

namespace sluice {

namespace {

// What the codec remembers about a request between handing it on and
// writing its response: enough to frame the response and decide whether
// the connection lives on.
struct InFlight {
  bool head = false;        // HEAD: no body goes out
  bool keep_alive = true;   // false: close after this response
  bool http10 = false;      // HTTP/1.0: no chunked encoding
  bool broken = false;      // an error answer: lingering close after it
  bool streamed = false;    // a chunked response is under way
  bool chunked = false;     // its body is chunk-framed (HTTP/1.1)
};

bool is_token_char(char c) noexcept {
  if (std::isalnum(static_cast<unsigned char>(c)) != 0) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "Mon, 23 Nov 2026 16:00:00 GMT", formatted once a second per thread. The
// wall clock is read only when the loop's own (cached, per-iteration) clock
// says the next second may have begun, not for every response.
std::string_view http_date(const EventLoop& loop) {
  thread_local const EventLoop* cached_loop = nullptr;
  thread_local std::uint64_t recheck_at = 0;  // on cached_loop's clock
  thread_local std::time_t cached_second = 0;
  thread_local char text[40];
  std::uint64_t now_ms = loop.now();
  if (&loop == cached_loop && now_ms < recheck_at) return text;
  timespec wall{};
  clock_gettime(CLOCK_REALTIME, &wall);
  if (wall.tv_sec != cached_second) {
    cached_second = wall.tv_sec;
    std::tm tm{};
    gmtime_r(&cached_second, &tm);
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  }
  cached_loop = &loop;
  recheck_at = now_ms + static_cast<std::uint64_t>(1000 - wall.tv_nsec / 1'000'000);
  return text;
}

bool has_no_body(int status) noexcept { return (status >= 100 && status < 200) || status == 204 || status == 304; }

}  // namespace

// Marks a codec entry point (a pipeline event, a timer, a posted task) on
// the stack. Entry points nest (a handler answers from inside read): when
// the connection closes under them, the state is given back only as the
// outermost one returns, when no frame below may be using it.
class HttpServerCodec::Entered {
 public:
  explicit Entered(HttpServerCodec& codec) noexcept : codec_(codec) { ++codec_.depth_; }
  ~Entered() {
    if (--codec_.depth_ == 0 && codec_.inactive_) codec_.drop_state();
  }
  Entered(const Entered&) = delete;
  Entered& operator=(const Entered&) = delete;

 private:
  HttpServerCodec& codec_;
};

inline void HttpServerCodec::arm(Timer kind, std::uint64_t ms) {
  timer_kind_ = kind;
  if (ms == 0) {
    ctx_->loop().cancel_timeout(timer_);
    return;
  }
  ctx_->loop().schedule_timeout(timer_, ms);
}

// The entry stays in the wheel: a request disarms and re-arms the timer a
// few times, and re-arming a filed entry for later costs no relinking
// (TimerWheel::schedule). If it fires while disarmed, on_timer finds no kind.
inline void HttpServerCodec::disarm() noexcept { timer_kind_ = Timer::none; }

// Keep-alive: the state is kept for a moment, so a busy connection
// never pays for giving it back and taking it again, then goes back to
// the pool; the connection closes when the whole timeout has passed.
inline void HttpServerCodec::arm_keep_alive() {
  idle_since_ = ctx_->loop().now();
  std::uint64_t total = options_->keep_alive_timeout_ms;
  if (total != 0 && total <= kKeepStateMs) {
    arm(Timer::idle, total);
  } else {
    arm(Timer::keep_alive, kKeepStateMs);
  }
}

struct HttpServerCodec::State {
  using Timer = HttpServerCodec::Timer;

  // Set each time the state is taken from the pool.
  HttpServerCodec* owner = nullptr;
  const HttpCodecOptions* options = nullptr;
  HandlerContext* ctx = nullptr;
  llhttp_t parser{};

  HttpRequestPtr current;      // being parsed
  HttpRequestPtr completed;    // parsed, waiting to be handed on (outside llhttp)
  HttpRequestPtr head_ready;   // a streamed-body request whose head waits to be handed on
  std::shared_ptr<HttpBodyStream> body_stream;  // the body being streamed, if any
  bool body_stopped = false;   // the stream's consumer asked us to stop feeding
  std::string field;
  std::string value;
  std::size_t header_bytes = 0;
  std::size_t header_count = 0;
  // Noted as fields arrive, so the checks at the end of the head need not
  // scan every field once per name.
  std::size_t host_fields = 0;
  bool seen_transfer_encoding = false;
  bool seen_content_length = false;
  bool seen_expect = false;
  int error_status = 0;        // set by a callback that refuses the request
  std::string error_message;
  bool in_message = false;     // between message begin and complete
  bool in_trailers = false;    // past the header section: fields are trailers
  // A chunk-size line (with its extensions) being read, and its bytes so far:
  // llhttp bounds neither leading zeros nor extensions.
  bool in_chunk_line = false;
  bool last_chunk = false;  // the size line read last said 0
  std::size_t chunk_line_bytes = 0;
  bool expect_continue = false;

  Fifo<InFlight> in_flight;
  Buffer held;                 // input not parsed yet: waiting for responses to drain
  bool paused = false;         // too many requests in flight: not parsing, not reading
  bool parsing = false;        // inside parse(): resume from write() waits for it
  bool broken = false;         // stopped parsing after an error: input is dropped
  bool continue_owed = false;  // "100 Continue" waits for earlier responses to leave

  TimerWheel::Entry send_timer{&State::on_send_timeout, this};

  // One table of callbacks for every connection (llhttp keeps a pointer).
  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t table = [] {
      llhttp_settings_t t;
      llhttp_settings_init(&t);
      t.on_message_begin = &State::on_message_begin;
      t.on_url = &State::on_url;
      t.on_header_field = &State::on_header_field;
      t.on_header_value = &State::on_header_value;
      t.on_header_value_complete = &State::on_header_value_complete;
      t.on_headers_complete = &State::on_headers_complete;
      t.on_body = &State::on_body;
      t.on_chunk_header = &State::on_chunk_header;
      t.on_chunk_complete = &State::on_chunk_complete;
      t.on_message_complete = &State::on_message_complete;
      return t;
    }();
    return table;
  }

  // A state for `codec`: from the thread's pool when it has one.
  static std::unique_ptr<State> take(HttpServerCodec& codec) {
    std::unique_ptr<State> s = Pool::take();
    if (!s) s = std::make_unique<State>();
    s->owner = &codec;
    s->options = codec.options_.get();
    s->ctx = codec.ctx_;
    // llhttp_init takes a non-const pointer but only reads the settings.
    llhttp_init(&s->parser, HTTP_REQUEST, const_cast<llhttp_settings_t*>(&settings()));
    s->parser.data = s.get();
    return s;
  }

  // Nothing of a request is left: no answer owed, no input waiting, no
  // timer of its own running. Then the state may go back to the pool.
  bool idle() const noexcept {
    return in_flight.empty() && !in_message && held.empty() && !paused && !broken && !parsing && !body_stream &&
           !current && !completed && !head_ready && !continue_owed && !send_timer.is_scheduled();
  }

  // Back to what take() expects, keeping the scratch strings' and the
  // in-flight queue's capacity (within reason), then into the pool.
  static void give(std::unique_ptr<State>& s) noexcept {
    s->send_timer.cancel();
    if (s->body_stream) s->end_body_stream(499);
    s->current.reset();
    s->completed.reset();
    s->head_ready.reset();
    s->body_stopped = false;
    for (std::string* text : {&s->field, &s->value, &s->error_message}) {
      text->clear();
      if (text->capacity() > kMaxKeptScratch) text->shrink_to_fit();
    }
    s->in_message = s->in_trailers = s->expect_continue = false;
    s->error_status = 0;
    s->in_flight.clear();
    s->held.release();
    s->paused = s->parsing = s->broken = s->continue_owed = false;
    s->alive.reset();  // a posted resume() for the old owner finds its token expired
    s->owner = nullptr;
    s->options = nullptr;
    s->ctx = nullptr;
    Pool::put(s);
  }

  // The pool holds states of finished requests for the next ones on this
  // thread; bounded so a burst leaves no lasting footprint.
  using Pool = detail::FreeList<std::unique_ptr<State>, 64>;
  static constexpr std::size_t kMaxKeptScratch = 1024;

  static State& of(llhttp_t* p) { return *static_cast<State*>(p->data); }

  int refuse(int status, std::string message) {
    error_status = status;
    error_message = std::move(message);
    return -1;  // llhttp stops with HPE_USER
  }

  // ---- llhttp callbacks (inside llhttp_execute) ----

  static int on_message_begin(llhttp_t* p) {
    State& s = of(p);
    s.current = detail::Recycler<HttpRequest>::take();
    s.current->sequence = s.owner->requests_++;
    s.current->remote_address = s.ctx->channel().remote_address();
    s.field.clear();
    s.value.clear();
    s.header_bytes = 0;
    s.header_count = 0;
    s.host_fields = 0;
    s.seen_transfer_encoding = s.seen_content_length = s.seen_expect = false;
    s.in_message = true;
    s.in_trailers = false;
    s.in_chunk_line = false;
    s.expect_continue = false;
    if (s.owner->timer_kind_ != Timer::header) s.owner->arm(Timer::header, s.options->header_timeout_ms);
    return 0;
  }

  static int on_url(llhttp_t* p, const char* at, std::size_t len) {
    State& s = of(p);
    s.header_bytes += len;
    if (s.current->target.size() + len > s.options->max_target_bytes) return s.refuse(414, "URI Too Long");
    s.current->target.append(at, len);
    return 0;
  }

  int count_header_bytes(std::size_t len) {
    header_bytes += len;
    if (header_bytes > options->max_header_bytes) return refuse(431, "Request Header Fields Too Large");
    return 0;
  }

  static int on_header_field(llhttp_t* p, const char* at, std::size_t len) {
    State& s = of(p);
    if (s.count_header_bytes(len) != 0) return -1;
    s.field.append(at, len);
    return 0;
  }

  static int on_header_value(llhttp_t* p, const char* at, std::size_t len) {
    State& s = of(p);
    if (s.count_header_bytes(len) != 0) return -1;
    // An empty value arrives as a zero-length span at the start of the next line.
    if (len == 0) return 0;
    // llhttp 8 accepts obs-fold (a value continued on a line starting with
    // SP/HT) and hands the continuation over as a span that starts on the
    // new line, after the CR LF (and after the folding whitespace when the
    // first line's value was empty). A span of an ordinary value is never
    // preceded by a '\n' and whitespace only.
    const char* q = at;
    while (q > s.input_begin && (q[-1] == ' ' || q[-1] == '\t')) --q;
    bool folded = q > s.input_begin ? q[-1] == '\n' : s.owner->input_follows_line_start_;
    if (folded) return s.refuse(400, "Bad Request: obs-fold in a header value");
    s.value.append(at, len);
    return 0;
  }

  static int on_header_value_complete(llhttp_t* p) {
    State& s = of(p);
    if (++s.header_count > s.options->max_headers) return s.refuse(431, "Request Header Fields Too Large");
    // llhttp strict mode refuses bare CR and LF; NUL is ours to catch.
    if (s.value.find('\0') != std::string::npos) return s.refuse(400, "Bad Request: NUL in a header value");
    // Trailing whitespace is not part of a field value (RFC 9110 5.5);
    // llhttp drops only the leading.
    while (!s.value.empty() && (s.value.back() == ' ' || s.value.back() == '\t')) s.value.pop_back();
    // Trailer fields (after a chunked body) are dropped: merged into the
    // header section they could pose as fields checked at the head
    // (RFC 9110 6.5.1).
    if (!s.in_trailers) {
      s.note_field(s.field);
      s.current->headers.add(s.field, s.value);
    }
    s.field.clear();
    s.value.clear();
    return 0;
  }

  void note_field(std::string_view name) noexcept {
    switch (name.size()) {
      case 4: host_fields += iequals(name, "Host") ? 1 : 0; break;
      case 6: seen_expect = seen_expect || iequals(name, "Expect"); break;
      case 14: seen_content_length = seen_content_length || iequals(name, "Content-Length"); break;
      case 17: seen_transfer_encoding = seen_transfer_encoding || iequals(name, "Transfer-Encoding"); break;
      default: break;
    }
  }

  // Transfer-Encoding: only "chunked" (last, once) is implemented. A known-good
  // token we do not implement is 501; anything malformed is 400.
  int check_transfer_encoding() {
    const HttpHeaders& headers = current->headers;
    if (!seen_transfer_encoding) return 0;
    if (seen_content_length) {
      return refuse(400, "Bad Request: Content-Length with Transfer-Encoding");
    }
    std::vector<std::string_view> codings;
    for (auto [name, v] : headers) {
      if (!iequals(name, "Transfer-Encoding")) continue;
      std::size_t start = 0;
      while (start <= v.size()) {
        std::size_t comma = v.find(',', start);
        if (comma == std::string_view::npos) comma = v.size();
        std::string_view coding = trim(v.substr(start, comma - start));
        if (coding.empty()) return refuse(400, "Bad Request: malformed Transfer-Encoding");
        for (char c : coding) {
          if (!is_token_char(c)) return refuse(400, "Bad Request: malformed Transfer-Encoding");
        }
        codings.push_back(coding);
        start = comma + 1;
      }
    }
    for (std::size_t i = 0; i < codings.size(); ++i) {
      if (iequals(codings[i], "chunked")) {
        if (i + 1 != codings.size()) return refuse(400, "Bad Request: chunked must be the last transfer coding");
      } else {
        return refuse(501, "Not Implemented: transfer coding " + std::string(codings[i]));
      }
    }
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    State& s = of(p);
    s.in_trailers = true;
    HttpRequest& r = *s.current;
    r.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(p)));
    r.version_major = llhttp_get_http_major(p);
    r.version_minor = llhttp_get_http_minor(p);
    if (r.version_major != 1) return s.refuse(505, "HTTP Version Not Supported");
    // RFC 9112 6.1: the framing of an HTTP/1.0 message with Transfer-Encoding
    // is faulty. A 1.0 intermediary in front of us may frame it by the
    // connection's end instead, so any part of it could be a smuggled
    // request: refused whole rather than answered and closed.
    if (s.seen_transfer_encoding && r.version_minor == 0) {
      return s.refuse(400, "Bad Request: Transfer-Encoding in an HTTP/1.0 request");
    }
    if (r.target.empty()) return s.refuse(400, "Bad Request: empty target");
    std::size_t hosts = s.host_fields;
    if (hosts > 1) return s.refuse(400, "Bad Request: more than one Host");
    if (hosts == 0 && r.version_minor >= 1) return s.refuse(400, "Bad Request: missing Host");
    if (s.check_transfer_encoding() != 0) return -1;
    bool has_body = (p->flags & F_CHUNKED) != 0 || ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length != 0);
    bool streamed = has_body && s.options->stream_body && s.options->stream_body(r);
    std::uint64_t max_body = streamed ? s.options->max_streamed_body_bytes : s.options->max_body_bytes;
    if ((p->flags & F_CONTENT_LENGTH) != 0 && p->content_length > max_body) return s.refuse(413, "Content Too Large");
    r.keep_alive = llhttp_should_keep_alive(p) != 0;
    if (s.owner->draining_) r.keep_alive = false;
    if (s.options->max_requests_per_connection != 0 && s.owner->requests_ >= s.options->max_requests_per_connection) {
      r.keep_alive = false;
    }
    if (auto expect = s.seen_expect ? r.headers.get("Expect") : std::nullopt; expect && r.version_minor >= 1) {
      if (!iequals(trim(*expect), "100-continue")) return s.refuse(417, "Expectation Failed");
      if (s.options->continue_check) {
        int status = s.options->continue_check(r);
        if (status != 0) return s.refuse(status, std::string(reason_phrase(status)));
      }
      s.expect_continue = true;
    }
    s.disarm();
    if (has_body) {
      if (s.expect_continue) s.send_continue_when_due();
      s.arm(Timer::body, s.options->body_timeout_ms);
      if (streamed) s.start_body_stream();
    }
    // A streamed head is handed on now, outside llhttp; a chunked body's
    // first size line starts here and is measured from here (parse()).
    if ((p->flags & F_CHUNKED) != 0) return s.begin_chunk_line();
    return streamed ? HPE_PAUSED : 0;
  }

  // ---- chunk-size lines ----
  //
  // The parser pauses where a size line begins and where it ends, so each
  // llhttp_execute call in parse() runs either entirely inside a size line
  // or entirely outside one, and the bytes of the line are what the calls
  // inside it consumed.

  int begin_chunk_line() {
    in_chunk_line = true;
    chunk_line_bytes = 0;
    return HPE_PAUSED;
  }

  static int on_chunk_header(llhttp_t* p) {
    State& s = of(p);
    s.in_chunk_line = false;
    s.last_chunk = p->content_length == 0;
    return HPE_PAUSED;
  }

  // After the last chunk (and the trailers) the message is complete: no
  // pause, so on_message_complete follows in the same call.
  static int on_chunk_complete(llhttp_t* p) {
    State& s = of(p);
    return s.last_chunk ? 0 : s.begin_chunk_line();
  }

  // After an llhttp_execute call that started inside a size line and
  // consumed `consumed` bytes: whether the line is still within bounds.
  bool chunk_line_within_bounds(std::size_t consumed) {
    chunk_line_bytes += consumed;
    return chunk_line_bytes <= options->max_chunk_line_bytes;
  }

  void start_body_stream() {
    body_stream = std::make_shared<HttpBodyStream>();
    current->body_stream = body_stream;
    head_ready = current;
    std::weak_ptr<HttpBodyStream> weak = body_stream;
    // Cleared by end_body_stream before this state lets go of the stream,
    // so `this` is valid whenever it runs.
    body_stream->flow = [this, weak](bool stop) {
      auto stream = weak.lock();
      if (!stream || stream != body_stream) return;
      Entered entered(*owner);
      bool was_stopped = body_stopped;
      body_stopped = stop;
      if (stop) {
        if (owner->timer_kind_ == Timer::body) disarm();  // the client is not the slow one
      } else {
        if (owner->timer_kind_ == Timer::none && in_message) arm(Timer::body, options->body_timeout_ms);
        // Only a pause the body caused ends here; the pipelining bound's own
        // pause ends when answers drain (finish_response).
        if (was_stopped && paused && !parsing) resume();
      }
    };
  }

  // Ends the body being streamed (0: complete, else the error status the
  // handler learns) and lets go of it.
  void end_body_stream(int status) {
    auto stream = std::move(body_stream);
    stream->flow = nullptr;
    stream->finish(status);
  }

  static int on_body(llhttp_t* p, const char* at, std::size_t len) {
    State& s = of(p);
    if (s.body_stream) {
      if (s.body_stream->received() + len > s.options->max_streamed_body_bytes) {
        return s.refuse(413, "Content Too Large");
      }
      s.body_stream->push(std::string_view(at, len));
      if (s.body_stream && s.body_stream->wants_stop()) {
        s.body_stopped = true;
        return HPE_PAUSED;  // the consumer is behind: stop until it resumes
      }
      return 0;
    }
    if (s.current->body.size() + len > s.options->max_body_bytes) return s.refuse(413, "Content Too Large");
    s.current->body.append(at, len);
    return 0;
  }

  static int on_message_complete(llhttp_t* p) {
    State& s = of(p);
    s.disarm();
    s.in_message = false;
    s.in_chunk_line = false;
    if (s.body_stream) {
      // Handed on at its head already: just end its body.
      s.current.reset();
      s.body_stopped = false;
      s.end_body_stream(0);
      return 0;
    }
    s.completed = std::move(s.current);
    // Pause so the request is handed on outside llhttp, one at a time: the
    // in-flight limit is then exact and handlers may re-enter the codec.
    return HPE_PAUSED;
  }

  // ---- timers ----

  // The connection's one header/body/keep-alive timer is the codec's: it
  // outlives the state.
  void arm(Timer kind, std::uint64_t ms) { owner->arm(kind, ms); }
  void disarm() noexcept { owner->disarm(); }

  // The header or body timer ran out.
  void timed_out(Timer kind) {
    if (!in_message && in_flight.empty() && held.empty() && kind == Timer::header && owner->requests_ == 0) {
      // A connection that never sent a byte: nothing to answer.
      ctx->close();
      return;
    }
    fail(408, "Request Timeout");
  }

  static void on_send_timeout(void* self) {
    State& s = *static_cast<State*>(self);
    Entered entered(*s.owner);
    log().debug("channel {}: the client read nothing for {} ms: closing", s.ctx->channel().id(),
                s.options->send_timeout_ms);
    s.ctx->channel().close_now();
  }

  void arm_keep_alive_if_idle() {
    if (in_flight.empty() && !in_message && held.empty() && !broken) owner->arm_keep_alive();
  }

  // ---- parsing ----

  const char* input_begin = nullptr;  // start of the bytes being parsed (see on_header_value)

  void parse(const char* data, std::size_t len) {
    if (len == 0) return;
    parsing = true;
    input_begin = data;
    const char* input_end = data + len;
    while (len > 0 && !broken && !paused) {
      bool chunk_line = in_chunk_line;
      llhttp_errno_t err = llhttp_execute(&parser, data, len);
      if (chunk_line && (err == HPE_OK || err == HPE_PAUSED)) {
        const char* stop = err == HPE_OK ? data + len : llhttp_get_error_pos(&parser);
        if (!chunk_line_within_bounds(static_cast<std::size_t>(stop - data))) {
          fail(400, "Bad Request: chunk-size line too long");
          break;
        }
      }
      if (err == HPE_OK) break;
      if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        const char* stop = llhttp_get_error_pos(&parser);
        len -= static_cast<std::size_t>(stop - data);
        data = stop;
        if (err == HPE_PAUSED_UPGRADE) {
          llhttp_resume_after_upgrade(&parser);  // no protocol switch: answered as plain HTTP
        } else {
          llhttp_resume(&parser);
        }
        if (head_ready) {
          // A streamed-body request: its handler starts now; the body follows.
          hand_on(std::move(head_ready));
          if (!ctx->channel().is_active()) break;
          if (body_stopped) hold(data, len, input_end);
          continue;
        }
        if (!completed) {
          // Paused inside the body: the stream's consumer is behind.
          if (body_stopped) hold(data, len, input_end);
          continue;
        }
        hand_on(std::move(completed));
        if (!ctx->channel().is_active()) break;
        if (!completed_keep_alive_ || owner->draining_) {
          broken = true;  // nothing after a closing request is read
          break;
        }
        // Answers not yet sent count too: while the channel is above its high
        // watermark (the peer is not reading), no more requests are taken,
        // so one read of small requests cannot queue answers without bound.
        if (in_flight.size() >= options->max_pipelined_requests || !ctx->channel().is_writable()) {
          hold(data, len, input_end);
        }
        continue;
      }
      int status = error_status != 0 ? error_status : status_for(err, llhttp_get_error_reason(&parser));
      std::string message = error_status != 0 ? error_message : std::string(reason_phrase(status)) + ": " + llhttp_get_error_reason(&parser);
      fail(status, message);
      break;
    }
    const char* q = input_end;
    while (q > input_begin && (q[-1] == ' ' || q[-1] == '\t')) --q;
    if (q > input_begin) owner->input_follows_line_start_ = q[-1] == '\n';  // else: all SP/HT, unchanged
    input_begin = nullptr;
    parsing = false;
  }

  // Stops parsing: the rest of this input waits in `held`, and the socket
  // is not read, until resume().
  void hold(const char*& data, std::size_t& len, const char*& input_end) {
    paused = true;
    held.append(data, len);
    input_end = data;  // the held bytes are parsed later, after this one
    len = 0;
    ctx->channel().set_auto_read(false);
  }

  static int status_for(llhttp_errno_t err, const char* reason) {
    // llhttp reports syntax errors around the version ("Expected CRLF after
    // version", "Expected dot") as HPE_INVALID_VERSION too: those are 400.
    if (err == HPE_INVALID_VERSION && reason != nullptr &&
        (std::strcmp(reason, "Invalid HTTP version") == 0 ||
         std::strcmp(reason, "Expected HTTP/2 Connection Preface") == 0)) {
      return 505;
    }
    return 400;
  }

  bool completed_keep_alive_ = true;

  void hand_on(HttpRequestPtr request) {
    InFlight info;
    info.head = request->is_head();
    info.keep_alive = request->keep_alive && request->error_status == 0;
    info.http10 = request->version_minor == 0;
    info.broken = request->error_status != 0;
    completed_keep_alive_ = info.keep_alive;
    in_flight.push_back(info);
    ctx->fire_read(request);
  }

  // A broken request: answered in order, then a lingering close.
  void fail(int status, std::string message) {
    if (broken) return;
    broken = true;
    disarm();
    held.release();
    if (body_stream) {
      // Its handler already runs: it learns of the failure from the stream
      // and answers; the connection closes after that answer.
      current.reset();
      in_message = false;
      if (!in_flight.empty()) in_flight.back().keep_alive = false;
      end_body_stream(status);
      return;
    }
    HttpRequestPtr request = current ? std::move(current) : detail::Recycler<HttpRequest>::take();
    if (request->method.empty()) request->method = "GET";  // for the access log; never dispatched
    request->error_status = status;
    request->error_message = std::move(message);
    request->keep_alive = false;
    request->remote_address = ctx->channel().remote_address();
    in_message = false;
    hand_on(std::move(request));
  }

  void send_continue_when_due() {
    if (in_flight.empty()) {
      Buffer interim = Buffer::copy_of("HTTP/1.1 100 Continue\r\n\r\n");
      ctx->write_and_flush(interim);
    } else {
      continue_owed = true;
    }
  }

  // ---- responses ----

  // A body this small is copied in after the head: one buffer and one iovec
  // instead of two costs less than the copy.
  static constexpr std::size_t kInlineBodyBytes = 1024;

  Buffer make_head(const HttpResponse& response, const InFlight& info, std::size_t content_length, bool chunked,
                   std::size_t extra_room = 0) {
    std::string_view reason = reason_phrase(response.status);
    std::string_view date = http_date(ctx->loop());
    // The head's size is bounded before a byte is written, so the writes
    // below go to reserved room with no check each: 64 covers the status
    // line's and the fixed fields' punctuation, 40 the framing field, 24
    // the Connection field.
    Buffer head(64 + reason.size() + options->server_name.size() + date.size() + 40 + 24 +
                response.headers.text_bytes() + 4 * response.headers.size() + extra_room);
    char* const start = head.begin_write();
    char* p = start;
    auto put = [&p](std::string_view text) {
      std::memcpy(p, text.data(), text.size());
      p += text.size();
    };
    auto put_number = [&p](std::uint64_t value) { p = std::to_chars(p, p + 20, value).ptr; };

    if (response.status == 200) {
      put("HTTP/1.1 200 OK\r\n");  // a constant: copied without a call
    } else {
      put("HTTP/1.1 ");
      put_number(static_cast<std::uint64_t>(response.status));
      put(" ");
      put(reason);
      put("\r\n");
    }
    if (!options->server_name.empty() && !response.headers.contains("Server")) {
      put("Server: ");
      put(options->server_name);
      put("\r\n");
    }
    put("Date: ");
    put(date);
    put("\r\n");
    if (!has_no_body(response.status)) {
      if (chunked) {
        put("Transfer-Encoding: chunked\r\n");
      } else if (!(info.http10 && content_length == SIZE_MAX)) {
        put("Content-Length: ");
        put_number(content_length);
        put("\r\n");
      }
    }
    if (!info.keep_alive) {
      put("Connection: close\r\n");
    } else if (info.http10) {
      put("Connection: keep-alive\r\n");
    }
    for (const auto& [name, value] : response.headers) {
      // Framing and connection management are the codec's.
      if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") || iequals(name, "Connection") ||
          iequals(name, "Date")) {
        continue;
      }
      put(name);
      put(": ");
      put(value);
      put("\r\n");
    }
    put("\r\n");
    head.has_written(static_cast<std::size_t>(p - start));
    return head;
  }

  void write(HttpOutbound& out) {
    if (in_flight.empty()) throw std::logic_error("HttpServerCodec: a response with no request to answer");
    InFlight& info = in_flight.front();
    switch (out.kind) {
      case HttpOutbound::Kind::response: {
        HttpResponse& r = *out.response;
        bool body_allowed = !has_no_body(r.status);
        std::size_t body_bytes = r.body.readable_bytes();
        bool send_body = !info.head && body_allowed && body_bytes != 0;
        bool inline_body = send_body && body_bytes <= kInlineBodyBytes;
        Buffer head = make_head(r, info, body_allowed ? body_bytes : 0, false, inline_body ? body_bytes : 0);
        if (inline_body) head.append(r.body.view());
        ctx->write(head);
        if (send_body && !inline_body) ctx->write(r.body);
        finish_response();
        break;
      }
      case HttpOutbound::Kind::stream_head: {
        info.streamed = true;
        // HTTP/1.0 has no chunked encoding: the body ends when the connection does.
        info.chunked = !info.http10;
        if (info.http10) info.keep_alive = false;
        Buffer head = make_head(*out.response, info, SIZE_MAX, info.chunked);
        ctx->write(head);
        break;
      }
      case HttpOutbound::Kind::stream_chunk: {
        if (info.head || out.chunk.empty()) {
          out.chunk.retrieve_all();
          break;
        }
        if (info.chunked) {
          char size_line[24];
          int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", out.chunk.readable_bytes());
          if (out.chunk.owns_storage() && out.chunk.prependable_bytes() >= static_cast<std::size_t>(n)) {
            out.chunk.prepend(size_line, static_cast<std::size_t>(n));
          } else {
            Buffer framed(static_cast<std::size_t>(n) + out.chunk.readable_bytes() + 2);
            framed.append(size_line, static_cast<std::size_t>(n));
            framed.append(out.chunk.view());
            out.chunk = std::move(framed);
          }
          out.chunk.append("\r\n", 2);
        }
        ctx->write(out.chunk);
        break;
      }
      case HttpOutbound::Kind::stream_end: {
        if (info.chunked && !info.head) {
          Buffer last = Buffer::copy_of("0\r\n\r\n");
          ctx->write(last);
        }
        finish_response();
        break;
      }
    }
  }

  void finish_response() {
    InFlight info = in_flight.front();
    in_flight.pop_front();
    if (info.broken || !info.keep_alive) {
      // The client may have sent more (pipelined requests, the rest of a
      // refused body): a lingering close, so it reads this answer rather
      // than a reset.
      close_lingering();
      return;
    }
    if (continue_owed && in_flight.empty()) {
      continue_owed = false;
      send_continue_when_due();
    }
    if (owner->draining_ && in_flight.empty() && !in_message) {
      close_lingering();
      return;
    }
    if (may_resume()) resume();
    arm_keep_alive_if_idle();
  }

  bool may_resume() const {
    return paused && !body_stopped && !broken && !parsing && in_flight.size() < options->max_pipelined_requests &&
           ctx->channel().is_active() && ctx->channel().is_writable();
  }

  // The channel is writable again: take the held requests, on a later turn
  // (we are inside the transport's flush here).
  // Made when first needed, dropped when the state goes back to the pool:
  // a posted resume finds it expired once this state is not its codec's.
  std::shared_ptr<char> alive;
  void resume_when_writable() {
    if (!paused) return;
    if (!alive) alive = std::make_shared<char>();
    ctx->loop().post([this, token = std::weak_ptr<char>(alive)] {
      if (token.expired()) return;
      Entered entered(*owner);
      if (may_resume()) resume();
    });
  }

  void resume() {
    paused = false;
    Buffer pending = std::move(held);
    if (!pending.empty()) {
      parse(pending.peek(), pending.readable_bytes());
      // Requests parsed here came from no socket read: close the batch as a
      // read would, so their answers are flushed together.
      ctx->fire_read_complete();
    }
    if (!paused && !broken) ctx->channel().set_auto_read(true);
  }

  void close_lingering() {
    ctx->flush();
    ctx->channel().close_lingering();
  }

  // No more requests are taken (the peer's EOF, or a graceful shutdown):
  // answer what is in flight, then close.
  void input_done() {
    if (in_flight.empty()) {
      close_lingering();  // after the peer's EOF, a plain close
    } else {
      in_flight.back().keep_alive = false;
      broken = true;
      held.release();
    }
  }
};

HttpServerCodec::HttpServerCodec(HttpCodecOptions options)
    : HttpServerCodec(std::make_shared<const HttpCodecOptions>(std::move(options))) {}

HttpServerCodec::HttpServerCodec(std::shared_ptr<const HttpCodecOptions> options) : options_(std::move(options)) {}

HttpServerCodec::~HttpServerCodec() { drop_state(); }

HttpServerCodec::State& HttpServerCodec::take_state() {
  state_ = State::take(*this).release();
  return *state_;
}

void HttpServerCodec::drop_state() noexcept {
  if (state_ == nullptr) return;
  std::unique_ptr<State> s(std::exchange(state_, nullptr));
  State::give(s);
}

void HttpServerCodec::on_timer(void* self) {
  auto& codec = *static_cast<HttpServerCodec*>(self);
  Entered entered(codec);
  Timer kind = std::exchange(codec.timer_kind_, Timer::none);
  if (codec.ctx_ == nullptr || !codec.ctx_->channel().is_active()) return;
  if (kind == Timer::keep_alive) {
    // Idle for a moment: the state goes back (unless an answer is still
    // leaving), the rest of the keep-alive timeout runs on.
    if (codec.state_ != nullptr && codec.state_->idle()) codec.drop_state();
    std::uint64_t total = codec.options_->keep_alive_timeout_ms;
    if (total == 0) return;  // no keep-alive timeout
    std::uint64_t idle_for = codec.ctx_->loop().now() - codec.idle_since_;
    if (idle_for < total) {
      codec.arm(Timer::idle, total - idle_for);
      return;
    }
    kind = Timer::idle;  // the timer fired late: the whole timeout has passed
  }
  if (kind == Timer::idle) {
    codec.ctx_->close();  // an idle keep-alive connection just goes, as in nginx
  } else if (kind == Timer::header || kind == Timer::body) {
    codec.state().timed_out(kind);
  }
}

std::size_t HttpServerCodec::in_flight() const noexcept { return state_ != nullptr ? state_->in_flight.size() : 0; }

void HttpServerCodec::handler_added(HandlerContext& ctx) { ctx_ = &ctx; }

void HttpServerCodec::channel_active(HandlerContext& ctx) {
  ctx_ = &ctx;
  // A connection must start its first request within the header timeout.
  arm(Timer::header, options_->header_timeout_ms);
  ctx.fire_channel_active();
}

void HttpServerCodec::channel_inactive(HandlerContext& ctx) {
  // Whatever was under way is over: the state goes back (its timers
  // cancelled, its input dropped) as the outermost entry point returns.
  Entered entered(*this);
  inactive_ = true;
  disarm();
  timer_.cancel();
  // A body being streamed learns that the client went away.
  if (state_ != nullptr && state_->body_stream) state_->end_body_stream(499);
  ctx.fire_channel_inactive();
}

void HttpServerCodec::read(HandlerContext& ctx, Buffer& bytes) {
  Entered entered(*this);
  ctx_ = &ctx;
  State& s = state();
  if (s.broken || inactive_) {
    bytes.retrieve_all();  // lingering close or a closing request: drop
    return;
  }
  if (s.paused) {
    s.held.append(bytes.view());
    bytes.retrieve_all();
    return;
  }
  if (timer_kind_ == Timer::keep_alive || timer_kind_ == Timer::idle) disarm();
  s.parse(bytes.peek(), bytes.readable_bytes());
  bytes.retrieve_all();
}

void HttpServerCodec::write(HandlerContext& ctx, HttpOutbound& message) {
  Entered entered(*this);
  ctx_ = &ctx;
  if (inactive_) return;  // the connection is gone; so is what it owed
  state().write(message);
}

void HttpServerCodec::writability_changed(HandlerContext& ctx, bool writable) {
  Entered entered(*this);
  ctx_ = &ctx;
  if (writable) {
    if (state_ != nullptr) {
      ctx.loop().cancel_timeout(state_->send_timer);
      state_->resume_when_writable();
    }
  } else if (options_->send_timeout_ms != 0) {
    // Held answers and held requests run no other timer: this one bounds
    // how long a client that never reads keeps its connection.
    ctx.loop().schedule_timeout(state().send_timer, options_->send_timeout_ms);
  }
  ctx.fire_writability_changed(writable);
}

void HttpServerCodec::user_event(HandlerContext& ctx, const UserEvent& event) {
  Entered entered(*this);
  ctx_ = &ctx;
  if (const auto* shutdown = dynamic_cast<const GracefulShutdownEvent*>(&event)) {
    // Idle (or half a request): close now. Busy: the last answer says
    // Connection: close, and nothing more is read.
    shutdown->finish_first();
    draining_ = true;
    state().input_done();
  } else if (dynamic_cast<const InputShutdownEvent*>(&event) != nullptr) {
    State& s = state();
    if (s.in_message && s.in_flight.empty()) {
      s.fail(400, "Bad Request: the request ended early");
    } else {
      s.input_done();
    }
  }
  ctx.fire_user_event(event);
}

}  // namespace sluice
