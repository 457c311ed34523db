#pragma once
// The admin endpoints: /metrics (Prometheus), /status (a live page),
// /status.json (what the page draws) and CPU profiles, on their own listener.

#include <cstdint>
#include <memory>
#include <string>

#include "sluice/core/event_loop_group.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/http/router.hpp"
#include "sluice/observe/metrics.hpp"

namespace sluice {

/// Adds GET /metrics, /status, /status.json and /debug/pprof/profile (see
/// cpu_profile.hpp) to `router`, for a library
/// user who mounts them on a router of their own. Anyone who can reach that
/// router can read them: not for a public port.
void mount_admin_routes(Router& router, std::shared_ptr<const Metrics> metrics);

/// An HTTP listener for the admin endpoints, on a loop of its own: a worker
/// loop that is stuck (see StallDetector) never stops a scrape. Bound to
/// 127.0.0.1 by default, never to the public port. Add routes of your own
/// to router() before start().
class AdminServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  // 0: a free port (port() says which)
  };

  AdminServer(std::shared_ptr<const Metrics> metrics, Options options);
  ~AdminServer();  // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  Router& router() noexcept { return *router_; }
  /// Binds and serves; throws when it cannot bind. Any thread, once.
  void start();
  /// Closes the listener and its connections, stops its loop. Any thread;
  /// idempotent.
  void stop();
  std::uint16_t port() const noexcept { return server_->port(); }
  const Options& options() const noexcept { return options_; }

 private:
  Options options_;
  std::shared_ptr<Router> router_;
  std::unique_ptr<EventLoopGroup> group_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace sluice
