#!/usr/bin/env python3
"""What several enrolled impressions per finger would buy (a measurement,
not a feature: Huella enrolls one template per finger position today).

Scores every ordered pair of templates within each FVC set with
`huellactl compare` (the same scores as tools/eer.sh: the score is the
same both ways), then simulates enrollment of k impressions per finger:
for every choice of k of the 8 impressions as the enrolled ones, every
other impression of every finger is a probe against every finger's k
enrolled templates, scored as the best of the k comparisons (what a
verify against k stored templates would answer).  Genuine = same finger.
EER and FNMR at FMR 1% / 0.1% are computed as ../shared/tools/eer.py
computes them.  k = 1 is the acceptance protocol's all-pairs figure
(every pair counted in both directions).

Comparing a probe with k templates gives an impostor k chances, so the
same FMR needs a higher threshold; EER and FNMR@FMR account for that,
since they choose the threshold on the impostor scores of the max.

    python3 bench/bench_multi_impression.py [--k 1,2,3] [--scores FILE]

--scores reads "PROBE CANDIDATE SCORE" lines (tools/eer.sh --scores FILE)
instead of running huellactl.
"""
import argparse
import bisect
import collections
import itertools
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("HUELLA_SHARED",
                        os.path.join(os.path.dirname(ROOT), "shared"))
BUILD = os.environ.get("HUELLA_BUILD", os.path.join(ROOT, "build"))
SETS = ["fvc2002/DB1_B", "fvc2002/DB2_B", "fvc2004/DB1_B", "fvc2004/DB2_B"]
NAME = re.compile(r"(fvc\d+)/(DB\d_B)/(\d+)_(\d+)\.iso$")


def parse_name(path):
    m = NAME.search(path)
    if not m:
        sys.exit(f"bench_multi_impression: cannot parse {path!r}")
    return f"{m.group(1)}-{m.group(2)}", int(m.group(3)), int(m.group(4))


def scores_from_huellactl():
    ctl = os.path.join(BUILD, "bin", "huellactl")
    if not os.access(ctl, os.X_OK):
        sys.exit(f"bench_multi_impression: {ctl} not built (./build.sh)")
    lines = []
    for s in SETS:
        d = os.path.join(SHARED, "data", s)
        files = sorted(os.path.join(d, f) for f in os.listdir(d)
                       if f.endswith(".iso"))
        for i, probe in enumerate(files[:-1]):
            cands = files[i + 1:]
            out = subprocess.run([ctl, "compare", probe] + cands, check=True,
                                 capture_output=True, text=True).stdout
            got = out.split()
            if len(got) != len(cands):
                sys.exit(f"bench_multi_impression: short output for {probe}")
            lines += [(probe, c, float(v)) for c, v in zip(cands, got)]
    return lines


def scores_from_file(path):
    lines = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            p = line.split()
            if len(p) != 3:
                sys.exit(f"bench_multi_impression: {path}:{n}: "
                         "expected PROBE CANDIDATE SCORE")
            lines.append((p[0], p[1], float(p[2])))
    return lines


def metrics(gen, imp):
    """EER and FNMR at FMR 1% and 0.1%, as eer.py defines them."""
    gen, imp = sorted(gen), sorted(imp)
    ths = sorted(set(gen) | set(imp)) + [float("inf")]
    best = (2.0, None)
    fnmr_at = {}
    for t in ths:
        fnmr = bisect.bisect_left(gen, t) / len(gen)
        fmr = (len(imp) - bisect.bisect_left(imp, t)) / len(imp)
        if abs(fnmr - fmr) < best[0]:
            best = (abs(fnmr - fmr), (fnmr + fmr) / 2)
        for target in (1e-2, 1e-3):
            if target not in fnmr_at and fmr <= target:
                fnmr_at[target] = fnmr
    return best[1], fnmr_at[1e-2], fnmr_at[1e-3]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", default="1,2,3",
                    help="enrolled impressions per finger (comma list)")
    ap.add_argument("--scores", help="score lines instead of huellactl")
    args = ap.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    if any(k < 1 or k > 7 for k in ks):
        sys.exit("bench_multi_impression: --k values are 1..7")

    lines = (scores_from_file(args.scores) if args.scores
             else scores_from_huellactl())
    score = collections.defaultdict(dict)
    for a, b, s in lines:
        (da, fa, ia), (db, fb, ib) = parse_name(a), parse_name(b)
        if da != db:
            continue
        score[da][(fa, ia, fb, ib)] = s
        score[da][(fb, ib, fa, ia)] = s

    print("enrolled | set | EER | FNMR@FMR1% | FNMR@FMR0.1% | genuine "
          "| impostor")
    for k in ks:
        eers = []
        for db in sorted(score):
            m = score[db]
            fingers = sorted({key[0] for key in m})
            impressions = sorted({key[1] for key in m})
            gen, imp = [], []
            for enrolled in itertools.combinations(impressions, k):
                probes = [i for i in impressions if i not in enrolled]
                for f in fingers:
                    for p in probes:
                        for g in fingers:
                            s = max(m[(f, p, g, e)] for e in enrolled)
                            (gen if f == g else imp).append(s)
            eer, f1, f01 = metrics(gen, imp)
            eers.append(eer)
            print(f"{k} | {db} | {eer * 100:.2f}% | {f1 * 100:.2f}% | "
                  f"{f01 * 100:.2f}% | {len(gen)} | {len(imp)}")
        print(f"{k} | mean | {sum(eers) / len(eers) * 100:.2f}% | | | |")


if __name__ == "__main__":
    main()
