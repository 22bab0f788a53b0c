-- POST /api/v1/punches: kiosk punches signed as simulated devices (RFC 9421,
-- docs/devices.md).  A signature's nonce is accepted once, so the requests
-- come pre-signed from bench/load/punch_pool.py (HUELLA_PUNCH_POOL) and each
-- is sent once: a thread stops while all its requests in flight are still
-- fresh ones, and the rate is measured from its first request to its last
-- answer (wrk itself divides by -d, idle time included).
package.path = os.getenv("HUELLA_LOAD_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local reqs = dofile(os.getenv("HUELLA_PUNCH_POOL"))
local T = tonumber(os.getenv("HUELLA_WRK_THREADS"))
local C = tonumber(os.getenv("HUELLA_WRK_CONNS"))

local ffi = require("ffi")
ffi.cdef[[ typedef struct { long s; long ns; } huella_ts;
           int clock_gettime(int, huella_ts *); ]]
local ts = ffi.new("huella_ts")
local function now()
  ffi.C.clock_gettime(1, ts)        -- CLOCK_MONOTONIC
  return tonumber(ts.s) + tonumber(ts.ns) * 1e-9
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("id", #threads)
end

function init(args)
  nxt, got, t0, t1 = id, 0, 0, 0
  limit = math.max(1, math.floor((#reqs - id) / T) + 1 - math.ceil(C / T))
end

function request()
  if t0 == 0 then t0 = now() end
  local r = reqs[nxt] or reqs[#reqs]
  nxt = nxt + T
  return r
end

function response(status, headers, body)
  got = got + 1
  t1 = now()
  if got >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local n, first, last = 0, math.huge, 0
  for _, t in ipairs(threads) do
    n = n + t:get("got")
    if t:get("t0") > 0 then first = math.min(first, t:get("t0")) end
    last = math.max(last, t:get("t1"))
  end
  summary.requests = n
  summary.duration = last > first and (last - first) * 1e6 or summary.duration
  common.done(summary, latency, requests)
end
