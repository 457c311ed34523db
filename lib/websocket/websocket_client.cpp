#include "sluice/websocket/websocket_client.hpp"

#include <future>
#include <stdexcept>

#include "client_handshake.hpp"
#include "sluice/channel/channel.hpp"
#include "sluice/core/event_loop.hpp"
#include "websocket_session.hpp"

namespace sluice {

namespace {

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
        detail::HandshakeRequest request{u.target, u.host_field, detail::new_handshake_key(), headers};
        channel.pipeline().emplace_last<detail::ClientHandshake>(
            "ws-handshake", request, config, std::move(handler),
            [shared_done](std::shared_ptr<WebSocket> ws, std::string error) {
              if (*shared_done) std::exchange(*shared_done, nullptr)(std::move(ws), std::move(error));
            },
            timeout);
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
