-- usage: wrk -t1 -c64 -d10s -s tools/wrk/json.lua http://127.0.0.1:8080
-- GET /json, one request at a time per connection.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
done = dofile(here .. "report.lua").done

wrk.method = "GET"
wrk.path = "/json"
wrk.headers["Accept"] = "application/json"
