#!/usr/bin/env python3
"""1:N identify through huellad and the HTTP API on a gallery kept on disk,
so that large galleries are imported once and then reused by every run
(and by several builds: a baseline build and a changed one, alternated in
the same run because the machine is shared and noisy).

    python3 bench/bench_identify_http.py --data /tmp/g1m/data --synth 1000000
        [--probes 280] [--map-mb 16384] [--label new] [--no-build]

--data DIR: an LMDB data directory.  When it holds no data.mdb, the real
gallery (impression 1 of the 40 FVC fingers, bench_matcher.py's CURPs) and
`huellactl synth N` (cached in /tmp/huella-synth-N) are imported into it
first.  The build is $HUELLA_BUILD (default build/).  Probes: impressions
2..8 of the real fingers, one identify at a time with max_candidates 1,
each followed by an authenticated GET of one subject over the same
connection (the same-run baseline).  huellad's CPU time per identify
(user + system, all threads, from /proc) is the figure that survives a
loaded machine: on idle cores the wall time is about CPU / threads.
Prints one line: how long huellad took
to answer after start (a restarted daemon answers at once: no load step,
apart from a one-time signature migration), identify p50/p99/mean, GET
p50, rank-1 over the probes, the fingers searched, huellad's RSS.
"""
import argparse
import http.client
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import bench_matcher  # noqa: E402
from benchlib import harness, pct  # noqa: E402


def start(h, wait_s):
    """huellad (its open may migrate the gallery: waits up to wait_s),
    then nginx; returns seconds until huellad answered."""
    t = time.time()
    h.start_huellad(wait=False)
    pidfile = os.path.join(h.dir, "huellad.pid")
    while time.time() - t < wait_s:
        if h.huellad.poll() is not None:
            raise RuntimeError("huellad exited: " + h.logs())
        try:
            with open(pidfile) as f:
                if int(f.read().strip() or 0) == h.huellad.pid:
                    break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    ready = time.time() - t
    h.start_nginx()
    if not h.wait_healthy(60):
        raise RuntimeError("not healthy: " + h.logs())
    return ready


def cpu_seconds(pid):
    """User + system CPU time of a process so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--synth", type=int, default=0)
    ap.add_argument("--probes", type=int, default=280)
    ap.add_argument("--map-mb", type=int, default=16384)
    ap.add_argument("--label", default=os.path.basename(harness.BUILD))
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not a.no_build:
        benchlib.ensure_build()
    h = harness.Huella(deadline="30s", yaml_overrides={
        "matcher.map_size_mb": a.map_mb})
    h.data = os.path.abspath(a.data)
    fresh = not os.path.exists(os.path.join(h.data, "data.mdb"))
    os.makedirs(h.data, exist_ok=True)
    try:
        ready = start(h, 3600)
        real_dir, probes = bench_matcher.real_gallery(
            os.path.join(h.dir, "bench"))
        if fresh:
            benchlib.import_dir(h, real_dir)
            if a.synth:
                secs, line = benchlib.import_dir(h,
                                                 benchlib.synth_dir(a.synth))
                print(f"  imported: {line} [{secs:.1f} s]", file=sys.stderr)
        probes = probes[:a.probes]
        hdr = {"Authorization": "Bearer " + h.token,
               "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=300)
        mate0 = probes[0][1]
        for p, _ in probes[:3]:         # warm-up, not counted
            bench_matcher.timed_request(conn, "POST", "/api/v1/identify",
                                        json.dumps({"finger": {
                                            "format": "iso19794-2:2005",
                                            "data": benchlib.iso_b64(p)}}),
                                        hdr)
        lat, base, hits, searched, errors = [], [], 0, 0, 0
        cpu0 = cpu_seconds(h.huellad.pid)
        for p, mate in probes:
            body = json.dumps({"finger": {"format": "iso19794-2:2005",
                                          "data": benchlib.iso_b64(p)},
                               "max_candidates": 1})
            ms, st, data = bench_matcher.timed_request(
                conn, "POST", "/api/v1/identify", body, hdr)
            if st != 200:
                errors += 1
                continue
            doc = json.loads(data)
            lat.append(ms)
            searched = doc.get("searched", searched)
            c = doc.get("candidates") or []
            hits += bool(c and c[0]["curp"] == mate)
            ms, _, _ = bench_matcher.timed_request(
                conn, "GET", f"/api/v1/subjects/{mate0}", None, hdr)
            base.append(ms)
        cpu = (cpu_seconds(h.huellad.pid) - cpu0) / max(1, len(lat))
        mem = bench_matcher.rss(h.huellad.pid)
        conn.close()
        print(f"{a.label:>10} searched {searched:>8} ready {ready:6.2f} s "
              f"p50 {pct(lat, 50):8.1f} p99 {pct(lat, 99):8.1f} "
              f"mean {sum(lat) / max(1, len(lat)):8.1f} ms  GET p50 "
              f"{pct(base, 50):6.2f} ms  huellad CPU {cpu * 1e3:7.1f} ms"
              f"/identify  rank-1 {100.0 * hits / len(probes):6.2f}%"
              f" ({hits}/{len(probes)})  RSS {mem.get('VmRSS', 0)} MiB"
              + (f"  {errors} errors" if errors else ""), flush=True)
    finally:
        h.stop()
        h.cleanup()


if __name__ == "__main__":
    main()
