-- wrk script of bench/bench_scale.py: rotate over the paths in $BENCH_PATHS (separated by "|"),
-- send $BENCH_AUTH as the Authorization header when set, and print one JSON line of results
-- (wrk's own summary has no p95).
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "/healthz", "[^|]+") do
  table.insert(paths, p)
end
local auth = os.getenv("BENCH_AUTH")
local i = nil

-- Each thread starts at its own point of the rotation, so that threads do not send the same
-- paths in step (a scenario of paths asked once each stays that way).
local threads = 0
setup = function(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

request = function()
  if i == nil then i = ((thread_index or 0) * math.floor(#paths / 2)) % #paths end
  i = i % #paths + 1
  local headers = {}
  if auth and auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("GET", paths[i], headers)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
