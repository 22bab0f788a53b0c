#!/usr/bin/env python3
"""The capture device agent of a demo kiosk (html/kiosk/README.md).

A small HTTP server on 127.0.0.1 that the kiosk page reaches at the
same-origin path /kiosk-agent/v1/punch (nginx proxies /kiosk-agent/ here).
It holds the kiosk's device key (the browser never does), and for each

    POST /kiosk-agent/v1/punch
    {"matricula"?: "M0002", "finger"?: {"format": "iso19794-2:2005",
                                        "data": "<base64>"}}

it builds the punch body {"finger": {...}, "matricula"?}, signs it with
RFC 9421 through `huellactl device sign` (fresh nonce each time,
docs/devices.md "Signing profile"), sends it to POST /api/v1/punches of
Huella and hands back Huella's status and JSON unchanged (plus
Retry-After).

There is no fingerprint reader in the demo: the finger is the one the
page's simulated reader sent (html/kiosk/agent-sim.js), or, when the page
sends none, a second impression from --demo-fingers (NNN_2.iso): matrícula
M000N picks subject 10N, else one at random.  --no-page-finger refuses
fingers from the page (an agent with a real reader would).

Python 3 standard library only.  The agent's own refusals use Huella's
error shape {"error": {"code", "message", "field"?}}.

    tools/kiosk-agent.py --port 8082 --huella http://127.0.0.1:8080 \\
        --key var/kiosk/device.key --device-id-file var/kiosk/device_id
"""
import argparse
import base64
import binascii
import http.client
import http.server
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse

PATH = "/kiosk-agent/v1/punch"
API_PATH = "/api/v1/punches"
MAX_BODY = 64 * 1024           # the page's request (a template is < 2 KiB)
MAX_TEMPLATE = 16 * 1024       # decoded ISO 19794-2 bytes
MAX_ANSWER = 256 * 1024        # Huella's answer (a punch with its receipt)
FORMAT = "iso19794-2:2005"
MATRICULA = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
DEVICE_ID = re.compile(r"^dev_[0-9a-f]{16}$")
DEMO_SUBJECTS = [str(n) for n in range(101, 111)]


class Refusal(Exception):
    def __init__(self, status, code, message, field=None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = \
            status, code, message, field

    def doc(self):
        e = {"code": self.code, "message": self.message}
        if self.field:
            e["field"] = self.field
        return {"error": e}


def log(msg):
    print(f"kiosk-agent: {msg}", file=sys.stderr, flush=True)


class Agent:
    def __init__(self, args):
        u = urllib.parse.urlsplit(args.huella)
        if u.scheme not in ("http", "https") or not u.hostname \
                or u.path not in ("", "/") or u.query or u.fragment:
            raise SystemExit(f"--huella: expected http(s)://host[:port], "
                             f"got {args.huella!r}")
        self.scheme, self.host = u.scheme, u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.key = args.key
        if not os.access(self.key, os.R_OK):
            raise SystemExit(f"--key: cannot read {self.key}")
        keyid = args.keyid
        if not keyid:
            with open(args.device_id_file) as f:
                keyid = f.read().strip()
        if not DEVICE_ID.match(keyid):
            raise SystemExit(f"device id {keyid!r} is not dev_ + 16 hex")
        self.keyid = keyid
        self.huellactl = args.huellactl
        if not (os.access(self.huellactl, os.X_OK)
                or shutil.which(self.huellactl)):
            raise SystemExit(f"--huellactl: {self.huellactl} not executable")
        self.timeout = args.timeout
        self.page_finger = not args.no_page_finger
        self.demo = {}
        if args.demo_fingers:
            for n in DEMO_SUBJECTS:
                p = os.path.join(args.demo_fingers, f"{n}_2.iso")
                if os.path.isfile(p):
                    with open(p, "rb") as f:
                        self.demo[n] = base64.b64encode(f.read()).decode()
        if not self.demo and not self.page_finger:
            raise SystemExit("no finger source: give --demo-fingers or "
                             "allow the page's finger")
        self.tmp = tempfile.mkdtemp(prefix="kiosk-agent-")
        self.slots = threading.BoundedSemaphore(args.concurrency)

    # -- the page's request --------------------------------------------------
    def body_from(self, raw):
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Refusal(400, "invalid_json", "the body is not JSON")
        if not isinstance(doc, dict):
            raise Refusal(400, "invalid_json", "the body is not an object")
        for k in doc:
            if k not in ("matricula", "finger"):
                raise Refusal(422, "unknown_field",
                              f"unexpected field {k!r}", k)
        out = {}
        m = doc.get("matricula")
        if m is not None and m != "":
            if not isinstance(m, str) or not MATRICULA.match(m):
                raise Refusal(422, "invalid_matricula",
                              "matricula: 1 to 32 of A-Z a-z 0-9 . _ -",
                              "matricula")
        else:
            m = None
        f = doc.get("finger")
        if f is not None:
            if not self.page_finger:
                raise Refusal(422, "finger_not_accepted",
                              "this agent captures the finger itself",
                              "finger")
            if not isinstance(f, dict) or set(f) != {"format", "data"}:
                raise Refusal(422, "invalid_value",
                              "finger: exactly {format, data}", "finger")
            if f["format"] != FORMAT:
                raise Refusal(422, "unsupported_format",
                              f"finger.format must be {FORMAT}",
                              "finger.format")
            data = f["data"]
            if not isinstance(data, str) or not data \
                    or len(data) > MAX_TEMPLATE * 4 // 3 + 4:
                raise Refusal(422, "invalid_base64",
                              "finger.data: base64 of at most "
                              f"{MAX_TEMPLATE} bytes", "finger.data")
            try:
                base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise Refusal(422, "invalid_base64",
                              "finger.data is not base64", "finger.data")
        else:
            data = self.demo_finger(m)
        out["finger"] = {"format": FORMAT, "data": data}
        if m is not None:
            out["matricula"] = m
        return json.dumps(out, separators=(",", ":")).encode()

    def demo_finger(self, matricula):
        """The simulated reader: the demo person of matrícula M000N, else a
        random one (as html/kiosk/agent-sim.js does in the browser)."""
        if not self.demo:
            raise Refusal(422, "missing_field", "no finger was captured",
                          "finger")
        mm = re.match(r"^M0*(\d{1,2})$", matricula or "", re.I)
        if mm and 1 <= int(mm.group(1)) <= 10:
            n = str(100 + int(mm.group(1)))
            if n in self.demo:
                return self.demo[n]
        return self.demo[random.choice(sorted(self.demo))]

    # -- signing and forwarding ----------------------------------------------
    def sign(self, body):
        fd, path = tempfile.mkstemp(dir=self.tmp, suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            r = subprocess.run(
                [self.huellactl, "device", "sign", "--key", self.key,
                 "--keyid", self.keyid, "--method", "POST",
                 "--path", API_PATH, "--nonce", secrets.token_urlsafe(16),
                 path], capture_output=True, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            raise Refusal(500, "signing_failed", "huellactl timed out")
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
        if r.returncode != 0:
            log(f"huellactl device sign failed: {r.stderr.strip()[:300]}")
            raise Refusal(500, "signing_failed", "could not sign the punch")
        headers = {}
        for line in r.stdout.splitlines():
            name, sep, value = line.partition(": ")
            if sep:
                headers[name] = value
        if set(headers) != {"Content-Digest", "Signature-Input",
                            "Signature"}:
            raise Refusal(500, "signing_failed",
                          "unexpected output of huellactl device sign")
        return headers

    def forward(self, body, headers):
        cls = (http.client.HTTPSConnection if self.scheme == "https"
               else http.client.HTTPConnection)
        conn = cls(self.host, self.port, timeout=self.timeout)
        h = {"Content-Type": "application/json",
             "Accept": "application/json"}
        h.update(headers)
        try:
            conn.request("POST", API_PATH, body, h)
            r = conn.getresponse()
            data = r.read(MAX_ANSWER + 1)
            if len(data) > MAX_ANSWER:
                raise Refusal(502, "bad_gateway", "Huella's answer is too "
                              "large")
            return r.status, r.getheader("Content-Type"), \
                r.getheader("Retry-After"), data
        except socket.timeout:
            raise Refusal(504, "huella_timeout",
                          f"Huella did not answer within {self.timeout} s")
        except (OSError, http.client.HTTPException) as e:
            raise Refusal(502, "huella_unreachable",
                          f"could not reach Huella: {e.__class__.__name__}")
        finally:
            conn.close()

    def punch(self, raw):
        body = self.body_from(raw)
        if not self.slots.acquire(timeout=self.timeout):
            raise Refusal(503, "agent_busy", "the agent is busy; try again")
        try:
            return self.forward(body, self.sign(body))
        finally:
            self.slots.release()


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "huella-kiosk-agent/1"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 10                 # a slow client is dropped after this
    agent = None

    def log_message(self, fmt, *a):
        log(f"{self.address_string()} {fmt % a}")

    def send(self, status, body, ctype="application/json", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, e):
        self.send(e.status, json.dumps(e.doc()).encode())

    def do_POST(self):
        self.close_connection = True
        try:
            if urllib.parse.urlsplit(self.path).path != PATH:
                raise Refusal(404, "not_found", "no such path")
            if self.headers.get("Transfer-Encoding"):
                raise Refusal(411, "length_required",
                              "send a Content-Length")
            ctype = (self.headers.get("Content-Type") or "").split(";")[0]
            if ctype.strip().lower() != "application/json":
                raise Refusal(415, "unsupported_media_type",
                              "Content-Type must be application/json")
            try:
                n = int(self.headers.get("Content-Length", ""))
            except ValueError:
                raise Refusal(411, "length_required",
                              "send a Content-Length")
            if n < 0 or n > MAX_BODY:
                raise Refusal(413, "body_too_large",
                              f"at most {MAX_BODY} bytes")
            raw = self.rfile.read(n)
            if len(raw) != n:
                raise Refusal(400, "invalid_json", "truncated body")
            status, rtype, retry, data = self.agent.punch(raw)
        except Refusal as e:
            if e.status >= 500:
                log(f"{e.status} {e.code}: {e.message}")
            self.refuse(e)
            return
        except Exception as e:       # never a stack trace to the page
            log(f"internal error: {e!r}")
            self.refuse(Refusal(500, "agent_error", "internal error"))
            return
        self.send(status, data, rtype or "application/json",
                  {"Retry-After": retry} if retry else None)

    def do_GET(self):
        self.close_connection = True
        if urllib.parse.urlsplit(self.path).path == PATH:
            self.refuse(Refusal(405, "method_not_allowed", "use POST"))
        else:
            self.refuse(Refusal(404, "not_found", "no such path"))

    do_PUT = do_DELETE = do_PATCH = do_GET


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("port", nargs="?", type=int,
                    default=int(env("HUELLA_AGENT_PORT", "8082")),
                    help="listen port on 127.0.0.1 (env HUELLA_AGENT_PORT)")
    ap.add_argument("--port", dest="port_opt", type=int)
    ap.add_argument("--huella", default=env("HUELLA_URL",
                                            "http://127.0.0.1:8080"),
                    help="Huella's base URL (env HUELLA_URL)")
    ap.add_argument("--key", default=env("HUELLA_KIOSK_KEY",
                                         "var/kiosk/device.key"))
    ap.add_argument("--keyid", default=env("HUELLA_KIOSK_ID"))
    ap.add_argument("--device-id-file", default="var/kiosk/device_id")
    ap.add_argument("--huellactl", default=env("HUELLACTL",
                                               "build/bin/huellactl"))
    ap.add_argument("--demo-fingers", default=None,
                    help="directory of NNN_2.iso (config/demo/fingers)")
    ap.add_argument("--no-page-finger", action="store_true")
    ap.add_argument("--timeout", type=float, default=4.0,
                    help="seconds to wait for Huella (the page waits 5)")
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    port = args.port_opt if args.port_opt is not None else args.port
    if not 1 <= port <= 65535:
        raise SystemExit(f"bad port {port}")
    if not 0 < args.timeout <= 30 or not 1 <= args.concurrency <= 64:
        raise SystemExit("--timeout 0..30 s, --concurrency 1..64")
    Handler.agent = agent = Agent(args)
    srv = Server(("127.0.0.1", port), Handler)
    srv.timeout = 10

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"listening on 127.0.0.1:{port}, device {agent.keyid}, "
        f"Huella {args.huella}")
    try:
        srv.serve_forever()
    finally:
        srv.server_close()
        shutil.rmtree(agent.tmp, ignore_errors=True)
        log("stopped")


if __name__ == "__main__":
    main()
