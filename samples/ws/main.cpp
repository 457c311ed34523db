// sluice-ws: the sample WebSocket server (see --help): an echo endpoint,
// chat rooms, and a push gateway fed over HTTP.

#include <string>

#include "chat_page.hpp"
#include "common/admin.hpp"
#include "common/flags.hpp"
#include "common/logging_flags.hpp"
#include "common/serve.hpp"
#include "common/signals.hpp"
#include "sluice/core/log.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/router.hpp"
#include "sluice/observe/stall_detector.hpp"
#include "sluice/websocket/hub.hpp"
#include "sluice/websocket/websocket.hpp"

namespace {

const char* kUsage = R"(usage: sluice-ws [options]

The sluice sample WebSocket server.

Routes:
  GET  /ws/echo          WebSocket: every message comes back as it was sent
  GET  /ws/chat/:room    WebSocket: each text message goes to everyone in the room
  GET  /ws/push          WebSocket: send "subscribe TOPIC" or "unsubscribe TOPIC";
                         what is published to TOPIC arrives as text
  POST /publish/:topic   the body goes to every subscriber of TOPIC
  GET  /                 a chat page (?room=NAME, default "lobby")

Listening:
  --host ADDR                 address (default 127.0.0.1)
  --port N                    port (default 8090; 0 picks a free port and logs it)
  --loops N                   event loops, one thread each (default: one per CPU)
  --pin                       pin loop i to CPU i

WebSocket limits and timeouts:
  --max-message-bytes N       a message beyond this is closed with 1009 (default 1048576)
  --ping-interval-ms MS       ping a connection silent this long (default 30000; 0: never)
  --pong-timeout-ms MS        then cut it if nothing arrives within (default 10000)
  --close-timeout-ms MS       wait this long for the peer's close frame (default 5000)
  --slow-consumer POLICY      "close" (1008, the default) or "drop": what happens to
                              a message for a client that is not reading its messages

Other:
  --stall-threshold-ms MS     log a loop that has not gone back to poll for MS
                              milliseconds, with its thread's stack, once per
                              stall (default 100; 0: off)
  --help                      this text

SIGINT or SIGTERM shuts the server down gracefully: every WebSocket gets close
1001 (Going Away) and a moment to answer it.
)";

std::string usage() { return sluice::cli::with_admin_usage(kUsage) + "\n" + sluice::cli::kLoggingUsage; }

// /ws/echo: one handler serves every connection.
class Echo final : public sluice::WebSocketHandler {
 public:
  void on_message(sluice::WebSocket& ws, const sluice::WebSocketMessage& message) override {
    ws.send(message.opcode, message.data);
  }
};

// /ws/chat/:room: one per connection, knowing its room (a hub topic).
class ChatMember final : public sluice::WebSocketHandler {
 public:
  ChatMember(sluice::Hub& hub, std::string room) : hub_(hub), topic_("chat/" + std::move(room)) {}
  void on_open(sluice::WebSocket& ws) override { hub_.subscribe(ws, topic_); }
  void on_message(sluice::WebSocket&, const sluice::WebSocketMessage& message) override {
    if (message.opcode == sluice::WebSocketOpcode::text) hub_.publish(topic_, message.data);
  }

 private:
  sluice::Hub& hub_;
  std::string topic_;
};

// /ws/push: subscriptions by message; the messages come from POST /publish.
class PushClient final : public sluice::WebSocketHandler {
 public:
  explicit PushClient(sluice::Hub& hub) : hub_(hub) {}
  void on_message(sluice::WebSocket& ws, const sluice::WebSocketMessage& message) override {
    std::string_view text = message.data;
    if (text.starts_with("subscribe ")) {
      std::string_view topic = text.substr(10);
      hub_.subscribe(ws, push_topic(topic));
      ws.send_text("subscribed " + std::string(topic));
    } else if (text.starts_with("unsubscribe ")) {
      std::string_view topic = text.substr(12);
      hub_.unsubscribe(ws, push_topic(topic));
      ws.send_text("unsubscribed " + std::string(topic));
    } else {
      ws.close(sluice::close_code::unsupported_data, "send subscribe TOPIC or unsubscribe TOPIC");
    }
  }
  static std::string push_topic(std::string_view topic) { return "push/" + std::string(topic); }

 private:
  sluice::Hub& hub_;
};

}  // namespace

int main(int argc, char** argv) {
  sluice::HttpServerOptions options;
  options.listen.host = "127.0.0.1";
  options.listen.port = 8090;
  sluice::WebSocketOptions ws_options;
  sluice::EventLoopGroup::Options group_options;
  group_options.name = "ws";
  sluice::StallDetector::Options stall_options;

  sluice::cli::AdminFlags admin;
  sluice::cli::LoggingFlags logging;
  sluice::cli::Flags flags(argc, argv, "sluice-ws", usage());
  std::string flag;
  while (flags.next(flag)) {
    if (logging.take(flags, flag) || admin.parse(flag, flags)) {
      continue;
    } else if (flag == "--host") {
      options.listen.host = flags.value();
    } else if (flag == "--port") {
      options.listen.port = static_cast<std::uint16_t>(flags.number(65535));
    } else if (flag == "--loops") {
      group_options.loops = flags.number(64);
    } else if (flag == "--pin") {
      group_options.pin = true;
    } else if (flag == "--max-message-bytes") {
      ws_options.max_message_bytes = flags.number();
    } else if (flag == "--ping-interval-ms") {
      ws_options.ping_interval_ms = flags.number();
    } else if (flag == "--pong-timeout-ms") {
      ws_options.pong_timeout_ms = flags.number();
    } else if (flag == "--close-timeout-ms") {
      ws_options.close_timeout_ms = flags.number();
    } else if (flag == "--slow-consumer") {
      std::string policy = flags.value();
      if (policy == "close") {
        ws_options.slow_consumer = sluice::SlowConsumerPolicy::close;
      } else if (policy == "drop") {
        ws_options.slow_consumer = sluice::SlowConsumerPolicy::drop;
      } else {
        flags.unknown("--slow-consumer " + policy);
      }
    } else if (flag == "--stall-threshold-ms") {
      stall_options.threshold_ms = flags.number();
    } else {
      flags.unknown(flag);
    }
  }
  // A whole message may be one read's worth of frames and more: the HTTP
  // body limit does not apply to WebSocket messages, which have their own.

  logging.apply(flags, options);

  sigset_t signals = sluice::cli::block_shutdown_signals();
  sluice::EventLoopGroup group(group_options);
  sluice::Hub hub(group);

  auto router = std::make_shared<sluice::Router>();
  auto echo = std::make_shared<Echo>();
  sluice::add_websocket_route(*router, "/ws/echo", [echo](sluice::HttpRequest&) { return echo; }, ws_options);
  sluice::add_websocket_route(
      *router, "/ws/chat/:room",
      [&hub](sluice::HttpRequest& request) {
        return std::make_shared<ChatMember>(hub, std::string(request.param("room")));
      },
      ws_options);
  auto push = std::make_shared<PushClient>(hub);
  sluice::add_websocket_route(*router, "/ws/push", [push](sluice::HttpRequest&) { return push; }, ws_options);
  router->post("/publish/:topic", [&hub](sluice::HttpRequest& request, sluice::ResponseWriter response) {
    hub.publish(PushClient::push_topic(request.param("topic")), request.body);
    response.send(sluice::HttpResponse::text("published\n"));
  });
  router->get("/", [](sluice::HttpRequest&, sluice::ResponseWriter response) {
    response.send(sluice::HttpResponse::text(sluice_samples::kChatPage, 200, "text/html; charset=utf-8"));
  });

  sluice::HttpServer server(group, options, router);
  logging.use_middleware(server);
  // Stops itself when the group's shutdown begins, before the loops end.
  sluice::StallDetector stall_detector(group, stall_options);
  stall_detector.start();
  return sluice::cli::serve_until_signal("sluice-ws", server, group, signals, group_options.pin, admin,
                                         &stall_detector);
}
