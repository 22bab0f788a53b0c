-- Shared by the load scenarios: headers, a per-thread request body, and a
-- machine-readable summary line that run.sh turns into a table.
local M = {}

function M.setup_headers(json)
  local token = os.getenv("HUELLA_TOKEN")
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
  if json then
    wrk.headers["Content-Type"] = "application/json"
  end
end

function M.read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

local b64chars =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

function M.base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "HUELLA_RESULT requests=%d duration_us=%d p50=%d p90=%d p99=%d " ..
    "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), e.status, e.connect,
    e.read, e.write, e.timeout))
end

return M
