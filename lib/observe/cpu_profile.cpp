#include "sluice/observe/cpu_profile.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "sluice/core/event_loop.hpp"
#include "sluice/core/log.hpp"

#ifdef SLUICE_HAVE_CPU_PROFILER
#include <gperftools/profiler.h>
#endif

namespace sluice {

namespace {
constexpr std::uint64_t kMaxSeconds = 300;

/// GET ?seconds=N: N in [1, kMaxSeconds], 30 when absent; 0 when malformed.
std::uint64_t seconds_asked(const HttpRequest& request) {
  auto text = request.query_param("seconds");
  if (!text) return 30;
  if (text->empty() || text->size() > 3 || text->find_first_not_of("0123456789") != std::string::npos) return 0;
  std::uint64_t n = std::stoull(std::string(*text));
  return n <= kMaxSeconds ? n : 0;
}

#ifdef SLUICE_HAVE_CPU_PROFILER
std::atomic<bool> g_profiling{false};  // one profile at a time, for the whole process

std::string read_and_remove(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  return bytes;
}
#endif
}  // namespace

bool cpu_profiler_built_in() noexcept {
#ifdef SLUICE_HAVE_CPU_PROFILER
  return true;
#else
  return false;
#endif
}

void mount_cpu_profile_route(Router& router) {
  router.get("/debug/pprof/profile", [](HttpRequest& request, ResponseWriter response) {
    std::uint64_t seconds = seconds_asked(request);
    if (seconds == 0) {
      response.send(HttpResponse::error(400, "seconds must be a whole number from 1 to 300"));
      return;
    }
#ifdef SLUICE_HAVE_CPU_PROFILER
    if (g_profiling.exchange(true)) {
      response.send(HttpResponse::error(409, "a CPU profile is being taken already"));
      return;
    }
    std::string path = (std::filesystem::temp_directory_path() / "sluice-cpu-XXXXXX").string();
    int fd = ::mkstemp(path.data());
    if (fd < 0 || ProfilerStart(path.c_str()) == 0) {
      if (fd >= 0) {
        ::close(fd);
        ::unlink(path.c_str());
      }
      g_profiling = false;
      response.send(HttpResponse::error(500, "the CPU profiler could not start"));
      return;
    }
    ::close(fd);
    log().info("CPU profile: {} s, to {}", seconds, path);
    response.loop().run_after(seconds * 1000, [response, path] {
      ProfilerStop();
      std::string profile = read_and_remove(path);
      g_profiling = false;
      response.send(HttpResponse::text(profile, 200, "application/octet-stream")
                        .header("Content-Disposition", "attachment; filename=\"cpu.prof\""));
    });
#else
    (void)seconds;
    response.send(HttpResponse::error(
        501, "the CPU profiler is not built in: install libgoogle-perftools-dev and build sluice again"));
#endif
  });
}

}  // namespace sluice
