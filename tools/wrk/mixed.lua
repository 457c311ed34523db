-- usage: wrk -t1 -c64 -d10s -s tools/wrk/mixed.lua http://127.0.0.1:8080
-- A mix of the sample's routes, in these shares: /plaintext 40%, /json 25%,
-- /users/:id 20%, POST /echo (512 B) 10%, /health 5%.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done

local reqs = {}

function init(args)
  math.randomseed(os.time())
  local body = string.rep("m", 512)
  local function add(share, r)
    for i = 1, share do reqs[#reqs + 1] = r end
  end
  add(40, wrk.format("GET", "/plaintext"))
  add(25, wrk.format("GET", "/json"))
  for i = 1, 20 do reqs[#reqs + 1] = wrk.format("GET", "/users/" .. i) end
  add(10, wrk.format("POST", "/echo", {["Content-Type"] = "text/plain"}, body))
  add(5, wrk.format("GET", "/health"))
end

function request()
  return reqs[math.random(#reqs)]
end
