#pragma once
// The end of every HTTP sample's main: start, say where it listens (tests
// read the port from that line), wait for SIGINT/SIGTERM, shut down
// gracefully.

#include <exception>
#include <memory>
#include <optional>

#include "common/admin.hpp"
#include "common/signals.hpp"
#include "sluice/core/log.hpp"
#include "sluice/http/http_server.hpp"
#include "sluice/observe/admin.hpp"
#include "sluice/observe/stall_detector.hpp"

namespace sluice::cli {

/// Returns main's exit status: 1 when the server (or its admin listener)
/// cannot start.
inline int serve_until_signal(const char* name, HttpServer& server, EventLoopGroup& group, const sigset_t& signals,
                              bool pinned, const AdminFlags& admin_flags = {},
                              const StallDetector* stall_detector = nullptr) {
  std::optional<AdminServer> admin;
  try {
    server.start();
    if (admin_flags.enabled) {
      auto metrics = std::make_shared<Metrics>();
      metrics->add(group);
      if (stall_detector != nullptr) metrics->add(*stall_detector);
      admin.emplace(metrics, AdminServer::Options{admin_flags.host, admin_flags.port});
      admin->start();
    }
  } catch (const std::exception& e) {
    log().error("cannot start: {}", e.what());
    return 1;
  }
  log().info("{} on {} port {}, {} loop(s){}", name, server.options().listen.host, server.port(), group.size(),
             pinned ? ", pinned" : "");
  if (admin) {
    log().info("admin on {} port {}: /metrics, /status, /status.json", admin->options().host, admin->port());
  }
  int received = wait_for_shutdown_signal(signals);
  log().info("signal {}: shutting down ({} connection(s) open)", received, server.tcp().connections());
  group.shutdown_gracefully(100, 10'000);
  log().info("stopped after {} connection(s)", server.tcp().accepted());
  return 0;
}

}  // namespace sluice::cli
