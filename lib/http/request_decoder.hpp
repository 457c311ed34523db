#pragma once
// Internal: bytes -> requests, on llhttp in strict mode. Knows HTTP/1.1
// message syntax and the size limits; knows nothing of the connection.

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "body_stream_feed.hpp"
#include "request_validator.hpp"
#include "sluice/http/http_body_stream.hpp"
#include "sluice/http/http_request.hpp"
#include "sluice/http/http_server_codec.hpp"

namespace sluice::detail {

/// Decodes one connection's requests, one step at a time: decode() runs
/// until something the connection must act on happens and says what it was
/// (an Event), leaving the rest of the input for the next call. A request
/// whose head breaks a rule is refused with the status of
/// validate_request(). Pooled with the rest of a connection's per-request
/// state (RequestState). Loop thread only.
class RequestDecoder {
 public:
  enum class Event : std::uint8_t {
    need_more,     // the input is consumed; a request may be under way (in_head(), in_body())
    head,          // a head whose body follows: take_head(); the body is read next
    body_stopped,  // the streamed body's consumer is behind: feed no more until it resumes
    body_end,      // the streamed body is complete (its request was handed on at its head)
    request,       // a complete request: take_request()
    error,         // the request is refused: error_status(), error_message(); decoding is over
  };

  /// Ready for a connection's first request (llhttp_init, all per-request
  /// fields fresh; the scratch strings keep their capacity, within reason).
  void start(const HttpCodecOptions& options);
  /// Back to the pool: a streamed body still open ends (499), every
  /// per-request field is fresh, scratch beyond a bound is freed.
  void reset() noexcept;

  /// Decodes from `data` on; advances `data` / `len` past what was consumed.
  Event decode(const char*& data, std::size_t& len);

  /// The request whose head or whole message was just decoded.
  HttpRequestPtr take_request() noexcept { return std::move(fresh_.current); }
  /// The body read so far of the request being decoded (aggregated).
  std::size_t body_bytes() const noexcept { return fresh_.current ? fresh_.current->body.size() : 0; }
  /// After Event::head: whether the request asked for "100 Continue".
  bool expects_continue() const noexcept { return fresh_.expect_continue; }
  /// After Event::head: the stream its body goes to (null: aggregated).
  const std::shared_ptr<HttpBodyStream>& body_stream() const noexcept { return fresh_.body_stream; }
  bool in_message() const noexcept { return fresh_.in_message; }
  bool in_head() const noexcept { return fresh_.in_message && !fresh_.in_trailers; }
  /// The request being read (or a new one when none is), refused with
  /// `status`: what the connection answers instead. Ends the message.
  HttpRequestPtr take_refused(int status, std::string message);
  int error_status() const noexcept { return fresh_.error_status; }
  const std::string& error_message() const noexcept { return kept_.error_message; }
  /// Ends the streamed body (0: complete, else the status its handler
  /// learns of) and the message.
  void end_body_stream(int status);

 private:
  static const llhttp_settings_t& settings();
  static RequestDecoder& of(llhttp_t* p) { return *static_cast<RequestDecoder*>(p->data); }
  static int on_message_begin(llhttp_t* p);
  static int on_url(llhttp_t* p, const char* at, std::size_t len);
  static int on_header_field(llhttp_t* p, const char* at, std::size_t len);
  static int on_header_value(llhttp_t* p, const char* at, std::size_t len);
  static int on_header_value_complete(llhttp_t* p);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, std::size_t len);
  static int on_chunk_header(llhttp_t* p);
  static int on_chunk_complete(llhttp_t* p);
  static int on_message_complete(llhttp_t* p);

  int refuse(int status, std::string_view message);
  int refuse(const Verdict& verdict);
  int count_header_bytes(std::size_t len);
  int decide_body(llhttp_t* p);
  bool value_is_folded(const char* at) const noexcept;
  int begin_chunk_line() noexcept;
  Event stopped(llhttp_errno_t err, const char*& data, std::size_t& len);
  void flush_open_span(const char* end);
  static int status_for(llhttp_errno_t err, const char* reason) noexcept;

  // A field's name or value. llhttp hands it over as one span nearly
  // always, and in pieces only when a read (or the end of an execute)
  // cuts it: the first piece is kept as a view of the input and copied
  // only when a second piece comes or decode() returns before the field
  // ends. A view lives only inside one decode() call (keep()).
  // tools/profile: the Host field of every request, 2 appends and 2
  // clears of scratch strings fewer.
  class SpanText {
   public:
    void add(const char* at, std::size_t len) {
      if (at_ == nullptr && owned_.empty()) {
        at_ = at;
        len_ = len;
        return;
      }
      keep();
      owned_.append(at, len);
    }
    std::string_view view() const noexcept { return at_ != nullptr ? std::string_view(at_, len_) : owned_; }
    /// Copies a view into storage of its own: its input is going.
    void keep() {
      if (at_ == nullptr) return;
      owned_.assign(at_, len_);
      at_ = nullptr;
    }
    void clear() noexcept {
      at_ = nullptr;
      owned_.clear();
    }
    std::string& owned() noexcept { return owned_; }

   private:
    const char* at_ = nullptr;
    std::size_t len_ = 0;
    std::string owned_;
  };

  // What keeps its capacity from one request to the next.
  struct Kept {
    SpanText field;
    SpanText value;
    std::string error_message;
  };
  // Everything else about the request being decoded: reset whole
  // (`fresh_ = {}`) when the decoder is started.
  struct Fresh {
    HttpRequestPtr current;  // being decoded
    std::shared_ptr<HttpBodyStream> body_stream;  // its body, when streamed
    HeadFacts facts;
    std::size_t header_bytes = 0;
    std::size_t header_count = 0;
    std::size_t chunk_line_bytes = 0;  // of the chunk-size line being read
    int error_status = 0;              // set by a callback that refuses the request
    Event paused_for = Event::need_more;  // why a callback paused llhttp
    bool in_message = false;    // between message begin and complete
    bool in_trailers = false;   // past the header section: fields are trailers
    bool in_chunk_line = false; // a chunk-size line (with extensions) is being read
    bool last_chunk = false;    // the size line read last said 0
    bool expect_continue = false;
  };

  const HttpCodecOptions* options_ = nullptr;
  llhttp_t parser_{};
  Kept kept_;
  Fresh fresh_;
  // Where the input of this decode() call begins, and whether the bytes
  // before it ended a line (see value_is_folded).
  const char* input_begin_ = nullptr;
  bool input_follows_line_start_ = false;
};

}  // namespace sluice::detail
