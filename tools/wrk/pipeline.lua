-- usage: wrk -t1 -c64 -d10s -s tools/wrk/pipeline.lua http://127.0.0.1:8080 -- [depth] [path]
-- Sends `depth` requests (default 16) back to back on each connection before
-- reading the answers (HTTP/1.1 pipelining), for `path` (default /plaintext).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done

local depth = 16
local path = "/plaintext"

function init(args)
  depth = tonumber(args[1]) or depth
  path = args[2] or path
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format("GET", path)
  end
  req = table.concat(r)
end

function request()
  return req
end
