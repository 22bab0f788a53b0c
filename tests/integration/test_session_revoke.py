#!/usr/bin/env python3
"""Sessions do not outlive the credential change meant to end them, even
when huellad's answer never reaches nginx (docs/identity-api.md,
"Sessions and credential changes").

A password change suspends the account's other sessions, a roles change
the target's, before the call goes to huellad: huellad refusing the change
(or the call never sent) lifts the suspension; an answer that does not come
(deadline, huellad killed, nginx worker killed) leaves those sessions
ended.  A recovery's account is named only by huellad's answer, so huellad
keeps when the password last changed (a later login ends the sessions
opened before it) and appends the change to its credential-event log,
which nginx follows (huella_session_sync): the stale sessions end without
a login.  Real nginx + huellad on loopback; huellad is stopped
(SIGSTOP) to force a deadline, nginx's workers are stopped and killed to
lose an answer after huellad committed.
"""
import os
import re
import glob
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_identity as ti  # noqa: E402  (helpers only)

curp = ti.curp
PASSWORD = ti.PASSWORD
NEW_PASSWORD = ti.NEW_PASSWORD


class SessionRevokeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="huella-sr-")
        registry = os.path.join(cls.work, "registry.tsv")
        with open(registry, "w") as f:
            for n in range(1, 30):
                c = curp(n)
                f.write(f"{c}\tPersona Prueba {n}\t{ti.birth(c)}\tH\tDF\n")
        # long enough for a call to be seen on its way before huellad,
        # stopped, is let go (it refuses work past the deadline)
        cls.h = harness.Huella(deadline="4s", yaml_overrides={
            "identity.registry_file": registry,
            "identity.argon2.t_cost": 1,
            "identity.argon2.m_cost_kib": 64,
            "identity.lockout.client_threshold": 10000,
        })
        try:
            cls.h.start()
        except Exception:
            print(cls.h.logs(), file=sys.stderr)
            cls.h.cleanup()
            raise

    tearDownClass = ti.IdentityTest.__dict__["tearDownClass"]
    req = ti.IdentityTest.req
    admin = ti.IdentityTest.admin
    account = ti.IdentityTest.account
    nss = ti.IdentityTest.__dict__["nss"]
    login = ti.IdentityTest.login

    def tearDown(self):
        """A failed test must not leave huellad stopped or dead."""
        if self.h.huellad.poll() is None:
            self.cont_huellad()
        else:
            self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=15), self.h.logs())

    # -- helpers ---------------------------------------------------------------
    def me(self, cookie):
        st, _, doc = self.req("GET", "/api/v1/me", cookie=cookie)
        return st, (doc or {}).get("error", {}).get("code")

    def two_sessions(self, n):
        st, _, doc = self.account(n)
        self.assertEqual(st, 201, doc)
        mine = self.login(n)
        other = self.login(n)
        self.assertEqual(self.me(other[0]), (200, None))
        return mine, other

    def change_password(self, mine, current=PASSWORD, new=NEW_PASSWORD):
        return self.req("PUT", "/api/v1/me/password",
                        {"current_password": current, "new_password": new},
                        cookie=mine[0], csrf=mine[1])

    def stop_huellad(self):
        self.h.huellad.send_signal(signal.SIGSTOP)
        self.assertTrue(harness.wait_stopped(self.h.huellad.pid))

    def cont_huellad(self):
        self.h.huellad.send_signal(signal.SIGCONT)

    def in_background(self, fn):
        out = {}

        def run():
            try:
                out["r"] = fn()
            except OSError as e:        # the worker died under it
                out["r"] = e

        t = threading.Thread(target=run)
        t.start()
        return t, out

    def wait_suspended(self, cookie):
        """Until the session is refused: the call that suspended it has
        been handed to huellad in the same turn of the worker."""
        end = time.time() + 10
        while time.time() < end:
            if self.me(cookie) == (401, "session_expired"):
                return
            time.sleep(0.02)
        self.fail("the session was never suspended")

    def account_record(self, n):
        """The account's record as huellad committed it (mdb_dump)."""
        out = subprocess.run(
            ["mdb_dump", "-p", "-s", "accounts", self.h.data],
            capture_output=True, text=True, errors="replace").stdout
        lines = out.splitlines()
        key = " " + curp(n)
        for i, line in enumerate(lines):
            if line == key and i + 1 < len(lines):
                return lines[i + 1]
        return None

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.h.nginx.pid)],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def lose_answer(self, n, call, sent):
        """call() runs while huellad is stopped; once sent() says it is in
        huellad's ring, nginx's workers are stopped, huellad commits the
        change and answers, and the workers are killed before they read
        the answer (the master starts new ones).  Returns once the system
        is healthy again."""
        before = self.account_record(n)
        self.stop_huellad()
        t, out = self.in_background(call)
        try:
            sent()
            workers = self.workers()
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)
            for pid in workers:
                self.assertTrue(harness.wait_stopped(pid))
        finally:
            self.cont_huellad()
        end = time.time() + 15
        while self.account_record(n) == before and time.time() < end:
            time.sleep(0.02)
        self.assertNotEqual(self.account_record(n), before,
                            "huellad did not commit")
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        t.join(30)
        self.assertIsInstance(out.get("r"), OSError, out)
        self.assertTrue(self.h.wait_healthy(timeout=15), self.h.logs())

    # -- password change ---------------------------------------------------------
    def test_a_password_change_past_the_deadline_ends_the_other_session(self):
        mine, other = self.two_sessions(1)
        self.stop_huellad()
        try:
            st, _, doc = self.change_password(mine)
        finally:
            self.cont_huellad()
        self.assertEqual((st, doc["error"]["code"]), (503, "matcher_timeout"))
        self.assertTrue(self.h.wait_healthy(timeout=15))
        # nobody can tell whether it committed: the other session is over
        self.assertEqual(self.me(other[0]), (401, "session_expired"))
        self.assertEqual(self.me(mine[0]), (200, None))

    def test_a_password_change_whose_answer_is_lost_ends_the_other_session(
            self):
        mine, other = self.two_sessions(2)
        self.lose_answer(2, lambda: self.change_password(mine),
                         lambda: self.wait_suspended(other[0]))
        # committed: the new password signs in, the other session is over
        self.assertEqual(self.me(other[0]), (401, "session_expired"))
        self.login(2, NEW_PASSWORD)
        st, _, doc = self.req("POST", "/api/v1/session",
                              {"user": curp(2), "password": PASSWORD})
        self.assertEqual(st, 401, doc)

    def test_b_a_refused_password_change_lifts_the_suspension(self):
        mine, other = self.two_sessions(3)
        self.stop_huellad()
        t, out = self.in_background(
            lambda: self.change_password(mine, current="no-es-la-clave-1"))
        try:
            # while huellad decides, the other session is refused
            self.wait_suspended(other[0])
        finally:
            self.cont_huellad()
        t.join(30)
        st, _, doc = out["r"]
        self.assertEqual((st, doc["error"]["code"]),
                         (401, "invalid_credentials"), doc)
        # nothing changed: both sessions go on
        self.assertEqual(self.me(other[0]), (200, None))
        self.assertEqual(self.me(mine[0]), (200, None))
        # and a refused new password (huellad's policy) lifts it too
        st, _, doc = self.change_password(mine, new="123456")
        self.assertEqual(st, 422, doc)
        self.assertEqual(self.me(other[0]), (200, None))

    def test_c_matcher_down_keeps_sessions_a_killed_one_ends_them(self):
        mine, other = self.two_sessions(4)
        self.h.kill_huellad(signal.SIGKILL)
        try:
            st, _, doc = self.change_password(mine)
            self.assertEqual((st, doc["error"]["code"]),
                             (503, "matcher_unavailable"), doc)
        finally:
            self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=15))
        # never sent: the other session goes on
        self.assertEqual(self.me(other[0]), (200, None))
        # huellad killed once it has the call: it may have committed
        self.stop_huellad()
        t, out = self.in_background(lambda: self.change_password(mine))
        self.wait_suspended(other[0])
        self.h.kill_huellad(signal.SIGKILL)
        t.join(30)
        st, _, doc = out["r"]
        self.assertEqual((st, doc["error"]["code"]),
                         (503, "matcher_unavailable"), doc)
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=15))
        self.assertEqual(self.me(other[0]), (401, "session_expired"))
        self.assertEqual(self.me(mine[0]), (200, None))

    # -- roles -----------------------------------------------------------------
    def test_d_a_roles_change_past_the_deadline_ends_the_targets_session(
            self):
        for n in (5, 6):
            st, _, doc = self.account(n)
            self.assertEqual(st, 201, doc)
        target = self.login(5)
        bystander = self.login(6)
        # refused by huellad (no RFC for employer_rep): nothing changes
        st, _, doc = self.admin("PUT", f"/api/v1/accounts/{curp(5)}/roles",
                                {"roles": ["worker", "employer_rep"]})
        self.assertEqual(st, 422, doc)
        self.assertEqual(self.me(target[0]), (200, None))
        self.stop_huellad()
        try:
            st, _, doc = self.admin("PUT",
                                    f"/api/v1/accounts/{curp(5)}/roles",
                                    {"roles": ["supervisor", "worker"]})
        finally:
            self.cont_huellad()
        self.assertEqual((st, doc["error"]["code"]), (503, "matcher_timeout"))
        self.assertTrue(self.h.wait_healthy(timeout=15))
        self.assertEqual(self.me(target[0]), (401, "session_expired"))
        self.assertEqual(self.me(bystander[0]), (200, None))

    # -- recovery ----------------------------------------------------------------
    def recovery_token(self, n):
        for path in glob.glob(os.path.join(self.h.outbox, "*.eml")):
            os.unlink(path)
        st, _, doc = self.req("POST", "/api/v1/recovery",
                              {"user": curp(n), "answer": "Azul marino"})
        self.assertEqual(st, 202, doc)
        mails = glob.glob(os.path.join(self.h.outbox, "*.eml"))
        self.assertEqual(len(mails), 1)
        with open(mails[0]) as f:
            return re.search(r"#token=([A-Za-z0-9_\-]+)", f.read()).group(1)

    def wait_refused(self, cookie, timeout=30):
        """Until the session is refused (the follower of huellad's
        credential events applied the change), or fail."""
        end = time.time() + timeout
        while time.time() < end:
            if self.me(cookie) == (401, "session_expired"):
                return
            time.sleep(0.05)
        self.fail("the session outlived the change: " + self.h.logs())

    def test_e_a_recovery_whose_answer_is_lost_ends_sessions_without_login(
            self):
        st, _, doc = self.account(7)
        self.assertEqual(st, 201, doc)
        stolen = self.login(7)
        token = self.recovery_token(7)
        # nothing in nginx shows the call on its way: a moment is plenty
        self.lose_answer(7, lambda: self.req(
            "POST", "/api/v1/recovery/finish",
            {"token": token, "new_password": NEW_PASSWORD}),
            lambda: time.sleep(0.5))
        # nginx never learnt whose password changed from the answer, but
        # huellad's credential-event feed tells it: the stale session ends
        # without its owner signing in again
        self.wait_refused(stolen[0])
        fresh = self.login(7, NEW_PASSWORD)
        self.assertEqual(self.me(stolen[0]), (401, "session_expired"))
        self.assertEqual(self.me(fresh[0]), (200, None))
        # a later login keeps the sessions opened after the recovery
        again = self.login(7, NEW_PASSWORD)
        self.assertEqual(self.me(fresh[0]), (200, None))
        self.assertEqual(self.me(again[0]), (200, None))

    def test_f_the_session_that_changed_the_password_survives_later_logins(
            self):
        mine, other = self.two_sessions(8)
        st, _, doc = self.change_password(mine)
        self.assertEqual(st, 204, doc)
        self.assertEqual(self.me(other[0]), (401, "session_expired"))
        self.login(8, NEW_PASSWORD)
        self.assertEqual(self.me(mine[0]), (200, None))


if __name__ == "__main__":
    harness.main()
