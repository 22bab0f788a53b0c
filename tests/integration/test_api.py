"""HTTP API v1 end to end: real nginx + module + huellad on loopback; and
huellactl's matching contracts (compare, synth, import; issue 3)."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

from harness import (BUILD, DATA, ROOT, HuellaTestCase, db1, iso, main,
                     make_curp)

sys.path.insert(0, os.path.join(ROOT, "tools"))
import curp as curp_tool  # noqa: E402

ISO = "iso19794-2:2005"
HUELLACTL = os.path.join(BUILD, "bin", "huellactl")


def ctl(*args):
    """huellactl ARGS from the checkout: (exit code, stdout, stderr)."""
    r = subprocess.run([HUELLACTL] + list(args), capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    return r.returncode, r.stdout, r.stderr


def iso_to_ansi(src, dst):
    """The same minutiae as an ANSI INCITS 378-2004 record (2-byte length,
    CBEFF product id, angles in 2-degree units)."""
    with open(src, "rb") as f:
        d = f.read()
    n = d[27]
    mins = b""
    for i in range(n):
        xy, y, angle, q = struct.unpack(">HHBB", d[28 + 6 * i:34 + 6 * i])
        mins += struct.pack(">HHBB", xy, y, (angle * 180 + 128) // 256 % 180,
                            q)
    length = 26 + 4 + 6 * n + 2
    with open(dst, "wb") as f:
        f.write(b"FMR\0 20\0" + struct.pack(">H", length)
                + struct.pack(">HH", 0x33, 1) + d[12:22] + d[22:24]
                + d[24:28] + mins + b"\0\0")


class ApiTest(HuellaTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Ten subjects, finger 2 = impression 1 of fingers 101..110.
        cls.curps = {}
        for i, finger in enumerate(range(101, 111)):
            c = make_curp(1000 + i)
            st, _, doc = cls.h.request("POST", "/api/v1/subjects", {
                "curp": c, "name": f"Persona {finger}"})
            assert st == 201, (st, doc)
            st, _, doc = cls.h.request(
                "PUT", f"/api/v1/subjects/{c}/fingers/2",
                {"format": ISO, "data": iso(db1(finger, 1))})
            assert st == 201, (st, doc)
            cls.curps[finger] = c

    def test_healthz(self):
        st, hdrs, doc = self.h.request("GET", "/healthz", auth=False)
        self.assertEqual(st, 200)
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(doc["matcher"], "up")
        self.assertIn("application/json", hdrs["content-type"])

    def test_requires_token(self):
        st, hdrs, doc = self.h.request("GET", "/api/v1/subjects/"
                                       + self.curps[101], auth=False)
        self.assertEqual(st, 401)
        self.assertEqual(doc["error"]["code"], "unauthenticated")
        self.assertEqual(hdrs["www-authenticate"], 'Bearer realm="huella"')
        st, _, doc = self.h.request(
            "GET", "/api/v1/subjects/" + self.curps[101], auth=False,
            headers={"Authorization": "Bearer wrong"})
        self.assertEqual((st, doc["error"]["code"]), (401, "invalid_token"))
        # a malformed Authorization header says what is wrong with it
        for value, why in (
                ("Basic Zm9vOmJhcg==", 'must be "Bearer <token>"'),
                ("Bearer   ", 'no token after "Bearer"'),
                ("Bearer " + "A" * 600, "longer than 512 bytes")):
            st, _, doc = self.h.request(
                "GET", "/api/v1/subjects/" + self.curps[101], auth=False,
                headers={"Authorization": value})
            self.assertEqual((st, doc["error"]["code"]),
                             (401, "invalid_token"), value)
            self.assertIn(why, doc["error"]["message"])

    def test_subject_lifecycle(self):
        c = make_curp(5000)
        st, hdrs, doc = self.h.request("POST", "/api/v1/subjects", {
            "curp": c, "nss": "12851000005", "name": "Prueba Uno"})
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["curp"], c)
        st, _, doc = self.h.request("POST", "/api/v1/subjects",
                                    {"curp": c, "name": "Otra"})
        self.assertEqual(st, 409)
        self.assertIn("code", doc["error"])
        st, _, doc = self.h.request("GET", f"/api/v1/subjects/{c}")
        self.assertEqual(st, 200)
        self.assertEqual(doc["name"], "Prueba Uno")
        self.assertEqual(doc["nss"], "12851000005")
        self.assertEqual(doc["fingers"], [])
        st, _, _ = self.h.request("DELETE", f"/api/v1/subjects/{c}")
        self.assertIn(st, (200, 204))
        st, _, doc = self.h.request("GET", f"/api/v1/subjects/{c}")
        self.assertEqual(st, 404)

    def test_invalid_curp(self):
        bad = make_curp(5001)[:-1] + "X"
        st, _, doc = self.h.request("POST", "/api/v1/subjects",
                                    {"curp": bad, "name": "X"})
        self.assertEqual(st, 422)
        self.assertEqual(doc["error"]["field"], "curp")
        good = make_curp(5002)
        wrong_digit = good[:-1] + str((int(good[-1]) + 1) % 10)
        st, _, doc = self.h.request("POST", "/api/v1/subjects",
                                    {"curp": wrong_digit, "name": "X"})
        self.assertEqual(st, 422)
        self.assertEqual(doc["error"]["field"], "curp")

    def test_invalid_nss(self):
        st, _, doc = self.h.request("POST", "/api/v1/subjects", {
            "curp": make_curp(5003), "nss": "12851000006", "name": "X"})
        self.assertEqual(st, 422)
        self.assertEqual(doc["error"]["field"], "nss")

    def test_malformed_json(self):
        st, _, doc = self.h.request("POST", "/api/v1/subjects",
                                    raw=b'{"curp": ')
        self.assertEqual(st, 400)
        self.assertIn("code", doc["error"])

    def test_finger_bad_template(self):
        c = self.curps[101]
        for name in sorted(os.listdir(os.path.join(DATA, "invalid"))):
            st, _, doc = self.h.request(
                "PUT", f"/api/v1/subjects/{c}/fingers/3",
                {"format": ISO,
                 "data": iso(os.path.join(DATA, "invalid", name))})
            self.assertEqual(st, 422, (name, doc))
            self.assertEqual(doc["error"]["field"], "data")
            self.assertTrue(doc["error"]["message"])

    def test_finger_low_quality_refused_with_reason(self):
        """The enrollment quality gate (issue 3): a template of 11
        minutiae is refused, saying why, and nothing is stored."""
        c = make_curp(5007)
        self.h.request("POST", "/api/v1/subjects", {"curp": c, "name": "Q"})
        poor = os.path.join(DATA, "fvc2004", "DB1_B", "103_2.iso")
        st, _, doc = self.h.request("PUT", f"/api/v1/subjects/{c}/fingers/3",
                                    {"format": ISO, "data": iso(poor)})
        self.assertEqual((st, doc["error"]["code"]), (422, "low_quality"),
                         doc)
        self.assertEqual(doc["error"]["field"], "data")
        self.assertIn("minutiae", doc["error"]["message"])
        st, _, doc = self.h.request("GET", f"/api/v1/subjects/{c}")
        self.assertEqual(doc["fingers"], [])

    def test_wrong_format_named_in_error(self):
        """An ANSI 378 record sent as ISO 19794-2 (and the other way
        round) is refused with a message naming the record's format, not
        only a meaningless record length."""
        tmp = tempfile.mkdtemp(prefix="huella-ansi-")
        try:
            ansi = os.path.join(tmp, "101_2.ansi")
            iso_to_ansi(db1(101, 2), ansi)
            c = self.curps[101]
            for fmt, path, want in ((ISO, ansi, "ANSI 378 record"),
                                    ("ansi378-2004", db1(101, 2),
                                     "ISO 19794-2 record")):
                st, _, doc = self.h.request("POST", "/api/v1/verify", {
                    "curp": c, "finger": {"format": fmt, "data": iso(path)}})
                self.assertEqual((st, doc["error"]["code"]),
                                 (422, "invalid_template"), doc)
                self.assertEqual(doc["error"]["field"], "finger.data")
                self.assertIn(want, doc["error"]["message"])
            st, _, doc = self.h.request("POST", "/api/v1/verify", {
                "curp": c, "finger": {"format": "ansi378-2004",
                                      "data": iso(ansi)}})
            self.assertEqual(st, 200, doc)
            self.assertTrue(doc["match"], doc)
        finally:
            shutil.rmtree(tmp)

    def test_finger_bad_fields(self):
        c = self.curps[101]
        st, _, doc = self.h.request("PUT", f"/api/v1/subjects/{c}/fingers/11",
                                    {"format": ISO, "data": iso(db1(101, 3))})
        self.assertEqual(st, 422)
        self.assertEqual(doc["error"]["field"], "position")
        st, _, doc = self.h.request("PUT", f"/api/v1/subjects/{c}/fingers/3",
                                    {"format": "png", "data": "AAAA"})
        self.assertEqual(st, 422)
        self.assertEqual(doc["error"]["field"], "format")
        st, _, doc = self.h.request("PUT", f"/api/v1/subjects/{c}/fingers/3",
                                    {"format": ISO, "data": "!!notbase64!!"})
        self.assertIn(st, (400, 422))
        self.assertEqual(doc["error"]["field"], "data")
        st, _, doc = self.h.request(
            "PUT", f"/api/v1/subjects/{make_curp(5004)}/fingers/3",
            {"format": ISO, "data": iso(db1(101, 3))})
        self.assertEqual(st, 404)

    def test_finger_put_reports_minutiae(self):
        c = make_curp(5005)
        self.h.request("POST", "/api/v1/subjects", {"curp": c, "name": "M"})
        st, _, doc = self.h.request("PUT", f"/api/v1/subjects/{c}/fingers/1",
                                    {"format": ISO, "data": iso(db1(105, 4))})
        self.assertEqual(st, 201, doc)
        self.assertGreater(doc["minutiae"], 10)
        self.assertIn("quality", doc)
        st, _, doc = self.h.request("GET", f"/api/v1/subjects/{c}")
        self.assertEqual([f["position"] for f in doc["fingers"]], [1])

    def test_verify_genuine_and_impostor(self):
        for finger, c in self.curps.items():
            probe = {"position": 2, "format": ISO, "data": iso(db1(finger, 2))}
            st, _, doc = self.h.request("POST", "/api/v1/verify",
                                        {"curp": c, "finger": probe})
            self.assertEqual(st, 200, doc)
            self.assertTrue(doc["match"], (finger, doc))
            self.assertGreaterEqual(doc["score"], doc["threshold"])
            other = self.curps[101 if finger != 101 else 102]
            st, _, doc = self.h.request("POST", "/api/v1/verify",
                                        {"curp": other, "finger": probe})
            self.assertEqual(st, 200)
            self.assertFalse(doc["match"], (finger, doc))

    def test_verify_without_position(self):
        c = self.curps[104]
        st, _, doc = self.h.request("POST", "/api/v1/verify", {
            "curp": c, "finger": {"format": ISO, "data": iso(db1(104, 2))}})
        self.assertEqual(st, 200, doc)
        self.assertTrue(doc["match"])

    def test_verify_unknown_subject(self):
        st, _, doc = self.h.request("POST", "/api/v1/verify", {
            "curp": make_curp(5006),
            "finger": {"format": ISO, "data": iso(db1(104, 2))}})
        self.assertEqual(st, 404)

    def test_identify_ranks_right_subject_first(self):
        for finger, c in self.curps.items():
            st, _, doc = self.h.request("POST", "/api/v1/identify", {
                "finger": {"format": ISO, "data": iso(db1(finger, 2))},
                "max_candidates": 5})
            self.assertEqual(st, 200, doc)
            self.assertGreaterEqual(doc["searched"], 10)
            self.assertTrue(doc["candidates"], (finger, doc))
            self.assertEqual(doc["candidates"][0]["curp"], c)
            scores = [x["score"] for x in doc["candidates"]]
            self.assertEqual(scores, sorted(scores, reverse=True))

    def test_error_format_unknown_route(self):
        st, _, doc = self.h.request("GET", "/api/v1/nope")
        self.assertEqual(st, 404)
        self.assertIn("code", doc["error"])

    def test_hundred_concurrent_clients(self):
        c = self.curps[107]
        probe = {"curp": c, "finger": {"position": 2, "format": ISO,
                                       "data": iso(db1(107, 3))}}
        results = []
        lock = threading.Lock()

        def client():
            for _ in range(3):
                try:
                    st, _, doc = self.h.request("POST", "/api/v1/verify",
                                                probe, timeout=30)
                    r = (st, doc.get("match") if doc else None)
                except OSError as e:
                    r = (str(e), None)
                with lock:
                    results.append(r)

        threads = [threading.Thread(target=client) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(results), 300)
        self.assertEqual(results, [(200, True)] * 300)


class CtlOfflineTest(unittest.TestCase):
    """huellactl compare, synth and import's checks, offline (no daemon)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="huella-ctl-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_compare_one_score_per_candidate_in_order(self):
        probe = db1(101, 1)
        cands = [db1(101, 2), db1(102, 1), db1(101, 1), db1(103, 4)]
        rc, out, err = ctl("compare", probe, *cands)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(len(lines), len(cands), out)
        for cand, line in zip(cands, lines):
            rc1, one, _ = ctl("compare", probe, cand)
            self.assertEqual((rc1, one.splitlines()), (0, [line]))
            self.assertGreaterEqual(float(line), 0.0)
            self.assertLessEqual(float(line), 1.0)
        self.assertEqual(max(lines, key=float), lines[2])   # itself
        self.assertGreater(float(lines[0]), float(lines[1]))

    def test_compare_scores_an_empty_template_zero(self):
        """A valid record without usable minutiae (the untruncated form
        of ../shared/data/invalid/: 0 minutiae) matches nothing: it
        scores 0, as probe or candidate, and the run goes on, so an
        accuracy check over a set holding one still gets every score."""
        with open(os.path.join(DATA, "invalid",
                               "101_1_truncate_1_byte.iso"), "rb") as f:
            record = f.read() + b"\0"
        empty = os.path.join(self.tmp, "empty.iso")
        with open(empty, "wb") as f:
            f.write(record)
        rc, out, err = ctl("compare", db1(101, 1), empty, db1(101, 2))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines()[0], "0.000000")
        self.assertGreater(float(out.splitlines()[1]), 0.3)
        self.assertIn("0 minutiae", err)
        rc, out, err = ctl("compare", empty, db1(101, 1), empty)
        self.assertEqual((rc, out), (0, "0.000000\n0.000000\n"), err)

    def test_compare_bad_input(self):
        probe = db1(101, 1)
        rc, out, err = ctl("compare", probe)
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("usage", err)
        # a bad candidate stops the run: the scores before it, in order
        missing = os.path.join(self.tmp, "missing.iso")
        rc, out, err = ctl("compare", probe, db1(101, 2), missing,
                           db1(101, 3))
        self.assertEqual((rc, len(out.splitlines())), (1, 1), out)
        self.assertIn(missing, err)
        self.assertIn("No such file", err)
        trunc = os.path.join(DATA, "invalid", "101_1_truncate_1_byte.iso")
        for args in ((trunc, db1(101, 2)), (probe, trunc)):
            rc, out, err = ctl("compare", *args)
            self.assertEqual((rc, out), (1, ""))
            self.assertIn("record length", err)
        rc, out, err = ctl("compare", probe, DATA)
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("Is a directory", err)
        # ANSI 378: named when given without --format, scored with it
        a1 = os.path.join(self.tmp, "101_1.ansi")
        a2 = os.path.join(self.tmp, "101_2.ansi")
        iso_to_ansi(db1(101, 1), a1)
        iso_to_ansi(db1(101, 2), a2)
        rc, out, err = ctl("compare", a1, a2)
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("ANSI 378 record", err)
        for flag in (["--format", "ansi378"], ["--format=ansi378-2004"]):
            rc, out, err = ctl("compare", *flag, a1, a2)
            self.assertEqual(rc, 0, err)
            self.assertGreater(float(out), 0.3)
        for flag in (["--format", "isoXYZ"], ["--format=pdf"]):
            rc, out, err = ctl("compare", *flag, probe, db1(101, 2))
            self.assertEqual((rc, out), (2, ""))
            self.assertIn("unknown format", err)

    def test_synth_writes_templates_and_manifest(self):
        for n in ("0", "abc", "-3", "5x", "1757601"):
            rc, _, err = ctl("synth", n, os.path.join(self.tmp, "never"))
            self.assertEqual(rc, 2, n)
            self.assertIn("N must be", err)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "never")))
        out = os.path.join(self.tmp, "s5")
        rc, _, err = ctl("synth", "5", out)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(out, "manifest.tsv")) as f:
            rows = [line.split("\t") for line in f.read().splitlines()]
        self.assertEqual(len(rows), 5)
        self.assertEqual(sorted(os.listdir(out)),
                         sorted(["manifest.tsv"] + [r[2] for r in rows]))
        self.assertEqual(len({r[0] for r in rows}), 5)
        for c, pos, name in rows:
            self.assertEqual(curp_tool.make(c[:17]), c)
            self.assertIn(int(pos), range(1, 11))
        # every one an ISO record the matcher reads
        files = [os.path.join(out, r[2]) for r in rows]
        rc, scores, err = ctl("compare", files[0], *files)
        self.assertEqual((rc, len(scores.split())), (0, 5), err)
        # an existing OUTDIR, and an OUTDIR that is a file
        rc, _, err = ctl("synth", "2", out)
        self.assertEqual(rc, 0, err)
        rc, _, err = ctl("synth", "2", os.path.join(out, "manifest.tsv"))
        self.assertEqual(rc, 1)
        self.assertIn("Not a directory", err)

    def test_synth_reports_write_failure(self):
        """A template that cannot be written stops synth with its reason,
        and the manifest does not list it."""
        out = os.path.join(self.tmp, "full")
        os.makedirs(out)
        os.symlink("/dev/full", os.path.join(out, "synth_0000001.iso"))
        rc, _, err = ctl("synth", "3", out)
        self.assertEqual(rc, 1)
        self.assertIn("synth_0000001.iso: No space left on device", err)
        with open(os.path.join(out, "manifest.tsv")) as f:
            self.assertEqual([line.split("\t")[2] for line in f],
                             ["synth_0000000.iso\n"])
        os.unlink(os.path.join(out, "synth_0000001.iso"))
        os.unlink(os.path.join(out, "manifest.tsv"))
        os.symlink("/dev/full", os.path.join(out, "manifest.tsv"))
        rc, _, err = ctl("synth", "3", out)
        self.assertEqual(rc, 1)
        self.assertIn("manifest.tsv: No space left on device", err)


    def test_import_unreadable_manifest_refused(self):
        """A manifest.tsv that exists but cannot be read is an error, not
        a directory without a manifest (whose every .iso would be
        imported as a synthetic subject)."""
        d = os.path.join(self.tmp, "unreadable")
        os.makedirs(d)
        os.chmod(self.tmp, 0o755)
        os.chmod(d, 0o755)
        shutil.copy(db1(101, 1), os.path.join(d, "a.iso"))
        man = os.path.join(d, "manifest.tsv")
        with open(man, "w") as f:
            f.write(f"{make_curp(5102)}\t2\ta.iso\n")
        os.chmod(man, 0)
        ctl_bin = HUELLACTL
        if os.geteuid() == 0:       # root reads anything: be nobody
            # nobody may not reach the build (a checkout in a 0700
            # directory): a copy next to the manifest.
            ctl_bin = os.path.join(self.tmp, "huellactl")
            shutil.copy(HUELLACTL, ctl_bin)
            os.chmod(ctl_bin, 0o755)
        cmd = [ctl_bin, "import", "--socket",
               os.path.join(self.tmp, "no.sock"), d]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "nobody", "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("manifest.tsv: Permission denied", r.stderr)


class CtlImportTest(HuellaTestCase):
    """huellactl synth -> huellactl import -> the identify API over it."""

    def test_import_synth_then_identify(self):
        tmp = tempfile.mkdtemp(prefix="huella-imp-")
        try:
            out = os.path.join(tmp, "g")
            self.assertEqual(ctl("synth", "40", out)[0], 0)
            rc, text, err = ctl("import", "--socket", self.h.sock, out)
            self.assertEqual(rc, 0, err)
            self.assertIn("imported 40, rejected 0 of 40", text)
            with open(os.path.join(out, "manifest.tsv")) as f:
                rows = [line.split("\t") for line in f.read().splitlines()]
            for c, pos, name in rows[:5]:
                st, _, doc = self.h.request("POST", "/api/v1/identify", {
                    "finger": {"format": ISO,
                               "data": iso(os.path.join(out, name))}})
                self.assertEqual(st, 200, doc)
                self.assertEqual(doc["searched"], 40)
                self.assertEqual(doc["candidates"][0]["curp"], c)
                self.assertEqual(doc["candidates"][0]["position"], int(pos))
                self.assertGreaterEqual(doc["candidates"][0]["score"],
                                        doc["threshold"])
            # a bad manifest line: its number, nothing imported
            bad = os.path.join(tmp, "bad")
            os.makedirs(bad)
            shutil.copy(db1(101, 1), os.path.join(bad, "a.iso"))
            with open(os.path.join(bad, "manifest.tsv"), "w") as f:
                f.write(f"{make_curp(5100)}\t2\ta.iso\n"
                        f"{make_curp(5101)} 2 a.iso\n")
            rc, _, err = ctl("import", "--socket", self.h.sock, bad)
            self.assertEqual(rc, 2)
            self.assertIn("manifest.tsv:2: expected", err)
            st, _, _ = self.h.request("GET",
                                      f"/api/v1/subjects/{make_curp(5100)}")
            self.assertEqual(st, 404)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
