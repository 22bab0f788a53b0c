#!/usr/bin/env python3
"""Two-finger fusion (docs/api.md "Multi-finger fusion") in one run:

  1. accuracy: build/bench/bench_fusion's scores through
     $HUELLA_SHARED/tools/eer.py, one finger (all pairs within each set)
     next to two fingers (chimeric persons, see bench_fusion.c), with FNMR
     and accepted impostors at the calibrated threshold;
  2. latency through the HTTP API, one request at a time on one
     connection, of 2-finger against 1-finger verify and identify, the
     kinds interleaved request by request so that noise hits both alike;
     reported as p50/p99 and the ratio 2-finger / 1-finger of the p50s.

The gallery is a cached synthetic one (huellactl synth N, one finger per
subject) plus 20 real two-finger persons: round 0 of bench_fusion.c's
schedule in each FVC set, impression 1 of finger a at position 1 and of
finger b at position 2.  Probes are impressions 2..8 of both fingers (140
per kind).  Verify sends positions; identify sends none, so each probe is
compared with every gallery finger (the costly case).

    python3 bench/bench_fusion.py [--sizes 10000,100000] [--no-build]
"""
import argparse
import json
import http.client
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import harness, pct  # noqa: E402

SETS = [("fvc2002", "DB1_B"), ("fvc2002", "DB2_B"), ("fvc2004", "DB1_B"),
        ("fvc2004", "DB2_B")]
ISO = "iso19794-2:2005"


def accuracy():
    out = tempfile.mkdtemp(prefix="huella-bench-fusion-")
    r = subprocess.run([os.path.join(harness.BUILD, "bench", "bench_fusion"),
                        out], capture_output=True, text=True, check=True)
    print(r.stdout.rstrip())
    eer = os.path.join(harness.SHARED, "tools", "eer.py")
    for kind, what in (("single", "one finger, all pairs within a set"),
                       ("fused", "two fingers, Fisher (the API's rule)")):
        with open(os.path.join(out, kind + ".txt")) as f:
            r = subprocess.run([sys.executable, eer], stdin=f,
                               capture_output=True, text=True, check=True)
        print(f"-- {what}")
        print(r.stdout.rstrip())


def persons():
    """Round 0 of the circle schedule: (10th finger, 1st), (2nd, 9th)..."""
    pairs = [(9, 0)] + [((0 + p) % 9, (0 - p + 9) % 9) for p in range(1, 5)]
    for s in SETS:
        d = os.path.join(harness.DATA, *s)
        for a, b in pairs:
            yield d, 101 + min(a, b), 101 + max(a, b)


def gallery(tmp):
    d = os.path.join(tmp, "persons")
    os.makedirs(d)
    people = []
    with open(os.path.join(d, "manifest.tsv"), "w") as man:
        for n, (s, a, b) in enumerate(persons()):
            curp = harness.make_curp(95000 + n)
            for pos, f in ((1, a), (2, b)):
                name = f"p{n:02d}_{pos}.iso"
                os.symlink(os.path.join(s, f"{f}_1.iso"),
                           os.path.join(d, name))
                man.write(f"{curp}\t{pos}\t{name}\n")
            people.append((curp, s, a, b))
    return d, people


def timed(conn, path, body, hdr):
    t = time.perf_counter()
    conn.request("POST", path, json.dumps(body), hdr)
    r = conn.getresponse()
    data = r.read()
    return (time.perf_counter() - t) * 1e3, r.status, json.loads(data)


def tpl(s, f, imp, pos=None):
    p = {"format": ISO,
         "data": benchlib.iso_b64(os.path.join(s, f"{f}_{imp}.iso"))}
    if pos:
        p["position"] = pos
    return p


def latency(n):
    h = harness.Huella(deadline="30s")
    tmp = tempfile.mkdtemp(prefix="huella-bench-fu-", dir=h.dir)
    try:
        h.start()
        d, people = gallery(tmp)
        benchlib.import_dir(h, d)
        secs, line = benchlib.import_dir(h, benchlib.synth_dir(n))
        print(f"  gallery {n}: {line} [{secs:.1f} s]", file=sys.stderr)
        hdr = {"Authorization": "Bearer " + h.token,
               "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=120)
        lat = {k: [] for k in ("v1", "v2", "i1", "i2")}
        ok = {k: 0 for k in lat}
        errors = 0
        first = people[0]
        for k in range(2):          # warm-up, not counted
            timed(conn, "/api/v1/identify", {"fingers": [
                tpl(first[1], first[2], 2), tpl(first[1], first[3], 2)]},
                hdr)
        for curp, s, a, b in people:
            for imp in range(2, 9):
                one_v = {"curp": curp, "finger": tpl(s, a, imp, 1)}
                two_v = {"curp": curp, "fingers": [tpl(s, a, imp, 1),
                                                   tpl(s, b, imp, 2)]}
                one_i = {"finger": tpl(s, a, imp), "max_candidates": 1}
                two_i = {"fingers": [tpl(s, a, imp), tpl(s, b, imp)],
                         "max_candidates": 1}
                for kind, path, body in (
                        ("v1", "/api/v1/verify", one_v),
                        ("v2", "/api/v1/verify", two_v),
                        ("i1", "/api/v1/identify", one_i),
                        ("i2", "/api/v1/identify", two_i)):
                    ms, st, doc = timed(conn, path, body, hdr)
                    if st != 200:
                        errors += 1
                        continue
                    lat[kind].append(ms)
                    if kind[0] == "v":
                        ok[kind] += doc["match"]
                    else:
                        c = doc["candidates"]
                        ok[kind] += bool(c and c[0]["curp"] == curp)
        conn.close()
        return lat, ok, errors
    finally:
        h.stop()
        if not os.environ.get("HUELLA_KEEP_TMP"):
            h.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-eer", action="store_true")
    a = ap.parse_args()
    if not a.no_build:
        benchlib.ensure_build()
    if not a.no_eer:
        print("== accuracy: two fingers against one (build/bench/"
              "bench_fusion + eer.py)")
        accuracy()
    print("== latency through HTTP, one request at a time, kinds "
          "interleaved (release build, loopback)")
    print(f"{'synthetic':>10} {'request':>18} {'n':>4} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'2f/1f p50':>10} {'accepted':>9}")
    for n in [int(x) for x in a.sizes.split(",") if x]:
        lat, ok, errors = latency(n)
        names = {"v1": "verify 1 finger", "v2": "verify 2 fingers",
                 "i1": "identify 1 finger", "i2": "identify 2 fingers"}
        for k in ("v1", "v2", "i1", "i2"):
            ratio = ""
            if k[1] == "2":
                ratio = f"{pct(lat[k], 50) / pct(lat[k[0] + '1'], 50):.2f}x"
            what = "match" if k[0] == "v" else "rank-1"
            print(f"{n:>10} {names[k]:>18} {len(lat[k]):>4} "
                  f"{pct(lat[k], 50):>8.2f} {pct(lat[k], 99):>8.2f} "
                  f"{ratio:>10} {100.0 * ok[k] / max(1, len(lat[k])):>6.1f}%"
                  f" {what}" + (f"  ({errors} errors)" if errors else ""),
                  flush=True)


if __name__ == "__main__":
    main()
