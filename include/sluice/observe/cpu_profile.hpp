#pragma once
// CPU profiles of the running process on demand, the way Go's net/http/pprof
// gives them: GET /debug/pprof/profile?seconds=N.

#include "sluice/http/router.hpp"

namespace sluice {

/// Whether this build has gperftools' CPU profiler (an optional dependency:
/// Debian's libgoogle-perftools-dev). Any thread.
bool cpu_profiler_built_in() noexcept;

/// Adds GET /debug/pprof/profile?seconds=N (1 to 300, default 30) to
/// `router`: the profiler samples every thread of the process (100 times a
/// second of CPU) for N seconds, then the answer carries the profile in
/// gperftools' format, which `google-pprof` and `go tool pprof` read:
///
///   curl -o cpu.prof 'http://127.0.0.1:9100/debug/pprof/profile?seconds=10'
///   google-pprof --text path/to/the/binary cpu.prof
///
/// One profile at a time (another request meanwhile gets 409); 501 when the
/// profiler is not built in. The answer comes from a timer on the request's
/// loop, so the listener's request timeout must be off or longer than N
/// (AdminServer's is off).
void mount_cpu_profile_route(Router& router);

}  // namespace sluice
