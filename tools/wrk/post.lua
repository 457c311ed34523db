-- usage: wrk -t1 -c64 -d10s -s tools/wrk/post.lua http://127.0.0.1:8080 -- [body_bytes]
-- POST /echo with a body of `body_bytes` (default 4096) bytes; the sample
-- echoes it back.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done

function init(args)
  local size = tonumber(args[1]) or 4096
  wrk.method = "POST"
  wrk.path = "/echo"
  wrk.body = string.rep("x", size)
  wrk.headers["Content-Type"] = "application/octet-stream"
end
