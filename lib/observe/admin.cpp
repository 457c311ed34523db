#include "sluice/observe/admin.hpp"

#include "sluice/observe/cpu_profile.hpp"
#include "status_page.hpp"

namespace sluice {

void mount_admin_routes(Router& router, std::shared_ptr<const Metrics> metrics) {
  router.get("/metrics", [metrics](HttpRequest&, ResponseWriter response) {
    response.send(HttpResponse::text(metrics->prometheus(), 200, Metrics::kPrometheusContentType)
                      .header("Cache-Control", "no-store"));
  });
  router.get("/status.json", [metrics](HttpRequest&, ResponseWriter response) {
    response.send(HttpResponse::json(metrics->status()).header("Cache-Control", "no-store"));
  });
  router.get("/status", [](HttpRequest&, ResponseWriter response) {
    response.send(HttpResponse::text(detail::kStatusPage, 200, "text/html; charset=utf-8"));
  });
  mount_cpu_profile_route(router);
}

AdminServer::AdminServer(std::shared_ptr<const Metrics> metrics, Options options)
    : options_(std::move(options)), router_(std::make_shared<Router>()) {
  mount_admin_routes(*router_, std::move(metrics));
  EventLoopGroup::Options group_options;
  group_options.loops = 1;
  group_options.name = "admin";
  group_ = std::make_unique<EventLoopGroup>(group_options);
  HttpServerOptions server_options;
  server_options.listen.host = options_.host;
  server_options.listen.port = options_.port;
  server_options.listen.max_connections = 64;  // a scraper or two and a browser, not a crowd
  server_options.codec.server_name = "sluice-admin";
  server_options.request_timeout_ms = 0;  // a CPU profile answers after its seconds
  server_ = std::make_unique<HttpServer>(*group_, server_options, router_);
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() { server_->start(); }

void AdminServer::stop() {
  if (!group_) return;
  server_->stop();
  group_->shutdown_gracefully(0, 1000);
}

}  // namespace sluice
