"""HTTP API v1 end to end: real nginx + module + huellad on loopback."""
import os
import threading
import unittest

from harness import (DATA, HuellaTestCase, db1, iso, main, make_curp)

ISO = "iso19794-2:2005"


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


if __name__ == "__main__":
    main()
