-- Shared by the wrk scripts (dofile'd): counts errors (non-200 answers, and 200 answers
-- that carry GraphQL errors) and prints the figures the bench scripts read.
local threads = {}
function setup(thread)
  thread:set("offset", #threads * 7)
  table.insert(threads, thread)
end

errors = 0
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
