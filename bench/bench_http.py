#!/usr/bin/env python3
"""HTTP throughput: an authenticated API call next to a static page served
by the same nginx, in one run (wrk, 2 threads, loopback).  Starts its own
nginx + huellad from build/ (release) on free ports.

    python3 bench/bench_http.py [--seconds 5] [--connections 32]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HUELLA_BUILD", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import Huella, db1, iso, make_curp  # noqa: E402


def wrk(url, seconds, conns, lua=None):
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", url]
    if lua:
        cmd[1:1] = ["-s", lua]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for p in ("50", "99"):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if m:
            v = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
            lat[p] = v
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat, int(non2xx.group(1)) if non2xx else 0


def lua_post(path, token, body, tmp):
    p = os.path.join(tmp, os.path.basename(path).replace("/", "_") + ".lua")
    with open(p, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write(f'wrk.body = {json.dumps(json.dumps(body))}\n')
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        f.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    return p


def lua_get(token, tmp):
    p = os.path.join(tmp, "get.lua")
    with open(p, "w") as f:
        f.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    a = ap.parse_args()
    h = Huella().start()
    tmp = tempfile.mkdtemp(prefix="huella-bench-")
    try:
        c = make_curp(1)
        h.request("POST", "/api/v1/subjects", {"curp": c, "name": "Bench"})
        h.request("PUT", f"/api/v1/subjects/{c}/fingers/2",
                  {"format": "iso19794-2:2005", "data": iso(db1(101, 1))})
        for i in range(2, 100):
            cc = make_curp(i)
            h.request("POST", "/api/v1/subjects", {"curp": cc, "name": "B"})
            h.request("PUT", f"/api/v1/subjects/{cc}/fingers/2",
                      {"format": "iso19794-2:2005",
                       "data": iso(db1(101 + i % 10, 1 + i % 8))})
        base = f"http://127.0.0.1:{h.port}"
        rows = [("static page (GET /index.html)",
                 wrk(base + "/index.html", a.seconds, a.connections))]
        rows.append(("GET /api/v1/subjects/{curp} (auth, shm link)",
                     wrk(base + f"/api/v1/subjects/{c}", a.seconds,
                         a.connections, lua_get(h.token, tmp))))
        probe = {"curp": c, "finger": {"position": 2,
                 "format": "iso19794-2:2005", "data": iso(db1(101, 2))}}
        rows.append(("POST /api/v1/verify (auth, 1:1 match)",
                     wrk(base + "/api/v1/verify", a.seconds, a.connections,
                         lua_post("verify", h.token, probe, tmp))))
        ident = {"finger": probe["finger"], "max_candidates": 5}
        rows.append(("POST /api/v1/identify (auth, 1:N over 99)",
                     wrk(base + "/api/v1/identify", a.seconds, a.connections,
                         lua_post("identify", h.token, ident, tmp))))
        static = rows[0][1][0]
        print(f"\nwrk -t2 -c{a.connections} -d{a.seconds}s, loopback, "
              "same nginx")
        print(f"{'scenario':48} {'req/s':>10} {'p50 us':>9} {'p99 us':>9}"
              f" {'non-2xx':>8} {'vs static':>9}")
        for name, (rps, lat, bad) in rows:
            print(f"{name:48} {rps:10.0f} {lat.get('50', 0):9.0f} "
                  f"{lat.get('99', 0):9.0f} {bad:8d} {rps / static:9.2f}")
    finally:
        h.cleanup()


if __name__ == "__main__":
    main()
