"""Hostile HTTP and security headers (issue 7, items 5 and 6), and the
host install's nginx snippets (tools/ops/, item 7)."""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import unittest

import harness
from harness import HuellaTestCase, main, make_curp


def raw_request(port, data, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


class HardeningTest(HuellaTestCase):

    def test_security_headers_on_portal_pages(self):
        st, h, _ = self.h.request("GET", "/", auth=False)
        self.assertEqual(st, 200)
        csp = h["content-security-policy"]
        self.assertIn("default-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertEqual(h["referrer-policy"], "no-referrer")
        self.assertNotIn("strict-transport-security", h)   # plain HTTP

    def test_tls_http2_and_hsts(self):
        out = subprocess.run(
            ["curl", "-sk", "--http2", "-D", "-", "-o", "/dev/null",
             f"https://127.0.0.1:{self.h.tls_port}/"],
            capture_output=True, text=True, timeout=20).stdout.lower()
        self.assertTrue(out.startswith("http/2 200"), out)
        self.assertIn("strict-transport-security: max-age=", out)

    def test_oversized_body_is_413_json(self):
        body = json.dumps({"curp": make_curp(1), "name": "x" * (2 << 20)})
        st, h, doc = self.h.request("POST", "/api/v1/subjects",
                                    raw=body.encode())
        self.assertEqual(st, 413)
        self.assertIn("code", doc["error"])

    def test_malformed_json_and_base64(self):
        for raw in (b"{", b"[]", b'{"curp": 5}', b"\xff\xfe", b"null"):
            st, _, doc = self.h.request("POST", "/api/v1/subjects", raw=raw)
            self.assertIn(st, (400, 422), raw)
            self.assertIn("code", doc["error"])
        st, _, doc = self.h.request("POST", "/api/v1/verify", {
            "curp": make_curp(1),
            "finger": {"format": "iso19794-2:2005", "data": "AAA=A"}})
        self.assertIn(st, (400, 422))
        self.assertEqual(doc["error"]["field"], "finger.data")

    def test_path_traversal_does_not_leave_the_root(self):
        for path in (b"/../../../../etc/passwd", b"/%2e%2e/%2e%2e/etc/passwd",
                     b"/assets/../../config/huella.yaml",
                     b"/..%2f..%2fetc%2fpasswd"):
            resp = raw_request(self.h.port, b"GET " + path
                               + b" HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\n\r\n")
            status = resp.split(b" ", 2)[1]
            self.assertIn(status, (b"400", b"404"), path)
            self.assertNotIn(b"root:", resp)
            self.assertNotIn(b"matcher:", resp)

    def test_header_injection_is_refused(self):
        resp = raw_request(self.h.port, b"GET /healthz HTTP/1.1\r\n"
                           b"Host: x\r\nX-A: b\rInjected: 1\r\n"
                           b"Connection: close\r\n\r\n")
        self.assertTrue(resp.startswith(b"HTTP/1.1 400"), resp[:80])

    def test_refusals_before_a_location_are_precise_json(self):
        """nginx's own 400s on a request line or headers (before any
        location is chosen) come in the API's JSON format, naming what is
        wrong where nginx lets the module tell."""
        head = b"POST /api/v1/subjects HTTP/1.1\r\nHost: x\r\n"
        cases = [
            (head + b"Content-Length: 99999999999999999999999\r\n\r\n",
             "bad_request", "Content-Length header is not"),
            (head + b"Content-Length: 3\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n",
             "bad_request", "both Content-Length and Transfer-Encoding"),
            (b"GET /api/v1/me HTTP/1.1\r\nConnection: close\r\n\r\n",
             "bad_request", "needs a Host header"),
            (b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nCookie: "
             + b"a" * 9000 + b"\r\n\r\n",
             "header_too_large", "large_client_header_buffers"),
            (b"GET /api/v1/subjects/%00 HTTP/1.1\r\nHost: x\r\n\r\n",
             "bad_request", "request line or a header is malformed"),
        ]
        for req, code, why in cases:
            resp = raw_request(self.h.port, req)
            self.assertTrue(resp.startswith(b"HTTP/1.1 400 "), resp[:200])
            doc = json.loads(resp[resp.index(b"\r\n\r\n") + 4:])
            self.assertEqual(doc["error"]["code"], code, req[:60])
            self.assertIn(why, doc["error"]["message"])

    def test_slow_clients_are_cut_off_and_others_served(self):
        # 40 clients that trickle half a request and then stall.
        slow = []
        for i in range(40):
            s = socket.create_connection(("127.0.0.1", self.h.port), 5)
            s.sendall(b"POST /api/v1/subjects HTTP/1.1\r\nHost: x\r\n"
                      if i % 2 else b"GET /healthz HTTP/1.1\r\nHost:")
            if i % 2:
                s.sendall(b"Content-Type: application/json\r\n"
                          b"Content-Length: 100\r\n\r\n{\"cu")
            slow.append(s)
        try:
            # Everyone else is still served meanwhile.
            for _ in range(20):
                st, _, doc = self.h.request("GET", "/healthz", auth=False)
                self.assertEqual(st, 200)
            # The server closes every stalled connection by itself (nginx's
            # client header/body timeouts); bounded wait, no timing asserted.
            closed = 0
            for s in slow:
                s.settimeout(60)
                data = b""
                try:
                    while True:
                        more = s.recv(65536)
                        if not more:
                            break
                        data += more
                    closed += 1
                except ConnectionResetError:
                    closed += 1
                except socket.timeout:
                    pass
                if data:   # an early refusal is fine; a 2xx is not
                    self.assertRegex(data, rb"^HTTP/1\.1 4\d\d")
            self.assertEqual(closed, len(slow))
        finally:
            for s in slow:
                s.close()

    def test_unknown_method_gets_405_with_allow(self):
        st, h, doc = self.h.request("PATCH", "/api/v1/verify", {})
        self.assertEqual(st, 405)
        self.assertIn("allow", h)


    def test_ops_site_snippet_serves_a_working_portal(self):
        """tools/ops/ as docs/ops.md installs it (module snippet + site
        snippet inside Debian's http{}), pointed at this huellad: the
        portal, HSTS, logins and the receipts' JWKS all work."""
        h = self.h
        ops = os.path.join(harness.ROOT, "tools", "ops")
        with open(os.path.join(ops, "mod-http-huella.conf")) as f:
            module = f.read()
        with open(os.path.join(ops, "huella-site.conf")) as f:
            site = f.read()
        port = harness.free_port()
        swap = {
            "/usr/lib/nginx/modules/ngx_http_huella_module.so":
                os.path.join(harness.BUILD, "modules",
                             "ngx_http_huella_module.so"),
            "/run/huella/huellad.sock": h.sock,
            "/etc/huella/admin.token": os.path.join(h.dir, "admin.token"),
            "listen 443 ssl http2;": f"listen 127.0.0.1:{port} ssl http2;",
            "/etc/ssl/huella/fullchain.pem":
                os.path.join(h.dir, "tls", "server.crt"),
            "/etc/ssl/huella/privkey.pem":
                os.path.join(h.dir, "tls", "server.key"),
            "/usr/share/huella/html": os.path.join(harness.ROOT, "html"),
        }
        for old, new in swap.items():
            self.assertIn(old, module + site)
            module, site = module.replace(old, new), site.replace(old, new)
        prefix = os.path.join(h.dir, "ops-nginx")
        os.makedirs(prefix)
        conf = os.path.join(h.dir, "ops-nginx.conf")
        with open(conf, "w") as f:
            f.write(module + harness._worker_user_line(h.dir) + "\n"
                    f"pid {prefix}/nginx.pid;\nevents {{}}\nhttp {{\n"
                    "include /etc/nginx/mime.types;\n"
                    f"client_body_temp_path {prefix}/body;\n"
                    f"proxy_temp_path {prefix}/proxy;\n"
                    f"access_log {prefix}/access.log;\n"
                    + site + "}\n")
        env = dict(os.environ)
        if h.preload:
            env["LD_PRELOAD"] = h.preload
            env["ASAN_OPTIONS"] = "detect_leaks=0:halt_on_error=1"
        log = open(os.path.join(h.dir, "log", "ops-nginx.out"), "ab")
        ngx = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", prefix, "-c", conf, "-e",
             os.path.join(h.dir, "log", "ops-nginx-error.log"),
             "-g", "daemon off;"], stdout=log, stderr=log, env=env)
        try:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE

            def call(method, path, body=None):
                c = http.client.HTTPSConnection("127.0.0.1", port,
                                                timeout=10, context=ctx)
                try:
                    c.request(method, path,
                              json.dumps(body) if body else None,
                              {"Content-Type": "application/json"})
                    r = c.getresponse()
                    return (r.status,
                            {k.lower(): v for k, v in r.getheaders()},
                            r.read())
                finally:
                    c.close()
            for _ in range(100):        # listening, workers attached
                try:
                    if call("GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                self.assertIsNone(ngx.poll(), h.logs())
                time.sleep(0.1)
            st, hd, _ = call("GET", "/")
            self.assertEqual(st, 200)
            self.assertIn("max-age=", hd["strict-transport-security"])
            self.assertNotIn("unsafe-inline", hd["content-security-policy"])
            # a registry person (config/registry.tsv) registers, signs in
            password = "Pirata-sereno-del-lago-27"
            st, _, body = call("POST", "/api/v1/accounts", {
                "curp": "PEGA920218MPLRNN07", "nss": "12345678903",
                "email": "ana@example.mx", "password": password,
                "security_question": "Color favorito",
                "security_answer": "Azul marino"})
            self.assertEqual(st, 201, body)
            st, hd, body = call("POST", "/api/v1/session", {
                "user": "PEGA920218MPLRNN07", "password": password})
            self.assertEqual(st, 201, body)
            self.assertIn("Secure", hd["set-cookie"])
            st, _, body = call("GET", "/.well-known/jwks.json")
            self.assertEqual(st, 200, body)
            self.assertIn("keys", json.loads(body))
        finally:
            ngx.send_signal(signal.SIGQUIT)
            try:
                ngx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                ngx.kill()
                ngx.wait()
            log.close()


if __name__ == "__main__":
    main()
