#!/usr/bin/env python3
"""Kiosk punches (issue 6): POST /api/v1/punches signed by a registered
kiosk (RFC 9421, `huellactl device sign`) with real FVC templates, durable
before the answer, through nginx + huellad (release build, loopback), next
to a static page served by the same nginx in the same run.

For each gallery size: a fresh system with the demo institution
(config/attendance-demo.yaml, included by config/huella.yaml), the ten
demo subjects' right index fingers (`huellactl import config/demo`) plus a
synthetic gallery (`huellactl synth N`, cached in /tmp/huella-synth-N),
and one kiosk device registered to the demo employer; its punches name
the site "central" (roster: 4 people).  Probes are second to eighth
impressions of the demo people's fingers (FVC2002 DB2_B), kept only when a
sequential 1:1 punch accepts them.  Scenarios:

  1:1       with the person's matricula (verify against their fingers)
  1:N roster  no matricula, a central person: found in the site's roster
  1:N gallery no matricula, a person of another site: the roster misses,
            the whole gallery (N + 10) is searched

Each scenario replays a pool of pre-signed requests (one nonce each, signed
just before the scenario, each sent once) with wrk: a Lua script returns
them in turn and stops each thread before its share runs out, so no
request is ever a replay.  The same person punching again is answered
201 `duplicada` (acknowledged, written durably, not counted).  Throttling
is raised in this system's config so that a rare miss cannot lock the
kiosk; the nonce zone is enlarged to hold every nonce of the run.

    python3 bench/bench_punch.py [--sizes 1000,100000] [--pool 2000]
                                 [--connections 16] [--seconds 5]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import harness  # noqa: E402

RFC = "AAA010101AAA"
DEMO = os.path.join(harness.ROOT, "config", "demo")
SITE = "central"
CENTRAL = ["M0001", "M0002", "M0003", "M0009"]    # demo people 1,2,3,9
OTHERS = ["M0004", "M0005", "M0006", "M0007", "M0008", "M0010"]
THREADS = 2


def probe_files(matricula):
    n = int(matricula[1:])
    return [os.path.join(harness.DATA, "fvc2002", "DB2_B",
                         f"{100 + n}_{k}.iso") for k in range(2, 9)]


def body(probe, matricula=None):
    b = {"finger": {"format": "iso19794-2:2005",
                    "data": benchlib.iso_b64(probe)}, "site": SITE}
    if matricula:
        b["matricula"] = matricula
    return json.dumps(b).encode()


def punch(h, kiosk, raw):
    hd = {"Content-Type": "application/json"}
    hd.update(kiosk.sign("POST", "/api/v1/punches", raw))
    st, _, doc = h.request("POST", "/api/v1/punches", raw=raw, auth=False,
                           headers=hd)
    return st, doc


def lua_string(s):
    """A quoted Lua string (JSON's escapes \\r \\n \\" are Lua's too; the
    text is ASCII).  Not a long bracket: it would turn CRLF into LF."""
    assert s.isascii()
    return json.dumps(s)


def write_lua(path, port, raws, sigs, conns):
    """A wrk script replaying each pre-signed request once."""
    with open(path, "w") as f:
        f.write("local reqs = {\n")
        for raw, sig in zip(raws, sigs):
            hd = "".join(f"{k}: {v}\r\n" for k, v in sig.items())
            req = (f"POST /api/v1/punches HTTP/1.1\r\n"
                   f"Host: 127.0.0.1:{port}\r\n"
                   "Content-Type: application/json\r\n"
                   f"Content-Length: {len(raw)}\r\n{hd}\r\n"
                   + raw.decode())
            f.write(lua_string(req) + ",\n")
        f.write("}\n")
        f.write(f"""
-- wrk runs for -d whatever the threads do: the rate is measured here,
-- first request to last response (monotonic clock through LuaJIT's ffi).
local ffi = require("ffi")
ffi.cdef[[ typedef struct {{ long s; long ns; }} hts;
           int clock_gettime(int, hts *); ]]
local ts = ffi.new("hts")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.s) + tonumber(ts.ns) * 1e-9
end
local T, C = {THREADS}, {conns}
local threads, nthreads = {{}}, 0
function setup(thread)
  nthreads = nthreads + 1
  thread:set("id", nthreads)
  threads[nthreads] = thread
end
function init(args)
  nxt = id
  got = 0
  -- stop while every request still in flight is one of ours
  limit = math.floor((#reqs - id) / T) + 1 - math.ceil(C / T)
  s2xx, s401, s429, s5xx, sother = 0, 0, 0, 0, 0
  t0, t1 = 0, 0
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
  if status >= 200 and status < 300 then s2xx = s2xx + 1
  elseif status == 401 then s401 = s401 + 1
  elseif status == 429 then s429 = s429 + 1
  elseif status >= 500 then s5xx = s5xx + 1
  else sother = sother + 1 end
  if got >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local a, b, c, d, e = 0, 0, 0, 0, 0
  local first, last, n = math.huge, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("s2xx"); b = b + t:get("s401"); c = c + t:get("s429")
    d = d + t:get("s5xx"); e = e + t:get("sother")
    n = n + t:get("got")
    if t:get("t0") > 0 then first = math.min(first, t:get("t0")) end
    last = math.max(last, t:get("t1"))
  end
  io.write(string.format("HUELLA_RATE n=%d secs=%.6f\\n", n, last - first))
  io.write(string.format("HUELLA_STATUS 2xx=%d 401=%d 429=%d 5xx=%d other=%d\\n",
    a, b, c, d, e))
end
""")


def run_wrk(url, seconds, conns, lua=None):
    cmd = ["wrk", f"-t{THREADS}", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if lua:
        cmd += ["-s", lua]
    out = subprocess.run(cmd + [url], capture_output=True, text=True).stdout
    rps, lat, bad, total = benchlib.parse_wrk(out)
    m = re.search(r"HUELLA_RATE n=(\d+) secs=([\d.]+)", out)
    if m and float(m.group(2)) > 0:
        # the pool's own rate; wrk's divides by -d, idle time included
        total = int(m.group(1))
        rps = total / float(m.group(2))
    m = re.search(r"HUELLA_STATUS (.*)", out)
    return rps, lat, bad, total, m.group(1) if m else ""


def run_size(n, a):
    h = harness.Huella(yaml_overrides={"attendance.throttle.threshold": 100})
    with open(h.nginx_conf) as f:
        conf = f.read()
    with open(h.nginx_conf, "w") as f:
        f.write(conf.replace("huella_nonces 4m;", "huella_nonces 64m;"))
    tmp = tempfile.mkdtemp(prefix="huella-bench-punch-", dir=h.dir)
    rows = []
    try:
        h.start()
        secs, line = benchlib.import_dir(h, benchlib.synth_dir(n))
        print(f"  gallery {n}: {line} [{secs:.1f} s]", file=sys.stderr)
        _, line = benchlib.import_dir(h, DEMO)
        print(f"  demo: {line}", file=sys.stderr)
        kiosk = benchlib.Device(h, tmp, "kiosk", "kiosk", RFC)
        # probes a 1:1 punch accepts (a few FVC impressions are too poor)
        good = {}
        for m in CENTRAL + OTHERS:
            for p in probe_files(m):
                st, doc = punch(h, kiosk, body(p, m))
                if st == 201:
                    good.setdefault(m, []).append(p)
        print("  probes kept: " + " ".join(
            f"{m}:{len(v)}" for m, v in sorted(good.items())),
            file=sys.stderr)
        base = f"http://127.0.0.1:{h.port}"
        rows.append(("static page (GET /index.html)",
                     run_wrk(base + "/index.html", a.seconds,
                             a.connections)))

        def pool(people, size, with_matricula):
            plist = [(m, p) for m in people for p in good.get(m, [])]
            return [body(p, m if with_matricula else None)
                    for m, p in (plist[i % len(plist)]
                                 for i in range(size))]

        gallery_pool = min(a.pool, 1000) if n <= 10000 else a.gallery_pool
        scen = [
            ("punch 1:1 (matricula)", pool(CENTRAL, a.pool, True),
             a.connections),
            ("punch 1:N, site roster hit", pool(CENTRAL, a.pool, False),
             a.connections),
            ("punch 1:N, roster miss -> gallery", pool(
                OTHERS, gallery_pool, False),
             a.connections if n <= 10000 else a.gallery_connections),
        ]
        for i, (name, raws, conns) in enumerate(scen):
            t = time.time()
            sigs = kiosk.sign_many("POST", "/api/v1/punches", raws)
            print(f"  signed {len(raws)} in {time.time() - t:.1f} s",
                  file=sys.stderr)
            lua = os.path.join(tmp, f"punch{i}.lua")
            write_lua(lua, h.port, raws, sigs, conns)
            r = run_wrk(base + "/api/v1/punches", a.max_seconds if i < 2
                        or n <= 10000 else 4 * a.max_seconds, conns, lua)
            rows.append((f"{name} c={conns}", r))
            print(f"  {name}: {r}", file=sys.stderr)
        return rows
    finally:
        logs = h.logs()
        h.cleanup()
        if "nonce_cache_full" in logs:
            print("nonce zone full during the run", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--pool", type=int, default=4000,
                    help="signed requests per punch scenario")
    ap.add_argument("--gallery-pool", type=int, default=40,
                    help="... for the gallery scenario above 10k")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--gallery-connections", type=int, default=2)
    ap.add_argument("--max-seconds", type=int, default=15,
                    help="wrk -d of a punch scenario (it stops earlier "
                    "when its pool is spent, 4x for the 100k gallery)")
    ap.add_argument("--seconds", type=int, default=5,
                    help="the static baseline's duration")
    ap.add_argument("--no-build", action="store_true",
                    help="use build/ as it is")
    a = ap.parse_args()
    if not a.no_build:
        benchlib.ensure_build()
    sizes = [int(s) for s in a.sizes.split(",")]
    res = {n: run_size(n, a) for n in sizes}
    print(f"\nkiosk punches, wrk -t{THREADS}, signed (ECDSA P-256, one "
          "nonce per request), durable, loopback, release build; "
          "gallery = synthetic + 10 demo people")
    print(f"{'gallery':>8} {'scenario':44} {'req/s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'non-2xx':>8} {'n':>5}  statuses")
    for n in sizes:
        for name, (rps, lat, bad, total, st) in res[n]:
            print(f"{n:>8} {name:44} {rps:8.1f} {lat.get('50', 0) / 1e3:8.2f}"
                  f" {lat.get('99', 0) / 1e3:8.2f} {bad:8d} {total:5d}  {st}")


if __name__ == "__main__":
    main()
