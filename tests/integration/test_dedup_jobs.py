"""Queued dedup jobs (issue 5, item 6; docs/devices.md "Queued dedup"):
an enrollment whose search exceeds enrollment.dedup_sync_max_comparisons,
or sent with `Prefer: respond-async`, is answered 202 with a job id,
Location and status URL; GET /api/v1/dedup-jobs/{id} shows queued ->
running (progress) -> done with the answer the synchronous call would
have given (folio + receipt, or duplicate_suspect with the case id only);
only the owning employer, admins and auditors see a job; the same CURP
cannot be enrolled twice while its job is pending; a synchronous
enrollment of the same finger under another CURP committed while a job
scans is caught by the recheck at commit; kill -9 of huellad at any moment
leaves every accepted job to finish exactly once after the restart.

The gallery is 400 synthetic templates (`huellactl synth`), and
enrollment.debug_dedup_job_pause_ms (tests only) slows a job's scan so
that "running" and a kill in the middle of a scan can be observed.
"""
import base64
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BUILD, DATA, Huella, main, make_curp
from test_enrollment import Device, finger, face

RFC_E = "AAA010101AAA"
RFC_O = "EKU9003173C9"
HUELLACTL = os.path.join(BUILD, "bin", "huellactl")
GALLERY = 400
SYNC_MAX = 1000          # comparisons: 2 fingers x 400 stay synchronous


def finger2004(position, name, db):
    """A finger of FVC 2004 (used by no other test of this file)."""
    with open(os.path.join(DATA, "fvc2004", db, name), "rb") as f:
        return {"position": position, "format": "iso19794-2:2005",
                "data": base64.b64encode(f.read()).decode()}


class DedupJobsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.h = Huella(deadline="5s", extra_yaml=(
            "\nenrollment:\n"
            f"  dedup_sync_max_comparisons: {SYNC_MAX}\n"
            "  debug_dedup_job_pause_ms: 40\n"))
        with open(cls.h.config) as f:
            text = f.read()
        with open(cls.h.config, "w") as f:
            f.write(text.replace("matcher:\n", "matcher:\n  allow_debug: "
                                 "true\n", 1))
        try:
            cls.h.start()
            cls.tmp = tempfile.mkdtemp(prefix="huella-jobs-", dir=cls.h.dir)
            synth = os.path.join(cls.tmp, "synth")
            subprocess.run([HUELLACTL, "synth", str(GALLERY), synth],
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run([HUELLACTL, "import", "--socket", cls.h.sock,
                            synth], check=True, capture_output=True)
            cls.rep = cls.token("rep-e", ["employer_rep"], RFC_E)
            cls.rep_o = cls.token("rep-o", ["employer_rep"], RFC_O)
            cls.auditor = cls.token("auditor", ["auditor"])
            cls.worker = cls.token("worker", ["worker"])
            cls.dev = cls.device("enr", cls.rep)
        except Exception:
            print(cls.h.logs())
            cls.h.cleanup()
            raise
        cls.n = 7000

    @classmethod
    def tearDownClass(cls):
        logs = cls.h.logs()
        rc = cls.h.cleanup()
        if "ERROR: AddressSanitizer" in logs or "runtime error:" in logs:
            print(logs)
            raise AssertionError("sanitizer report in logs")
        if rc not in (0, None):
            print(logs)
            raise AssertionError(f"huellad exited with {rc}")

    @classmethod
    def token(cls, name, roles, rfc=None):
        body = {"name": name, "roles": roles}
        if rfc:
            body["employer_rfc"] = rfc
        st, _, doc = cls.h.request("POST", "/api/v1/tokens", body)
        assert st == 201, doc
        return doc["token"]

    @classmethod
    def device(cls, name, token):
        d = Device(cls.tmp, name)
        st, _, doc = cls.call("POST", "/api/v1/devices", {
            "public_key_pem": d.pub, "make": "Acme", "model": "FP-1",
            "serial": name + os.urandom(4).hex(), "purpose": "enrollment"},
            token)
        assert st == 201, doc
        d.id = doc["device_id"]
        return d

    @classmethod
    def call(cls, method, path, body=None, token=None, headers=None,
             raw=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        return cls.h.request(method, path, body=body, raw=raw, headers=h,
                             auth=token is None)

    def curp(self):
        DedupJobsTest.n += 1
        return make_curp(DedupJobsTest.n)

    def enroll(self, curp, body, prefer_async=False, token=None):
        path = f"/api/v1/subjects/{curp}/enrollment"
        raw = json.dumps(body).encode()
        h = self.dev.sign("POST", path, raw)
        if prefer_async:
            h["Prefer"] = "respond-async"
        return self.call("POST", path, token=token or self.rep, raw=raw,
                         headers=h)

    def job(self, job_id, token=None):
        st, _, doc = self.call("GET", f"/api/v1/dedup-jobs/{job_id}",
                               token=token or self.rep)
        self.assertEqual(st, 200, doc)
        return doc

    def wait_job(self, job_id, timeout=120, token=None):
        """Polls until done or failed; returns (final doc, states seen)."""
        seen = []
        end = time.time() + timeout
        while time.time() < end:
            st, _, doc = self.call("GET", f"/api/v1/dedup-jobs/{job_id}",
                                   token=token or self.rep)
            if st == 200:
                if not seen or seen[-1] != doc["status"]:
                    seen.append(doc["status"])
                if doc["status"] in ("done", "failed"):
                    return doc, seen
            time.sleep(0.05)
        self.fail(f"job {job_id} not finished: {seen}")

    def lookup(self, curp):
        st, _, doc = self.call("GET", f"/api/v1/subjects?curp={curp}",
                               token=self.rep)
        if st == 404:
            return {"biometrics": {"status": "none"}}
        self.assertEqual(st, 200, doc)
        return doc

    def audit_count(self, action, curp):
        st, _, doc = self.call("GET", "/api/v1/audit?limit=150",
                               token=self.auditor)
        self.assertEqual(st, 200, doc)
        entries = doc.get("entries", doc if isinstance(doc, list) else [])
        return sum(1 for e in entries if e.get("action") == action
                   and e.get("target") == curp)

    def wait_up(self):
        self.assertTrue(self.h.wait_healthy(30), self.h.logs())
        for _ in range(200):       # every worker's link back up
            st, _, _ = self.call("GET", "/api/v1/devices", token=self.rep)
            if st == 200:
                return
            time.sleep(0.1)

    # -- the flow ---------------------------------------------------------------
    def test_prefer_async_enrolls_with_receipt(self):
        curp = self.curp()
        body = {"fingers": [finger(2, "101_1.iso"), finger(7, "102_1.iso")],
                "face": face()}
        st, hd, doc = self.enroll(curp, body, prefer_async=True)
        self.assertEqual(st, 202, doc)
        self.assertEqual(doc["status"], "queued")
        self.assertTrue(doc["job_id"].startswith("dj_"), doc)
        self.assertEqual(doc["status_url"],
                         f"/api/v1/dedup-jobs/{doc['job_id']}")
        self.assertEqual(hd.get("location"), doc["status_url"])
        self.assertEqual(hd.get("preference-applied"), "respond-async")
        self.assertGreaterEqual(doc["queue_position"], 1)
        self.assertTrue(doc["progress"]["total"] >= 2 * GALLERY
                        and doc["progress"]["total"] % 2 == 0, doc)
        final, seen = self.wait_job(doc["job_id"])
        self.assertIn("running", seen, seen)
        self.assertEqual((final["status"], final["outcome"],
                          final["http_status"]), ("done", "enrolled", 201),
                         final)
        compared = final["progress"]["compared"]
        self.assertEqual(final["progress"]["total"], compared)
        self.assertIsNone(final["queue_position"])
        res = final["result"]
        self.assertEqual((res["curp"], res["device_id"]), (curp, self.dev.id))
        self.assertTrue(res["folio"].startswith("HUE-"), res)
        # the receipt is the one the folio gives
        st, _, rec = self.call("GET", f"/api/v1/receipts/{res['folio']}",
                               token=self.rep)
        self.assertEqual((st, rec["receipt"]), (200, res["receipt"]), rec)
        searched = rec["payload"]["dedup"]["searched"]
        self.assertGreaterEqual(searched, GALLERY)
        self.assertEqual(compared, 2 * searched)
        look = self.lookup(curp)
        self.assertEqual(look["biometrics"]["status"], "enrolled", look)
        self.assertEqual(look["folio"], res["folio"])
        # already enrolled: the synchronous answer
        st, _, doc = self.enroll(curp, body, prefer_async=True)
        self.assertEqual((st, doc["error"]["code"]), (409,
                                                      "already_enrolled"))

    def test_large_search_is_queued_small_is_not(self):
        small = {"fingers": [finger(3, "103_1.iso")]}
        st, _, doc = self.enroll(self.curp(), small)
        self.assertEqual(st, 201, doc)           # 400 comparisons: sync
        big = {"fingers": [finger(1, "104_1.iso"), finger(6, "104_3.iso",
                                                          db="DB2_B"),
                           finger(4, "105_1.iso", db="DB2_B")]}
        curp = self.curp()
        st, hd, doc = self.enroll(curp, big)     # 1200 > 1000: queued
        self.assertEqual(st, 202, doc)
        self.assertNotIn("preference-applied", hd)
        total = doc["progress"]["total"]     # 3 x the gallery right now
        self.assertTrue(total > 3 * GALLERY and total % 3 == 0, doc)
        # the same CURP again while its job is pending
        st, _, again = self.enroll(curp, big)
        self.assertEqual((st, again["error"]["code"]), (409, "dedup_pending"),
                         again)
        self.assertEqual(again["error"]["job_id"], doc["job_id"])
        # the worker lookup says so, though nothing else of them exists yet
        st, _, look = self.call("GET", f"/api/v1/subjects?curp={curp}",
                                token=self.rep)
        self.assertEqual(st, 200, look)
        self.assertIn("dedup_queued", look["flags"])
        self.assertEqual(look["dedup_job_id"], doc["job_id"])
        final, _ = self.wait_job(doc["job_id"])
        self.assertEqual(final["outcome"], "enrolled", final)

    def test_duplicate_suspect_and_visibility(self):
        a, b = self.curp(), self.curp()
        st, _, doc = self.enroll(a, {"fingers": [finger(5, "107_1.iso")]},
                                 prefer_async=True)
        self.assertEqual(st, 202, doc)
        ja = doc["job_id"]
        st, _, doc = self.enroll(b, {"fingers": [finger(5, "107_2.iso")]},
                                 prefer_async=True)
        self.assertEqual(st, 202, doc)
        jb = doc["job_id"]
        fa, _ = self.wait_job(ja)
        fb, _ = self.wait_job(jb)
        self.assertEqual(fa["outcome"], "enrolled", fa)
        self.assertEqual((fb["status"], fb["outcome"], fb["http_status"]),
                         ("done", "duplicate_suspect", 409), fb)
        err = fb["result"]["error"]
        self.assertEqual(err["code"], "duplicate_suspect")
        self.assertTrue(err["case_id"].startswith("dd_"), err)
        self.assertNotIn(a, json.dumps(fb))      # never the other identity
        self.assertEqual(self.lookup(b)["biometrics"]["status"], "none")
        # the auditor's case holds both
        st, _, cases = self.call("GET", "/api/v1/dedup?status=open",
                                 token=self.auditor)
        c = [x for x in cases["cases"] if x["case_id"] == err["case_id"]][0]
        self.assertEqual(c["curp"], b)
        self.assertIn(a, [m["curp"] for m in c["matches"]])
        # who sees the job: the owner, auditors, admins; not another
        # employer (404) nor a worker (403)
        self.assertEqual(self.job(jb, self.auditor)["outcome"],
                         "duplicate_suspect")
        st, _, doc = self.call("GET", f"/api/v1/dedup-jobs/{jb}")
        self.assertEqual(st, 200, doc)
        st, _, doc = self.call("GET", f"/api/v1/dedup-jobs/{jb}",
                               token=self.rep_o)
        self.assertEqual((st, doc["error"]["code"]), (404, "job_not_found"))
        st, _, doc = self.call("GET", f"/api/v1/dedup-jobs/{jb}",
                               token=self.worker)
        self.assertEqual(st, 403)
        st, _, doc = self.call("GET", "/api/v1/dedup-jobs/dj_0000000000000000",
                               token=self.auditor)
        self.assertEqual(st, 404)
        st, _, doc = self.call("GET", "/api/v1/dedup-jobs/a%20b",
                               token=self.auditor)
        self.assertEqual(st, 422)
        # the lists
        st, _, doc = self.call("GET", "/api/v1/dedup-jobs", token=self.rep)
        self.assertEqual(st, 200, doc)
        ids = [j["job_id"] for j in doc["jobs"]]
        self.assertLess(ids.index(jb), ids.index(ja))     # newest first
        self.assertTrue(all(j["employer_rfc"] == RFC_E for j in doc["jobs"]))
        self.assertNotIn("receipt", json.dumps(doc["jobs"]))
        st, _, doc = self.call("GET", "/api/v1/dedup-jobs", token=self.rep_o)
        self.assertEqual((st, doc["jobs"]), (200, []))
        st, _, doc = self.call("GET", "/api/v1/dedup-jobs?status=done",
                               token=self.auditor)
        self.assertTrue({ja, jb} <= {j["job_id"] for j in doc["jobs"]})
        st, _, doc = self.call("GET", "/api/v1/dedup-jobs?status=queued",
                               token=self.auditor)
        self.assertFalse({ja, jb} & {j["job_id"] for j in doc["jobs"]})
        st, _, doc = self.call("GET", "/api/v1/dedup-jobs?status=late",
                               token=self.auditor)
        self.assertEqual((st, doc["error"]["code"]), (422, "invalid_status"))
        st, _, doc = self.call("GET", "/api/v1/dedup-jobs", token=self.worker)
        self.assertEqual(st, 403)

    def test_race_sync_enrollment_during_a_job_scan(self):
        """The same finger under two CURPs: one queued (slow scan), one
        synchronous committed while the job scans.  The job's scan cannot
        see it (older snapshot); the recheck at commit must."""
        a, b = self.curp(), self.curp()
        st, _, doc = self.enroll(a, {"fingers": [finger(9, "108_1.iso",
                                                        db="DB2_B")]},
                                 prefer_async=True)
        self.assertEqual(st, 202, doc)
        ja = doc["job_id"]
        for _ in range(400):
            j = self.job(ja)
            if j["status"] == "running" and j["progress"]["compared"] > 0:
                break
            time.sleep(0.02)
        self.assertEqual(j["status"], "running", j)
        st, _, doc = self.enroll(b, {"fingers": [finger(9, "108_2.iso",
                                                        db="DB2_B")]})
        self.assertEqual(st, 201, doc)          # committed during the scan
        j = self.job(ja)
        self.assertEqual(j["status"], "running", j)  # still scanning
        final, _ = self.wait_job(ja)
        self.assertEqual((final["outcome"], final["result"]["error"]["code"]),
                         ("duplicate_suspect", "duplicate_suspect"), final)
        self.assertEqual(self.lookup(a)["biometrics"]["status"], "none")
        st, _, cases = self.call("GET", "/api/v1/dedup?status=open",
                                 token=self.auditor)
        c = [x for x in cases["cases"]
             if x["case_id"] == final["result"]["error"]["case_id"]][0]
        self.assertIn(b, [m["curp"] for m in c["matches"]])

    def test_race_concurrent_sync_enrollments_of_one_finger(self):
        """Four synchronous enrollments of one template under four CURPs
        at once: their scans run side by side on the pool and cannot see
        each other; exactly one may be enrolled."""
        curps = [self.curp() for _ in range(4)]
        out = {}
        reqs = []
        for k, curp in enumerate(curps):
            path = f"/api/v1/subjects/{curp}/enrollment"
            raw = json.dumps({"fingers": [finger(
                8, "109_1.iso", db="DB2_B")]}).encode()
            reqs.append((curp, path, raw, self.dev.sign("POST", path, raw)))
        gate = threading.Barrier(len(reqs))

        def go(curp, path, raw, h):
            gate.wait()
            st, _, doc = self.call("POST", path, token=self.rep, raw=raw,
                                   headers=h)
            out[curp] = (st, (doc or {}).get("error", {}).get("code"))

        ts = [threading.Thread(target=go, args=r) for r in reqs]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        got = sorted(out.values(), key=lambda x: x[0])
        self.assertEqual(got, [(201, None)] + [(409, "duplicate_suspect")]
                         * 3, out)
        enrolled = [c for c in curps
                    if self.lookup(c)["biometrics"]["status"] == "enrolled"]
        self.assertEqual(len(enrolled), 1, out)

    def test_fifo_and_queue_position(self):
        ids = []
        for i in range(3):
            st, _, doc = self.enroll(self.curp(), {"fingers": [
                finger(1, f"{101 + i}_4.iso", db="DB2_B")]},
                prefer_async=True)
            self.assertEqual(st, 202, doc)
            ids.append(doc["job_id"])
        docs = [self.job(i) for i in ids]
        positions = [d["queue_position"] for d in docs
                     if d["status"] in ("queued", "running")]
        self.assertEqual(positions, sorted(positions), docs)
        finished = []
        for i in ids:
            d, _ = self.wait_job(i)
            self.assertEqual(d["outcome"], "enrolled", d)
            finished.append(d["finished"])
        self.assertEqual(finished, sorted(finished))

    # -- crash ----------------------------------------------------------------
    def test_zz_kill9_jobs_resume_and_complete_once(self):
        rounds = []
        # (a) queued and running jobs killed mid-scan; (b) kills at several
        # moments after the 202, one of them near the job's commit
        for i, delay in enumerate((None, 0.0, 0.05, 0.3, 0.6, 0.9, 1.2)):
            curps = [self.curp(), self.curp()]
            jobs = []
            for k, curp in enumerate(curps):
                # a finger of its own: round i, CURP k
                st, _, doc = self.enroll(curp, {"fingers": [
                    finger2004(2, f"{101 + i}_1.iso",
                               ("DB1_B", "DB2_B")[k])]},
                    prefer_async=True)
                self.assertEqual(st, 202, doc)
                jobs.append(doc["job_id"])
            if delay is None:           # wait until the first one scans
                for _ in range(400):
                    j = self.job(jobs[0])
                    if j["status"] == "running" \
                            and j["progress"]["compared"] > 0:
                        break
                    time.sleep(0.02)
            else:
                time.sleep(delay)
            before = [self.job(j)["status"] for j in jobs]
            self.h.kill_huellad()
            self.h.start_huellad()
            self.wait_up()
            for curp, j in zip(curps, jobs):
                final, _ = self.wait_job(j)
                self.assertEqual((final["status"], final["outcome"]),
                                 ("done", "enrolled"), final)
                look = self.lookup(curp)
                self.assertEqual(look["biometrics"]["status"], "enrolled")
                self.assertEqual(look["folio"], final["result"]["folio"])
                self.assertEqual(self.audit_count("enrollment", curp), 1)
                self.assertEqual(self.audit_count("dedup_job_finished",
                                                  curp), 1)
            rounds.append((delay, before))
        print("kill -9 rounds (delay after 202, states before):", rounds)
        seen = {s for _, b in rounds for s in b}
        self.assertIn("running", seen, rounds)


if __name__ == "__main__":
    main()
