// Fuzz target: the WebSocket client's handshake (its reading of the
// server's answer with llhttp, then the session in the client role) on an
// EmbeddedChannel, fed what a server might answer.
//
// Input: [limit][cuts: 3 bytes][bytes from the server]. limit: the longest
// answer head taken, 64 + 4 * limit bytes (short heads reach the limit);
// 0 and 255: the library's own (16 KiB). The client asks with the
// key of RFC 6455's example ("dGhlIHNhbXBsZSBub25jZQ=="), whose accept
// value is "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", offering subprotocols "chat"
// and "superchat".
//
// Invariants:
//   - whole or cut, the same outcome: the WebSocket or the same error, the
//     same subprotocol, then the same messages and close code;
//   - the handshake reports exactly once, and a failure closes the
//     connection;
//   - a WebSocket opens only on an answer whose head (at most the limit)
//     says HTTP/1.1 101 and carries the accept value.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../lib/websocket/client_handshake.hpp"
#include "fuzz_input.hpp"
#include "sluice/channel/embedded_channel.hpp"
#include "sluice/websocket/websocket.hpp"
#include "../lib/websocket/websocket_session.hpp"  // SessionConfig

using namespace sluice;
using fuzz::broken;

namespace {

constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

using Events = std::vector<std::string>;

class Recorder final : public WebSocketHandler {
 public:
  explicit Recorder(Events& events) : events_(&events) {}
  void on_open(WebSocket& ws) override { events_->push_back("on_open:" + std::string(ws.subprotocol())); }
  void on_message(WebSocket&, const WebSocketMessage& m) override {
    events_->push_back("message:" + std::to_string(static_cast<int>(m.opcode)) + ":" + std::string(m.data));
  }
  void on_close(WebSocket&, std::uint16_t code, std::string_view reason) override {
    events_->push_back("on_close:" + std::to_string(code) + ":" + std::string(reason));
  }

 private:
  Events* events_;
};

struct Outcome {
  Events events;  // the report first ("ws" or "error:<why>"), then the handler's calls
  bool open = false;
};

Outcome run(std::size_t max_head_bytes, const std::vector<std::string_view>& reads) {
  Outcome out;
  auto config = std::make_shared<detail::SessionConfig>();
  config->role = WebSocketRole::client;
  config->options.max_message_bytes = 4096;
  config->options.subprotocols = {"chat", "superchat"};
  detail::HandshakeRequest request{"/chat", "server.example.com", std::string(kKey), {}};
  int reports = 0;
  {
    EmbeddedChannel ch([&](Channel& c) {
      c.pipeline().emplace_last<detail::ClientHandshake>(
          "ws-handshake", request, config, std::make_shared<Recorder>(out.events),
          [&](std::shared_ptr<WebSocket> ws, std::string error) {
            ++reports;
            out.events.push_back(ws ? "ws" : "error:" + error);
          },
          10'000, max_head_bytes);
    });
    ch.read_outbound_bytes();  // the request
    for (std::string_view bytes : reads) {
      if (!ch.is_open()) break;
      ch.write_inbound(bytes);
    }
    out.open = ch.is_open();
    if (reports == 1 && out.events.front().rfind("error:", 0) == 0 && out.open) {
      broken("a failed handshake closes the connection");
    }
  }
  if (reports > 1) broken("the handshake reports once");
  return out;
}

std::string describe(const Outcome& o) {
  std::string s;
  for (const auto& e : o.events) s += "  " + fuzz::printable(e, 300) + "\n";
  return s + (o.open ? "  (open)\n" : "  (closed)\n");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  std::uint8_t limit = in.byte();
  std::size_t max_head_bytes =
      limit == 0 || limit == 255 ? detail::ClientHandshake::kMaxResponseHead : 64 + std::size_t{limit} * 4;
  fuzz::Cuts cuts = fuzz::Cuts::read(in);
  std::string_view bytes = in.rest();

  Outcome whole = run(max_head_bytes, fuzz::Cuts::whole(bytes));
  Outcome cut = run(max_head_bytes, cuts.apply(bytes));
  if (cut.events != whole.events || cut.open != whole.open) {
    broken("cut or whole, the same outcome", "whole:\n" + describe(whole) + "cut:\n" + describe(cut));
  }
  bool opened = std::find(whole.events.begin(), whole.events.end(), "ws") != whole.events.end();
  if (opened) {
    std::size_t end = bytes.find("\r\n\r\n");
    std::string_view head = bytes.substr(0, end);
    // llhttp skips empty lines (and lone CRs) before the status line, as
    // RFC 9112 section 2.2 lets a parser do.
    head.remove_prefix(std::min(head.find_first_not_of("\r\n"), head.size()));
    if (end == std::string_view::npos || end + 4 > max_head_bytes) {
      broken("a WebSocket opens only after a head within the limit", describe(whole));
    }
    // status-code = 3DIGIT: "101", then a space or the line's end.
    bool says_101 = head.size() >= 12 && head.substr(0, 9) == "HTTP/1.1 " && head.substr(9, 3) == "101" &&
                    (head.size() == 12 || head[12] == ' ' || head[12] == '\r' || head[12] == '\n');
    if (!says_101 || head.find(kAccept) == std::string_view::npos) {
      broken("a WebSocket opens only on a 101 with the accept value", describe(whole));
    }
  }
  return 0;
}
