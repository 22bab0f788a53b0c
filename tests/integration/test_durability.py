#!/usr/bin/env python3
"""Two promises of the brief, checked against the running system.

1. Every acknowledged write survives kill -9: the identity writes that no
   other suite kills huellad after (account, roles, password change, failed
   sign-in counter, unlock, recovery, tokens created and revoked) are made, huellad
   is killed with SIGKILL right after the last acknowledgement, and all of
   them are there after the restart.  Sessions live in nginx shared memory,
   so a huellad crash must not sign anyone out either.
2. A matcher that is stopped (alive, not answering) gives every route
   family the deadline's 503; a killed one a 503 at once; service resumes
   without restarting nginx once huellad is back.
"""
import os
import re
import glob
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_enrollment as te  # noqa: E402  (helpers only)
import test_identity as ti  # noqa: E402  (helpers only)

from harness import db1, iso  # noqa: E402

ISO = "iso19794-2:2005"
curp = ti.curp


class _System:
    """The identity suite's system (registry, CA, fast argon2)."""
    setUpClass = ti.IdentityTest.__dict__["setUpClass"]
    tearDownClass = ti.IdentityTest.__dict__["tearDownClass"]
    make_ca = ti.IdentityTest.__dict__["make_ca"]
    req = ti.IdentityTest.req
    admin = ti.IdentityTest.admin
    account = ti.IdentityTest.account
    nss = ti.IdentityTest.__dict__["nss"]
    login = ti.IdentityTest.login
    user = ti.IdentityTest.user

    def crash_and_restart(self):
        self.h.kill_huellad(signal.SIGKILL)
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=15), self.h.logs())


class AckedWritesSurviveKill9(_System, unittest.TestCase):

    def test_identity_writes_survive_kill9(self):
        # account + roles + a live session
        cookie, csrf, _ = self.user(50, ["worker", "supervisor"])
        # password change
        st, _, doc = self.req("PUT", "/api/v1/me/password",
                              {"current_password": ti.PASSWORD,
                               "new_password": ti.NEW_PASSWORD},
                              cookie=cookie, csrf=csrf)
        self.assertEqual(st, 204, doc)
        cookie, csrf, _ = self.login(50, ti.NEW_PASSWORD)
        # a failed sign-in is counted (committed with the error reply)
        st, _, doc = self.account(51)
        self.assertEqual(st, 201, doc)
        st, _, doc = self.req("POST", "/api/v1/session",
                              {"user": curp(51), "password": "mal" * 6})
        self.assertEqual((st, doc["error"]["attempts_left"]), (401, 4), doc)
        # a locked account, unlocked by an admin
        st, _, doc = self.account(52)
        self.assertEqual(st, 201, doc)
        for _ in range(5):
            st, _, doc = self.req("POST", "/api/v1/session",
                                  {"user": curp(52), "password": "mal" * 6})
        self.assertEqual((st, doc["error"]["code"]), (423, "account_locked"))
        st, _, _ = self.admin("POST", f"/api/v1/accounts/{curp(52)}/unlock")
        self.assertEqual(st, 204)
        # a password recovered through the outbox's mail
        st, _, doc = self.account(53)
        self.assertEqual(st, 201, doc)
        st, _, doc = self.req("POST", "/api/v1/recovery",
                              {"user": curp(53), "answer": "Azul marino"})
        self.assertEqual(st, 202, doc)
        mails = glob.glob(os.path.join(self.h.outbox, "*.eml"))
        self.assertEqual(len(mails), 1)
        with open(mails[0]) as f:
            token = re.search(r"#token=([A-Za-z0-9_\-]+)", f.read()).group(1)
        st, _, doc = self.req("POST", "/api/v1/recovery/finish",
                              {"token": token,
                               "new_password": ti.NEW_PASSWORD})
        self.assertEqual(st, 204, doc)
        # a token revoked, then one created (never used: no cached answer)
        st, _, doc = self.admin("POST", "/api/v1/tokens",
                                {"name": "revocado", "roles": ["auditor"]})
        self.assertEqual(st, 201, doc)
        gone = doc["token"]
        st, _, _ = self.admin("DELETE", f"/api/v1/tokens/{doc['id']}")
        self.assertEqual(st, 204)
        st, _, doc = self.admin("POST", "/api/v1/tokens",
                                {"name": "nomina", "roles": ["supervisor"]})
        self.assertEqual(st, 201, doc)
        live = doc["token"]

        self.crash_and_restart()

        # the session (nginx shared memory) outlived the matcher's crash
        st, _, me = self.req("GET", "/api/v1/me", cookie=cookie)
        self.assertEqual(st, 200, me)
        self.assertEqual(me["roles"], ["worker", "supervisor"])
        st, _, doc = self.req("POST", "/api/v1/session",
                              {"user": curp(50), "password": ti.PASSWORD})
        self.assertEqual(st, 401, doc)
        self.login(50, ti.NEW_PASSWORD)
        st, _, doc = self.req("POST", "/api/v1/session",
                              {"user": curp(51), "password": "mal" * 6})
        self.assertEqual((st, doc["error"]["attempts_left"]), (401, 3), doc)
        self.login(52)
        self.login(53, ti.NEW_PASSWORD)
        st, _, me = self.req("GET", "/api/v1/me", token=live)
        self.assertEqual((st, me.get("roles")), (200, ["supervisor"]), me)
        st, _, doc = self.req("GET", "/api/v1/me", token=gone)
        self.assertEqual((st, doc["error"]["code"]), (401, "invalid_token"))


class RouteFamiliesWithoutMatcher(_System, unittest.TestCase):
    """Every route family: deadline 503 with huellad stopped, fast 503 with
    it killed, and service again without restarting nginx."""

    @classmethod
    def setUpClass(cls):
        _System.setUpClass.__func__(cls)
        cls.subject = curp(30)
        st, _, doc = cls.h.request("POST", "/api/v1/subjects",
                                   {"curp": cls.subject,
                                    "name": "Persona Prueba 30"})
        assert st == 201, doc
        cls.template = iso(db1(103, 1))
        st, _, doc = cls.h.request(
            "PUT", f"/api/v1/subjects/{cls.subject}/fingers/1",
            {"format": ISO, "data": cls.template})
        assert st == 201, doc
        st, _, doc = cls.h.request("POST", "/api/v1/tokens",
                                   {"name": "rep", "roles": ["employer_rep"],
                                    "employer_rfc": te.RFC_E})
        assert st == 201, doc
        cls.rep = doc["token"]
        tmp = tempfile.mkdtemp(prefix="huella-dev-", dir=cls.h.dir)
        cls.devices = {}
        for purpose in ("enrollment", "kiosk"):
            d = te.Device(tmp, purpose)
            st, _, doc = cls.h.request(
                "POST", "/api/v1/devices",
                {"public_key_pem": d.pub, "make": "Acme", "model": "FP-1",
                 "serial": purpose + "-1", "purpose": purpose}, auth=False,
                headers={"Authorization": "Bearer " + cls.rep})
            assert st == 201, doc
            d.id = doc["device_id"]
            cls.devices[purpose] = d

    def routes(self):
        s = self.subject
        return {
            "identity": ("POST", "/api/v1/session",
                         {"user": curp(31), "password": "x" * 12}, False),
            "subjects": ("GET", f"/api/v1/subjects/{s}", None, True),
            "enrollment": ("POST", f"/api/v1/subjects/{s}/enrollment",
                           {"fingers": []}, "enrollment"),
            "receipts": ("GET", "/api/v1/receipts/HUE-2026-000000007",
                         None, True),
            "punches": ("POST", "/api/v1/punches", {"matricula": "M1"},
                        "kiosk"),
            "attendance rules": ("GET", "/api/v1/attendance/rules", None,
                                 True),
            "justifications": ("GET", "/api/v1/justifications", None, True),
            "attendance": ("GET", f"/api/v1/subjects/{s}/attendance"
                           "?from=2025-07-01&to=2025-07-31",
                           None, True),
            "verify": ("POST", "/api/v1/verify",
                       {"curp": s, "finger": {"format": ISO,
                                              "data": self.template}}, True),
            "identify": ("POST", "/api/v1/identify",
                         {"finger": {"format": ISO, "data": self.template}},
                         True),
            "reports": ("GET", "/api/v1/reports/attendance?curp=" + s
                        + "&from=2025-07-01&to=2025-07-31",
                        None, True),
            "admin tokens": ("GET", "/api/v1/tokens", None, True),
            "admin audit": ("GET", "/api/v1/audit", None, True),
            "admin devices": ("GET", "/api/v1/devices", None, True),
            "dedup jobs": ("GET", "/api/v1/dedup-jobs", None, True),
        }

    def call(self, route):
        method, path, body, auth = route
        if isinstance(auth, str):      # signed by that device, as the rep
            raw = json.dumps(body).encode()
            h = self.devices[auth].sign(method, path, raw)
            h["Authorization"] = "Bearer " + self.rep
            return self.h.request(method, path, raw=raw, headers=h,
                                  auth=False, timeout=15)
        return self.h.request(method, path, body, auth=auth, timeout=15)

    def served(self):
        out = {}
        for name, route in self.routes().items():
            st, _, doc = self.call(route)
            out[name] = st
        return out

    def test_stopped_then_killed_then_back(self):
        before = self.served()
        for name, st in before.items():
            self.assertNotIn(st, (502, 503, 504), (name, before))

        self.h.huellad.send_signal(signal.SIGSTOP)
        self.assertTrue(harness.wait_stopped(self.h.huellad.pid))
        try:
            for name, route in self.routes().items():
                st, hdrs, doc = self.call(route)
                self.assertEqual((st, doc["error"]["code"]),
                                 (503, "matcher_timeout"), name)
        finally:
            self.h.huellad.send_signal(signal.SIGCONT)
        self.assertTrue(self.h.wait_healthy(timeout=15))
        self.assertEqual(self.served(), before)

        self.h.kill_huellad(signal.SIGKILL)
        for name, route in self.routes().items():
            st, hdrs, doc = self.call(route)
            self.assertEqual((st, doc["error"]["code"]),
                             (503, "matcher_unavailable"), name)
            self.assertIn("retry-after", hdrs, name)
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=15))
        self.assertEqual(self.served(), before)

    def test_waiting_request_ends_when_the_stopped_matcher_dies(self):
        """A request waiting on a stopped huellad is answered when huellad
        dies (matcher_unavailable), not only at the deadline."""
        self.h.huellad.send_signal(signal.SIGSTOP)
        self.assertTrue(harness.wait_stopped(self.h.huellad.pid))
        out = {}

        def waiting():
            out["r"] = self.call(self.routes()["identify"])

        t = threading.Thread(target=waiting)
        t.start()
        time.sleep(0.3)          # the request is in the ring by now
        self.h.kill_huellad(signal.SIGKILL)
        t.join(30)
        st, hdrs, doc = out["r"]
        self.assertEqual((st, doc["error"]["code"]),
                         (503, "matcher_unavailable"), doc)
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=15))
        st, _, doc = self.call(self.routes()["identify"])
        self.assertEqual(st, 200, doc)

    def test_zz_replay_after_nginx_kill9_is_refused(self):
        """The nonce cache lives in nginx shared memory: after a kill -9 of
        nginx (master and workers) and a start, a signed request accepted
        before must not be accepted again."""
        d = self.devices["kiosk"]
        raw = json.dumps({"matricula": "M1"}).encode()
        # a second ago: the cache is known from the second nginx starts
        h = d.sign("POST", "/api/v1/punches", raw,
                   created=int(time.time()) - 1)
        h["Authorization"] = "Bearer " + self.rep

        def send():
            return self.h.request("POST", "/api/v1/punches", raw=raw,
                                  headers=h, auth=False)

        st, _, doc = send()
        self.assertEqual(st, 400, doc)          # signature accepted
        st, _, doc = send()
        self.assertEqual((st, doc["error"]["code"]), (401, "nonce_replayed"))
        workers = subprocess.run(["pgrep", "-P", str(self.h.nginx.pid)],
                                 capture_output=True, text=True).stdout
        self.h.nginx.kill()
        self.h.nginx.wait()
        for pid in workers.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.h.start_nginx()
        self.assertTrue(self.h.wait_healthy(timeout=15))
        st, _, doc = send()
        self.assertEqual((st, doc["error"]["code"]),
                         (401, "signature_expired"), doc)
        # a fresh signature goes through
        h = d.sign("POST", "/api/v1/punches", raw)
        h["Authorization"] = "Bearer " + self.rep
        st, _, doc = send()
        self.assertEqual(st, 400, doc)


if __name__ == "__main__":
    harness.main()
