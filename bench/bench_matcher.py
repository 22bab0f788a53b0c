#!/usr/bin/env python3
"""The matching engine's figures in one run (issue 3, item 6):

  1. EER and FNMR at FMR 1% / 0.1% on every set in $HUELLA_SHARED/data
     (tools/eer.sh: all unordered pairs within a folder, eer.py protocol);
  2. 1:1 comparisons per second per core (build/bench/bench_match);
  3. identify latency p50/p99 through the HTTP API, one request at a time,
     for galleries of N synthetic templates plus the real ones, with rank-1
     accuracy on the real probes, next to a same-run baseline (an
     authenticated GET of one subject over the same connection);
  4. huellad's resident memory after each gallery's searches (anonymous
     and file-backed, since LMDB's map pages count as the latter).

The real gallery is impression 1 of every finger of every FVC set (40
subjects); the probes are impressions 2..8 of the same fingers (280), so
every probe has exactly one mate.  Synthetic galleries come from
`huellactl synth N` (cached in /tmp/huella-synth-N) and are imported with
`huellactl import` into a fresh release nginx + huellad on loopback.

    python3 bench/bench_matcher.py [--sizes 10000,100000,1000000]
                                   [--probes 280] [--no-eer] [--no-build]
"""
import argparse
import glob
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import harness, pct  # noqa: E402

ROOT = benchlib.ROOT


def real_sets():
    return sorted(d for d in glob.glob(os.path.join(harness.DATA, "fvc*",
                                                    "DB*_B"))
                  if os.path.isdir(d))


def eer_table():
    env = dict(os.environ, HUELLACTL=benchlib.HUELLACTL)
    r = subprocess.run([os.path.join(ROOT, "tools", "eer.sh")], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("tools/eer.sh failed:\n" + r.stderr)
    return r.stdout.rstrip()


def one_to_one():
    r = subprocess.run([os.path.join(harness.BUILD, "bench", "bench_match")],
                       capture_output=True, text=True, check=True)
    return r.stdout.rstrip()


def real_gallery(tmp):
    """A manifest of the real mates and the list of (probe file, curp)."""
    d = os.path.join(tmp, "real")
    os.makedirs(d)
    probes = []
    n = 0
    with open(os.path.join(d, "manifest.tsv"), "w") as man:
        for s in real_sets():
            for finger in range(101, 111):
                first = os.path.join(s, f"{finger}_1.iso")
                if not os.path.exists(first):
                    continue
                curp = harness.make_curp(90000 + n)
                n += 1
                name = f"real_{n:03d}.iso"
                os.symlink(first, os.path.join(d, name))
                man.write(f"{curp}\t1\t{name}\n")
                for imp in range(2, 9):
                    p = os.path.join(s, f"{finger}_{imp}.iso")
                    if os.path.exists(p):
                        probes.append((p, curp))
    return d, probes


def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[k] = int(v.split()[0]) // 1024
    return out


def timed_request(conn, method, path, body, headers):
    t = time.perf_counter()
    conn.request(method, path, body, headers)
    r = conn.getresponse()
    data = r.read()
    return (time.perf_counter() - t) * 1e3, r.status, data


def run_size(n, probes_wanted):
    h = harness.Huella(deadline="30s")
    tmp = tempfile.mkdtemp(prefix="huella-bench-m-", dir=h.dir)
    try:
        h.start()
        real_dir, probes = real_gallery(tmp)
        benchlib.import_dir(h, real_dir)
        secs, line = 0.0, "no synthetic templates"
        if n:
            secs, line = benchlib.import_dir(h, benchlib.synth_dir(n))
        print(f"  gallery {n}: {line} [{secs:.1f} s]", file=sys.stderr)
        probes = probes[:probes_wanted]
        hdr = {"Authorization": "Bearer " + h.token,
               "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=120)
        mate0 = probes[0][1]
        # warm-up (page cache, links), not counted
        for p, _ in probes[:3]:
            timed_request(conn, "POST", "/api/v1/identify", json.dumps({
                "finger": {"format": "iso19794-2:2005",
                           "data": benchlib.iso_b64(p)}}), hdr)
        lat, base, hits, searched, errors = [], [], 0, 0, 0
        for p, mate in probes:
            body = json.dumps({"finger": {"format": "iso19794-2:2005",
                                          "data": benchlib.iso_b64(p)},
                               "max_candidates": 1})
            ms, st, data = timed_request(conn, "POST", "/api/v1/identify",
                                         body, hdr)
            if st != 200:
                errors += 1
                continue
            doc = json.loads(data)
            lat.append(ms)
            searched = doc.get("searched", searched)
            c = doc.get("candidates") or []
            hits += bool(c and c[0]["curp"] == mate)
            ms, st, _ = timed_request(conn, "GET",
                                      f"/api/v1/subjects/{mate0}", None,
                                      hdr)
            base.append(ms)
        mem = rss(h.huellad.pid)
        conn.close()
        return {"n": n, "gallery": n + 40, "probes": len(probes),
                "p50": pct(lat, 50), "p99": pct(lat, 99),
                "mean": sum(lat) / max(1, len(lat)),
                "base_p50": pct(base, 50), "rank1": 100.0 * hits
                / max(1, len(probes)), "searched": searched,
                "errors": errors, "mem": mem}
    finally:
        h.stop()
        if not os.environ.get("HUELLA_KEEP_TMP"):
            h.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--probes", type=int, default=280)
    ap.add_argument("--no-eer", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if not a.no_build:
        benchlib.ensure_build()
    if not a.no_eer:
        print("== accuracy (tools/eer.sh, all pairs within each set)")
        print(eer_table())
    print("== 1:1 (build/bench/bench_match)")
    print(one_to_one())
    print("== identify through HTTP, one request at a time (release build, "
          "loopback)")
    print(f"{'synthetic':>10} {'gallery':>8} {'probes':>6} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'mean ms':>8} {'GET p50':>8} {'p50/GET':>8} "
          f"{'rank-1':>7} {'RSS MiB':>8} {'anon':>6} {'file':>6}")
    for n in [int(x) for x in a.sizes.split(",") if x]:
        r = run_size(n, a.probes)
        m = r["mem"]
        print(f"{r['n']:>10} {r['gallery']:>8} {r['probes']:>6} "
              f"{r['p50']:>8.1f} {r['p99']:>8.1f} {r['mean']:>8.1f} "
              f"{r['base_p50']:>8.2f} {r['p50'] / max(r['base_p50'], 1e-3):>7.0f}x "
              f"{r['rank1']:>6.2f}% {m.get('VmRSS', 0):>8} "
              f"{m.get('RssAnon', 0):>6} {m.get('RssFile', 0):>6}"
              + (f"  ({r['errors']} errors)" if r["errors"] else ""),
              flush=True)


if __name__ == "__main__":
    main()
