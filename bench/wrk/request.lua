-- One request shape for wrk, configured through the environment (see bench/load.py):
--   BENCH_METHOD, BENCH_PATH, BENCH_AUTH (full Authorization header value),
--   BENCH_BODY (may contain {n}: replaced by a per-connection counter, so bodies differ),
--   BENCH_MAX (stop a thread after this many responses: the count bound; -d is the time bound).
-- done() prints one JSON line: requests, duration, latency percentiles, status counts.
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local auth = os.getenv("BENCH_AUTH")
local body = os.getenv("BENCH_BODY")
local max_per_thread = tonumber(os.getenv("BENCH_MAX") or "0")

local threads = {}
local counter = 0
statuses = {}
responses = 0
tid = 0  -- set per thread by setup()

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Accept"] = "application/json"
  if auth then wrk.headers["Authorization"] = auth end
  if body then wrk.headers["Content-Type"] = "application/json" end
end

function request()
  counter = counter + 1
  local b = nil
  if body then
    b = string.gsub(body, "{n}", tostring(tid) .. "-" .. tostring(counter))
  end
  return wrk.format(method, path, nil, b)
end

function response(status, headers, b)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  responses = responses + 1
  if max_per_thread > 0 and responses >= max_per_thread then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for k, v in pairs(s) do merged[k] = (merged[k] or 0) + v end
    end
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%s":%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
    .. '"max_us":%d,"mean_us":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d},"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write,
    e.status, e.timeout, table.concat(parts, ",")))
end
