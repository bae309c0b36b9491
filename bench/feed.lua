-- wrk script: POSTs the reference query, rotating bearer tokens of several tenants, and
-- counts errors (non-200 answers, and 200 answers that carry GraphQL errors).
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local f = assert(io.open(os.getenv("BODY_FILE")))
local body = f:read("*a")
f:close()

dofile("bench/report.lua")

local i = 0
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
