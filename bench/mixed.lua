-- wrk script of bench/mixed.sh: POSTs the shapes named in SHAPES ("feed:10,inbox:20,…",
-- weights out of their sum) in fixed proportions, interleaved, each shape's requests read
-- from $REQUESTS_DIR/<shape>.reqs (a line: token TAB JSON body, one per tenant and
-- argument), and counts errors (non-200 answers, and answers carrying GraphQL errors).
local shapes, schedule = {}, {}
for name, weight in string.gmatch(os.getenv("SHAPES"), "([%w_]+):(%d+)") do
  local reqs = {}
  for line in io.lines(os.getenv("REQUESTS_DIR") .. "/" .. name .. ".reqs") do
    local token, body = line:match("^([^\t]+)\t(.*)$")
    if token then
      reqs[#reqs + 1] = wrk.format("POST", "/graphql", {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. token,
      }, body)
    end
  end
  shapes[#shapes + 1] = reqs
  for _ = 1, tonumber(weight) do schedule[#schedule + 1] = #shapes end
end

dofile("bench/report.lua")

local i = 0
function init(args)
  i = offset or 0
end

-- A stride prime to the schedule's length visits every slot once per cycle, spreading
-- each shape over the cycle instead of sending it in a burst.
local function stride()
  local n = #schedule
  for s = 37, n + 37 do
    local a, b = s, n
    while b > 0 do a, b = b, a % b end
    if a == 1 then return s end
  end
  return 1
end
local step = stride()

function request()
  i = i + 1
  local reqs = shapes[schedule[(i * step) % #schedule + 1]]
  return reqs[i % #reqs + 1]
end
