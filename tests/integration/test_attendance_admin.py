#!/usr/bin/env python3
"""Attendance administration over HTTP (issue 6, docs/attendance-api.md):
rules changed through the admin API (applied at once, audited, durable
across a kill -9 of huellad, shown by GET /api/v1/attendance/rules), a
registered kiosk mapped to a site (its 1:N search is the site's roster),
biometric punches disabled after 50 failed attempts in a row for one
person (NIST SP 800-63B) and re-enabled by an admin, and face punches
(a face alone, a face with a finger, finger and face that disagree, the
wrong model or size).  Real nginx + huellad on loopback with the demo
institution and the test clock.
"""
import base64
import json
import os
import random
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_attendance as ta  # noqa: E402

MARIA = ta.MARIA          # demo person 2, matutino at central, M0002
FACE_MODEL = "face-api-128"
DIM = 128
# Two people enrolled with finger and face for this test (not in the YAML)
P1 = harness.make_curp(901)
P2 = harness.make_curp(902)


def unit(v):
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


def embedding(seed):
    rnd = random.Random(seed)
    return unit([rnd.gauss(0, 1) for _ in range(DIM)])


def noisy(v, seed, amount=0.1):
    """Another capture of the same face: cosine ~0.99 with v."""
    rnd = random.Random(seed)
    return unit([x + rnd.gauss(0, amount / DIM ** 0.5) for x in v])


def face(v, model=FACE_MODEL, dim=None):
    return {"model": model, "dim": dim or len(v),
            "data": base64.b64encode(struct.pack("<%df" % len(v), *v))
            .decode()}


class KioskTestCase(harness.HuellaTestCase):
    """Kiosks registered through the API and the punches they sign; the
    subclass starts its own Huella in setUpClass."""

    @classmethod
    def add_maria(cls):
        """MARIA of the demo YAML, with her finger (demo person 2), no
        face."""
        nss, name = [(n, m) for c, n, m in ta.subjects() if c == MARIA][0]
        st, _, doc = cls.h.request("POST", "/api/v1/subjects", {
            "curp": MARIA, "nss": nss, "name": name})
        assert st == 201, doc
        st, _, doc = cls.h.request(
            "PUT", f"/api/v1/subjects/{MARIA}/fingers/2",
            {"format": "iso19794-2:2005", "data": ta.finger(2, 1)})
        assert st in (200, 201), doc

    @classmethod
    def device(cls, name, purpose):
        d = ta.Device(cls.tmp, name)
        st, _, doc = cls.h.request("POST", "/api/v1/devices", {
            "public_key_pem": d.pub, "make": "Acme", "model": "K-1",
            "serial": name + "-" + os.urandom(4).hex(), "purpose": purpose,
            "employer_rfc": ta.RFC})
        assert st == 201, doc
        d.id = doc["device_id"]
        return d

    def punch(self, body, when, kiosk=None):
        raw = json.dumps(body).encode()
        h = {"Content-Type": "application/json",
             "X-Huella-Test-Now": str(when)}
        h.update((kiosk or self.kiosk).sign("POST", "/api/v1/punches", raw))
        return self.h.request("POST", "/api/v1/punches", raw=raw,
                              auth=False, headers=h)


class AttendanceAdminTest(KioskTestCase):

    @classmethod
    def setUpClass(cls):
        cls.h = harness.Huella(yaml_overrides={
            "identity.argon2.t_cost": 1,
            "identity.argon2.m_cost_kib": 64,
            "identity.lockout.client_threshold": 10000,
            "attendance.test_clock": True,
            "attendance.face.threshold": 0.9,
        })
        try:
            cls.h.start()
            cls.tmp = tempfile.mkdtemp(prefix="huella-kiosk-", dir=cls.h.dir)
            cls.kiosk = cls.device("kiosk-a", "kiosk")
            cls.enroller = cls.device("enr-a", "enrollment")
            cls.add_maria()
            # P1, P2: enrolled with finger (demo people 5 and 6) and face
            cls.faces = {P1: embedding(1), P2: embedding(2)}
            for curp, n in ((P1, 5), (P2, 6)):
                cls.enroll(curp, n, cls.faces[curp])
        except Exception:
            print(cls.h.logs(), file=sys.stderr)
            cls.h.cleanup()
            raise

    @classmethod
    def enroll(cls, curp, n, vec):
        path = f"/api/v1/subjects/{curp}/enrollment"
        raw = json.dumps({"fingers": [{
            "position": 2, "format": "iso19794-2:2005",
            "data": ta.finger(n, 1)}], "face": face(vec),
            "employer_rfc": ta.RFC}).encode()
        h = cls.enroller.sign("POST", path, raw)
        st, _, doc = cls.h.request("POST", path, raw=raw, headers=h)
        assert st == 201, doc

    # -- helpers -------------------------------------------------------------
    def finger_body(self, n, impression=2, **kw):
        body = {"finger": {"format": "iso19794-2:2005",
                           "data": ta.finger(n, impression)}}
        body.update(kw)
        return body

    def change(self, body, token=None):
        h = {"Authorization": "Bearer " + token} if token else None
        return self.h.request("POST", "/api/v1/attendance/rules/changes",
                              body=body, auth=token is None, headers=h)

    def err(self, resp, status, code, field=None):
        st, _, doc = resp
        self.assertEqual(st, status, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        if field is not None:
            self.assertEqual(doc["error"].get("field"), field, doc)

    def token(self, roles):
        st, _, doc = self.h.request("POST", "/api/v1/tokens", {
            "name": "t-" + os.urandom(3).hex(), "roles": roles})
        self.assertEqual(st, 201, doc)
        return doc["token"]

    def audit_actions(self):
        st, _, doc = self.h.request("GET", "/api/v1/audit?limit=500")
        self.assertEqual(st, 200, doc)
        return [e["action"] for e in doc["entries"]]

    def people(self):
        st, _, doc = self.h.request("GET", "/api/v1/attendance/rules")
        self.assertEqual(st, 200, doc)
        return doc, {p["curp"]: p for p in doc["people"]}

    # -- 1. a registered kiosk belongs to a site; people assigned by API -----
    def test_a_kiosk_site_and_people(self):
        when = ta.at(2025, 6, 2, 7, 55)             # a Monday
        # an unmapped registered kiosk: no site, so the whole gallery
        st, _, doc = self.punch(self.finger_body(5), when)
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["curp"], P1)
        self.assertNotIn("site", doc)
        self.assertEqual(doc["status"], "sin_turno")      # no shift yet
        # the kiosk into site norte, P1 and P2 into norte's roster with a
        # shift and a matrícula
        st, _, doc = self.change({
            "kiosks": {self.kiosk.id: "norte"},
            "people": [{"curp": P1, "matricula": "T0901", "site": "norte",
                        "shift": "matutino", "name": "Persona Uno",
                        "supervisor": ta.ANA},
                       {"curp": P2, "matricula": "T0902", "site": "norte",
                        "shift": "matutino"}]})
        self.assertEqual(st, 200, doc)
        norte = [s for s in doc["sites"] if s["id"] == "norte"][0]
        self.assertIn(self.kiosk.id, norte["kiosks"])
        p1 = {p["curp"]: p for p in doc["people"]}[P1]
        self.assertEqual((p1["site"], p1["shift"], p1["matricula"]),
                         ("norte", "matutino", "T0901"))
        # now the kiosk's site and the person's shift are in force
        st, _, doc = self.punch(self.finger_body(6),
                                ta.at(2025, 6, 2, 8, 20))
        self.assertEqual(st, 201, doc)
        self.assertEqual((doc["curp"], doc["site"], doc["status"]),
                         (P2, "norte", "retardo"))
        st, _, doc = self.punch(self.finger_body(5, matricula="T0901"),
                                ta.at(2025, 6, 3, 7, 58))
        self.assertEqual((st, doc["curp"], doc["status"]),
                         (201, P1, "a_tiempo"), doc)
        # a worker sees the public rules, not the people
        worker = self.token(["worker"])
        st, _, doc = self.h.request(
            "GET", "/api/v1/attendance/rules", auth=False,
            headers={"Authorization": "Bearer " + worker})
        self.assertEqual(st, 200, doc)
        self.assertNotIn("people", doc)
        self.assertIn(self.kiosk.id,
                      [k for s in doc["sites"] for k in s["kiosks"]])
        # Ana supervises P1 now: she may see P1's days (huellad decides)
        _, people = self.people()
        self.assertEqual(people[P1]["effective"]["supervisor"], ta.ANA)

    # -- 2. rules through the admin API --------------------------------------
    def test_b_rules_change_applies_audits_and_survives(self):
        # MARIA (matutino 08:00, tolerance 10): 08:12 is retardo
        st, _, doc = self.punch(self.finger_body(2, matricula="M0002"),
                                ta.at(2025, 7, 7, 8, 12))
        self.assertEqual((st, doc["status"]), (201, "retardo"), doc)
        st, _, doc = self.change({
            "policy": {"tolerance_min": 15, "duplicate_window_min": 10},
            "holidays": {"add": ["2025-07-09"]},
            "shifts": [{"name": "mixto", "label": "Mixto 10:00-18:00",
                        "start": "10:00", "end": "18:00",
                        "days": ["mon", "tue", "wed", "thu", "fri"]}],
            "freeze_before": "2025-07-01"})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["policy"]["tolerance_min"], 15)
        self.assertIn("2025-07-09", doc["holidays"])
        self.assertEqual(doc["freeze_before"], "2025-07-01")
        seq = doc["change"]
        self.assertIn("attendance_rules_changed", self.audit_actions())
        # applied at once: 08:12 is a_tiempo the next day ...
        st, _, doc = self.punch(self.finger_body(2, matricula="M0002"),
                                ta.at(2025, 7, 8, 8, 12))
        self.assertEqual((st, doc["status"]), (201, "a_tiempo"), doc)
        # ... a punch 8 minutes later is a duplicate (window 10) ...
        st, _, doc = self.punch(self.finger_body(2, matricula="M0002"),
                                ta.at(2025, 7, 8, 8, 20))
        self.assertEqual((st, doc["status"]), (201, "duplicada"), doc)
        # ... a holiday has no shift
        st, _, doc = self.punch(self.finger_body(2, matricula="M0002"),
                                ta.at(2025, 7, 9, 8, 0))
        self.assertEqual((st, doc["status"]), (201, "sin_turno"), doc)
        # MARIA moves to the new shift: 10:05 is a_tiempo there
        st, _, doc = self.change({"people": [{"curp": MARIA,
                                              "shift": "mixto"}]})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["change"], seq + 1)
        st, _, doc = self.punch(self.finger_body(2, matricula="M0002"),
                                ta.at(2025, 7, 10, 10, 5))
        self.assertEqual((st, doc["status"]), (201, "a_tiempo"), doc)

        # durable: huellad killed and restarted has the same rules
        self.h.kill_huellad()
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy())
        doc, people = self.people()
        self.assertEqual(doc["policy"]["tolerance_min"], 15)
        self.assertEqual(doc["policy"]["duplicate_window_min"], 10)
        self.assertIn("mixto", [s["name"] for s in doc["shifts"]])
        self.assertEqual(people[MARIA]["shift"], "mixto")
        # the YAML's own rules are still there
        self.assertEqual(people[MARIA]["matricula"], "M0002")
        self.assertIn("2025-03-17", doc["holidays"])
        # undoing: holidays removed, freeze lifted
        st, _, doc = self.change({"holidays": {"remove": ["2025-07-09"]},
                                  "freeze_before": None,
                                  "policy": {"tolerance_min": 10,
                                             "duplicate_window_min": 5}})
        self.assertEqual(st, 200, doc)
        self.assertNotIn("2025-07-09", doc["holidays"])
        self.assertIsNone(doc["freeze_before"])

    def test_b2_shift_english_labels(self):
        """label_en of shifts through the admin API: optional (a change
        without it, as every change stored before it existed, still
        applies and replays), validated like label, kept when label
        alone changes, removed with null, durable across kill -9."""
        def shifts(doc):
            return {s["name"]: s for s in doc["shifts"]}

        doc, _ = self.people()
        self.assertEqual(shifts(doc)["matutino"]["label_en"],
                         "Morning 08:00-16:00")
        # a change of the old shape: English falls back to label
        st, _, doc = self.change({"shifts": [{
            "name": "tarde", "label": "Tarde 12:00-20:00",
            "start": "12:00", "end": "20:00", "days": ["mon", "tue"]}]})
        self.assertEqual(st, 200, doc)
        self.assertEqual(shifts(doc)["tarde"]["label_en"],
                         "Tarde 12:00-20:00")
        # label_en added to it; label alone changed on a YAML shift
        st, _, doc = self.change({"shifts": [
            {"name": "tarde", "label_en": "Afternoon 12:00-20:00"},
            {"name": "matutino", "label": "Matutino (08:00-16:00)"}]})
        self.assertEqual(st, 200, doc)
        self.assertEqual((shifts(doc)["tarde"]["label"],
                          shifts(doc)["tarde"]["label_en"]),
                         ("Tarde 12:00-20:00", "Afternoon 12:00-20:00"))
        self.assertEqual((shifts(doc)["matutino"]["label"],
                          shifts(doc)["matutino"]["label_en"]),
                         ("Matutino (08:00-16:00)", "Morning 08:00-16:00"))
        # refused like label, naming the path; nothing applied
        for bad in ["", "x" * 128, "Tarde\n12:00", 12, ["Afternoon"]]:
            with self.subTest(label_en=str(bad)[:20]):
                self.err(self.change({"shifts": [
                    {"name": "tarde", "start": "13:00"},
                    {"name": "tarde", "label_en": bad}]}), 422,
                    "invalid_value", "shifts[1].label_en")
        st, _, doc = self.change({"shifts": [
            {"name": "tarde", "label_en": "x" * 127}]})
        self.assertEqual(st, 200, doc)
        st, _, doc = self.change({"shifts": [
            {"name": "tarde", "label_en": "Afternoon 12:00-20:00"}]})
        self.assertEqual(st, 200, doc)
        # durable: replayed after kill -9, for workers too
        self.h.kill_huellad()
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy())
        doc, _ = self.people()
        self.assertEqual(shifts(doc)["tarde"]["start"], "12:00")
        self.assertEqual(shifts(doc)["tarde"]["label_en"],
                         "Afternoon 12:00-20:00")
        self.assertEqual(shifts(doc)["matutino"]["label_en"],
                         "Morning 08:00-16:00")
        # null removes it: English shows label again
        st, _, doc = self.change({"shifts": [{"name": "tarde",
                                              "label_en": None}]})
        self.assertEqual(st, 200, doc)
        self.assertEqual(shifts(doc)["tarde"]["label_en"],
                         "Tarde 12:00-20:00")
        # the catalog of reasons is the YAML's: not changed here
        self.err(self.change({"reasons": [{"code": "otro",
                                           "label_en": "Other"}]}),
                 422, "unknown_key", "reasons")

    def test_c_rules_change_refusals(self):
        cases = [
            ({}, 400, "missing_field", None),
            ({"colour": "blue"}, 422, "unknown_key", "colour"),
            ({"policy": {"tolerance_min": -1}}, 422, "invalid_value",
             "policy.tolerance_min"),
            ({"policy": {"tolerance_min": 40}}, 422, "invalid_value",
             "policy.late_max_min"),
            ({"policy": {"grace": 1}}, 422, "unknown_key", "policy.grace"),
            ({"freeze_before": "2025-02-30"}, 422, "invalid_date",
             "freeze_before"),
            ({"holidays": {"add": ["mañana"]}}, 422, "invalid_date",
             "holidays.add[0]"),
            ({"shifts": [{"name": "x", "start": "25:00", "end": "10:00",
                          "days": ["mon"]}]}, 422, "invalid_value",
             "shifts[0].start"),
            ({"shifts": [{"name": "x", "start": "08:00"}]}, 400,
             "missing_field", "shifts[0].end"),
            ({"shifts": [{"name": "x", "start": "08:00", "end": "08:00",
                          "days": ["mon"]}]}, 422, "invalid_value",
             "shifts[0].end"),
            ({"shifts": [{"name": "x", "start": "08:00", "end": "09:00",
                          "days": ["lunes"]}]}, 422, "invalid_value",
             "shifts[0].days"),
            ({"people": [{"curp": "NOPE"}]}, 422, "invalid_curp",
             "people[0].curp"),
            ({"people": [{"curp": P1, "shift": "lunar"}]}, 422,
             "unknown_shift", "people[0].shift"),
            ({"people": [{"curp": P1, "matricula": "M0001"}]}, 422,
             "duplicate_matricula", "people[0].matricula"),
            ({"groups": [{"name": "g", "site": "marte"}]}, 422,
             "unknown_site", "groups[0].site"),
            ({"kiosks": {"dev_x": "marte"}}, 422, "unknown_site",
             "kiosks.dev_x"),
            ({"kiosks": ["dev_x"]}, 422, "invalid_type", "kiosks"),
        ]
        for body, st, code, field in cases:
            with self.subTest(body=str(body)[:70]):
                self.err(self.change(body), st, code, field)
        # nothing of the above was applied
        doc, _ = self.people()
        self.assertNotIn("x", [s["name"] for s in doc["shifts"]])
        # not JSON, not an object
        st, _, doc = self.h.request("POST",
                                    "/api/v1/attendance/rules/changes",
                                    raw=b"[1]")
        self.assertEqual((st, doc["error"]["code"]), (400, "malformed_json"),
                         doc)
        # admin only: a supervisor or auditor token is refused
        for roles in (["supervisor"], ["auditor"]):
            st, _, doc = self.change({"policy": {"tolerance_min": 12}},
                                     token=self.token(roles))
            self.assertEqual(st, 403, doc)

    # -- 4. biometric disable after 50 failures --------------------------------
    def test_d_biometric_disabled_after_50(self):
        kiosk = self.device("kiosk-d", "kiosk")
        when = ta.at(2025, 8, 4, 9, 0)
        # demo person 7's finger with P2's matrícula: never P2
        wrong = self.finger_body(7, matricula="T0902")
        self.change({"people": [{"curp": P2, "matricula": "T0902"}]})
        for i in range(50):
            when += 31                 # past the throttle's 30 s wait
            st, _, doc = self.punch(wrong, when, kiosk)
            self.assertEqual((st, doc["error"]["code"]), (401, "no_match"),
                             (i, doc))
        self.assertIn("disabled", doc["error"]["message"])
        actions = self.audit_actions()
        self.assertIn("biometric_disabled", actions)
        # the right finger is refused now, 1:1 and 1:N, and so is the face
        when += 31
        self.err(self.punch(self.finger_body(6, matricula="T0902"), when,
                            kiosk), 423, "biometric_disabled")
        self.err(self.punch(self.finger_body(6), when + 1, kiosk), 423,
                 "biometric_disabled")
        self.err(self.punch({"face": face(noisy(self.faces[P2], 7))},
                            when + 2, kiosk), 423, "biometric_disabled")
        # the list: admin and auditor, not a worker
        st, _, doc = self.h.request(
            "GET", "/api/v1/attendance/biometric-disabled")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["disable_after"], 50)
        self.assertEqual([(d["curp"], d["failures"])
                          for d in doc["disabled"]], [(P2, 50)])
        st, _, _ = self.h.request(
            "GET", "/api/v1/attendance/biometric-disabled", auth=False,
            headers={"Authorization": "Bearer "
                     + self.token(["auditor"])})
        self.assertEqual(st, 200)
        worker = self.token(["worker", "supervisor"])
        st, _, _ = self.h.request(
            "GET", "/api/v1/attendance/biometric-disabled", auth=False,
            headers={"Authorization": "Bearer " + worker})
        self.assertEqual(st, 403)
        st, _, _ = self.h.request(
            "POST", f"/api/v1/subjects/{P2}/biometric/enable", auth=False,
            headers={"Authorization": "Bearer " + worker})
        self.assertEqual(st, 403)
        # survives a restart (the count is durable)
        self.h.kill_huellad()
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy())
        self.err(self.punch(self.finger_body(6, matricula="T0902"),
                            when + 3, kiosk), 423, "biometric_disabled")
        # an admin re-enables: audited, punches work again
        st, _, doc = self.h.request(
            "POST", f"/api/v1/subjects/{P2}/biometric/enable")
        self.assertEqual((st, doc["enabled"], doc["failures_cleared"]),
                         (200, True, 50), doc)
        self.assertIn("biometric_enabled", self.audit_actions())
        self.err(self.h.request(
            "POST", f"/api/v1/subjects/{P2}/biometric/enable"), 409,
            "not_disabled", "curp")
        st, _, doc = self.punch(self.finger_body(6, matricula="T0902"),
                                when + 4, kiosk)
        self.assertEqual((st, doc.get("curp")), (201, P2), doc)
        st, _, doc = self.h.request(
            "GET", "/api/v1/attendance/biometric-disabled")
        self.assertEqual(doc["disabled"], [])

    def decided_by(self, doc, method):
        """The answer reports the deciding method's score and threshold:
        the face's (attendance.face.threshold, 0.9 here) or the finger's
        (the calibrated one, far below)."""
        self.assertGreaterEqual(doc["score"], doc["threshold"], doc)
        if method == "face":
            self.assertEqual(doc["threshold"], 0.9, doc)
        else:
            self.assertLess(doc["threshold"], 0.5, doc)

    # -- 3. face punches -------------------------------------------------------
    def test_e_face_punches(self):
        kiosk = self.device("kiosk-e", "kiosk")
        self.change({"people": [{"curp": P1, "matricula": "T0901"}]})
        when = ta.at(2025, 9, 1, 8, 0)
        p1 = noisy(self.faces[P1], 11)
        # a face alone, 1:1 with the matrícula and 1:N (no matrícula)
        st, _, doc = self.punch({"face": face(p1), "matricula": "T0901"},
                                when, kiosk)
        self.assertEqual((st, doc["curp"], doc["method"]), (201, P1, "face"),
                         doc)
        self.decided_by(doc, "face")
        st, _, doc = self.punch({"face": face(noisy(self.faces[P2], 12))},
                                when + 600, kiosk)
        self.assertEqual((st, doc["curp"], doc["method"]), (201, P2, "face"),
                         doc)
        self.decided_by(doc, "face")
        # a stranger's face: no match
        st, _, doc = self.punch({"face": face(embedding(99))}, when + 1200,
                                kiosk)
        self.assertEqual((st, doc["error"]["code"], doc["error"]["field"]),
                         (401, "no_match", "face"), doc)
        # finger and face of the same person: the finger decides
        st, _, doc = self.punch(dict(self.finger_body(5), face=face(p1)),
                                when + 1800, kiosk)
        self.assertEqual((st, doc["curp"], doc["method"]),
                         (201, P1, "finger"), doc)
        self.decided_by(doc, "finger")
        # a finger nobody has (demo person 8) with P1's face: the face
        # stands in
        st, _, doc = self.punch(dict(self.finger_body(8), face=face(p1)),
                                when + 2400, kiosk)
        self.assertEqual((st, doc["curp"], doc["method"]), (201, P1, "face"),
                         doc)
        self.decided_by(doc, "face")
        # P1's finger with a stranger's face: the finger is enough
        st, _, doc = self.punch(dict(self.finger_body(5),
                                     face=face(embedding(98))),
                                when + 3000, kiosk)
        self.assertEqual((st, doc["curp"], doc["method"]),
                         (201, P1, "finger"), doc)
        self.decided_by(doc, "finger")
        # P1's finger with P2's face: they disagree, refused and counted
        st, _, doc = self.punch(
            dict(self.finger_body(5), face=face(noisy(self.faces[P2], 13))),
            when + 3600, kiosk)
        self.assertEqual((st, doc["error"]["code"]),
                         (401, "biometrics_disagree"), doc)
        self.assertIn("attempts_left", doc["error"])
        # the model and size must be huellad's
        self.err(self.punch({"face": face(p1, model="arcface-512")},
                            when + 4200, kiosk), 400, "face_model_mismatch",
                 "face.model")
        self.err(self.punch({"face": face(p1[:64])}, when + 4300, kiosk),
                 400, "face_dim_mismatch", "face.dim")
        self.err(self.punch({"face": {"model": FACE_MODEL, "dim": 128,
                                      "data": "AAAA"}}, when + 4400, kiosk),
                 422, "invalid_face_data", "face.data")
        self.err(self.punch({"face": "selfie"}, when + 4500, kiosk), 422,
                 "invalid_type", "face")
        self.err(self.punch({"matricula": "T0901"}, when + 4600, kiosk), 400,
                 "missing_field", "finger")


class OnlyMappedKiosksTest(KioskTestCase):
    """attendance.only_mapped_kiosks: a kiosk that no site of the
    institution lists (any employer representative can register one) may
    not punch, even naming a site; once an admin assigns it, it may."""

    @classmethod
    def setUpClass(cls):
        cls.h = harness.Huella(yaml_overrides={
            "attendance.test_clock": True,
            "attendance.only_mapped_kiosks": True,
        })
        try:
            cls.h.start()
            cls.tmp = tempfile.mkdtemp(prefix="huella-kiosk-", dir=cls.h.dir)
            cls.add_maria()
        except Exception:
            print(cls.h.logs(), file=sys.stderr)
            cls.h.cleanup()
            raise

    def test_unassigned_kiosk_refused_until_an_admin_assigns_it(self):
        kiosk = self.device("kiosk-x", "kiosk")
        body = {"finger": {"format": "iso19794-2:2005",
                           "data": ta.finger(2, 2)}}
        when = ta.at(2025, 9, 1, 8, 0)
        for extra in ({}, {"site": "central"}):
            st, _, doc = self.punch(dict(body, **extra), when, kiosk)
            self.assertEqual((st, doc["error"]["code"]),
                             (403, "kiosk_not_assigned"), doc)
        st, _, doc = self.h.request(
            "POST", "/api/v1/attendance/rules/changes",
            {"kiosks": {kiosk.id: "central"}})
        self.assertIn(st, (200, 201), doc)
        st, _, doc = self.punch(body, when, kiosk)
        self.assertEqual((st, doc.get("curp"), doc.get("site")),
                         (201, MARIA, "central"), doc)


if __name__ == "__main__":
    harness.main()
