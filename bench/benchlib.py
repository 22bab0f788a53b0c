"""Shared by bench_enroll.py and bench_punch.py: a fresh release build, a
cached synthetic gallery (huellactl synth, kept under /tmp by size), its
import into a running system, capture devices that sign with
`huellactl device sign`, and wrk's output parsed."""
import base64
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HUELLA_BUILD", os.path.join(ROOT, "build"))
os.environ.setdefault("HUELLA_SHARED",
                      os.path.join(os.path.dirname(ROOT), "shared"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

HUELLACTL = os.path.join(harness.BUILD, "bin", "huellactl")
SRC_DIRS = ("matcher", "ngx_module")


def ensure_build():
    """./build.sh build when a source is newer than the binaries."""
    bins = [os.path.join(harness.BUILD, "bin", "huellad"), HUELLACTL,
            os.path.join(harness.BUILD, "modules",
                         "ngx_http_huella_module.so")]
    try:
        built = min(os.path.getmtime(b) for b in bins)
    except OSError:
        built = 0
    newest = 0
    for d in SRC_DIRS:
        for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                if f.endswith((".c", ".h")) or f == "config":
                    newest = max(newest, os.path.getmtime(
                        os.path.join(dirpath, f)))
    if newest <= built:
        return
    # Other sessions may be building the same build/ right now: a failed
    # build is retried after a pause rather than fought over.
    for attempt in range(4):
        print("build/ is stale: ./build.sh build", file=sys.stderr)
        r = subprocess.run([os.path.join(ROOT, "build.sh"), "build"],
                           stdout=subprocess.DEVNULL)
        if r.returncode == 0:
            return
        time.sleep(20)
    raise RuntimeError("./build.sh build failed")


def synth_dir(n):
    """/tmp/huella-synth-N (made once, reused by later runs)."""
    d = f"/tmp/huella-synth-{n}"
    if os.path.exists(os.path.join(d, "manifest.tsv")):
        return d
    tmp = d + f".tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([HUELLACTL, "synth", str(n), tmp], check=True,
                   stdout=subprocess.DEVNULL)
    os.rename(tmp, d)
    return d


def import_dir(h, d):
    """huellactl import into system h; returns (seconds, huellactl's line)."""
    t = time.time()
    out = subprocess.run([HUELLACTL, "import", "--socket", h.sock, d],
                         check=True, capture_output=True, text=True).stdout
    return time.time() - t, out.strip().splitlines()[-1]


def iso_b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


class Device:
    """A capture device: key pair by huellactl, registered with token."""

    def __init__(self, h, tmp, name, purpose, rfc, token=None):
        self.dir = os.path.join(tmp, name)
        subprocess.run([HUELLACTL, "device", "keygen", self.dir],
                       check=True, capture_output=True)
        self.key = os.path.join(self.dir, "device.key")
        with open(os.path.join(self.dir, "device.pub")) as f:
            pub = f.read()
        hdr = {"Authorization": "Bearer " + token} if token else None
        st, _, doc = h.request("POST", "/api/v1/devices", {
            "public_key_pem": pub, "make": "Bench", "model": "B-1",
            "serial": name + "-" + os.urandom(4).hex(), "purpose": purpose,
            "employer_rfc": rfc}, auth=token is None, headers=hdr)
        assert st == 201, doc
        self.id = doc["device_id"]
        self.n = 0

    def sign(self, method, path, body):
        """RFC 9421 headers for body (bytes) from `huellactl device sign`
        (a fresh nonce each call)."""
        self.n += 1
        bodyfile = os.path.join(self.dir, f"body.{os.getpid()}.{self.n}")
        with open(bodyfile, "wb") as f:
            f.write(body)
        try:
            out = subprocess.run(
                [HUELLACTL, "device", "sign", "--key", self.key, "--keyid",
                 self.id, "--method", method, "--path", path, bodyfile],
                check=True, capture_output=True, text=True).stdout
        finally:
            os.unlink(bodyfile)
        return dict(line.split(": ", 1) for line in out.splitlines())

    def sign_many(self, method, path, bodies, workers=4):
        """One signature per body, made by a few huellactl at once."""
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            return list(ex.map(lambda b: self.sign(method, path, b), bodies))


def parse_wrk(out):
    """(req/s, {"50": us, "99": us}, non-2xx, total requests) of wrk's
    --latency output."""
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError("wrk said:\n" + out)
    rps = float(m.group(1))
    lat = {}
    for p in ("50", "99"):
        m = re.search(rf"\s{p}(?:\.000)?%\s+([\d.]+)(us|ms|s)\b", out)
        if m:
            lat[p] = float(m.group(1)) * {"us": 1, "ms": 1e3,
                                          "s": 1e6}[m.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return rps, lat, int(bad.group(1)) if bad else 0, \
        int(total.group(1)) if total else 0


def pct(values, p):
    """The p-th percentile (nearest rank) of values."""
    v = sorted(values)
    if not v:
        return 0.0
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]
