#pragma once
// An HTTP response as handlers build it.

#include <string>
#include <string_view>

// The whole of nlohmann/json, not json_fwd: callers build and read the
// values these methods take and return.
#include <nlohmann/json.hpp>

#include "sluice/core/buffer.hpp"
#include "sluice/http/http_headers.hpp"
#include "sluice/http/json_writer.hpp"

namespace sluice {

/// The standard reason phrase of `status` ("OK", "Not Found"; "Unknown" otherwise).
std::string_view reason_phrase(int status) noexcept;

/// Status, headers and body. The server adds Date, Server, Content-Length
/// (or chunked framing) and Connection itself. A body handed over as a Buffer
/// is written as it is, after the head, in one writev: not copied. A value
/// type (move-only); may be built on any thread.
struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  Buffer body;

  HttpResponse() = default;
  explicit HttpResponse(int s) : status(s) {}

  /// `body` with a Content-Type (default: UTF-8 plain text).
  static HttpResponse text(std::string_view body, int status = 200,
                           std::string_view content_type = "text/plain; charset=utf-8");
  /// `value` serialised as application/json.
  static HttpResponse json(const nlohmann::json& value, int status = 200);
  /// What `body` wrote, as application/json, without a copy: with a
  /// JsonWriter, a JSON answer allocates nothing once the loop's buffer
  /// pool is warm. Throws std::logic_error unless the value is whole.
  static HttpResponse json(JsonWriter&& body, int status = 200);
  /// A short plain-text error: "<status> <reason>" or `message`.
  static HttpResponse error(int status, std::string_view message = {});

  HttpResponse& header(std::string_view name, std::string_view value) & {
    headers.add(name, value);
    return *this;
  }
  /// On a temporary: `send(HttpResponse(204).header("Allow", "GET"))`.
  HttpResponse&& header(std::string_view name, std::string_view value) && {
    headers.add(name, value);
    return std::move(*this);
  }
  HttpResponse& set_body(std::string_view bytes);
  HttpResponse& set_body(Buffer bytes) {
    body = std::move(bytes);
    return *this;
  }
};

}  // namespace sluice
