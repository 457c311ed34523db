#pragma once
// Publish/subscribe across loops: WebSocket connections on any loop of a
// group subscribe to topics; a message published to a topic, from any
// thread, reaches every subscriber.

#include <cstddef>
#include <memory>
#include <string_view>

#include "sluice/websocket/websocket_frame.hpp"

namespace sluice {

class EventLoopGroup;
class WebSocket;

/// Topics for the WebSocket connections of one EventLoopGroup (at most 64
/// loops). A published message is framed once; its bytes are shared, with
/// a reference count, by every recipient's write queue: one task is posted
/// per loop that has subscribers, none per subscriber, and nothing is
/// copied per subscriber. Each recipient gets it under its endpoint's
/// slow-consumer policy. A connection leaves its topics when it closes; a
/// topic nobody subscribes to holds no memory.
class Hub {
 public:
  explicit Hub(EventLoopGroup& group);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  /// Subscribes `ws` (a connection on one of the group's loops) to `topic`;
  /// subscribing twice is once. On the connection's loop.
  void subscribe(WebSocket& ws, std::string_view topic);
  /// Returns whether it was subscribed. On the connection's loop.
  bool unsubscribe(WebSocket& ws, std::string_view topic);
  /// Sends `message` to every subscriber of `topic`, as one text or binary
  /// message. Returns how many subscribers the topic had when published.
  /// Any thread.
  std::size_t publish(std::string_view topic, std::string_view message,
                      WebSocketOpcode opcode = WebSocketOpcode::text);
  /// Subscribers of `topic` on every loop. Any thread.
  std::size_t subscriber_count(std::string_view topic) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sluice
