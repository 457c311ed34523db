#include "client_handshake.hpp"

#include <algorithm>

#include <llhttp.h>
#include <sys/random.h>

#include "handshake.hpp"
#include "masking.hpp"
#include "sluice/channel/channel.hpp"
#include "sluice/core/event_loop.hpp"
#include "websocket_session.hpp"

namespace sluice::detail {

std::string new_handshake_key() {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    for (std::size_t i = 0; i < sizeof bytes; i += 4) next_mask_key(bytes + i);
  }
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string key;
  for (std::size_t i = 0; i < 15; i += 3) {
    unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) key += kAlphabet[(v >> shift) & 63];
  }
  unsigned last = bytes[15] << 16;
  key += kAlphabet[(last >> 18) & 63];
  key += kAlphabet[(last >> 12) & 63];
  key += "==";
  return key;
}

namespace {
// A response as llhttp hands it over: a field's name and value may come in
// pieces.
struct ResponseBeingRead {
  HandshakeResponse& out;
  std::string field;
  std::string value;
};
}  // namespace

namespace {
// llhttp reads more than the grammar allows in a status line ("0101" as
// 101, control bytes in the reason): status-line = HTTP-version SP
// 3DIGIT SP reason-phrase, reason-phrase = *( HTAB / SP / VCHAR /
// obs-text ) (RFC 9112 4). The version is llhttp's to read.
bool status_line_is_strict(std::string_view head) {
  head.remove_prefix(std::min(head.find_first_not_of("\r\n"), head.size()));  // as llhttp skips them
  std::string_view line = head.substr(0, head.find_first_of("\r\n"));
  std::size_t sp = line.find(' ');
  // The SP before an empty reason is often left out: taken without it.
  if (sp == std::string_view::npos || line.size() < sp + 4 || (line.size() > sp + 4 && line[sp + 4] != ' ')) {
    return false;
  }
  for (std::size_t i = sp + 1; i < sp + 4; ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
  }
  for (char c : line.substr(std::min(sp + 5, line.size()))) {
    auto u = static_cast<unsigned char>(c);
    if (u != '\t' && (u < 0x20 || u == 0x7f)) return false;
  }
  return true;
}
}  // namespace

bool parse_response_head(std::string_view head, HandshakeResponse& out) {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_header_field = [](llhttp_t* p, const char* at, std::size_t n) {
      static_cast<ResponseBeingRead*>(p->data)->field.append(at, n);
      return 0;
    };
    s.on_header_value = [](llhttp_t* p, const char* at, std::size_t n) {
      static_cast<ResponseBeingRead*>(p->data)->value.append(at, n);
      return 0;
    };
    s.on_header_value_complete = [](llhttp_t* p) {
      auto& r = *static_cast<ResponseBeingRead*>(p->data);
      r.out.headers.add(r.field, r.value);
      r.field.clear();
      r.value.clear();
      return 0;
    };
    // One response only: llhttp would read on into another (after a head
    // ending in a bare LF) and hand over its fields as more of these.
    s.on_headers_complete = [](llhttp_t*) { return static_cast<int>(HPE_PAUSED); };
    return s;
  }();
  ResponseBeingRead being_read{out, {}, {}};
  llhttp_t parser;
  llhttp_init(&parser, HTTP_RESPONSE, &settings);
  parser.data = &being_read;
  llhttp_errno_t err = llhttp_execute(&parser, head.data(), head.size());
  out.version_major = llhttp_get_http_major(&parser);
  out.version_minor = llhttp_get_http_minor(&parser);
  out.status = llhttp_get_status_code(&parser);
  // The head is the first response's, all of it.
  return err == HPE_PAUSED && llhttp_get_error_pos(&parser) == head.data() + head.size() &&
         status_line_is_strict(head);
}

ClientHandshake::ClientHandshake(const HandshakeRequest& request, std::shared_ptr<SessionConfig> config,
                                 std::shared_ptr<WebSocketHandler> handler, WebSocketClient::ConnectCallback done,
                                 std::uint64_t timeout_ms, std::size_t max_head_bytes)
    : config_(std::move(config)),
      handler_(std::move(handler)),
      done_(std::move(done)),
      timeout_ms_(timeout_ms),
      max_head_bytes_(max_head_bytes) {
  expected_accept_ = accept_key(request.key);
  request_ = "GET " + request.target + " HTTP/1.1\r\nHost: " + request.host_field +
             "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + request.key +
             "\r\nSec-WebSocket-Version: 13\r\n";
  const auto& offered = config_->options.subprotocols;
  for (std::size_t i = 0; i < offered.size(); ++i) {
    request_ += i == 0 ? "Sec-WebSocket-Protocol: " : ", ";
    request_ += offered[i];
    if (i + 1 == offered.size()) request_ += "\r\n";
  }
  for (const auto& [name, value] : request.extra_headers) request_ += name + ": " + value + "\r\n";
  request_ += "\r\n";
}

void ClientHandshake::channel_active(HandlerContext& ctx) {
  ctx_ = &ctx;
  ctx.write_and_flush(Buffer::copy_of(request_));
  ctx.loop().schedule_timeout(timer_, timeout_ms_);
  ctx.fire_channel_active();
}

void ClientHandshake::read(HandlerContext& ctx, Buffer& bytes) {
  if (!done_) {
    bytes.retrieve_all();
    return;
  }
  std::size_t searched_from = head_.size() < 3 ? 0 : head_.size() - 3;
  head_.append(bytes.view());
  bytes.retrieve_all();
  std::size_t end = head_.find("\r\n\r\n", searched_from);
  // The limit holds however the answer was cut: a head that came whole is
  // no longer allowed than one still arriving.
  std::size_t head_bytes = end == std::string::npos ? head_.size() : end + 4;
  if (head_bytes > max_head_bytes_) {
    failed(ctx, "the handshake answer is too long");
    return;
  }
  if (end == std::string::npos) return;
  end += 4;
  HandshakeResponse response;
  if (!parse_response_head(std::string_view(head_).substr(0, end), response)) {
    failed(ctx, "the handshake answer is not HTTP");
    return;
  }
  int subprotocol = -1;
  if (std::string why = check(response, subprotocol); !why.empty()) {
    failed(ctx, why);
    return;
  }
  succeeded(ctx, Buffer::copy_of(std::string_view(head_).substr(end)), subprotocol);
}

void ClientHandshake::channel_inactive(HandlerContext& ctx) {
  ctx.loop().cancel_timeout(timer_);
  if (done_) report(nullptr, "the connection closed during the handshake");
  ctx.fire_channel_inactive();
}

std::string ClientHandshake::check(const HandshakeResponse& r, int& subprotocol) const {
  // 101 and Upgrade are HTTP/1.1's (llhttp reads any version).
  if (r.version_major != 1 || r.version_minor != 1) {
    return "the answer is HTTP/" + std::to_string(r.version_major) + "." + std::to_string(r.version_minor) +
           ", not HTTP/1.1";
  }
  if (r.status != 101) return "the server answered " + std::to_string(r.status) + ", not 101";
  if (!r.headers.has_token("Upgrade", "websocket")) return "the answer has no Upgrade: websocket";
  if (!r.headers.has_token("Connection", "upgrade")) return "the answer has no Connection: Upgrade";
  if (r.headers.get("Sec-WebSocket-Accept") != expected_accept_) return "wrong Sec-WebSocket-Accept";
  if (r.headers.contains("Sec-WebSocket-Extensions")) return "the server chose an extension we did not offer";
  if (auto chosen = r.headers.get("Sec-WebSocket-Protocol")) {
    const auto& offered = config_->options.subprotocols;
    for (std::size_t i = 0; i < offered.size(); ++i) {
      if (offered[i] == *chosen) subprotocol = static_cast<int>(i);
    }
    if (subprotocol < 0) return "the server chose a subprotocol we did not offer";
  }
  return {};
}

void ClientHandshake::succeeded(HandlerContext& ctx, Buffer rest, int subprotocol) {
  ctx.loop().cancel_timeout(timer_);
  Channel& channel = ctx.channel();
  ctx.pipeline().remove(ctx.name());  // emplaced: lives on with the channel
  auto& session = WebSocketSession::install(channel, Buffer(), std::move(config_), std::move(handler_), subprotocol);
  report(session.shared(), {});
  // Frames that came with the answer go through the codec as if read next:
  // the application has its WebSocket before it hears of them, however the
  // server's bytes were cut (the channel's read_complete follows).
  if (!rest.empty() && channel.is_active()) channel.pipeline().fire_read(MessageRef::of(rest));
}

void ClientHandshake::failed(HandlerContext& ctx, const std::string& why) {
  ctx.loop().cancel_timeout(timer_);
  report(nullptr, "WebSocket handshake failed: " + why);
  ctx.channel().close_now();
}

void ClientHandshake::report(std::shared_ptr<WebSocket> ws, std::string error) {
  auto done = std::move(done_);
  done_ = nullptr;
  done(std::move(ws), std::move(error));
}

void ClientHandshake::timed_out(void* self) {
  auto& h = *static_cast<ClientHandshake*>(self);
  if (h.done_ && h.ctx_ != nullptr) h.failed(*h.ctx_, "no answer in time");
}

}  // namespace sluice::detail
