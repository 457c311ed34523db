#pragma once
// WebSocket opcodes by name, for what tests and fuzzers write down.

#include "sluice/websocket/websocket_frame.hpp"

namespace sluice::test {

inline const char* opcode_name(WebSocketOpcode op) {
  switch (op) {
    case WebSocketOpcode::text: return "text";
    case WebSocketOpcode::binary: return "binary";
    case WebSocketOpcode::close: return "close";
    case WebSocketOpcode::ping: return "ping";
    case WebSocketOpcode::pong: return "pong";
    default: return "continuation";
  }
}

}  // namespace sluice::test
