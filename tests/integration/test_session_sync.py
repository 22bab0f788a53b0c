#!/usr/bin/env python3
"""Every nginx follows huellad's credential events (huella_session_sync,
docs/identity-api.md "Sessions and credential changes").

Three nginx instances (three ports, each its own session zone) in front of
one huellad: A and B follow the feed, C has `huella_session_sync off`.  A
password or roles change made through A ends the account's sessions in B
too, sessions opened after the change survive everywhere, and C keeps the
behaviour without a feed (only the nginx that carried the change, or the
owner's next login there, ends them).  huellad killed and restarted: B
catches up on what it missed.  Events pruned before B read them end B's
older sessions (fail closed).  The event of a password change applied
before the change's own answer does not end the session that made it.
huellad restored from an older backup: the followers go on from its head;
one that grew again while B was away makes B end every session.  Real nginx + huellad on loopback; a bounded
wait (polling) stands for "within the sync interval".
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_identity as ti  # noqa: E402  (helpers only)

curp = ti.curp
PASSWORD = ti.PASSWORD
NEW_PASSWORD = ti.NEW_PASSWORD
SYNC = "250ms"
KEEP = 8            # identity.credential_events_keep: pruning is testable


class Instance:
    """A further nginx in front of the same huellad: its own ports, pid,
    logs and temp paths, so its own shared zones."""

    def __init__(self, h, name, sync):
        self.h = h
        self.name = name
        self.port = harness.free_port()
        self.tls_port = harness.free_port()
        self.upstream_port = harness.free_port()
        self.prefix = os.path.join(h.dir, "nginx-" + name)
        os.makedirs(self.prefix)
        with open(h.nginx_conf) as f:
            conf = f.read()
        conf = (conf
                .replace(f"listen 127.0.0.1:{h.port};",
                         f"listen 127.0.0.1:{self.port};")
                .replace(f"listen 127.0.0.1:{h.tls_port} ",
                         f"listen 127.0.0.1:{self.tls_port} ")
                .replace(f"127.0.0.1:{h.upstream_port}",
                         f"127.0.0.1:{self.upstream_port}")
                .replace(f"{h.dir}/nginx.pid", f"{self.prefix}/nginx.pid")
                .replace(f"{h.dir}/nginx/", f"{self.prefix}/")
                .replace(f"{h.dir}/log/nginx-error.log",
                         f"{h.dir}/log/nginx-{name}-error.log")
                .replace(f"{h.dir}/log/nginx-access.log",
                         f"{h.dir}/log/nginx-{name}-access.log")
                .replace("huella_session_sync 2s;",
                         f"huella_session_sync {sync};"))
        self.conf = os.path.join(h.dir, f"nginx-{name}.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.nginx = None

    def start(self):
        env = dict(os.environ)
        if self.h.preload:
            env["LD_PRELOAD"] = self.h.preload
            env["ASAN_OPTIONS"] = "detect_leaks=0:halt_on_error=1"
        log = open(os.path.join(self.h.dir, "log", f"nginx-{self.name}.out"),
                   "ab")
        self.nginx = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", self.prefix, "-c", self.conf, "-e",
             os.path.join(self.h.dir, "log", f"nginx-{self.name}-error.log"),
             "-g", "daemon off;"], stdout=log, stderr=log, env=env)

    def stop(self):
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()

    def request(self, *args, **kw):
        port = self.h.port
        self.h.port = self.port
        try:
            return self.h.request(*args, **kw)
        finally:
            self.h.port = port

    def wait_healthy(self, timeout=20):
        end = time.time() + timeout
        good = 0
        while time.time() < end:
            try:
                st, _, _ = self.request("GET", "/healthz", auth=False,
                                        timeout=2)
                good = good + 1 if st == 200 else 0
                if good >= 5:
                    return True
            except OSError:
                good = 0
            time.sleep(0.05)
        return False

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.nginx.pid)],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


class SessionSyncTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="huella-ss-")
        registry = os.path.join(cls.work, "registry.tsv")
        with open(registry, "w") as f:
            for n in range(1, 40):
                c = curp(n)
                f.write(f"{c}\tPersona Prueba {n}\t{ti.birth(c)}\tH\tDF\n")
        # a deadline with room for test_f's stops under a loaded machine
        cls.h = harness.Huella(deadline="10s", yaml_overrides={
            "identity.registry_file": registry,
            "identity.argon2.t_cost": 1,
            "identity.argon2.m_cost_kib": 64,
            "identity.lockout.client_threshold": 10000,
            # a small log, so that pruning can be reached in a test
            "identity.credential_events_keep": KEEP,
        })
        with open(cls.h.nginx_conf) as f:
            conf = f.read()
        # a cached token answer outlives the tests: only the feed (or the
        # nginx that revoked it) can drop it
        conf = conf.replace("huella_token_cache 30s;",
                            "huella_token_cache 1h;")
        with open(cls.h.nginx_conf, "w") as f:
            f.write(conf)
        cls.b = Instance(cls.h, "b", SYNC)
        cls.c = Instance(cls.h, "c", "off")
        with open(cls.h.nginx_conf, "w") as f:
            f.write(conf.replace("huella_session_sync 2s;",
                                 f"huella_session_sync {SYNC};"))
        try:
            cls.h.start()
            cls.b.start()
            cls.c.start()
            if not (cls.b.wait_healthy() and cls.c.wait_healthy()):
                raise RuntimeError("B or C not healthy: " + cls.h.logs())
        except Exception:
            print(cls.h.logs(), file=sys.stderr)
            cls.b.stop()
            cls.c.stop()
            cls.h.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.b.stop()
        cls.c.stop()
        rc = cls.h.cleanup()
        subprocess.run(["rm", "-rf", cls.work])
        assert rc in (0, None), f"huellad exited with {rc}"

    def setUp(self):
        self.on = self.h            # the nginx the helpers talk to

    def tearDown(self):
        for inst in (self.b, self.c):
            for pid in inst.workers():
                os.kill(pid, signal.SIGCONT)
        if self.h.huellad.poll() is not None:
            self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=20), self.h.logs())

    # -- helpers ---------------------------------------------------------------
    def req(self, method, path, body=None, cookie=None, csrf=None,
            token=None, headers=None):
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = "huella_session=" + cookie
        if csrf:
            h["X-CSRF-Token"] = csrf
        if token:
            h["Authorization"] = "Bearer " + token
        return self.on.request(method, path, body=body, auth=False,
                               headers=h)

    def admin(self, method, path, body=None):
        return self.on.request(method, path, body=body)

    account = ti.IdentityTest.account
    nss = ti.IdentityTest.__dict__["nss"]
    login = ti.IdentityTest.login

    def at(self, inst, fn, *args, **kw):
        """fn with the helpers talking to inst (h, b or c)."""
        before = self.on
        self.on = inst
        try:
            return fn(*args, **kw)
        finally:
            self.on = before

    def me(self, inst, cookie):
        st, _, doc = self.at(inst, self.req, "GET", "/api/v1/me",
                             cookie=cookie)
        return st, (doc or {}).get("error", {}).get("code")

    def wait_refused(self, inst, cookie, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if self.me(inst, cookie) == (401, "session_expired"):
                return
            time.sleep(0.05)
        self.fail("the session outlived the change: " + self.h.logs())

    def settle(self):
        """Long enough for several polls of every follower: what has not
        happened by then does not happen because of the feed."""
        time.sleep(1.5)

    def change_password(self, inst, session, current=PASSWORD,
                        new=NEW_PASSWORD):
        return self.at(inst, self.req, "PUT", "/api/v1/me/password",
                       {"current_password": current, "new_password": new},
                       cookie=session[0], csrf=session[1])

    def new_account(self, n):
        st, _, doc = self.account(n)
        self.assertEqual(st, 201, doc)

    # -- (b) a change through one nginx ends the sessions in the other ---------
    def test_a_password_change_through_a_ends_sessions_in_b(self):
        self.new_account(1)
        mine = self.login(1)                           # on A
        other_a = self.login(1)
        on_b = self.at(self.b, self.login, 1)
        on_c = self.at(self.c, self.login, 1)
        st, _, doc = self.change_password(self.h, mine)
        self.assertEqual(st, 204, doc)
        self.assertEqual(self.me(self.h, other_a[0]),
                         (401, "session_expired"))
        self.wait_refused(self.b, on_b[0])
        # opened after the change, on either: they survive the feed
        after_b = self.at(self.b, self.login, 1, NEW_PASSWORD)
        after_a = self.login(1, NEW_PASSWORD)
        self.settle()
        self.assertEqual(self.me(self.b, after_b[0]), (200, None))
        self.assertEqual(self.me(self.h, after_a[0]), (200, None))
        # the session that changed it goes on
        self.assertEqual(self.me(self.h, mine[0]), (200, None))
        # (d) without the feed, C learns only at the owner's next login
        self.assertEqual(self.me(self.c, on_c[0]), (200, None))
        self.at(self.c, self.login, 1, NEW_PASSWORD)
        self.assertEqual(self.me(self.c, on_c[0]), (401, "session_expired"))

    def test_b_a_password_change_through_b_ends_sessions_in_a(self):
        self.new_account(2)
        on_a = self.login(2)
        mine = self.at(self.b, self.login, 2)
        st, _, doc = self.change_password(self.b, mine)
        self.assertEqual(st, 204, doc)
        self.wait_refused(self.h, on_a[0])
        self.assertEqual(self.me(self.b, mine[0]), (200, None))

    def test_c_roles_change_through_a_ends_sessions_in_b(self):
        self.new_account(3)
        self.new_account(4)
        target_b = self.at(self.b, self.login, 3)
        bystander_b = self.at(self.b, self.login, 4)
        on_c = self.at(self.c, self.login, 3)
        st, _, doc = self.admin("PUT", f"/api/v1/accounts/{curp(3)}/roles",
                                {"roles": ["supervisor", "worker"]})
        self.assertEqual(st, 200, doc)
        self.wait_refused(self.b, target_b[0])
        again = self.at(self.b, self.login, 3)
        st, _, doc = self.at(self.b, self.req, "GET", "/api/v1/me",
                             cookie=again[0])
        self.assertEqual(st, 200, doc)
        self.assertIn("supervisor", doc["roles"])
        self.settle()
        self.assertEqual(self.me(self.b, again[0]), (200, None))
        self.assertEqual(self.me(self.b, bystander_b[0]), (200, None))
        # (d) C has no feed: the old roles live on there
        self.assertEqual(self.me(self.c, on_c[0]), (200, None))

    # -- (c) huellad away, then back: the follower catches up --------------------
    def test_d_b_catches_up_after_huellad_restarts(self):
        self.new_account(5)
        on_b = self.at(self.b, self.login, 5)
        mine = self.login(5)
        # B does not poll while its workers are stopped; the change commits
        # (durably), then huellad dies and comes back
        workers = self.b.workers()
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        for pid in workers:
            self.assertTrue(harness.wait_stopped(pid))
        st, _, doc = self.change_password(self.h, mine)
        self.assertEqual(st, 204, doc)
        self.h.kill_huellad(signal.SIGKILL)
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.5)             # B's links notice and retry meanwhile
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=20))
        self.assertTrue(self.b.wait_healthy())
        self.wait_refused(self.b, on_b[0])
        self.assertEqual(self.me(self.h, mine[0]), (200, None))

    # -- events pruned before B read them: fail closed ------------------------
    def test_e_pruned_events_end_older_sessions_in_b(self):
        self.new_account(6)
        self.new_account(7)
        unrelated_b = self.at(self.b, self.login, 6)
        workers = self.b.workers()
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        for pid in workers:
            self.assertTrue(harness.wait_stopped(pid))
        # more changes than huellad keeps, none about account 6
        for i in range(KEEP + 3):
            roles = ["worker", "auditor"] if i % 2 == 0 else ["worker"]
            st, _, doc = self.admin("PUT",
                                    f"/api/v1/accounts/{curp(7)}/roles",
                                    {"roles": roles})
            self.assertEqual(st, 200, doc)
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
        # B cannot tell what it missed: its older sessions end
        self.wait_refused(self.b, unrelated_b[0])
        with open(os.path.join(self.h.dir, "log",
                               "nginx-b-error.log")) as f:
            self.assertIn("were pruned before this nginx read them",
                          f.read())
        # B works again
        fresh = self.at(self.b, self.login, 6)
        self.settle()
        self.assertEqual(self.me(self.b, fresh[0]), (200, None))

    # -- the feed before the answer: the caller's own session survives ---------
    def holder(self, inst_port, client_port):
        """The nginx worker holding the connection from client_port."""
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established",
             f"( sport = :{inst_port} and dport = :{client_port} )"],
            capture_output=True, text=True).stdout
        pids = set(int(p) for p in re.findall(r"pid=(\d+)", out))
        self.assertEqual(len(pids), 1, out)
        return pids.pop()

    def account_record(self, n):
        out = subprocess.run(
            ["mdb_dump", "-p", "-s", "accounts", self.h.data],
            capture_output=True, text=True, errors="replace").stdout
        lines = out.splitlines()
        for i, line in enumerate(lines):
            if line == " " + curp(n) and i + 1 < len(lines):
                return lines[i + 1]
        return None

    def ended_lines(self):
        with open(os.path.join(self.h.dir, "log", "nginx-error.log")) as f:
            return len(re.findall(r"credential events \d+ to \d+ .*: "
                                  r"[1-9]\d* sessions ended", f.read()))

    def test_f_the_feed_first_does_not_end_the_changing_session(self):
        """huellad commits a password change, the worker holding the call is
        stopped before it reads the answer, and the other worker applies
        the change's event first: the session that made the change is not
        ended (its answer proves it anew), the other one is."""
        self.new_account(10)
        mine = self.login(10)
        other = self.login(10)
        before = self.account_record(10)
        seen = self.ended_lines()
        self.h.huellad.send_signal(signal.SIGSTOP)
        self.assertTrue(harness.wait_stopped(self.h.huellad.pid))
        conn = http.client.HTTPConnection("127.0.0.1", self.h.port,
                                          timeout=60)
        try:
            conn.connect()
            conn.request("PUT", "/api/v1/me/password", body=json.dumps(
                {"current_password": PASSWORD,
                 "new_password": NEW_PASSWORD}),
                headers={"Cookie": "huella_session=" + mine[0],
                         "X-CSRF-Token": mine[1],
                         "Content-Type": "application/json"})
            # the call is on its way once the other session is suspended
            end = time.time() + 10
            while self.me(self.h, other[0]) != (401, "session_expired"):
                self.assertLess(time.time(), end, "never suspended")
                time.sleep(0.02)
            pid = self.holder(self.h.port, conn.sock.getsockname()[1])
            os.kill(pid, signal.SIGSTOP)
            self.assertTrue(harness.wait_stopped(pid))
            self.h.huellad.send_signal(signal.SIGCONT)
            end = time.time() + 15
            while self.account_record(10) == before:
                self.assertLess(time.time(), end, "huellad did not commit")
                time.sleep(0.02)
            # the running worker applies the event (it ends the suspended
            # other session, and only notes the changing one)
            end = time.time() + 15
            while self.ended_lines() == seen:
                self.assertLess(time.time(), end, "the event was not applied")
                time.sleep(0.05)
            os.kill(pid, signal.SIGCONT)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 204, resp.read())
        finally:
            self.h.huellad.send_signal(signal.SIGCONT)
            for p in self.workers_a():
                os.kill(p, signal.SIGCONT)
            conn.close()
        self.assertEqual(self.me(self.h, mine[0]), (200, None))
        self.assertEqual(self.me(self.h, other[0]), (401, "session_expired"))
        self.settle()
        self.assertEqual(self.me(self.h, mine[0]), (200, None))

    def workers_a(self):
        out = subprocess.run(["pgrep", "-P", str(self.h.nginx.pid)],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    # -- huellad restored from an older backup ---------------------------------
    def test_g_a_restored_backup_is_followed_from_its_head(self):
        self.new_account(11)
        self.new_account(12)
        on_b = self.at(self.b, self.login, 11)
        dest = os.path.join(self.h.dir, "backup-g")
        out = subprocess.run(
            [os.path.join(harness.BUILD, "bin", "huellactl"), "backup",
             "--socket", self.h.sock, dest],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        # an event after the backup, applied by B
        watched = self.at(self.b, self.login, 12)
        st, _, doc = self.admin("PUT", f"/api/v1/accounts/{curp(12)}/roles",
                                {"roles": ["supervisor", "worker"]})
        self.assertEqual(st, 200, doc)
        self.wait_refused(self.b, watched[0])
        # restore: the log's head is now behind what B applied
        self.h.kill_huellad(signal.SIGTERM)
        os.rename(self.h.data, self.h.data + ".old")
        shutil.copytree(dest, self.h.data)
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=20))
        self.assertTrue(self.b.wait_healthy())
        log = os.path.join(self.h.dir, "log", "nginx-b-error.log")
        end = time.time() + 20
        while True:
            with open(log) as f:
                if "restored from an older backup?" in f.read():
                    break
            self.assertLess(time.time(), end, "B did not notice")
            time.sleep(0.05)
        # B follows the restored log: a later change still reaches it
        mine = self.login(11)
        st, _, doc = self.change_password(self.h, mine)
        self.assertEqual(st, 204, doc)
        self.wait_refused(self.b, on_b[0])

    def count_in_log(self, name, text):
        with open(os.path.join(self.h.dir, "log", name)) as f:
            return f.read().count(text)

    def test_j_a_restored_log_that_grew_again_fails_closed(self):
        """huellad restored from a backup and changed again while B was
        away: the numbers B applied now name other events.  B cannot tell
        what it missed, so every session it holds ends."""
        for n in (13, 14, 15):
            self.new_account(n)
        stale_b = self.at(self.b, self.login, 13)
        bystander_b = self.at(self.b, self.login, 14)
        dest = os.path.join(self.h.dir, "backup-j")
        out = subprocess.run(
            [os.path.join(harness.BUILD, "bin", "huellactl"), "backup",
             "--socket", self.h.sock, dest],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        probe = self.at(self.b, self.login, 15)
        st, _, doc = self.admin("PUT", f"/api/v1/accounts/{curp(15)}/roles",
                                {"roles": ["supervisor", "worker"]})
        self.assertEqual(st, 200, doc)
        self.wait_refused(self.b, probe[0])        # B applied it
        workers = self.b.workers()
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        for pid in workers:
            self.assertTrue(harness.wait_stopped(pid))
        restored = "restored from an older backup?"
        seen = self.count_in_log("nginx-error.log", restored)
        self.h.kill_huellad(signal.SIGTERM)
        shutil.rmtree(self.h.data + ".old", ignore_errors=True)
        os.rename(self.h.data, self.h.data + ".old")
        shutil.copytree(dest, self.h.data)
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=20))
        end = time.time() + 20
        while self.count_in_log("nginx-error.log", restored) == seen:
            self.assertLess(time.time(), end, "A did not notice")
            time.sleep(0.05)
        # the restored log grows again, with the number B applied
        mine = self.login(13)
        st, _, doc = self.change_password(self.h, mine)
        self.assertEqual(st, 204, doc)
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
        self.assertTrue(self.b.wait_healthy())
        self.wait_refused(self.b, stale_b[0])
        self.assertEqual(self.me(self.b, bystander_b[0]),
                         (401, "session_expired"))
        self.assertEqual(self.count_in_log("nginx-b-error.log",
                                           "is not the one applied"), 1)
        fresh = self.at(self.b, self.login, 14)
        self.settle()
        self.assertEqual(self.me(self.b, fresh[0]), (200, None))

    # -- a revoked service token leaves every follower's cache ----------------
    def test_i_a_token_revoked_through_a_is_refused_by_b(self):
        st, _, doc = self.admin("POST", "/api/v1/tokens",
                                {"name": "lector de nómina",
                                 "roles": ["auditor"]})
        self.assertEqual(st, 201, doc)
        token, tid = doc["token"], doc["id"]
        for inst in (self.b, self.c):       # cached there (1h)
            st, _, doc = self.at(inst, self.req, "GET", "/api/v1/me",
                                 token=token)
            self.assertEqual(st, 200, doc)
        st, _, doc = self.admin("DELETE", f"/api/v1/tokens/{tid}")
        self.assertEqual(st, 204, doc)
        end = time.time() + 30
        while True:
            st, _, doc = self.at(self.b, self.req, "GET", "/api/v1/me",
                                 token=token)
            if st == 401:
                break
            self.assertLess(time.time(), end, "B still takes the token")
            time.sleep(0.05)
        self.assertEqual(doc["error"]["code"], "invalid_token")
        # (d) C has no feed: its cached answer lives on (huella_token_cache)
        st, _, doc = self.at(self.c, self.req, "GET", "/api/v1/me",
                             token=token)
        self.assertEqual(st, 200, doc)

    # -- the directive ---------------------------------------------------------
    def test_h_nginx_t_checks_huella_session_sync(self):
        with open(self.h.nginx_conf) as f:
            conf = f.read()
        line = f"huella_session_sync {SYNC};"
        cases = (("huella_session_sync 50ms;", 1, "from 100ms to 1h"),
                 ("huella_session_sync 2h;", 1, "from 100ms to 1h"),
                 ("huella_session_sync sometimes;", 1, "from 100ms to 1h"),
                 (line + "\n    huella_session_sync off;", 1,
                  "is duplicate"),
                 ("huella_session_sync off;", 0, ""),
                 ("huella_session_sync 1s;", 0, ""))
        for new, fails, why in cases:
            path = os.path.join(self.h.dir, "sync-t.conf")
            with open(path, "w") as f:
                f.write(conf.replace(line, new, 1))
            env = dict(os.environ)
            if self.h.preload:      # an ASan-built module
                env["LD_PRELOAD"] = self.h.preload
                env["ASAN_OPTIONS"] = "detect_leaks=0"
            r = subprocess.run(["/usr/sbin/nginx", "-t", "-p",
                                os.path.join(self.h.dir, "nginx"), "-c",
                                path, "-e", "/dev/null"],
                               capture_output=True, text=True, timeout=20,
                               env=env)
            self.assertEqual(r.returncode != 0, bool(fails), (new, r.stderr))
            self.assertIn(why, r.stderr, new)


if __name__ == "__main__":
    harness.main()
