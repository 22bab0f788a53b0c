"""`./build.sh run` as a new user meets it: tools/huella-run.sh (what
`run` execs after building) on free ports with its runtime directory in a
temp dir, against the release build.  Demo data and accounts load, the
protected upstream sees the identity, huellad is restarted by the
supervisor, the demo kiosk punches through its capture device agent
(tools/kiosk-agent.py behind /kiosk-agent/), and SIGTERM or SIGINT stops
every process it started."""
import base64
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest

import socket

from harness import ROOT, main

RELEASE = os.path.join(ROOT, "build")


def free_ports():
    """A base port with base+1 (the echo upstream) free, plus two more
    distinct free ports (TLS, kiosk agent), all held while being chosen so
    that no two coincide."""
    held = []
    try:
        while True:
            a = socket.socket()
            a.bind(("127.0.0.1", 0))
            b = socket.socket()
            try:
                b.bind(("127.0.0.1", a.getsockname()[1] + 1))
            except OSError:
                a.close()
                b.close()
                continue
            held += [a, b]
            break
        for _ in range(2):
            c = socket.socket()
            c.bind(("127.0.0.1", 0))
            held.append(c)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


class RunModeTest(unittest.TestCase):

    def setUp(self):
        self.var = tempfile.mkdtemp(prefix="huella-run-")
        os.chmod(self.var, 0o755)
        self.port, _, tls_port, agent_port = free_ports()
        self.tls_port = tls_port
        env = dict(os.environ, HUELLA_VAR=self.var,
                   HUELLA_PORT=str(self.port),
                   HUELLA_TLS_PORT=str(tls_port),
                   HUELLA_AGENT_PORT=str(agent_port),
                   HUELLA_BIN=os.path.join(RELEASE, "bin"),
                   HUELLA_MODULE=os.path.join(
                       RELEASE, "modules", "ngx_http_huella_module.so"))
        env.pop("LD_PRELOAD", None)
        # The upstream echo listens on HUELLA_PORT + 1: make sure it is free.
        self.log = open(os.path.join(self.var, "run.out"), "wb")
        # `./build.sh run &` in a script: SIGINT ignored from the start
        preexec = None
        if self._testMethodName == "test_sigint_stops_a_background_run":
            def preexec():
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "tools", "huella-run.sh")], env=env,
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
            preexec_fn=preexec)

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        shutil.rmtree(self.var, ignore_errors=True)

    def req(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request(method, path, json.dumps(body) if body else None, h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def wait_up(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            try:
                st, _, body = self.req("GET", "/healthz")
                if st == 200 and os.path.exists(
                        os.path.join(self.var, "data", ".demo-loaded")):
                    return json.loads(body)
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        logs = []
        for name in ("run.out", "log/huellad.log", "log/nginx-error.log",
                     "log/kiosk-agent.log"):
            try:
                with open(os.path.join(self.var, name), errors="replace") as f:
                    logs.append(f"--- {name}\n" + f.read()[-3000:])
            except OSError:
                pass
        self.fail("run mode did not come up:\n" + "\n".join(logs))

    def test_run_mode_end_to_end(self):
        doc = self.wait_up()
        self.assertEqual(doc["matcher"], "up")
        self.assertGreaterEqual(doc["subjects"], 10)
        token_path = os.path.join(self.var, "admin.token")
        self.assertEqual(os.stat(token_path).st_mode & 0o777, 0o600)
        with open(token_path) as f:
            token = f.read().strip()
        st, _, body = self.req("GET", "/api/v1/subjects/GARJ850312HDFRMN07",
                               headers={"Authorization": "Bearer " + token})
        self.assertEqual(st, 200)
        self.assertEqual(len(json.loads(body)["fingers"]), 1)

        # A demo account logs in; the protected upstream sees who it is.
        st, h, body = self.req("POST", "/api/v1/session", {
            "user": "GARJ850312HDFRMN07",
            "password": "Trabajador-Huella-2026"})
        self.assertEqual(st, 201, body)
        cookie = h["set-cookie"].split(";")[0]
        st, _, body = self.req("GET", "/protected/whoami",
                               headers={"Cookie": cookie})
        self.assertEqual(st, 200)
        self.assertIn(b"Remote-User: GARJ850312HDFRMN07", body)
        self.assertNotIn("secure", h["set-cookie"].lower())
        self.tls_login()

        # Recovery mail lands in this run's own var/ (HUELLA_VAR), not in
        # the checkout's.
        st, _, body = self.req("POST", "/api/v1/recovery", {
            "user": "GARJ850312HDFRMN07", "answer": "Firulais"})
        self.assertEqual(st, 202, body)
        outbox = os.path.join(self.var, "outbox")
        end = time.time() + 10
        while time.time() < end and not os.listdir(outbox):
            time.sleep(0.1)
        self.assertTrue(os.listdir(outbox), "no recovery mail in " + outbox)

        self.kiosk_punch()
        self.load_kit_punches()
        self.demo_roles()

        # The supervisor brings huellad back after a kill -9.
        with open(os.path.join(self.var, "huellad.pid")) as f:
            old = int(f.read())
        os.kill(old, signal.SIGKILL)
        end = time.time() + 15
        back = False
        while time.time() < end and not back:
            time.sleep(0.1)
            try:
                st, _, body = self.req("GET", "/healthz")
                back = st == 200 and json.loads(body)["matcher_pid"] != old
            except OSError:
                pass
        self.assertTrue(back, "huellad was not restarted")

        # SIGTERM stops everything it started.
        pids = []
        for name in ("huellad.pid", "nginx.pid", "kiosk-agent.pid"):
            with open(os.path.join(self.var, name)) as f:
                pids.append(int(f.read()))
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=30), 0)
        time.sleep(0.5)
        self.assertEqual([p for p in pids if alive(p)], [])

    def test_sigint_stops_a_background_run(self):
        """Started as a script's background job, which inherits SIGINT
        ignored, SIGINT still stops every process it started."""
        self.wait_up()
        agent = os.path.join(self.var, "kiosk-agent.pid")
        end = time.time() + 30      # the agent starts after the demo data
        while not os.path.exists(agent) and time.time() < end:
            time.sleep(0.1)
        pids = []
        for name in ("huellad.pid", "nginx.pid", "kiosk-agent.pid"):
            with open(os.path.join(self.var, name)) as f:
                pids.append(int(f.read()))
        self.proc.send_signal(signal.SIGINT)
        self.assertEqual(self.proc.wait(timeout=30), 0)
        time.sleep(0.5)
        self.assertEqual([p for p in pids if alive(p)], [])

    def demo_roles(self):
        """Every account of the README's "Demo accounts" signs in, and the
        demo supervisor has a team to try the supervisor pages with."""
        cookies = {}
        with open(os.path.join(ROOT, "config", "demo", "accounts.tsv")) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                curp, _, _, password, roles, _ = line.rstrip("\n").split(
                    "\t")
                st, h, body = self.req("POST", "/api/v1/session", {
                    "user": curp, "password": password})
                self.assertEqual(st, 201, (curp, body))
                cookies[roles] = h["set-cookie"].split(";")[0]
        week = "from=2025-04-07&to=2025-04-13"
        sup = {"Cookie": cookies["worker,supervisor"]}
        st, _, body = self.req("GET", "/api/v1/reports/attendance?"
                               + week + "&scope=team", headers=sup)
        self.assertEqual(st, 200, body)
        team = {p["curp"] for p in json.loads(body)["people"]}
        self.assertIn("GARJ850312HDFRMN07", team)   # the demo worker
        self.assertIn("LOHM900725MJCPRR00", team)   # down the chain
        st, _, body = self.req("GET", "/api/v1/subjects/GARJ850312HDFRMN07/"
                               "attendance?" + week, headers=sup)
        self.assertEqual(st, 200, body)

    def tls_login(self):
        """Under TLS the session cookie is Secure and HSTS is sent."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", self.tls_port,
                                        timeout=10, context=ctx)
        c.request("POST", "/api/v1/session", json.dumps({
            "user": "GARJ850312HDFRMN07",
            "password": "Trabajador-Huella-2026"}),
            {"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        h = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        self.assertEqual(r.status, 201, body)
        attrs = [a.strip().lower() for a in h["set-cookie"].split(";")]
        self.assertIn("secure", attrs)
        self.assertIn("httponly", attrs)
        self.assertIn("samesite=strict", attrs)
        self.assertIn("max-age=", h.get("strict-transport-security", ""))

    def load_kit_punches(self):
        """The ops load kit (bench/load/run.sh, docs/ops.md) drives signed
        kiosk punches as the run's demo kiosk: a table row without errors
        (the figures themselves are not asserted)."""
        env = dict(os.environ, HUELLA_KIOSKS=os.path.join(self.var, "kiosk"),
                   HUELLACTL=os.path.join(RELEASE, "bin", "huellactl"))
        r = subprocess.run(
            [os.path.join(ROOT, "bench", "load", "run.sh"), "-u",
             f"http://127.0.0.1:{self.port}", "-d", "1s", "-c", "4",
             "-n", "100", "-s", "punch"], env=env, capture_output=True,
            text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rows = [line.split() for line in r.stdout.splitlines()
                if line.startswith("punch ")]
        self.assertEqual(len(rows), 1, r.stdout + r.stderr)
        # scenario req/s p50 p90 p99 non2xx sockerr
        self.assertEqual(len(rows[0]), 7, r.stdout)
        self.assertGreater(float(rows[0][1]), 0, r.stdout)
        self.assertEqual(rows[0][5:], ["0", "0"], r.stdout)

    def agent(self, body, raw=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", "/kiosk-agent/v1/punch",
                  raw if raw is not None else json.dumps(body), h)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data

    def kiosk_punch(self):
        """The kiosk page's request through nginx to the agent, which signs
        it with the kiosk key registered at start and forwards it."""
        kiosk = os.path.join(self.var, "kiosk")
        with open(os.path.join(kiosk, "device_id")) as f:
            self.assertRegex(f.read().strip(), r"^dev_[0-9a-f]{16}$")
        self.assertEqual(os.stat(os.path.join(kiosk, "device.key")).st_mode
                         & 0o077, 0)
        # The agent starts once the kiosk is registered and mapped to its
        # site, after the demo data: until it listens nginx answers 502.
        for _ in range(150):
            st, doc = self.agent({"matricula": "M0002"})
            if st != 502:
                break
            time.sleep(0.1)
        # The agent picks the demo finger of M0002 (102_2.iso, a second
        # impression of María's enrolled 102_1.iso).
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["name"], "María López Hernández")
        self.assertIn(doc["kind"], ("entrada", "salida"))
        self.assertRegex(doc["kiosk"], r"^dev_[0-9a-f]{16}$")
        # The page's simulated reader sends the template itself (1:N).
        with open(os.path.join(ROOT, "config", "demo", "fingers",
                               "103_2.iso"), "rb") as f:
            tpl = base64.b64encode(f.read()).decode()
        st, doc = self.agent({"finger": {"format": "iso19794-2:2005",
                                         "data": tpl}})
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["name"], "Carlos Martínez Sánchez")
        self.assertIn(doc["kind"], ("entrada", "salida"))
        # the demo kiosk belongs to the demo site (its roster first)
        self.assertEqual(doc.get("site"), "central", doc)
        # Strict input: the agent refuses before signing anything.
        for body, code in (({"matricula": "M 2"}, "invalid_matricula"),
                           ({"x": 1}, "unknown_field"),
                           ({"finger": {"format": "iso19794-2:2005",
                                        "data": "@@"}}, "invalid_base64")):
            st, doc = self.agent(body)
            self.assertEqual((st, doc["error"]["code"]), (422, code))
        st, doc = self.agent(None, raw="{")
        self.assertEqual((st, doc["error"]["code"]), (400, "invalid_json"))
        st, doc = self.agent(None, raw=json.dumps({"matricula": "M0002"}),
                             headers={"Content-Type": "text/plain"})
        self.assertEqual(st, 415)


if __name__ == "__main__":
    main()
