"""The failure path: kill -9 of huellad in the middle of a write load.

Every request must end (fast 503s while the matcher is away, never a hang),
/healthz must report the matcher down and then up again once huellad is
back, and every write that was acknowledged with 2xx must still be there.
"""
import os
import signal
import subprocess
import threading
import time
import unittest

from harness import Huella, db1, iso, main, make_curp, wait_stopped

ISO = "iso19794-2:2005"


class FailoverTest(unittest.TestCase):

    def setUp(self):
        self.h = Huella(deadline="1s")
        try:
            self.h.start()
        except Exception:
            print(self.h.logs())
            self.h.cleanup()
            raise

    def tearDown(self):
        logs = self.h.logs()
        self.h.cleanup()
        self.assertNotIn("ERROR: AddressSanitizer", logs)

    def test_kill9_mid_load_loses_nothing_acknowledged(self):
        acked, statuses = [], []
        lock = threading.Lock()
        stop = threading.Event()
        template = iso(db1(103, 1))

        def writer(wid):
            n = 0
            while not stop.is_set() and n < 400:
                c = make_curp(20000 + wid * 1000 + n)
                n += 1
                try:
                    st, _, _ = self.h.request(
                        "POST", "/api/v1/subjects",
                        {"curp": c, "name": f"Carga {wid}-{n}"}, timeout=10)
                    if st == 201:
                        st2, _, _ = self.h.request(
                            "PUT", f"/api/v1/subjects/{c}/fingers/1",
                            {"format": ISO, "data": template}, timeout=10)
                        with lock:
                            acked.append((c, st2 == 201))
                except OSError as e:       # a hang would surface here
                    st = f"client error: {e}"
                with lock:
                    statuses.append(st)

        threads = [threading.Thread(target=writer, args=(w,))
                   for w in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        self.h.kill_huellad(signal.SIGKILL)

        # While it is gone, the health check says so and API calls get 503.
        st, _, doc = self.h.request("GET", "/healthz", auth=False, timeout=5)
        self.assertEqual(st, 503)
        self.assertEqual(doc["matcher"], "down")
        st, hdrs, doc = self.h.request("GET", "/api/v1/subjects/"
                                       + make_curp(1), timeout=5)
        self.assertEqual(st, 503)
        self.assertIn("retry-after", hdrs)
        self.assertIn("code", doc["error"])

        time.sleep(0.5)
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=10), self.h.logs())
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()

        self.assertTrue(acked, "no write was acknowledged before the kill")
        self.assertIn(503, statuses, "no 503 seen while huellad was down")
        hung = [s for s in statuses if isinstance(s, str)]
        self.assertEqual(hung, [])
        unexpected = [s for s in statuses if s not in (201, 503)]
        self.assertEqual(unexpected, [])
        for c, finger_acked in acked:
            st, _, doc = self.h.request("GET", f"/api/v1/subjects/{c}")
            self.assertEqual(st, 200, c)
            if finger_acked:
                self.assertEqual([f["position"] for f in doc["fingers"]], [1])

    def test_healthz_down_then_up(self):
        self.h.kill_huellad(signal.SIGKILL)
        st, _, doc = self.h.request("GET", "/healthz", auth=False, timeout=5)
        self.assertEqual(st, 503)
        self.assertEqual(doc, {"status": "degraded", "matcher": "down"})
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=10))

    def test_hung_matcher_gives_503_at_deadline(self):
        self.h.huellad.send_signal(signal.SIGSTOP)
        # The stop lands asynchronously: wait until every thread is stopped,
        # or a spinning ring thread may still answer the next request.
        self.assertTrue(wait_stopped(self.h.huellad.pid))
        try:
            st, hdrs, doc = self.h.request(
                "GET", "/api/v1/subjects/" + make_curp(2), timeout=10)
            self.assertEqual(st, 503)
            self.assertIn("retry-after", hdrs)
        finally:
            self.h.huellad.send_signal(signal.SIGCONT)
        self.assertTrue(self.h.wait_healthy(timeout=10))


class NginxLifecycleTest(unittest.TestCase):
    """Reload (HUP) and worker respawn: new workers attach by themselves."""

    def setUp(self):
        self.h = Huella(deadline="1s")
        try:
            self.h.start()
        except Exception:
            print(self.h.logs())
            self.h.cleanup()
            raise

    def tearDown(self):
        logs = self.h.logs()
        self.h.cleanup()
        self.assertNotIn("ERROR: AddressSanitizer", logs)

    def _worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.h.nginx.pid)],
                             capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}

    def _wait_for(self, pred, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            if pred():
                return True
            time.sleep(0.05)
        return False

    def test_reload_keeps_serving(self):
        c = make_curp(31000)
        st, _, _ = self.h.request("POST", "/api/v1/subjects",
                                  {"curp": c, "name": "Recarga"})
        self.assertEqual(st, 201)
        old = self._worker_pids()
        self.h.nginx.send_signal(signal.SIGHUP)
        self.assertTrue(self._wait_for(
            lambda: self._worker_pids() and not (self._worker_pids() & old)),
            "old workers did not go away after HUP")
        self.assertTrue(self.h.wait_healthy(timeout=10))
        st, _, doc = self.h.request("GET", f"/api/v1/subjects/{c}")
        self.assertEqual(st, 200)
        self.assertEqual(doc["name"], "Recarga")

    def test_killed_worker_is_replaced_and_attaches(self):
        victims = self._worker_pids()
        self.assertTrue(victims)
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        self.assertTrue(self._wait_for(
            lambda: self._worker_pids() and not (self._worker_pids()
                                                 & victims)))
        self.assertTrue(self.h.wait_healthy(timeout=10))
        seen = set()
        for _ in range(20):
            st, _, doc = self.h.request("GET", "/healthz", auth=False)
            self.assertEqual(st, 200)
            self.assertEqual(doc["matcher"], "up")
            seen.add(doc.get("worker_pid"))
        self.assertFalse(seen & victims)

    def test_worker_killed_mid_write_load_loses_nothing(self):
        acked, errors = [], []
        lock = threading.Lock()

        def writer(wid):
            for n in range(60):
                c = make_curp(40000 + wid * 100 + n)
                try:
                    st, _, _ = self.h.request(
                        "POST", "/api/v1/subjects",
                        {"curp": c, "name": f"W{wid}"}, timeout=10)
                except OSError as e:
                    # the connection a killed worker held dies with it
                    with lock:
                        errors.append(str(e))
                    continue
                if st == 201:
                    with lock:
                        acked.append(c)

        threads = [threading.Thread(target=writer, args=(w,))
                   for w in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        for pid in list(self._worker_pids())[:1]:
            os.kill(pid, signal.SIGKILL)
        for t in threads:
            t.join()
        self.assertTrue(acked)
        for c in acked:
            st, _, _ = self.h.request("GET", f"/api/v1/subjects/{c}")
            self.assertEqual(st, 200, c)


if __name__ == "__main__":
    main()
