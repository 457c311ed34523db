// Fuzz target: the HTTP/1.1 server (HttpServerCodec, HttpServerHandler and
// a Router) on an EmbeddedChannel, fed what a client might send.
//
// Input: [settings][cuts: 3 bytes][bytes from the client]. The bytes go in
// once as one read and once cut into many; after them, as the settings say,
// the clock runs past every timeout and the client closes its side.
//
// Invariants:
//   - cut or whole, the server writes the same bytes (Date aside), hands
//     the application the same requests and ends in the same state;
//   - what it writes parses as HTTP/1.1 answers, none with a body for HEAD;
//   - the application's answers (tagged X-Seq by a middleware) leave in
//     request order, each once;
//   - an answer the server writes itself (a refusal: 400, 408, 413...)
//     closes the connection and is the last thing written: no answer for
//     the refused request or any after it;
//   - nothing follows an answer that closes, and the connection's output
//     is shut (or it is closed) once one was written;
//   - every request the application answered is answered on the wire,
//     except a streamed upload whose body never ended cleanly.

#include <charconv>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_input.hpp"
#include "sluice/channel/embedded_channel.hpp"
#include "sluice/core/log.hpp"
#include "sluice/http/http_body_stream.hpp"
#include "sluice/http/http_server_codec.hpp"
#include "sluice/http/http_server_handler.hpp"
#include "sluice/http/middleware.hpp"
#include "sluice/http/router.hpp"

using namespace sluice;
using fuzz::broken;
using fuzz::printable;

namespace {

// ---- settings ----------------------------------------------------------------

struct Settings {
  HttpCodecOptions codec;
  ChannelOptions channel;
  bool peer_stalls = false;  // the client reads none of our answers until its input is all sent
  bool run_clock = false;    // afterwards, time passes every timeout
  bool send_eof = false;     // afterwards, the client closes its side

  static Settings read(fuzz::FuzzInput& in) {
    Settings s;
    std::uint8_t b = in.byte();
    // Small limits let short inputs reach every limit's answer.
    switch (b & 3) {
      case 0: break;  // the defaults
      case 1:
        s.codec.max_target_bytes = 32;
        s.codec.max_header_bytes = 128;
        s.codec.max_headers = 4;
        s.codec.max_body_bytes = 16;
        s.codec.max_chunk_line_bytes = 8;
        s.codec.max_streamed_body_bytes = 32;
        break;
      case 2:
        s.codec.max_target_bytes = 256;
        s.codec.max_header_bytes = 1024;
        s.codec.max_headers = 16;
        s.codec.max_body_bytes = 256;
        s.codec.max_chunk_line_bytes = 24;
        s.codec.max_streamed_body_bytes = 512;
        break;
      case 3:
        s.codec.max_target_bytes = 16;
        s.codec.max_header_bytes = 4096;
        s.codec.max_headers = 2;
        s.codec.max_body_bytes = 4096;
        s.codec.max_streamed_body_bytes = 8;
        break;
    }
    if ((b & 4) != 0) s.codec.max_pipelined_requests = 2;
    if ((b & 8) != 0) s.codec.max_requests_per_connection = 3;
    s.run_clock = (b & 16) != 0;
    s.send_eof = (b & 32) != 0;
    s.peer_stalls = (b & 64) != 0;
    s.channel.allow_half_close = true;  // as HttpServer sets it
    if ((b & 128) != 0) {
      s.channel.write_high_watermark = 256;
      s.channel.write_low_watermark = 64;
    }
    return s;
  }
};

// ---- the application -----------------------------------------------------------

// One request that reached the application.
struct Seen {
  std::string method;
  std::string target;
  std::string body;
  bool head = false;
  /// A streamed upload whose body has not ended cleanly: the server may
  /// drop its answer (it answers the failed body itself).
  bool may_go_unanswered = false;
  int version_major = 1;
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> fields;
  /// Its body came as a stream (the route streams bodies): its limit is
  /// max_streamed_body_bytes.
  bool streamed = false;
};

// Numbers the requests that reach the application and tags their answers
// "X-Seq: n": the answers the server writes itself carry no tag.
class Tagger final : public Middleware {
 public:
  explicit Tagger(std::vector<Seen>& seen) : seen_(&seen) {}
  void handle(HttpRequest& request, ResponseWriter response, const Next& next) override {
    std::size_t seq = seen_->size();
    Seen seen{std::string(request.method), request.target, request.body, request.is_head(), false,
              request.version_major, request.version_minor, {}};
    for (auto [name, value] : request.headers) seen.fields.emplace_back(name, value);
    seen.streamed = request.body_stream != nullptr;
    seen_->push_back(std::move(seen));
    response.before_send([seq](HttpResponse& r) { r.headers.set("X-Seq", std::to_string(seq)); });
    next(request, std::move(response));
  }

 private:
  std::vector<Seen>* seen_;
};

// Reads a streamed body, pausing after each piece and resuming on the
// loop's next turn (backpressure), then answers with what it got.
void upload(std::vector<Seen>& seen, HttpRequest& request, ResponseWriter response) {
  std::size_t me = seen.size() - 1;
  seen[me].may_go_unanswered = true;
  auto got = std::make_shared<std::string>();
  std::weak_ptr<HttpBodyStream> weak = request.body_stream;
  request.body_stream->on_data(
      [got, weak, loop = &response.loop()](std::string_view piece) {
        got->append(piece);
        if (auto stream = weak.lock()) {
          stream->pause();
          loop->post([weak] {
            if (auto s = weak.lock()) s->resume();
          });
        }
      },
      [&seen, me, got, response](int error_status) {
        if (error_status != 0) {
          response.send(HttpResponse::error(error_status));
          return;
        }
        seen[me].may_go_unanswered = false;
        seen[me].body = *got;
        response.send(HttpResponse::text("got " + std::to_string(got->size())));
      });
}

std::shared_ptr<Router> make_router(std::vector<Seen>& seen) {
  auto router = std::make_shared<Router>();
  router->get("/", [](HttpRequest&, ResponseWriter w) { w.send(HttpResponse::text("root")); });
  router->get("/items/:id", [](HttpRequest& r, ResponseWriter w) { w.send(HttpResponse::text(r.param("id"))); });
  router->get("/files/*path", [](HttpRequest& r, ResponseWriter w) { w.send(HttpResponse::text(r.param("path"))); });
  auto echo = [](HttpRequest& r, ResponseWriter w) { w.send(HttpResponse::text(r.body)); };
  router->post("/echo", echo);
  router->put("/echo", echo);
  router->get("/later", [](HttpRequest&, ResponseWriter w) {
    w.loop().post([w] { w.send(HttpResponse::text("later")); });
  });
  router->get("/chunked", [](HttpRequest&, ResponseWriter w) {
    ChunkedWriter body = w.begin_chunked(HttpResponse(200));
    body.write("a");
    body.write("bc");
    body.end();
  });
  router->get("/throw", [](HttpRequest&, ResponseWriter) -> void { throw HttpError(418, "teapot"); });
  RouteOptions streamed;
  streamed.stream_body = true;
  auto streamed_upload = [&seen](HttpRequest& r, ResponseWriter w) { upload(seen, r, std::move(w)); };
  router->add("POST", "/upload", streamed_upload, streamed);
  router->add("PUT", "/upload", streamed_upload, streamed);
  return router;
}

// ---- one run --------------------------------------------------------------------

struct Outcome {
  std::string written;  // every byte the server wrote
  std::vector<Seen> seen;
  bool open = false;
  bool output_shut = false;
};

Outcome run(const Settings& settings, const std::vector<std::string_view>& reads) {
  Outcome out;
  auto router = make_router(out.seen);
  HttpCodecOptions codec = settings.codec;
  // As HttpServer wires a Router in.
  codec.continue_check = [router](const HttpRequest& head) { return router->check(head); };
  codec.stream_body = [router](const HttpRequest& head) { return router->streams_body(head); };
  auto app = std::make_shared<HttpApp>();
  app->middleware.push_back(std::make_shared<Tagger>(out.seen));
  app->handler = router;
  {
    EmbeddedChannel ch(
        [&](Channel& c) {
          c.pipeline()
              .add_last("codec", HttpServerCodec::create(std::move(codec)))
              .add_last("handler", HttpServerHandler::create(app));
        },
        settings.channel);
    if (settings.peer_stalls) ch.set_peer_reading(false);
    for (std::string_view bytes : reads) {
      if (!ch.is_open()) break;
      ch.write_inbound(bytes);
    }
    if (settings.peer_stalls) ch.set_peer_reading(true);
    if (settings.run_clock) {
      // Each step passes every timeout; a timeout's own follow-up (a
      // lingering close's drain) falls due in the next.
      for (int i = 0; i < 3; ++i) ch.advance_time(120'000);
    }
    if (settings.send_eof && ch.is_open()) ch.shutdown_inbound();
    out.written = ch.read_outbound_bytes();
    out.open = ch.is_open();
    out.output_shut = ch.output_shutdown();
  }
  return out;
}

// ---- reading what the server wrote ------------------------------------------

// `written` without the value of each Date field (it moves with the clock).
std::string without_dates(std::string_view written) {
  std::string out;
  for (;;) {
    std::size_t at = written.find("\r\nDate: ");
    if (at == std::string_view::npos) break;
    std::size_t end = written.find("\r\n", at + 2);
    if (end == std::string_view::npos) break;
    out.append(written.substr(0, at + 8));
    written.remove_prefix(end);
  }
  out.append(written);
  return out;
}

struct Answer {
  int status = 0;
  bool tagged = false;
  std::size_t seq = 0;
  bool closes = false;  // Connection: close, or a body that ends with the connection
};

// Reads the answers in `written` strictly; anything malformed is a broken
// invariant. Whether an answer is to HEAD (and so has no body) is known
// for the application's answers (by their tag); the server's own answer,
// always the last, may be to a HEAD: then nothing follows its head.
class AnswerReader {
 public:
  AnswerReader(std::string_view written, const std::vector<Seen>& seen) : rest_(written), seen_(seen) {}

  std::vector<Answer> read_all() {
    std::vector<Answer> answers;
    while (!rest_.empty()) answers.push_back(read_one());
    return answers;
  }

 private:
  std::string_view line() {
    std::size_t end = rest_.find("\r\n");
    if (end == std::string_view::npos) malformed("a line without CRLF");
    std::string_view l = rest_.substr(0, end);
    rest_.remove_prefix(end + 2);
    return l;
  }

  Answer read_one() {
    Answer a;
    std::string_view status_line = line();
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
      malformed("a bad status line");
    }
    a.status = static_cast<int>(number(status_line.substr(9, 3), 10));
    std::string_view length;
    bool chunked = false;
    for (std::string_view field = line(); !field.empty(); field = line()) {
      std::size_t colon = field.find(": ");
      if (colon == std::string_view::npos) malformed("a bad field");
      std::string_view name = field.substr(0, colon);
      std::string_view value = field.substr(colon + 2);
      if (iequals(name, "X-Seq")) {
        a.tagged = true;
        a.seq = number(value, 10);
        if (a.seq >= seen_.size()) malformed("a tag for a request the application never saw");
      } else if (iequals(name, "Content-Length")) {
        if (!length.empty()) malformed("two Content-Length fields");
        length = value;
      } else if (iequals(name, "Transfer-Encoding")) {
        if (value != "chunked") malformed("a Transfer-Encoding other than chunked");
        chunked = true;
      } else if (iequals(name, "Connection")) {
        a.closes = iequals(value, "close");
      }
    }
    if (chunked && !length.empty()) malformed("both Content-Length and chunked");
    if (a.status < 200 || a.status == 204 || a.status == 304) {
      if (!length.empty() || chunked) malformed("framing on an answer that has no body");
      return a;
    }
    bool to_head = a.tagged ? seen_[a.seq].head : rest_.empty();
    if (to_head) return a;
    if (chunked) {
      read_chunks();
    } else if (!length.empty()) {
      std::size_t n = number(length, 10);
      if (rest_.size() < n) malformed("a body shorter than its Content-Length");
      rest_.remove_prefix(n);
    } else {
      rest_ = {};  // the body ends with the connection (HTTP/1.0)
      a.closes = true;
    }
    return a;
  }

  void read_chunks() {
    for (;;) {
      std::size_t size = number(line(), 16);
      if (size == 0) break;
      if (rest_.size() < size + 2 || rest_.substr(size, 2) != "\r\n") malformed("a bad chunk");
      rest_.remove_prefix(size + 2);
    }
    if (!line().empty()) malformed("trailers after the last chunk");
  }

  std::size_t number(std::string_view text, int base) {
    std::size_t n = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n, base);
    if (error != std::errc() || end != text.data() + text.size() || text.empty()) malformed("a bad number");
    return n;
  }

  [[noreturn]] void malformed(const char* what) {
    broken("the server's output parses as HTTP/1.1 answers", std::string(what) + " at:\n" + printable(rest_, 400));
  }

  std::string_view rest_;
  const std::vector<Seen>& seen_;
};

std::string describe(const Outcome& o) {
  std::string s = "written:\n" + printable(o.written) + "\nthe application saw:";
  for (std::size_t i = 0; i < o.seen.size(); ++i) {
    s += "\n  " + std::to_string(i) + ": " + o.seen[i].method + " " + printable(o.seen[i].target, 80) +
         (o.seen[i].may_go_unanswered ? " (unfinished upload)" : "");
  }
  s += std::string("\nopen: ") + (o.open ? "yes" : "no") + ", output shut: " + (o.output_shut ? "yes" : "no");
  return s;
}

// ---- what reaches the application ---------------------------------------------

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// The rules of README's table, written again from it: a request that breaks
// one is refused, so the application never sees it.
void check_seen(const Outcome& o, const HttpCodecOptions& limits) {
  for (const Seen& r : o.seen) {
    auto refused = [&](const char* rule) {
      broken("the application never sees a request the server must refuse",
             std::string(rule) + "\n" + describe(o));
    };
    if (r.version_major != 1 || r.version_minor > 1) refused("HTTP/1.0 or 1.1 only");
    if (r.target.empty() || r.target.size() > limits.max_target_bytes) refused("a target within its limit");
    if (r.fields.size() > limits.max_headers) refused("no more fields than max_headers");
    std::size_t hosts = 0;
    std::vector<std::string> lengths;
    std::vector<std::string> codings;
    for (const auto& [name, value] : r.fields) {
      if (name.empty()) refused("no empty field name");
      for (char c : name) {
        if (c <= ' ' || c == ':' || static_cast<unsigned char>(c) >= 0x7f) refused("field names are tokens");
      }
      if (value.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) refused("no NUL, CR or LF in a value");
      std::string n = lowered(name);
      if (n == "host") ++hosts;
      if (n == "content-length") lengths.push_back(trimmed(value));
      if (n == "transfer-encoding") {
        std::size_t from = 0;
        for (;;) {
          std::size_t comma = value.find(',', from);
          codings.push_back(lowered(trimmed(value.substr(from, comma - from))));
          if (comma == std::string::npos) break;
          from = comma + 1;
        }
      }
    }
    if (r.version_minor == 1 && hosts != 1) refused("exactly one Host in HTTP/1.1");
    if (hosts > 1) refused("at most one Host");
    if (!lengths.empty() && !codings.empty()) refused("not both Content-Length and Transfer-Encoding");
    if (!codings.empty() && r.version_minor == 0) refused("no Transfer-Encoding in HTTP/1.0");
    if (!codings.empty() && codings != std::vector<std::string>{"chunked"}) refused("no coding but chunked, once");
    for (const std::string& l : lengths) {
      if (l.empty() || l.find_first_not_of("0123456789") != std::string::npos || l != lengths[0]) {
        refused("Content-Length is one number");
      }
    }
    // Which limit applies is the route's choice (the router fuzzer checks
    // streams_body): a target under /upload that no route streams has the
    // plain limit.
    if (r.body.size() > (r.streamed ? limits.max_streamed_body_bytes : limits.max_body_bytes)) {
      refused("a body within its limit");
    }
  }
}

void check_answers(const Outcome& o) {
  std::vector<Answer> answers = AnswerReader(o.written, o.seen).read_all();
  std::size_t next_seq = 0;
  bool closed_by_answer = false;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const Answer& a = answers[i];
    bool last = i + 1 == answers.size();
    if (closed_by_answer) broken("nothing is written after an answer that closes", describe(o));
    if (a.status < 200) continue;  // 100 Continue
    if (a.tagged) {
      if (a.seq != next_seq) broken("the application's answers leave in request order, each once", describe(o));
      ++next_seq;
    } else {
      if (!last) broken("the server's own answer is the last one written", describe(o));
      if (!a.closes || a.status < 400) broken("the server's own answer is a refusal that closes", describe(o));
    }
    closed_by_answer = a.closes;
  }
  if (closed_by_answer && o.open && !o.output_shut) {
    broken("after an answer that closes, the connection's output is shut", describe(o));
  }
  for (std::size_t i = next_seq; i < o.seen.size(); ++i) {
    if (!o.seen[i].may_go_unanswered) broken("every request the application answered is answered", describe(o));
  }
}

bool same(const Outcome& a, const Outcome& b) {
  if (without_dates(a.written) != without_dates(b.written)) return false;
  if (a.open != b.open || a.output_shut != b.output_shut || a.seen.size() != b.seen.size()) return false;
  for (std::size_t i = 0; i < a.seen.size(); ++i) {
    const Seen& x = a.seen[i];
    const Seen& y = b.seen[i];
    if (x.method != y.method || x.target != y.target || x.body != y.body ||
        x.may_go_unanswered != y.may_go_unanswered) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log().set_level(spdlog::level::off);  // a handler's exception is logged per request
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  Settings settings = Settings::read(in);
  fuzz::Cuts cuts = fuzz::Cuts::read(in);
  std::string_view bytes = in.rest();

  Outcome whole = run(settings, fuzz::Cuts::whole(bytes));
  check_answers(whole);
  check_seen(whole, settings.codec);
  Outcome cut = run(settings, cuts.apply(bytes));
  if (!same(whole, cut)) {
    broken("cut or whole, the same answers", "whole: " + describe(whole) + "\n\ncut: " + describe(cut));
  }
  return 0;
}
