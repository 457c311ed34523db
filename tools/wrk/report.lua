-- Shared by the sluice wrk scripts (loaded with dofile): a done() that prints
-- one machine-readable line after wrk's own report:
--   sluice-wrk: requests=N rps=R p50_ms=.. p90_ms=.. p99_ms=.. p999_ms=.. connect_errors=.. read_errors=.. write_errors=.. timeouts=.. non2xx=..
local M = {}

function M.done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "sluice-wrk: requests=%d rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f " ..
    "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d non2xx=%d\n",
    summary.requests, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    e.connect, e.read, e.write, e.timeout, e.status))
end

return M
