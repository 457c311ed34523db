#pragma once
// An HTTP/1.x request as the server hands it to handlers.

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The whole of nlohmann/json, not json_fwd: callers build and read the
// values these methods take and return.
#include <nlohmann/json.hpp>

#include "sluice/core/socket_address.hpp"
#include "sluice/http/http_headers.hpp"

namespace sluice {

class HttpBodyStream;

/// Thrown by a handler (or by HttpRequest::json) to answer with `status` and
/// a short plain-text message. Anything else a handler throws becomes 500.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

/// One request. Made by HttpServerCodec on the connection's loop; handlers
/// may keep it (it is shared) until they have answered. NOT thread safe: a
/// handler that answers from another thread should copy what it needs.
struct HttpRequest {
  std::string_view method;  // "GET", "POST", ... (static storage)
  std::string target;       // as sent: "/a/b?x=1", "http://host/a", "*"
  int version_major = 1;
  int version_minor = 1;
  HttpHeaders headers;
  std::string body;         // aggregated body (up to max_body_bytes)
  bool keep_alive = true;   // what the client asked for (version + Connection)
  /// The client asks to switch protocols: an Upgrade field with the
  /// "upgrade" token in Connection (or CONNECT). What it sends after this
  /// request is held until the answer: ResponseWriter::switch_protocols
  /// hands it to the next protocol; any other answer goes on with HTTP.
  bool upgrade = false;
  SocketAddress remote_address;
  std::uint64_t sequence = 0;  // 0, 1, 2 ... on its connection

  /// Set when the request could not be parsed or broke a limit: the server
  /// answers this status (and closes) without calling the application.
  int error_status = 0;
  std::string error_message;

  /// The body, piece by piece, when the route streams it (then `body` stays
  /// empty). Never null in a handler of a Router route with
  /// RouteOptions::stream_body (a request without a body gets a stream that
  /// has already ended); null for every other route. With a custom
  /// HttpCodecOptions::stream_body and no Router: set only when a body follows.
  std::shared_ptr<HttpBodyStream> body_stream;

  /// Path parameters filled in by the Router (":id" and "*rest").
  std::vector<std::pair<std::string, std::string>> params;

  /// The target's path ("/a/b"; for an absolute-form target, its path; "*" for OPTIONS *).
  std::string_view path() const noexcept;
  /// The raw query string after '?', without it ("" when none).
  std::string_view query() const noexcept;
  /// The first query parameter called `name`, percent-decoded ('+' is a space).
  std::optional<std::string> query_param(std::string_view name) const;
  /// A router path parameter ("" when absent).
  std::string_view param(std::string_view name) const noexcept;
  /// The body as JSON; throws HttpError(400) with a short message when it is not.
  nlohmann::json json() const;
  bool is_head() const noexcept { return method == "HEAD"; }

  /// Back to a default-constructed request, keeping the capacity of its
  /// target, headers and body up to a bound: the server recycles requests.
  void reset() noexcept;
};

using HttpRequestPtr = std::shared_ptr<HttpRequest>;

/// Percent-decodes `text` (and '+' to space when `plus_is_space`); nullopt
/// when an escape is malformed.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

}  // namespace sluice
