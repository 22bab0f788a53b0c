#!/usr/bin/env python3
"""Starts a Huella for the browser tests and keeps it up until told to stop.

    python3 tests/browser/serve.py            real huellad + nginx with the
                                              module, from $HUELLA_BUILD
                                              (default build/), via
                                              tests/integration/harness.py
    python3 tests/browser/serve.py --static   development fallback only: a
                                              Python server over html/ with
                                              nginx.conf.in's headers and a
                                              stub /healthz (matcher "up")

Prints `URL=http://127.0.0.1:PORT`, `TOKEN=...` (the admin bearer token;
empty in --static mode) and `EFIRMA_CA=DIR` (a test certification authority
the real system trusts for e.firma login: DIR/ca.pem and DIR/ca.key; empty
in --static mode), after `OUTBOX=DIR` (where the real system writes its
mail, recovery links included; empty in --static mode), on stdout, one per
line, then waits until stdin is closed
or SIGTERM/SIGINT arrives, and stops what it started.
"""
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def nginx_headers():
    """The `add_header NAME VALUE always;` lines of config/nginx.conf.in, so
    the static server sends the same CSP as the real one."""
    with open(os.path.join(ROOT, "config", "nginx.conf.in")) as f:
        conf = f.read()
    out = []
    for m in re.finditer(r'^\s*add_header\s+(\S+)\s+("([^"]*)"|(\S+?))'
                         r'(\s+always)?\s*;', conf, re.M):
        out.append((m.group(1), m.group(3) if m.group(3) is not None
                    else m.group(4)))
    return out


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    headers_to_add = []

    def __init__(self, *a, **kw):
        super().__init__(*a, directory=os.path.join(ROOT, "html"), **kw)

    def end_headers(self):
        for k, v in self.headers_to_add:
            self.send_header(k, v)
        super().end_headers()

    def do_GET(self):
        if self.path.split("?")[0] == "/healthz":
            body = json.dumps({"status": "ok", "matcher": "up",
                               "subjects": 0, "templates": 0}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, fmt, *args):
        if os.environ.get("HUELLA_SERVE_LOG"):
            super().log_message(fmt, *args)


class StaticSystem:
    def start(self):
        StaticHandler.headers_to_add = nginx_headers()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     StaticHandler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.token = ""
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    def cleanup(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        return 0

    def logs(self):
        return ""


def make_test_ca():
    """A CA for the e.firma tests, in the SAT's shape (v3, CA:TRUE)."""
    d = tempfile.mkdtemp(prefix="huella-browser-ca-")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-days", "30", "-sha256",
         "-subj", "/CN=AC DE PRUEBAS DEL PORTAL/O=Huella pruebas/C=MX",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", os.path.join(d, "ca.key"),
         "-out", os.path.join(d, "ca.pem")],
        check=True, capture_output=True)
    return d


def main():
    static = "--static" in sys.argv[1:]
    ca_dir = ""
    if static:
        system = StaticSystem()
    else:
        try:
            from harness import Huella  # noqa: E402 (needs sys.path above)
            ca_dir = make_test_ca()
            system = Huella(yaml_overrides={
                "identity.trusted_ca_files": [os.path.join(ca_dir, "ca.pem")],
            })
            # As root, nginx's workers run as nobody and must reach
            # huellad's socket inside the harness's mkdtemp (0700) folder:
            # let them traverse it (no listing; admin.token stays 0600).
            os.chmod(system.dir, 0o711)
        except Exception as e:  # noqa: BLE001
            print(f"serve.py: cannot set up a Huella from "
                  f"{os.environ.get('HUELLA_BUILD', 'build/')}: {e} "
                  f"(build it with ./build.sh; HUELLA_BROWSER_STATIC=1 "
                  f"tests/browser/run.sh serves html/ alone for development)",
                  file=sys.stderr)
            if ca_dir:
                shutil.rmtree(ca_dir, ignore_errors=True)
            return 1
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        system.start()
    except Exception as e:  # noqa: BLE001 -- report and clean up
        print(f"serve.py: could not start: {e}", file=sys.stderr)
        print(system.logs(), file=sys.stderr)
        system.cleanup()
        if ca_dir:
            shutil.rmtree(ca_dir, ignore_errors=True)
        return 1

    print(f"URL=http://127.0.0.1:{system.port}", flush=True)
    print(f"TOKEN={system.token}", flush=True)
    print(f"OUTBOX={getattr(system, 'outbox', '')}", flush=True)
    print(f"EFIRMA_CA={ca_dir}", flush=True)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stop.set()
    threading.Thread(target=watch_stdin, daemon=True).start()

    while not stop.wait(0.5):
        pass
    logs = system.logs()
    rc = system.cleanup() or 0
    if ca_dir:
        shutil.rmtree(ca_dir, ignore_errors=True)
    if "ERROR: AddressSanitizer" in logs or "runtime error:" in logs:
        print(logs, file=sys.stderr)
        return 1
    if rc not in (0, None):
        print(f"serve.py: huellad exited with {rc}", file=sys.stderr)
        print(logs, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
