#include "sluice/websocket/websocket_client.hpp"

#include <llhttp.h>
#include <sys/random.h>

#include <future>
#include <stdexcept>

#include "handshake.hpp"
#include "masking.hpp"
#include "sluice/channel/channel.hpp"
#include "sluice/core/event_loop.hpp"
#include "sluice/http/http_headers.hpp"
#include "websocket_session.hpp"

namespace sluice {

namespace {

constexpr std::size_t kMaxResponseHead = 16 * 1024;

struct Url {
  std::string host;
  std::uint16_t port = 80;
  std::string target = "/";
  std::string host_field;  // the Host field: as written in the URL
};

Url parse_url(const std::string& url) {
  constexpr std::string_view scheme = "ws://";
  if (url.compare(0, scheme.size(), scheme) != 0) throw std::invalid_argument("WebSocketClient: not a ws:// URL: " + url);
  std::string_view rest = std::string_view(url).substr(scheme.size());
  std::size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  Url u;
  u.host_field = std::string(authority);
  if (slash != std::string_view::npos) {
    std::string_view target = rest.substr(slash);
    u.target.clear();
    if (target.front() == '?') u.target.push_back('/');  // "ws://host?x" asks for "/?x"
    u.target.append(target);
  }
  std::string_view host = authority;
  std::size_t colon = authority.rfind(':');
  std::size_t bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    host = authority.substr(0, colon);
    unsigned long port = std::stoul(std::string(authority.substr(colon + 1)));
    if (port == 0 || port > 65535) throw std::invalid_argument("WebSocketClient: bad port in " + url);
    u.port = static_cast<std::uint16_t>(port);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) throw std::invalid_argument("WebSocketClient: no host in " + url);
  u.host = std::string(host);
  return u;
}

std::string new_key() {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    for (std::size_t i = 0; i < sizeof bytes; i += 4) detail::next_mask_key(bytes + i);
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

// The status and fields of the server's answer, read with llhttp.
struct ResponseHead {
  int status = 0;
  HttpHeaders headers;
  std::string field;
  std::string value;
};

bool parse_response_head(std::string_view head, ResponseHead& out) {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_header_field = [](llhttp_t* p, const char* at, std::size_t n) {
      static_cast<ResponseHead*>(p->data)->field.append(at, n);
      return 0;
    };
    s.on_header_value = [](llhttp_t* p, const char* at, std::size_t n) {
      static_cast<ResponseHead*>(p->data)->value.append(at, n);
      return 0;
    };
    s.on_header_value_complete = [](llhttp_t* p) {
      auto& r = *static_cast<ResponseHead*>(p->data);
      r.headers.add(r.field, r.value);
      r.field.clear();
      r.value.clear();
      return 0;
    };
    return s;
  }();
  llhttp_t parser;
  llhttp_init(&parser, HTTP_RESPONSE, &settings);
  parser.data = &out;
  llhttp_errno_t err = llhttp_execute(&parser, head.data(), head.size());
  out.status = llhttp_get_status_code(&parser);
  return err == HPE_OK || err == HPE_PAUSED_UPGRADE;
}

// The client's side of the opening handshake: sends the request, reads the
// answer, and on a good 101 gives its place to the WebSocket codec and
// session. The only handler of the channel until then.
class ClientHandshake final : public InboundHandler<Buffer> {
 public:
  ClientHandshake(Url url, std::shared_ptr<detail::SessionConfig> config, std::shared_ptr<WebSocketHandler> handler,
                  WebSocketClient::ConnectCallback done, std::uint64_t timeout_ms,
                  const std::vector<std::pair<std::string, std::string>>& extra_headers)
      : config_(std::move(config)), handler_(std::move(handler)), done_(std::move(done)), timeout_ms_(timeout_ms) {
    std::string key = new_key();
    expected_accept_ = detail::accept_key(key);
    request_ = "GET " + url.target + " HTTP/1.1\r\nHost: " + url.host_field +
               "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
               "\r\nSec-WebSocket-Version: 13\r\n";
    const auto& offered = config_->options.subprotocols;
    for (std::size_t i = 0; i < offered.size(); ++i) {
      request_ += i == 0 ? "Sec-WebSocket-Protocol: " : ", ";
      request_ += offered[i];
      if (i + 1 == offered.size()) request_ += "\r\n";
    }
    for (const auto& [name, value] : extra_headers) request_ += name + ": " + value + "\r\n";
    request_ += "\r\n";
  }

  void channel_active(HandlerContext& ctx) override {
    ctx_ = &ctx;
    ctx.write_and_flush(Buffer::copy_of(request_));
    ctx.loop().schedule_timeout(timer_, timeout_ms_);
    ctx.fire_channel_active();
  }

  void read(HandlerContext& ctx, Buffer& bytes) override {
    if (!done_) {
      bytes.retrieve_all();
      return;
    }
    std::size_t searched_from = head_.size() < 3 ? 0 : head_.size() - 3;
    head_.append(bytes.view());
    bytes.retrieve_all();
    std::size_t end = head_.find("\r\n\r\n", searched_from);
    if (end == std::string::npos) {
      if (head_.size() > kMaxResponseHead) failed(ctx, "the handshake answer is too long");
      return;
    }
    end += 4;
    ResponseHead response;
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

  void channel_inactive(HandlerContext& ctx) override {
    ctx.loop().cancel_timeout(timer_);
    if (done_) report(nullptr, "the connection closed during the handshake");
    ctx.fire_channel_inactive();
  }

 private:
  std::string check(const ResponseHead& r, int& subprotocol) const {
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

  void succeeded(HandlerContext& ctx, Buffer rest, int subprotocol) {
    ctx.loop().cancel_timeout(timer_);
    Channel& channel = ctx.channel();
    ctx.pipeline().remove(ctx.name());  // emplaced: lives on with the channel
    auto& session = detail::WebSocketSession::install(channel, std::move(rest), std::move(config_),
                                                      std::move(handler_), subprotocol);
    report(session.shared(), {});
  }

  void failed(HandlerContext& ctx, const std::string& why) {
    ctx.loop().cancel_timeout(timer_);
    report(nullptr, "WebSocket handshake failed: " + why);
    ctx.channel().close_now();
  }

  void report(std::shared_ptr<WebSocket> ws, std::string error) {
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(ws), std::move(error));
  }

  static void timed_out(void* self) {
    auto& h = *static_cast<ClientHandshake*>(self);
    if (h.done_ && h.ctx_ != nullptr) h.failed(*h.ctx_, "no answer in time");
  }

  std::shared_ptr<detail::SessionConfig> config_;
  std::shared_ptr<WebSocketHandler> handler_;
  WebSocketClient::ConnectCallback done_;
  std::uint64_t timeout_ms_;
  std::string request_;
  std::string expected_accept_;
  std::string head_;
  HandlerContext* ctx_ = nullptr;
  TimerWheel::Entry timer_{&ClientHandshake::timed_out, this};
};

}  // namespace

void WebSocketClient::connect(EventLoop& loop, const std::string& url, std::shared_ptr<WebSocketHandler> handler,
                              ConnectCallback done, WebSocketClientOptions options) {
  if (!handler) throw std::invalid_argument("WebSocketClient: a null handler");
  if (options.websocket.subprotocols.size() > 127) throw std::invalid_argument("WebSocketClient: too many subprotocols");
  Url u = parse_url(url);
  auto config = std::make_shared<detail::SessionConfig>();
  config->options = std::move(options.websocket);
  config->role = WebSocketRole::client;
  // One callback, whichever way it ends: the TCP connection failing, or
  // the handshake (which reports through it too).
  auto shared_done = std::make_shared<ConnectCallback>(std::move(done));
  auto headers = std::move(options.headers);
  std::uint64_t timeout = options.handshake_timeout_ms;
  std::string host = u.host;
  std::uint16_t port = u.port;
  TcpClient::connect(
      loop, std::move(host), port,
      [u = std::move(u), config, handler = std::move(handler), shared_done, timeout,
       headers = std::move(headers)](Channel& channel) mutable {
        channel.pipeline().emplace_last<ClientHandshake>(
            "ws-handshake", std::move(u), config, std::move(handler),
            [shared_done](std::shared_ptr<WebSocket> ws, std::string error) {
              if (*shared_done) std::exchange(*shared_done, nullptr)(std::move(ws), std::move(error));
            },
            timeout, headers);
      },
      [shared_done](std::shared_ptr<Channel> channel, std::string error) {
        if (!channel && *shared_done) std::exchange(*shared_done, nullptr)(nullptr, std::move(error));
      },
      options.tcp);
}

std::shared_ptr<WebSocket> WebSocketClient::connect_sync(EventLoop& loop, const std::string& url,
                                                         std::shared_ptr<WebSocketHandler> handler,
                                                         WebSocketClientOptions options) {
  std::promise<std::pair<std::shared_ptr<WebSocket>, std::string>> outcome;
  auto result = outcome.get_future();
  connect(
      loop, url, std::move(handler),
      [&outcome](std::shared_ptr<WebSocket> ws, std::string error) { outcome.set_value({std::move(ws), std::move(error)}); },
      std::move(options));
  auto [ws, error] = result.get();
  if (!ws) throw std::runtime_error(error);
  return ws;
}

}  // namespace sluice
