-- wrk script: POSTs the reference query, rotating bearer tokens of several tenants, and
-- counts errors (non-200 answers, and 200 answers that carry GraphQL errors).
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local f = assert(io.open(os.getenv("BODY_FILE")))
local body = f:read("*a")
f:close()

local threads = {}
function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

local i, errors = 0, 0
function init(args)
  i = offset or 0
end

function request()
  i = i % #tokens + 1
  return wrk.format("POST", "/graphql", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[i],
  }, body)
end

function response(status, headers, resp)
  if status ~= 200 or string.find(resp, '"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + (t:get("errors") or 0)
  end
  io.write(string.format("GRAPHQL_ERRORS %d\n", total))
  io.write(string.format("LATENCY_P50_MS %.3f\n", latency:percentile(50) / 1000))
  io.write(string.format("LATENCY_P95_MS %.3f\n", latency:percentile(95) / 1000))
  io.write(string.format("LATENCY_P99_MS %.3f\n", latency:percentile(99) / 1000))
  io.write(string.format("REQUESTS %d\n", summary.requests))
  io.write(string.format("NON2XX %d\n", (summary.errors.status or 0)))
  io.write(string.format("SOCKET_ERRORS %d\n", summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("RPS %.1f\n", summary.requests / (summary.duration / 1e6)))
end
