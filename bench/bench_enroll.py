#!/usr/bin/env python3
"""Enrollment with dedup (issue 5): the time of one signed
POST /api/v1/subjects/{curp}/enrollment whose fingers are searched against
a synthetic gallery of N templates, next to two baselines measured in the
same system at the same time: an authenticated GET of a subject (no
signature, no matching) and a FINGER_PUT of one template (a durable write,
no dedup).

For each size: a fresh nginx + huellad (release build, free loopback
ports), `huellactl synth N` (cached in /tmp/huella-synth-N) imported with
`huellactl import`, an employer_rep token and a registered enrollment
device.  Each trial enrolls a new CURP with --fingers real FVC fingers
($HUELLA_SHARED/data, impression 1) never enrolled before, so dedup walks
the whole gallery and finds nothing.  Requests are signed just before they
are sent; only the HTTP round trip is timed.  Sequential, one at a time.

    python3 bench/bench_enroll.py [--sizes 10000,100000] [--trials 8]
                                  [--fingers 2]
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import harness, pct  # noqa: E402

RFC = "AAA010101AAA"


def fvc_fingers():
    """Distinct real fingers (impression 1) of every FVC set we have."""
    out = []
    for year in ("fvc2002", "fvc2004"):
        for db in ("DB1_B", "DB2_B"):
            for f in range(101, 111):
                p = os.path.join(harness.DATA, year, db, f"{f}_1.iso")
                if os.path.exists(p):
                    out.append(p)
    return out


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return (time.perf_counter() - t) * 1e3, r


def run_size(n, trials, nfingers, fingers):
    h = harness.Huella(deadline="300s")
    tmp = tempfile.mkdtemp(prefix="huella-bench-enr-", dir=h.dir)
    try:
        h.start()
        secs, line = benchlib.import_dir(h, benchlib.synth_dir(n))
        print(f"  gallery {n}: {line} [{secs:.1f} s]", file=sys.stderr)
        st, _, doc = h.request("POST", "/api/v1/tokens", {
            "name": "bench-rep", "roles": ["employer_rep"],
            "employer_rfc": RFC})
        assert st == 201, doc
        rep = {"Authorization": "Bearer " + doc["token"]}
        dev = benchlib.Device(h, tmp, "enr", "enrollment", RFC, doc["token"])
        synth0 = benchlib.iso_b64(os.path.join(benchlib.synth_dir(n),
                                               "synth_0000000.iso"))
        probe_curp = None
        with open(os.path.join(benchlib.synth_dir(n), "manifest.tsv")) as f:
            for line in f:
                if not line.startswith("#"):
                    probe_curp = line.split("\t")[0]
                    break
        enr, get, put, bad = [], [], [], []
        # warm up the page cache and the links (not counted)
        h.request("GET", f"/api/v1/subjects/{probe_curp}")
        for t in range(trials):
            curp = harness.make_curp(50000 + n % 1000 + t)
            sel = fingers[t * nfingers:(t + 1) * nfingers]
            body = {"fingers": [
                {"position": pos, "format": "iso19794-2:2005",
                 "data": benchlib.iso_b64(p)}
                for pos, p in zip((2, 7, 3, 8, 1, 6, 4, 9, 5, 10), sel)]}
            path = f"/api/v1/subjects/{curp}/enrollment"
            raw = json.dumps(body).encode()
            hd = dict(rep, **dev.sign("POST", path, raw))
            ms, (st, _, doc) = timed(lambda: h.request(
                "POST", path, raw=raw, auth=False, headers=hd, timeout=600))
            ms_enr, st_enr = ms, st
            if st == 201:
                enr.append(ms)
            else:
                bad.append((st, (doc or {}).get("error", {}).get("code"),
                            f"{ms:.0f} ms"))
            ms, (st, _, _) = timed(lambda: h.request(
                "GET", f"/api/v1/subjects/{probe_curp}"))
            get.append(ms) if st == 200 else bad.append((st, "get"))
            pc = harness.make_curp(60000 + n % 1000 + t)
            h.request("POST", "/api/v1/subjects", {"curp": pc, "name": "B"})
            ms, (st, _, _) = timed(lambda: h.request(
                "PUT", f"/api/v1/subjects/{pc}/fingers/2",
                {"format": "iso19794-2:2005", "data": synth0}))
            put.append(ms) if st in (200, 201) else bad.append((st, "put"))
            print(f"  trial {t + 1}: enrollment {st_enr} in {ms_enr:.0f} ms",
                  file=sys.stderr)
        return {"enr": enr, "get": get, "put": put, "bad": bad,
                "import_s": secs}
    finally:
        h.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--fingers", type=int, default=2)
    ap.add_argument("--no-build", action="store_true",
                    help="use build/ as it is")
    a = ap.parse_args()
    if not a.no_build:
        benchlib.ensure_build()
    fingers = fvc_fingers()
    if a.trials * a.fingers > len(fingers):
        sys.exit(f"only {len(fingers)} distinct FVC fingers: "
                 f"trials x fingers must not exceed it")
    sizes = [int(s) for s in a.sizes.split(",")]
    res = {}
    for n in sizes:
        res[n] = run_size(n, a.trials, a.fingers, fingers)
    print(f"\nenrollment with dedup, {a.fingers} FVC fingers per "
          f"enrollment, {a.trials} sequential trials per size, loopback, "
          "release build")
    print(f"{'gallery':>8} {'scenario':44} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'n':>3} {'vs GET':>7}")
    for n in sizes:
        r = res[n]
        g50 = pct(r["get"], 50) or 1e-9
        rows = [("enrollment + dedup (signed POST)", r["enr"]),
                ("FINGER_PUT, 1 template, no dedup", r["put"]),
                ("GET /api/v1/subjects/{curp} (baseline)", r["get"])]
        for name, v in rows:
            print(f"{n:>8} {name:44} {pct(v, 50):8.1f} {pct(v, 99):8.1f} "
                  f"{len(v):>3} {pct(v, 50) / g50:7.0f}x")
        if r["bad"]:
            print(f"{n:>8} refused: {r['bad']}")
        print(f"{n:>8} import of the gallery: {r['import_s']:.1f} s")


if __name__ == "__main__":
    main()
