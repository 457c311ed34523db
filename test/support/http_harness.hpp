#pragma once
// HttpServerCodec + HttpServerHandler on an EmbeddedChannel: the HTTP stack
// with no socket, for codec and pipelining tests.

#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "sluice/channel/embedded_channel.hpp"
#include "sluice/http/http_server_codec.hpp"
#include "sluice/http/http_server_handler.hpp"
#include "support/http_responses.hpp"

namespace sluice::test {

inline ChannelOptions http_channel_options() {
  ChannelOptions o;
  o.allow_half_close = true;  // as HttpServer sets it
  return o;
}

/// The codec and the handler (with `handler` as the application), and
/// optionally `head` next to the "socket" (e.g. to watch what is written).
struct HttpHarness {
  std::shared_ptr<HttpServerCodec> codec;
  std::unique_ptr<EmbeddedChannel> ch;

  explicit HttpHarness(std::shared_ptr<HttpHandler> handler, HttpCodecOptions options = {},
                       ChannelOptions channel_options = http_channel_options(),
                       std::shared_ptr<HandlerBase> head = nullptr) {
    auto app = std::make_shared<HttpApp>();
    app->handler = std::move(handler);
    codec = HttpServerCodec::create(std::move(options));
    ch = std::make_unique<EmbeddedChannel>(
        [&](Channel& c) {
          if (head) c.pipeline().add_last("head", head);
          c.pipeline().add_last("codec", codec).add_last("handler", HttpServerHandler::create(app));
        },
        channel_options);
  }

  /// One socket read; the responses it produced.
  std::vector<Response> send(std::string_view bytes, const std::set<std::size_t>& head_replies = {}) {
    ch->write_inbound(bytes);
    return parse_responses(ch->read_outbound_bytes(), head_replies);
  }
  /// Responses written since the last look.
  std::vector<Response> take(const std::set<std::size_t>& head_replies = {}) {
    return parse_responses(ch->read_outbound_bytes(), head_replies);
  }
  Channel& channel() { return ch->channel(); }
  /// A closing answer went out as a lingering close should: our FIN is
  /// sent, the channel still reads (and drops) what the client sends, and
  /// it closes as soon as the client closes its side.
  bool lingers_until_peer_closes() {
    if (!ch->output_shutdown() || !ch->is_open()) return false;
    ch->write_inbound("GET /dropped HTTP/1.1\r\nHost: x\r\n\r\n");
    if (!ch->read_outbound_bytes().empty()) return false;
    ch->shutdown_inbound();
    return !ch->is_open();
  }
};

}  // namespace sluice::test
