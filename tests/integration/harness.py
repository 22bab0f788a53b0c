"""Starts a real huellad and a real nginx (Debian's binary with our module)
on free loopback ports in a temporary directory, and talks HTTP to them.

Binaries come from $HUELLA_BUILD (build/asan under ./build.sh test, else
build/).  Every process is started here and stopped here, by PID.
"""
import base64
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get("HUELLA_BUILD", os.path.join(ROOT, "build"))
SHARED = os.environ.get("HUELLA_SHARED",
                        os.path.join(os.path.dirname(ROOT), "shared"))
DATA = os.path.join(SHARED, "data")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import curp as curp_tool  # noqa: E402


_given_ports = set()


def free_port():
    """A loopback port free now and not handed out before in this process
    (a port given but not yet bound by its server is otherwise free)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def iso(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def db1(finger, impression):
    return os.path.join(DATA, "fvc2002", "DB1_B", f"{finger}_{impression}.iso")


def make_curp(n):
    return curp_tool.synthetic(n)


def override_yaml(text, overrides):
    """Sets dotted keys ("identity.argon2.t_cost") of a block-style YAML
    text to values (written as JSON, which is YAML flow style); a key must
    exist already.  Comments and layout are kept."""
    lines = text.split("\n")
    for dotted, value in overrides.items():
        path = dotted.split(".")
        depth, indent, found = 0, -1, False
        for i, line in enumerate(lines):
            stripped = line.lstrip(" ")
            if not stripped or stripped.startswith("#"):
                continue
            ind = len(line) - len(stripped)
            if depth and ind <= indent:
                break  # left the section we were in
            key = stripped.split(":", 1)[0]
            if key == path[depth] and ":" in stripped:
                if depth == len(path) - 1:
                    lines[i] = " " * ind + key + ": " + json.dumps(value)
                    found = True
                    break
                depth, indent = depth + 1, ind
        if not found:
            raise KeyError(f"{dotted} not in the YAML configuration")
    return "\n".join(lines)


def _worker_user_line(var):
    """As root, nginx's workers default to `nobody`: keep that where nobody
    can read the portal and the runtime dir (as in tools/huella-run.sh),
    else run them as root (a checkout inside a 0700 directory)."""
    if os.geteuid() != 0:
        return ""
    for path, flag in ((os.path.join(ROOT, "html", "index.html"), "-r"),
                       (var, "-x")):
        r = subprocess.run(["runuser", "-u", "nobody", "--", "test", flag,
                            path], capture_output=True)
        if r.returncode != 0:
            return "user root;"
    return ""


def _asan_preload(module):
    """An ASan-built module needs the runtime preloaded into nginx."""
    try:
        out = subprocess.run(["ldd", module], capture_output=True,
                             text=True).stdout
    except OSError:
        return None
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        for line in out.splitlines():
            if name in line and "=>" in line:
                libs.append(line.split("=>")[1].split()[0])
    return ":".join(libs) or None


class Huella:
    def __init__(self, deadline="2s", extra_yaml="", yaml_overrides=None):
        self.dir = tempfile.mkdtemp(prefix="huella-it-")
        # nginx workers run unprivileged (nobody) when we are root: they must
        # reach the socket inside.
        os.chmod(self.dir, 0o755)
        self.var = self.dir
        self.port = free_port()
        self.upstream_port = free_port()
        self.agent_port = free_port()   # /kiosk-agent/: nothing listens
        self.outbox = os.path.join(self.dir, "outbox")
        self.tls_port = free_port()
        self.sock = os.path.join(self.dir, "huellad.sock")
        self.data = os.path.join(self.dir, "data")
        self.token = base64.b32encode(os.urandom(20)).decode().strip("=")
        self.huellad = None
        self.nginx = None
        os.makedirs(os.path.join(self.dir, "log"))
        os.makedirs(os.path.join(self.dir, "nginx"))
        os.makedirs(os.path.join(self.dir, "tls"))
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", "/CN=localhost",
             "-keyout", os.path.join(self.dir, "tls", "server.key"),
             "-out", os.path.join(self.dir, "tls", "server.crt")],
            check=True, capture_output=True)
        os.makedirs(self.data)
        os.makedirs(self.outbox)
        with open(os.path.join(self.dir, "admin.token"), "w") as f:
            f.write(self.token + "\n")
        os.chmod(os.path.join(self.dir, "admin.token"), 0o600)
        with open(os.path.join(ROOT, "config", "huella.yaml")) as f:
            yaml = f.read()
        # identity files of this system, not the checkout's var/
        overrides = {
            "identity.mail.outbox_dir": self.outbox,
            "identity.bootstrap_token_file":
                os.path.join(self.dir, "admin.token"),
        }
        overrides.update(yaml_overrides or {})
        yaml = override_yaml(yaml, overrides)
        self.config = os.path.join(self.dir, "huella.yaml")
        with open(self.config, "w") as f:
            f.write(yaml + extra_yaml)
        module = os.path.join(BUILD, "modules", "ngx_http_huella_module.so")
        with open(os.path.join(ROOT, "config", "nginx.conf.in")) as f:
            conf = f.read()
        conf = (conf.replace("@MODULE@", module).replace("@VAR@", self.dir)
                .replace("@ROOT@", ROOT).replace("@PORT@", str(self.port))
                .replace("@UPSTREAM_PORT@", str(self.upstream_port))
                .replace("@AGENT_PORT@", str(self.agent_port))
                .replace("@TLS_PORT@", str(self.tls_port))
                .replace("@USER_LINE@", _worker_user_line(self.dir))
                .replace("huella_deadline 2s;", f"huella_deadline {deadline};"))
        self.nginx_conf = os.path.join(self.dir, "nginx.conf")
        with open(self.nginx_conf, "w") as f:
            f.write(conf)
        self.preload = _asan_preload(module)

    # -- processes ---------------------------------------------------------
    def start_huellad(self, wait=True):
        log = open(os.path.join(self.dir, "log", "huellad.log"), "ab")
        self.huellad = subprocess.Popen(
            [os.path.join(BUILD, "bin", "huellad"), "-c", self.config,
             "-s", self.sock, "-d", self.data,
             "-p", os.path.join(self.dir, "huellad.pid")],
            stdout=log, stderr=log, cwd=ROOT)
        if wait:
            # huellad writes its pid file once the socket accepts.
            pidfile = os.path.join(self.dir, "huellad.pid")
            for _ in range(400):
                if self.huellad.poll() is not None:
                    raise RuntimeError("huellad exited: " + self.logs())
                try:
                    with open(pidfile) as f:
                        if int(f.read().strip() or 0) == self.huellad.pid:
                            break
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)
        return self.huellad

    def kill_huellad(self, sig=signal.SIGKILL):
        if self.huellad and self.huellad.poll() is None:
            self.huellad.send_signal(sig)
            self.huellad.wait(timeout=30)

    def start_nginx(self):
        env = dict(os.environ)
        if self.preload:
            env["LD_PRELOAD"] = self.preload
            env["ASAN_OPTIONS"] = "detect_leaks=0:halt_on_error=1"
        log = open(os.path.join(self.dir, "log", "nginx.out"), "ab")
        self.nginx = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", os.path.join(self.dir, "nginx"),
             "-c", self.nginx_conf, "-e",
             os.path.join(self.dir, "log", "nginx-error.log"),
             "-g", "daemon off;"], stdout=log, stderr=log, env=env)
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                if self.nginx.poll() is not None:
                    raise RuntimeError("nginx exited: " + self.logs())
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen: " + self.logs())

    def wait_healthy(self, timeout=10, in_a_row=5):
        """True once /healthz answers 200 in_a_row times running: after a
        huellad restart each nginx worker reattaches on its own, and a
        single 200 may come from the one worker that already has (seen in
        CI: 200, then 503 from the other worker)."""
        end = time.time() + timeout
        good = 0
        while time.time() < end:
            try:
                st, _, _ = self.request("GET", "/healthz", auth=False,
                                        timeout=2)
                good = good + 1 if st == 200 else 0
                if good >= in_a_row:
                    return True
            except OSError:
                good = 0
            time.sleep(0.05)
        return False

    def start(self):
        self.start_huellad()
        self.start_nginx()
        if not self.wait_healthy():
            raise RuntimeError("not healthy: " + self.logs())
        return self

    def stop(self):
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        if self.huellad and self.huellad.poll() is None:
            self.huellad.send_signal(signal.SIGTERM)
            try:
                self.huellad.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.huellad.kill()
                self.huellad.wait()

    def cleanup(self):
        self.stop()
        rc = self.huellad.returncode if self.huellad else 0
        if os.environ.get("HUELLA_KEEP_TMP"):
            print("kept", self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc

    def logs(self):
        out = []
        for p in sorted(glob.glob(os.path.join(self.dir, "log", "*"))):
            with open(p, errors="replace") as f:
                out.append(f"--- {p}\n" + f.read()[-4000:])
        return "\n".join(out)

    # -- HTTP ----------------------------------------------------------------
    def request(self, method, path, body=None, auth=True, headers=None,
                timeout=10, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        h = {}
        if auth:
            h["Authorization"] = "Bearer " + self.token
        payload = raw
        if body is not None:
            payload = json.dumps(body).encode()
        if payload is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        try:
            conn.request(method, path, body=payload, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        doc = None
        if data and "json" in hdrs.get("content-type", ""):
            doc = json.loads(data)
        return resp.status, hdrs, doc


def wait_stopped(pid, timeout=5):
    """True once every thread of pid is stopped (SIGSTOP took effect)."""
    end = time.time() + timeout
    while time.time() < end:
        states = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
        if states and all(st in ("T", "t") for st in states):
            return True
        time.sleep(0.01)
    return False


class HuellaTestCase(unittest.TestCase):
    """One system for the whole class."""
    deadline = "2s"

    @classmethod
    def setUpClass(cls):
        cls.h = Huella(deadline=cls.deadline)
        try:
            cls.h.start()
        except Exception:
            print(cls.h.logs(), file=sys.stderr)
            cls.h.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        logs = cls.h.logs()
        rc = cls.h.cleanup()
        if "ERROR: AddressSanitizer" in logs or "runtime error:" in logs:
            print(logs, file=sys.stderr)
            raise AssertionError("sanitizer report in logs")
        if rc not in (0, None):
            print(logs, file=sys.stderr)
            raise AssertionError(f"huellad exited with {rc}")


def main():
    """unittest main that ends with the plain 'N passed, N failed' line."""
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if result.wasSuccessful() else 1)
