#!/usr/bin/env python3
"""Enrollment with dedup (issue 5): the time from a signed
POST /api/v1/subjects/{curp}/enrollment to its outcome, with every finger
searched exhaustively against a synthetic gallery of N templates, in two
ways, next to a plain authenticated GET measured in the same run:

  sync    the POST answers 201 with the receipt (the search runs inside
          the request; enrollment.dedup_sync_max_comparisons is set out of
          reach for this);
  queued  the POST carries `Prefer: respond-async` and answers 202 with a
          job; GET /api/v1/dedup-jobs/{id} is polled every 10 ms until the
          job is done: time to result = POST sent .. first "done" seen.
          Also the 202's own latency, and a GET of a subject timed while
          the job scans (the pool stays free for other requests).

For each size: a fresh nginx + huellad (release build, free loopback
ports), `huellactl synth N` (cached in /tmp/huella-synth-N) imported with
`huellactl import`, an employer_rep token and a registered enrollment
device.  Each trial enrolls a new CURP with the --fingers real FVC fingers
(impression 1, never enrolled before, so the search walks the whole
gallery); after each trial the subject is deleted, so the next trial may
use the same fingers again.  A trial answered 409 duplicate_suspect (a
real finger against the synthetic gallery, whose templates are chimeras
of the same FVC prints: docs/bench.md) has run the same whole scan and is
timed too; the outcomes are listed under each row group.  Requests are signed just before
they are sent; only HTTP is timed.  Sequential, one at a time.

    python3 bench/bench_enroll.py [--sizes 10000,100000] [--trials 5]
                                  [--fingers 2,10]
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
POSITIONS = (2, 7, 3, 8, 1, 6, 4, 9, 5, 10)
POLL_S = 0.010


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


class Run:
    def __init__(self, h, rep_token, dev, probe_curp):
        self.h = h
        self.rep = {"Authorization": "Bearer " + rep_token}
        self.dev = dev
        self.probe = probe_curp
        self.serial = 0

    def get_baseline(self):
        ms, (st, _, _) = timed(lambda: self.h.request(
            "GET", f"/api/v1/subjects/{self.probe}"))
        return ms if st == 200 else None

    def post(self, n, fingers, prefer_async):
        self.serial += 1
        curp = harness.make_curp(50000 + n % 1000 * 10 + self.serial)
        body = {"fingers": [
            {"position": pos, "format": "iso19794-2:2005",
             "data": benchlib.iso_b64(p)}
            for pos, p in zip(POSITIONS, fingers)]}
        path = f"/api/v1/subjects/{curp}/enrollment"
        raw = json.dumps(body).encode()
        hd = dict(self.rep, **self.dev.sign("POST", path, raw))
        if prefer_async:
            hd["Prefer"] = "respond-async"
        t0 = time.perf_counter()
        st, _, doc = self.h.request("POST", path, raw=raw, auth=False,
                                    headers=hd, timeout=900)
        return curp, t0, st, doc

    def forget(self, curp):
        """The subject and its fingers go: the next trial may reuse them."""
        self.h.request("DELETE", f"/api/v1/subjects/{curp}")

    def sync_trial(self, n, fingers):
        """(ms, outcome): a 201 or a 409 duplicate_suspect both come after
        the whole scan, so both are timed; the outcome is reported."""
        curp, t0, st, doc = self.post(n, fingers, False)
        ms = (time.perf_counter() - t0) * 1e3
        self.forget(curp)
        code = ((doc or {}).get("error") or {}).get("code")
        if st == 201:
            return ms, "enrolled"
        if st == 409 and code == "duplicate_suspect":
            return ms, code
        return None, (st, code)

    def queued_trial(self, n, fingers):
        """(time to result ms, 202 latency ms, [GET ms during the job])"""
        curp, t0, st, doc = self.post(n, fingers, True)
        accepted = (time.perf_counter() - t0) * 1e3
        if st != 202:
            return None, None, [], (st, doc)
        url = doc["status_url"]
        during = []
        while True:
            st, _, job = self.h.request("GET", url, auth=False,
                                        headers=self.rep)
            if st == 200 and job["status"] in ("done", "failed"):
                ms = (time.perf_counter() - t0) * 1e3
                break
            if st == 200 and job["status"] == "running":
                g = self.get_baseline()
                if g is not None:
                    during.append(g)
            time.sleep(POLL_S)
        self.forget(curp)
        if job["status"] == "done":
            return ms, accepted, during, job["outcome"]
        return None, accepted, during, (st, job.get("result"))


def run_size(n, trials, finger_counts, fingers):
    h = harness.Huella(deadline="900s", extra_yaml=(
        "\nenrollment:\n  dedup_sync_max_comparisons: 1000000000000\n"))
    tmp = tempfile.mkdtemp(prefix="huella-bench-enr-", dir=h.dir)
    res = {}
    try:
        h.start()
        secs, line = benchlib.import_dir(h, benchlib.synth_dir(n))
        print(f"  gallery {n}: {line} [{secs:.1f} s]", file=sys.stderr)
        st, _, doc = h.request("POST", "/api/v1/tokens", {
            "name": "bench-rep", "roles": ["employer_rep"],
            "employer_rfc": RFC})
        assert st == 201, doc
        dev = benchlib.Device(h, tmp, "enr", "enrollment", RFC, doc["token"])
        with open(os.path.join(benchlib.synth_dir(n), "manifest.tsv")) as f:
            probe = next(ln.split("\t")[0] for ln in f
                         if not ln.startswith("#"))
        run = Run(h, doc["token"], dev, probe)
        run.get_baseline()                   # warm up (not counted)
        for nf in finger_counts:
            sel = fingers[:nf]
            r = {"sync": [], "queued": [], "accepted": [], "during": [],
                 "get": [], "bad": [], "outcomes": {}}
            for t in range(trials):
                ms, why = run.sync_trial(n, sel)
                if ms is not None:
                    r["sync"].append(ms)
                    key = ("sync", why)
                    r["outcomes"][key] = r["outcomes"].get(key, 0) + 1
                else:
                    r["bad"].append(("sync", why))
                ms, acc, during, why = run.queued_trial(n, sel)
                if ms is not None:
                    r["queued"].append(ms)
                    r["accepted"].append(acc)
                    r["during"].extend(during)
                    key = ("queued", why)
                    r["outcomes"][key] = r["outcomes"].get(key, 0) + 1
                else:
                    r["bad"].append(("queued", why))
                for _ in range(3):
                    g = run.get_baseline()
                    if g is not None:
                        r["get"].append(g)
                print(f"  {n} x {nf} fingers, trial {t + 1}: sync "
                      f"{r['sync'][-1] if r['sync'] else 0:.0f} ms, queued "
                      f"{r['queued'][-1] if r['queued'] else 0:.0f} ms",
                      file=sys.stderr)
            res[nf] = r
        res["import_s"] = secs
        return res
    finally:
        h.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--fingers", default="2,10")
    ap.add_argument("--no-build", action="store_true",
                    help="use build/ as it is")
    a = ap.parse_args()
    if not a.no_build:
        benchlib.ensure_build()
    fingers = fvc_fingers()
    counts = [int(x) for x in a.fingers.split(",")]
    if max(counts) > len(fingers):
        sys.exit(f"only {len(fingers)} distinct FVC fingers")
    sizes = [int(s) for s in a.sizes.split(",")]
    res = {n: run_size(n, a.trials, counts, fingers) for n in sizes}
    print(f"\nenrollment with exhaustive dedup, FVC fingers, {a.trials} "
          "sequential trials per row, loopback, release build; time from "
          "POST to outcome")
    print(f"{'gallery':>8} {'fingers':>7} {'scenario':40} {'p50 ms':>9} "
          f"{'p99 ms':>9} {'n':>3} {'vs GET':>8}")
    for n in sizes:
        for nf in counts:
            r = res[n][nf]
            g50 = pct(r["get"], 50) or 1e-9
            rows = [("sync: POST -> 201", r["sync"]),
                    ("queued: POST -> job done (time to result)",
                     r["queued"]),
                    ("queued: POST -> 202 accepted", r["accepted"]),
                    ("GET subject while a job scans", r["during"]),
                    ("GET /api/v1/subjects/{curp} (baseline)", r["get"])]
            for name, v in rows:
                if not v:
                    print(f"{n:>8} {nf:>7} {name:40} {'-':>9}")
                    continue
                print(f"{n:>8} {nf:>7} {name:40} {pct(v, 50):9.1f} "
                      f"{pct(v, 99):9.1f} {len(v):>3} "
                      f"{pct(v, 50) / g50:8.1f}x")
            print(f"{n:>8} {nf:>7} outcomes: " + ", ".join(
                f"{m} {o} x{c}" for (m, o), c in sorted(r["outcomes"].items())))
            if r["bad"]:
                print(f"{n:>8} {nf:>7} failed: {r['bad']}")
        print(f"{n:>8} import of the gallery: {res[n]['import_s']:.1f} s")


if __name__ == "__main__":
    main()
