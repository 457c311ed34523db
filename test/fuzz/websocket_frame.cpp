// Fuzz target: WebSocket frames from a client, in the server role.
//
// Input: [flags][max][cuts: 3 bytes][bytes from the client].
//   flags bit 0: the codec alone (WebSocketFrameCodec, then a recorder),
//   else a whole WebSocket (start_websocket: the session, which decodes
//   with the same FrameDecoder and encodes for itself) whose handler
//   echoes each message; max: max_message_bytes (0-255).
//
// Invariants:
//   - whole or cut, the same messages, the same close code and, for a
//     WebSocket, the same bytes written back;
//   - a text message is valid UTF-8 (checked here independently), no data
//     message is over max_message_bytes, no control frame over 125 bytes,
//     a close frame's body is empty or a valid code and UTF-8;
//   - after a violation the codec passes nothing on;
//   - a WebSocket writes well-formed unmasked frames and nothing after
//     its close frame.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "sluice/channel/embedded_channel.hpp"
#include "sluice/websocket/websocket.hpp"
#include "sluice/websocket/websocket_frame.hpp"
#include "support/websocket_names.hpp"

using namespace sluice;
using fuzz::broken;

namespace {

using Events = std::vector<std::string>;

std::string describe(const Events& events) {
  std::string s;
  for (const auto& e : events) s += "  " + fuzz::printable(e, 200) + "\n";
  return s;
}

// RFC 3629, written plainly (lib/core/utf8.hpp is the fast one).
bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= text.size()) return false;  // cut short
    for (std::size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(text[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// What a message must be to be passed on at all.
void check_message(const WebSocketMessage& m, std::size_t max_message_bytes) {
  std::string_view d = m.data;
  switch (m.opcode) {
    case WebSocketOpcode::text:
      if (!valid_utf8(d)) broken("a text message is valid UTF-8", fuzz::printable(d));
      [[fallthrough]];
    case WebSocketOpcode::binary:
      if (d.size() > max_message_bytes) broken("no message is over max_message_bytes");
      break;
    case WebSocketOpcode::close:
      if (d.size() == 1) broken("a close frame's body is empty or has a code");
      if (d.size() >= 2) {
        auto code = static_cast<std::uint16_t>((static_cast<unsigned char>(d[0]) << 8) | static_cast<unsigned char>(d[1]));
        if (!close_code::valid_on_wire(code)) broken("a close frame's code is one a peer may send");
        if (!valid_utf8(d.substr(2))) broken("a close reason is valid UTF-8");
      }
      [[fallthrough]];
    case WebSocketOpcode::ping:
    case WebSocketOpcode::pong:
      if (d.size() > 125) broken("no control frame is over 125 bytes");
      break;
    default: broken("only whole messages and control frames are passed on");
  }
}

// ---- the codec alone ----

// Records each message and the error after the codec; passes the error on
// (the channel closes).
class MessageRecorder final : public InboundHandler<WebSocketMessage> {
 public:
  MessageRecorder(Events& events, std::size_t max) : events_(&events), max_(max) {}
  void read(HandlerContext&, WebSocketMessage& m) override {
    if (failed_) broken("after a violation the codec passes nothing on", describe(*events_));
    check_message(m, max_);
    events_->push_back(std::string(test::opcode_name(m.opcode)) + ":" + std::string(m.data));
  }
  void error(HandlerContext& ctx, const std::exception& e) override {
    const auto* violation = dynamic_cast<const WebSocketProtocolError*>(&e);
    events_->push_back("error:" + (violation != nullptr ? std::to_string(violation->code()) : std::string("other")));
    failed_ = true;
    ctx.fire_error(e);
  }

 private:
  Events* events_;
  std::size_t max_;
  bool failed_ = false;
};

Events run_codec(std::size_t max, const std::vector<std::string_view>& reads) {
  Events events;
  EmbeddedChannel ch([&](Channel& c) {
    c.pipeline()
        .add_last("ws-codec", std::make_shared<WebSocketFrameCodec>(WebSocketRole::server, max))
        .add_last("recorder", std::make_shared<MessageRecorder>(events, max));
  });
  for (std::string_view bytes : reads) {
    if (!ch.is_open()) break;
    ch.write_inbound(bytes);
  }
  if (!ch.is_open()) events.push_back("closed");
  return events;
}

// ---- a whole WebSocket ----

class Echo final : public WebSocketHandler {
 public:
  Echo(Events& events, std::size_t max) : events_(&events), max_(max) {}
  void on_message(WebSocket& ws, const WebSocketMessage& m) override {
    check_message(m, max_);
    events_->push_back(std::string(test::opcode_name(m.opcode)) + ":" + std::string(m.data));
    ws.send(m.opcode, m.data);
  }
  void on_close(WebSocket&, std::uint16_t code, std::string_view reason) override {
    events_->push_back("on_close:" + std::to_string(code) + ":" + std::string(reason));
  }

 private:
  Events* events_;
  std::size_t max_;
};

// Reads the server's frames: unmasked, well-formed, nothing after a close.
void check_written(std::string_view out, const Events& events) {
  bool closed = false;
  while (!out.empty()) {
    if (closed) broken("a WebSocket writes nothing after its close frame", describe(events));
    if (out.size() < 2) broken("the server writes whole frames", describe(events));
    auto b0 = static_cast<unsigned char>(out[0]);
    auto b1 = static_cast<unsigned char>(out[1]);
    if ((b1 & 0x80) != 0 || (b0 & 0x70) != 0) broken("the server's frames are unmasked, no RSV bits", describe(events));
    std::size_t length = b1 & 0x7F;
    std::size_t header = 2;
    if (length == 126 || length == 127) {
      std::size_t bytes = length == 126 ? 2 : 8;
      if (out.size() < 2 + bytes) broken("the server writes whole frames", describe(events));
      length = 0;
      for (std::size_t i = 0; i < bytes; ++i) length = (length << 8) | static_cast<unsigned char>(out[2 + i]);
      header += bytes;
    }
    if (out.size() - header < length) broken("the server writes whole frames", describe(events));
    closed = (b0 & 0x0F) == 0x8;
    out.remove_prefix(header + length);
  }
}

struct WebSocketOutcome {
  Events events;
  std::string written;
  bool open = false;
};

WebSocketOutcome run_websocket(std::size_t max, const std::vector<std::string_view>& reads) {
  WebSocketOutcome out;
  WebSocketOptions options;
  options.max_message_bytes = max;
  {
    EmbeddedChannel ch([](Channel&) {});
    start_websocket(ch.channel(), std::make_shared<Echo>(out.events, max), options, WebSocketRole::server);
    for (std::string_view bytes : reads) {
      if (!ch.is_open()) break;
      ch.write_inbound(bytes);
    }
    out.written = ch.read_outbound_bytes();
    out.open = ch.is_open();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  bool codec_alone = (in.byte() & 1) != 0;
  std::size_t max = in.byte();
  fuzz::Cuts cuts = fuzz::Cuts::read(in);
  std::string_view bytes = in.rest();

  if (codec_alone) {
    Events whole = run_codec(max, fuzz::Cuts::whole(bytes));
    Events cut = run_codec(max, cuts.apply(bytes));
    if (cut != whole) {
      broken("cut or whole, the same messages and close code", "whole:\n" + describe(whole) + "cut:\n" + describe(cut));
    }
    return 0;
  }
  WebSocketOutcome whole = run_websocket(max, fuzz::Cuts::whole(bytes));
  check_written(whole.written, whole.events);
  WebSocketOutcome cut = run_websocket(max, cuts.apply(bytes));
  if (cut.events != whole.events || cut.written != whole.written || cut.open != whole.open) {
    broken("cut or whole, the same messages, close code and answers",
           "whole:\n" + describe(whole.events) + fuzz::printable(whole.written) + "\ncut:\n" + describe(cut.events) +
               fuzz::printable(cut.written));
  }
  return 0;
}
