"""Faults: a slow matcher, a full LMDB map, a full disk, and the metrics
that show them.

- slow matcher: huellad with matcher.debug_delay_ms (tests only, refused
  without matcher.allow_debug) and huella_deadline 1s: every call ends in
  503 matcher_timeout with Retry-After at the deadline, never later, also
  while huellad is backed up; once huellad runs without the delay the
  service is normal again, and /metrics counts the expiries.
- LMDB map full (a 1 MiB map, allowed under allow_debug): enrollments end in
  503 storage_full; after a restart with a bigger map every acknowledged
  record is there and writes work again.
- disk full (a 4 MiB tmpfs as the data directory; skipped when mounting is
  not permitted): the same contract, after moving the data to a bigger disk.
- metrics: /metrics parses as Prometheus text, counters move with traffic,
  a token-protected location refuses (403) what it does not allow.

Bounded: each test stops after a fixed number of requests or seconds.
"""
import http.client
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import unittest

from harness import Huella, db1, iso, main, make_curp

ISO = "iso19794-2:2005"


# -- a small Prometheus text format (0.0.4) parser ---------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?'
                     r'\s+(\S+)(?:\s+(-?\d+))?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"'
                    r'\s*(,|$)')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_prometheus(text):
    """Returns {family: {"type": t, "samples": [(name, labels, value)]}};
    raises ValueError on anything the format does not allow."""
    families, current, done = {}, None, set()
    if not text.endswith("\n"):
        raise ValueError("the exposition must end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in _TYPES:
                        raise ValueError(f"line {n}: bad TYPE: {line}")
                    if name in families:
                        raise ValueError(f"line {n}: {name} typed twice")
                    if current:
                        done.add(current)
                    families[name] = {"type": parts[3], "samples": []}
                    current = name
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"line {n}: not a sample: {line!r}")
        name, labels_text, value = m.group(1), m.group(2), m.group(3)
        labels, pos = {}, 0
        if labels_text:
            while pos < len(labels_text):
                lm = _LABEL.match(labels_text, pos)
                if not lm:
                    raise ValueError(f"line {n}: bad labels: {line!r}")
                if lm.group(1) in labels:
                    raise ValueError(f"line {n}: label twice: {line!r}")
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"line {n}: bad value: {line!r}")
        family = name
        if family not in families:
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[:-len(suffix)]
                if name.endswith(suffix) and base in families \
                        and families[base]["type"] in ("histogram",
                                                       "summary"):
                    family = base
                    break
        if family not in families:
            raise ValueError(f"line {n}: {name} has no TYPE")
        if family != current or family in done:
            raise ValueError(f"line {n}: {family} is not contiguous")
        families[family]["samples"].append((name, labels, value))
    return families


def value(families, family, name=None, **labels):
    """The one sample of family (and name) matching labels; None if absent."""
    for n, lab, v in families.get(family, {}).get("samples", []):
        if (name is None or n == name) and all(
                lab.get(k) == str(x) for k, x in labels.items()):
            return v
    return None


def check_histograms(test, families):
    for fam, d in families.items():
        if d["type"] != "histogram":
            continue
        series = {}
        for n, lab, v in d["samples"]:
            key = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
            series.setdefault(key, {"buckets": [], "count": None})
            if n.endswith("_bucket"):
                le = float("inf") if lab["le"] == "+Inf" else float(lab["le"])
                series[key]["buckets"].append((le, v))
            elif n.endswith("_count"):
                series[key]["count"] = v
        for key, s in series.items():
            les = [le for le, _ in s["buckets"]]
            test.assertEqual(les, sorted(les), key)
            counts = [v for _, v in s["buckets"]]
            test.assertEqual(counts, sorted(counts), key)
            test.assertEqual(les[-1], float("inf"), key)
            test.assertEqual(counts[-1], s["count"], key)


# -- helpers -------------------------------------------------------------------

def set_matcher_keys(h, **keys):
    """Rewrites the matcher: section of h's huella.yaml with these keys."""
    with open(os.path.join(os.path.dirname(h.config), "huella.yaml")) as f:
        text = f.read()
    for k in ("allow_debug", "debug_delay_ms"):
        text = re.sub(rf"(?m)^  {k}: .*\n", "", text)
    for k, v in keys.items():
        if k == "map_size_mb":
            text = re.sub(r"(?m)^  map_size_mb: .*$", f"  map_size_mb: {v}",
                          text)
        else:
            text = text.replace("matcher:\n", f"matcher:\n  {k}: {v}\n", 1)
    with open(h.config, "w") as f:
        f.write(text)


def scrape(h, path="/metrics", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read().decode()
        return resp.status, dict(resp.getheaders()), body
    finally:
        conn.close()


def metrics(h):
    st, hdrs, body = scrape(h)
    if st != 200:
        raise AssertionError(f"/metrics answered {st}")
    return parse_prometheus(body)


def restart_huellad(h, sig=signal.SIGTERM):
    h.kill_huellad(sig)
    h.start_huellad()


def fill(h, base, limit, stop_code="storage_full"):
    """Enrolls subjects with one finger each until the store says it is
    full.  Returns (acknowledged [(curp, finger_acked)], the error reply)."""
    acked, template, refusal = [], iso(db1(101, 1)), None
    for n in range(limit):
        c = make_curp(base + n)
        st, hdrs, doc = h.request("POST", "/api/v1/subjects",
                                  {"curp": c, "name": f"Lleno {n}"},
                                  timeout=10)
        if st != 201:
            refusal = (st, hdrs, doc)
            break
        st, hdrs, doc = h.request("PUT", f"/api/v1/subjects/{c}/fingers/2",
                                  {"format": ISO, "data": template},
                                  timeout=10)
        acked.append((c, st == 201))
        if st != 201:
            refusal = (st, hdrs, doc)
            break
    return acked, refusal


class FaultTestBase(unittest.TestCase):

    def tearDown(self):
        logs = self.h.logs()
        self.h.cleanup()
        self.assertNotIn("ERROR: AddressSanitizer", logs)
        self.assertNotIn("runtime error:", logs)

    def assert_storage_full(self, refusal):
        self.assertIsNotNone(refusal, "the store never filled up")
        st, hdrs, doc = refusal
        self.assertEqual(st, 503, doc)
        self.assertEqual(doc["error"]["code"], "storage_full", doc)
        self.assertIn("retry-after", hdrs)

    def assert_intact(self, acked):
        for c, finger in acked:
            st, _, doc = self.h.request("GET", f"/api/v1/subjects/{c}")
            self.assertEqual(st, 200, (c, doc))
            if finger:
                self.assertEqual([f["position"] for f in doc["fingers"]],
                                 [2], c)
        # and the store takes writes again
        c = make_curp(99999)
        st, _, doc = self.h.request("POST", "/api/v1/subjects",
                                    {"curp": c, "name": "Después"})
        self.assertEqual(st, 201, doc)
        st, _, doc = self.h.request("PUT", f"/api/v1/subjects/{c}/fingers/2",
                                    {"format": ISO,
                                     "data": iso(db1(101, 2))})
        self.assertEqual(st, 201, doc)


class SlowMatcherTest(FaultTestBase):

    def setUp(self):
        self.h = Huella(deadline="1s")
        set_matcher_keys(self.h, allow_debug="true", debug_delay_ms=3000)

    def test_deadline_503_no_pileup_then_recovers(self):
        h = self.h
        h.start_huellad()
        h.start_nginx()
        results, lock = [], threading.Lock()

        def call(i):
            t0 = time.monotonic()
            try:
                st, hdrs, doc = h.request(
                    "GET", f"/api/v1/subjects/{make_curp(500 + i)}",
                    timeout=10)
            except OSError as e:
                st, hdrs, doc = f"client error {e}", {}, None
            with lock:
                results.append((st, hdrs, doc, time.monotonic() - t0))

        # two waves of 8: the second finds huellad backed up by the first
        for wave in range(2):
            threads = [threading.Thread(target=call, args=(wave * 8 + i,))
                       for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.assertEqual(len(results), 16)
        for st, hdrs, doc, took in results:
            self.assertEqual(st, 503, doc)
            self.assertEqual(doc["error"]["code"], "matcher_timeout", doc)
            self.assertIn("retry-after", hdrs)
            self.assertLess(took, 1.8, "answered after the deadline")
            self.assertGreater(took, 0.8, "answered before the deadline")

        fam = metrics(h)            # STATS times out too: matcher_up 0
        self.assertEqual(value(fam, "huella_matcher_up"), 0)
        self.assertGreaterEqual(
            value(fam, "huella_matcher_deadline_expiries_total"), 16)
        self.assertGreaterEqual(value(fam, "huella_http_unavailable_total",
                                      reason="matcher_timeout"), 16)
        self.assertGreaterEqual(value(fam, "huella_http_requests_total",
                                      method="GET",
                                      route="/api/v1/subjects/{curp}",
                                      code=503), 16)

        # without the delay the service is normal again, by itself
        set_matcher_keys(h)
        restart_huellad(h, signal.SIGKILL)
        self.assertTrue(h.wait_healthy(timeout=10), h.logs())
        c = make_curp(600)
        t0 = time.monotonic()
        st, _, doc = h.request("POST", "/api/v1/subjects",
                               {"curp": c, "name": "Normal"})
        self.assertEqual(st, 201, doc)
        st, _, doc = h.request("GET", f"/api/v1/subjects/{c}")
        self.assertEqual(st, 200, doc)
        self.assertLess(time.monotonic() - t0, 1.0)

        end = time.time() + 5
        while time.time() < end:
            fam = metrics(h)
            if value(fam, "huella_matcher_restarts_total") >= 1:
                break
            time.sleep(0.3)
        self.assertEqual(value(fam, "huella_matcher_up"), 1)
        self.assertGreaterEqual(value(fam, "huella_matcher_restarts_total"),
                                1)
        self.assertGreaterEqual(
            value(fam, "huella_matcher_deadline_expiries_total"), 16)

    def test_delay_refused_without_allow_debug(self):
        import harness
        set_matcher_keys(self.h, debug_delay_ms=3000)
        out = subprocess.run(
            [os.path.join(harness.BUILD, "bin", "huellad"), "-c",
             self.h.config, "-s", self.h.sock, "-d", self.h.data],
            capture_output=True, text=True, timeout=20)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("debug_delay_ms", out.stderr + out.stdout)
        self.assertIn("allow_debug", out.stderr + out.stdout)


class MapFullTest(FaultTestBase):

    def setUp(self):
        self.h = Huella(deadline="2s")
        set_matcher_keys(self.h, allow_debug="true", map_size_mb=1)
        self.h.start()

    def test_map_full_then_bigger_map_keeps_everything(self):
        h = self.h
        acked, refusal = fill(h, 1000, 4000)
        self.assertTrue(acked)
        self.assert_storage_full(refusal)
        # reads still work while it is full
        st, _, doc = h.request("GET", f"/api/v1/subjects/{acked[0][0]}")
        self.assertEqual(st, 200, doc)
        fam = metrics(h)
        self.assertGreaterEqual(value(fam, "huella_http_unavailable_total",
                                      reason="storage_full"), 1)
        self.assertEqual(value(fam, "huella_lmdb_map_size_bytes"), 1 << 20)
        self.assertGreater(value(fam, "huella_lmdb_map_used_bytes"),
                           (1 << 20) * 0.8)

        set_matcher_keys(h, map_size_mb=64)
        restart_huellad(h)
        self.assertTrue(h.wait_healthy(), h.logs())
        self.assert_intact(acked)
        fam = metrics(h)
        self.assertEqual(value(fam, "huella_lmdb_map_size_bytes"), 64 << 20)
        self.assertEqual(value(fam, "huella_gallery_subjects"),
                         len(acked) + 1)


class DiskFullTest(FaultTestBase):

    def setUp(self):
        self.h = Huella(deadline="2s")
        self.mounted = None
        if os.geteuid() != 0:
            self.h.cleanup()
            self.skipTest("mounting a tmpfs needs root")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755",
                            "tmpfs", self.h.data], capture_output=True,
                           text=True)
        if r.returncode != 0:
            self.h.cleanup()
            self.skipTest("mount not permitted: " + r.stderr.strip())
        self.mounted = self.h.data
        self.h.start()

    def tearDown(self):
        self.h.stop()
        if self.mounted:
            subprocess.run(["umount", self.mounted], capture_output=True)
        super().tearDown()

    def test_disk_full_then_bigger_disk_keeps_everything(self):
        h = self.h
        acked, refusal = fill(h, 3000, 8000)
        self.assertTrue(acked)
        self.assert_storage_full(refusal)
        st, _, doc = h.request("GET", f"/api/v1/subjects/{acked[-1][0]}")
        self.assertEqual(st, 200, doc)

        # stop huellad, move the environment to a bigger disk, start again
        h.kill_huellad(signal.SIGTERM)
        bigger = os.path.join(h.dir, "data-bigger")
        shutil.copytree(self.mounted, bigger)
        subprocess.run(["umount", self.mounted], check=True)
        self.mounted = None
        h.data = bigger
        h.start_huellad()
        self.assertTrue(h.wait_healthy(), h.logs())
        self.assert_intact(acked)


class MetricsTest(FaultTestBase):

    def setUp(self):
        self.h = Huella(deadline="2s")
        self.token = "m" * 8 + os.urandom(12).hex()
        path = os.path.join(self.h.dir, "metrics.token")
        with open(path, "w") as f:
            f.write(self.token + "\n")
        os.chmod(path, 0o600)
        with open(self.h.nginx_conf) as f:
            conf = f.read()
        conf = conf.replace("        location /api/ {", (
            "        location = /metrics-token {\n"
            "            huella_metrics on;\n"
            "            huella_metrics_allow none;\n"
            f"            huella_metrics_token_file {path};\n"
            "        }\n\n"
            "        location /api/ {"), 1)
        with open(self.h.nginx_conf, "w") as f:
            f.write(conf)
        self.h.start()

    def test_scrape_parses_and_counters_move(self):
        h = self.h
        st, hdrs, body = scrape(h)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["Content-Type"],
                         "text/plain; version=0.0.4; charset=utf-8")
        before = parse_prometheus(body)
        check_histograms(self, before)
        for fam in ("huella_http_requests_total",
                    "huella_http_request_duration_seconds",
                    "huella_http_unavailable_total",
                    "huella_matcher_deadline_expiries_total",
                    "huella_logins_total", "huella_matcher_up",
                    "huella_matcher_slots_in_use",
                    "huella_matcher_queue_depth",
                    "huella_matcher_restarts_total",
                    "huella_gallery_subjects", "huella_gallery_templates",
                    "huella_matcher_comparisons_total",
                    "huella_matcher_requests_total",
                    "huella_lmdb_map_size_bytes",
                    "huella_lmdb_map_used_bytes"):
            self.assertIn(fam, before)
        self.assertEqual(value(before, "huella_matcher_up"), 1)

        route = "/api/v1/subjects/{curp}"
        c = make_curp(700)
        h.request("POST", "/api/v1/subjects", {"curp": c, "name": "Métrica"})
        h.request("PUT", f"/api/v1/subjects/{c}/fingers/1",
                  {"format": ISO, "data": iso(db1(102, 1))})
        for _ in range(3):
            self.assertEqual(h.request("GET", f"/api/v1/subjects/{c}")[0],
                             200)
        st, _, doc = h.request("POST", "/api/v1/verify", {
            "curp": c, "finger": {"format": ISO, "data": iso(db1(102, 2))}})
        self.assertEqual(st, 200, doc)
        after = parse_prometheus(scrape(h)[2])
        check_histograms(self, after)

        def get(fam, fams, **lab):
            return value(fams, fam, **lab) or 0

        self.assertEqual(
            get("huella_http_requests_total", after, method="GET",
                route=route, code=200)
            - get("huella_http_requests_total", before, method="GET",
                  route=route, code=200), 3)
        self.assertEqual(get("huella_http_requests_total", after,
                             method="PUT",
                             route="/api/v1/subjects/{curp}/fingers/"
                                   "{position}", code=201), 1)
        self.assertGreaterEqual(
            value(after, "huella_http_request_duration_seconds",
                  "huella_http_request_duration_seconds_count",
                  method="GET", route=route), 3)
        self.assertEqual(get("huella_gallery_subjects", after),
                         get("huella_gallery_subjects", before) + 1)
        self.assertEqual(get("huella_gallery_templates", after),
                         get("huella_gallery_templates", before) + 1)
        self.assertGreater(get("huella_matcher_comparisons_total", after),
                           get("huella_matcher_comparisons_total", before))
        self.assertGreater(get("huella_matcher_requests_total", after,
                               op="subject_get"),
                           get("huella_matcher_requests_total", before,
                               op="subject_get"))
        self.assertGreater(get("huella_metrics_scrapes_total", after),
                           get("huella_metrics_scrapes_total", before))
        # the route label stays bounded: no CURP in any label
        for _, lab, _ in after["huella_http_requests_total"]["samples"]:
            self.assertNotIn(c, lab["route"])

    def test_access_is_restricted(self):
        h = self.h
        st, _, _ = scrape(h, "/metrics-token")
        self.assertEqual(st, 403)
        st, _, _ = scrape(h, "/metrics-token",
                          {"Authorization": "Bearer " + "x" * 32})
        self.assertEqual(st, 403)
        st, _, _ = scrape(h, "/metrics-token",
                          {"Authorization": "Bearer " + self.token[:-1]})
        self.assertEqual(st, 403)
        st, _, body = scrape(h, "/metrics-token",
                             {"Authorization": "Bearer " + self.token})
        self.assertEqual(st, 200)
        fam = parse_prometheus(body)
        self.assertGreaterEqual(value(fam, "huella_metrics_denied_total"), 3)
        conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
        conn.request("POST", "/metrics", body=b"")
        self.assertEqual(conn.getresponse().status, 405)
        conn.close()

    def test_nginx_t_catches_bad_directives(self):
        on = "huella_metrics on;\n"
        for new, why in ((on + "huella_metrics_allow 300.1.1.1;\n",
                          "invalid address"),
                         (on + "huella_metrics_token_file /nonexistent/x;\n",
                          "failed"),
                         ("huella_metrics maybe;\n", "invalid value")):
            with open(self.h.nginx_conf) as f:
                conf = f.read()
            conf = conf.replace(on, new, 1)
            path = os.path.join(self.h.dir, "bad.conf")
            with open(path, "w") as f:
                f.write(conf)
            env = dict(os.environ)
            if self.h.preload:      # an ASan-built module
                env["LD_PRELOAD"] = self.h.preload
                env["ASAN_OPTIONS"] = "detect_leaks=0"
            r = subprocess.run(["/usr/sbin/nginx", "-t", "-p",
                                os.path.join(self.h.dir, "nginx"), "-c",
                                path, "-e", "/dev/null"],
                               capture_output=True, text=True, timeout=20,
                               env=env)
            self.assertNotEqual(r.returncode, 0, new)
            self.assertIn(why, r.stderr, new)


if __name__ == "__main__":
    main()
