#!/usr/bin/env python3
"""Attendance over HTTP (issue 6, docs/attendance-api.md): kiosk punches
signed by a registered kiosk (RFC 9421), consultation, justifications end
to end (worker files, supervisor decides, the day's incident becomes
justificada, both are notified), reports in JSON and CSV, the rules, and
bad input on every field.  Real nginx + huellad on loopback, with the demo
institution (config/attendance-demo.yaml) and huellad's test clock
(X-Huella-Test-Now -> TEST_NOW).
"""
import base64
import calendar
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PASSWORD = "Tortuga-azul-lenta-93"
DEMO = os.path.join(harness.ROOT, "config", "demo")

JUAN = "GARJ850312HDFRMN07"     # supervises central and Ana
MARIA = "LOHM900725MJCPRR00"    # matutino, central, reports to Juan
CARLOS = "MASC781104HNLRNR00"   # matutino, central, reports to Juan
ANA = "PEGA920218MPLRNN07"      # vespertino, supervises norte + guards
JORGE = "GOTJ750121HGTNRR00"    # nocturno (vigilancia), reports to Ana
FREEZE = "2025-02-01"           # days before it are frozen
RFC = "AAA010101AAA"            # the employer the kiosks belong to
HUELLACTL = os.path.join(harness.BUILD, "bin", "huellactl")


def at(y, mo, d, h, mi=0):
    """Unix seconds of a local time in America/Mexico_City (UTC-6, no DST
    since 2022)."""
    return calendar.timegm((y, mo, d, h, mi, 0)) + 6 * 3600


def subjects():
    out = []
    with open(os.path.join(DEMO, "subjects.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            c, nss, name = line.rstrip("\n").split("\t")
            out.append((c, nss, name))
    return out


class Device:
    """A kiosk (or another device): key pair and RFC 9421 signatures made
    by `huellactl device keygen/sign`."""

    def __init__(self, tmp, name):
        self.dir = os.path.join(tmp, name)
        subprocess.run([HUELLACTL, "device", "keygen", self.dir],
                       check=True, capture_output=True)
        self.key = os.path.join(self.dir, "device.key")
        with open(os.path.join(self.dir, "device.pub")) as f:
            self.pub = f.read()
        self.id = None

    def sign(self, method, path, body):
        bodyfile = os.path.join(self.dir, "body")
        with open(bodyfile, "wb") as f:
            f.write(body)
        out = subprocess.run([HUELLACTL, "device", "sign", "--key", self.key,
                              "--keyid", self.id, "--method", method,
                              "--path", path, bodyfile], check=True,
                             capture_output=True, text=True).stdout
        return dict(line.split(": ", 1) for line in out.splitlines())


def finger(n, impression):
    return harness.iso(os.path.join(DEMO, "fingers",
                                    f"{100 + n}_{impression}.iso"))


class AttendanceTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.h = harness.Huella(yaml_overrides={
            "identity.argon2.t_cost": 1,
            "identity.argon2.m_cost_kib": 64,
            "identity.lockout.client_threshold": 10000,
            "attendance.test_clock": True,
        })
        with open(cls.h.config) as f:
            text = f.read()
        text = text.replace("  test_clock: true\n",
                            "  test_clock: true\n"
                            f"  freeze_before: \"{FREEZE}\"\n", 1)
        with open(cls.h.config, "w") as f:
            f.write(text)
        try:
            cls.h.start()
            cls.load_demo()
            cls.tmp = tempfile.mkdtemp(prefix="huella-kiosk-", dir=cls.h.dir)
            cls.kiosk = cls.device("kiosk-1", "kiosk")
            cls.kiosk2 = cls.device("kiosk-2", "kiosk")
            cls.enroller = cls.device("enr-1", "enrollment")
        except Exception:
            print(cls.h.logs(), file=sys.stderr)
            cls.h.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        logs = cls.h.logs()
        rc = cls.h.cleanup()
        if PASSWORD in logs:
            raise AssertionError("a password reached the logs")
        if "ERROR: AddressSanitizer" in logs or "runtime error:" in logs:
            print(logs, file=sys.stderr)
            raise AssertionError("sanitizer report in logs")
        if rc not in (0, None):
            print(logs, file=sys.stderr)
            raise AssertionError(f"huellad exited with {rc}")

    @classmethod
    def load_demo(cls):
        """The ten demo subjects with their right index (impression 1),
        accounts for five of them, supervisor roles for Juan and Ana."""
        cls.sessions = {}
        for n, (c, nss, name) in enumerate(subjects(), 1):
            st, _, doc = cls.h.request("POST", "/api/v1/subjects",
                                       {"curp": c, "nss": nss, "name": name})
            assert st == 201, doc
            st, _, doc = cls.h.request(
                "PUT", f"/api/v1/subjects/{c}/fingers/2",
                {"format": "iso19794-2:2005", "data": finger(n, 1)})
            assert st in (200, 201), doc
            if c not in (JUAN, MARIA, CARLOS, ANA, JORGE):
                continue
            st, _, doc = cls.h.request("POST", "/api/v1/accounts", {
                "curp": c, "nss": nss, "email": f"{c.lower()}@example.mx",
                "password": PASSWORD, "security_question": "Color favorito",
                "security_answer": "Azul marino"}, auth=False)
            assert st == 201, doc
            roles = ["worker", "supervisor"] if c in (JUAN, ANA) \
                else ["worker"]
            st, _, doc = cls.h.request("PUT", f"/api/v1/accounts/{c}/roles",
                                       {"roles": roles})
            assert st == 200, doc
            st, hdrs, doc = cls.h.request("POST", "/api/v1/session",
                                          {"user": c, "password": PASSWORD},
                                          auth=False)
            assert st == 201, doc
            cookie = re.search(r"huella_session=([^;]*)",
                               hdrs["set-cookie"]).group(1)
            cls.sessions[c] = (cookie, doc["csrf_token"])

    @classmethod
    def device(cls, name, purpose):
        d = Device(cls.tmp, name)
        st, _, doc = cls.h.request("POST", "/api/v1/devices", {
            "public_key_pem": d.pub, "make": "Acme", "model": "K-1",
            "serial": name + "-" + os.urandom(4).hex(), "purpose": purpose,
            "employer_rfc": RFC})
        assert st == 201, doc
        d.id = doc["device_id"]
        return d

    # -- helpers -------------------------------------------------------------
    def punch(self, n, when, kiosk=None, matricula=None, site=None,
              impression=2, body=None, sign=True, headers=None):
        """A punch of demo person n (101 + n - 1 in config/demo/fingers) at
        local time when (unix seconds, as TEST_NOW)."""
        if body is None:
            body = {"finger": {"format": "iso19794-2:2005",
                               "data": finger(n, impression)}}
            if matricula:
                body["matricula"] = matricula
            if site:
                body["site"] = site
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        h = {"Content-Type": "application/json"}
        if when is not None:
            h["X-Huella-Test-Now"] = str(when)
        if sign:
            h.update((kiosk or self.kiosk).sign("POST", "/api/v1/punches",
                                                raw))
        h.update(headers or {})
        return self.h.request("POST", "/api/v1/punches", raw=raw,
                              auth=False, headers=h)

    def as_(self, who, method, path, body=None, now=None, headers=None,
            raw=None):
        """A request as a person's session (who = CURP) or as the admin
        token (who = None)."""
        h = dict(headers or {})
        if now is not None:
            h["X-Huella-Test-Now"] = str(now)
        if who is None:
            return self.h.request(method, path, body=body, headers=h,
                                  raw=raw)
        cookie, csrf = self.sessions[who]
        h["Cookie"] = "huella_session=" + cookie
        if method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = csrf
        return self.h.request(method, path, body=body, auth=False,
                              headers=h, raw=raw)

    def err(self, resp, status, code, field=None):
        st, _, doc = resp
        self.assertEqual(st, status, doc)
        self.assertEqual(doc["error"]["code"], code, doc)
        if field is not None:
            self.assertEqual(doc["error"].get("field"), field, doc)

    def days(self, who, curp, frm, to, now=None):
        path = (f"/api/v1/subjects/{curp}/attendance" if curp
                else "/api/v1/me/attendance") + f"?from={frm}&to={to}"
        st, _, doc = self.as_(who, "GET", path, now=now)
        self.assertEqual(st, 200, doc)
        return {d["date"]: d for d in doc["days"]}

    def get_raw(self, who, path):
        import http.client
        cookie, _ = self.sessions[who]
        conn = http.client.HTTPConnection("127.0.0.1", self.h.port,
                                          timeout=10)
        try:
            conn.request("GET", path,
                         headers={"Cookie": "huella_session=" + cookie})
            resp = conn.getresponse()
            return (resp.status, {k.lower(): v
                                  for k, v in resp.getheaders()},
                    resp.read())
        finally:
            conn.close()

    # -- rules ---------------------------------------------------------------
    def test_rules(self):
        st, _, doc = self.as_(MARIA, "GET", "/api/v1/attendance/rules")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["time_zone"], "America/Mexico_City")
        self.assertEqual(doc["freeze_before"], FREEZE)
        self.assertIn("cita_medica", [r["code"] for r in doc["reasons"]])
        night = [s for s in doc["shifts"] if s["name"] == "nocturno"][0]
        self.assertTrue(night["overnight"])
        # es-MX label and English label_en, both on every reason and shift
        reasons = {r["code"]: r for r in doc["reasons"]}
        self.assertEqual(reasons["cita_medica"]["label"],
                         "Cita médica (IMSS)")
        self.assertEqual(reasons["cita_medica"]["label_en"],
                         "Medical appointment (IMSS)")
        self.assertEqual(reasons["incapacidad"]["label_en"], "Sick leave")
        self.assertEqual((night["label"], night["label_en"]),
                         ("Nocturno 22:00-06:00", "Night 22:00-06:00"))
        for item in doc["reasons"] + doc["shifts"]:
            self.assertTrue(item["label"] and item["label_en"], item)
        self.assertIn("kiosk-central-1",
                      [k for s in doc["sites"] for k in s["kiosks"]])
        st, _, doc = self.h.request("GET", "/api/v1/attendance/rules",
                                    auth=False)
        self.assertEqual(st, 401, doc)

    # -- consultation --------------------------------------------------------
    def test_me_attendance_absence(self):
        # no punches in that week: Monday to Friday are faltas, the
        # weekend is not scheduled, a holiday has no incident
        d = self.days(MARIA, None, "2025-03-10", "2025-03-17")
        self.assertEqual(len(d), 8)
        mon = d["2025-03-10"]
        self.assertTrue(mon["scheduled"])
        self.assertEqual([i["kind"] for i in mon["incidents"]], ["falta"])
        self.assertEqual(mon["incidents"][0]["state"], "pendiente")
        self.assertFalse(d["2025-03-15"]["scheduled"])
        self.assertTrue(d["2025-03-17"]["holiday"])
        self.assertEqual(d["2025-03-17"]["incidents"], [])

    def test_consultation_rights(self):
        # a supervisor sees the people reporting to them, up the chain
        self.days(JUAN, MARIA, "2025-03-10", "2025-03-11")
        self.days(JUAN, JORGE, "2025-03-10", "2025-03-11")   # via Ana
        self.days(ANA, JORGE, "2025-03-10", "2025-03-11")
        self.days(None, MARIA, "2025-03-10", "2025-03-11")   # admin token
        self.days(JUAN, MARIA.lower(), "2025-03-10", "2025-03-11")
        # not up the chain: huellad says no
        self.err(self.as_(ANA, "GET", f"/api/v1/subjects/{MARIA}/attendance"
                          "?from=2025-03-10&to=2025-03-11"),
                 403, "not_your_report")
        # a worker cannot look at anyone else
        self.err(self.as_(MARIA, "GET", f"/api/v1/subjects/{CARLOS}/"
                          "attendance?from=2025-03-10&to=2025-03-11"),
                 403, "forbidden")
        self.err(self.as_(MARIA, "GET", f"/api/v1/reports/attendance?"
                          f"from=2025-03-10&to=2025-03-11&curp={CARLOS}"),
                 403, "not_your_report")
        self.err(self.as_(MARIA, "GET", "/api/v1/reports/attendance?"
                          "from=2025-03-10&to=2025-03-11&scope=team"),
                 403, "forbidden", "scope")
        # no identity at all
        st, _, _ = self.h.request("GET", "/api/v1/me/attendance?"
                                  "from=2025-03-10&to=2025-03-11",
                                  auth=False)
        self.assertEqual(st, 401)
        # the admin token is no person
        self.err(self.as_(None, "GET", "/api/v1/me/attendance?"
                          "from=2025-03-10&to=2025-03-11"),
                 403, "not_a_person")

    def test_period_bad_input(self):
        base = "/api/v1/me/attendance"
        cases = [
            ("", 400, "missing_field", "from"),
            ("?from=2025-03-10", 400, "missing_field", "to"),
            ("?to=2025-03-10", 400, "missing_field", "from"),
            ("?from=2025-3-10&to=2025-03-11", 422, "invalid_date", "from"),
            ("?from=2025-02-29&to=2025-03-11", 422, "invalid_date", "from"),
            ("?from=2025-03-10&to=2025-13-01", 422, "invalid_date", "to"),
            ("?from=2025-03-10&to=tomorrow", 422, "invalid_date", "to"),
            ("?from=2025-03-10&to=2025-03-09", 422, "invalid_range", "to"),
            ("?from=2024-01-01&to=2025-03-09", 422, "range_too_long",
             None),
            ("?from=" + "9" * 300 + "&to=2025-03-10", 422, "invalid_value",
             "from"),
        ]
        for q, st, code, field in cases:
            with self.subTest(q=q):
                self.err(self.as_(MARIA, "GET", base + q), st, code, field)
        self.err(self.as_(JUAN, "GET", f"/api/v1/subjects/NOTACURP/"
                          "attendance?from=2025-03-10&to=2025-03-11"),
                 422, "invalid_curp", "curp")
        self.err(self.as_(MARIA, "GET", base + "?from=2025-03-10"
                          "&to=2025-03-11", headers={
                              "X-Huella-Test-Now": "soon"}),
                 422, "invalid_test_now", "test_now")
        self.err(self.as_(MARIA, "POST", base + "?from=2025-03-10"
                          "&to=2025-03-11", body={}),
                 405, "method_not_allowed")
        # leap day and URL escapes are fine
        self.days(MARIA, None, "2024-02-28", "2024-03-01")
        st, _, doc = self.as_(MARIA, "GET", base + "?from=2025%2D03%2D10"
                              "&to=2025-03-10")
        self.assertEqual(st, 200, doc)

    # -- justifications ------------------------------------------------------
    def file(self, who, body, now=None):
        return self.as_(who, "POST", "/api/v1/justifications", body,
                        now=now)

    def test_justification_flow(self):
        # Carlos missed Tuesday 2025-03-11: a falta, pendiente
        d = self.days(CARLOS, None, "2025-03-11", "2025-03-11")
        self.assertEqual([(i["kind"], i["state"])
                          for i in d["2025-03-11"]["incidents"]],
                         [("falta", "pendiente")])
        # he files with a PDF of more than one matcher message
        pdf = b"%PDF-1.4\n" + os.urandom(150 * 1024) + b"\n%%EOF\n"
        st, _, j = self.file(CARLOS, {
            "date": "2025-03-11", "reason": "cita_medica",
            "text": "Consulta en la UMF 20, anexo constancia.",
            "attachment": {"type": "application/pdf",
                           "data": base64.b64encode(pdf).decode()}})
        self.assertEqual(st, 201, j)
        jid = j["id"]
        self.assertRegex(jid, r"^J-\d+$")
        self.assertEqual(j["state"], "pendiente")
        self.assertEqual(j["attachment_bytes"], len(pdf))
        self.assertIn("folio", j)
        # the reason's label in both languages
        self.assertEqual((j["reason_label"], j["reason_label_en"]),
                         ("Cita médica (IMSS)", "Medical appointment (IMSS)"))
        # the attachment comes back whole, to him and to his supervisor
        for who in (CARLOS, JUAN):
            st, hdrs, body = self.get_raw(
                who, f"/api/v1/justifications/{jid}/attachment")
            self.assertEqual(st, 200)
            self.assertEqual(hdrs["content-type"], "application/pdf")
            self.assertIn("attachment", hdrs["content-disposition"])
            self.assertEqual(body, pdf)
        # not to someone else
        self.err(self.as_(MARIA, "GET",
                          f"/api/v1/justifications/{jid}/attachment"),
                 403, "not_your_report")
        # the supervisor's inbox and notification
        st, _, doc = self.as_(JUAN, "GET", "/api/v1/justifications?"
                              "scope=team")
        self.assertEqual(st, 200, doc)
        mine = [x for x in doc["justifications"] if x["id"] == jid]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["curp"], CARLOS)
        self.assertEqual(mine[0]["attachment"]["bytes"], len(pdf))
        self.assertEqual(mine[0]["reason_label_en"],
                         "Medical appointment (IMSS)")
        st, _, doc = self.as_(JUAN, "GET", "/api/v1/notifications")
        self.assertEqual(st, 200, doc)
        self.assertIn(("justification_filed", jid),
                      [(n["kind"], n["justification"])
                       for n in doc["notifications"]])
        # a worker cannot decide, Ana is not his supervisor
        self.err(self.as_(CARLOS, "POST",
                          f"/api/v1/justifications/{jid}/decision",
                          {"decision": "approve"}), 403, "forbidden")
        self.err(self.as_(ANA, "POST",
                          f"/api/v1/justifications/{jid}/decision",
                          {"decision": "approve"}), 403, "not_your_report")
        # Juan approves
        st, _, doc = self.as_(JUAN, "POST",
                              f"/api/v1/justifications/{jid}/decision",
                              {"decision": "approve",
                               "comment": "Constancia en orden."})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["state"], "justificada", doc)
        self.assertEqual(doc["decided_by"], JUAN)
        self.assertEqual(doc["folio"], j["folio"])
        self.assertNotEqual(doc["decision_folio"], j["folio"])
        self.assertEqual(doc["receipt"].count("."), 2, doc)
        # twice is a conflict
        self.err(self.as_(JUAN, "POST",
                          f"/api/v1/justifications/{jid}/decision",
                          {"decision": "reject", "comment": "no"}),
                 409, "already_decided")
        # the day's incident is now justificada
        d = self.days(CARLOS, None, "2025-03-11", "2025-03-11")
        self.assertEqual([(i["kind"], i["state"])
                          for i in d["2025-03-11"]["incidents"]],
                         [("falta", "justificada")])
        d = self.days(JUAN, CARLOS, "2025-03-11", "2025-03-11")
        self.assertEqual(d["2025-03-11"]["incidents"][0]["state"],
                         "justificada")
        # Carlos is notified, and sees it in his history
        st, _, doc = self.as_(CARLOS, "GET", "/api/v1/notifications?limit=5")
        self.assertEqual(st, 200, doc)
        self.assertIn(("justification_decided", jid),
                      [(n["kind"], n["justification"])
                       for n in doc["notifications"]])
        st, _, doc = self.as_(CARLOS, "GET", "/api/v1/justifications")
        self.assertEqual(st, 200, doc)
        mine = [x for x in doc["justifications"] if x["id"] == jid][0]
        self.assertEqual(mine["state"], "justificada")
        self.assertEqual(mine["comment"], "Constancia en orden.")
        # the report counts it as justified, not as an absence
        st, _, doc = self.as_(CARLOS, "GET", "/api/v1/reports/attendance?"
                              "from=2025-03-11&to=2025-03-11")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["people"][0]["justified"], 1)
        self.assertEqual(doc["people"][0]["absences"], 0)

    def test_justification_rejected(self):
        st, _, j = self.file(MARIA, {"date": "2025-03-12",
                                     "reason": "otro", "incident": "falta",
                                     "text": "Se me hizo tarde."})
        self.assertEqual(st, 201, j)
        self.err(self.as_(JUAN, "POST",
                          f"/api/v1/justifications/{j['id']}/decision",
                          {"decision": "reject"}),
                 422, "comment_required", "comment")
        st, _, doc = self.as_(JUAN, "POST",
                              f"/api/v1/justifications/{j['id']}/decision",
                              {"decision": "reject",
                               "comment": "Sin constancia."})
        self.assertEqual(st, 200, doc)
        d = self.days(MARIA, None, "2025-03-12", "2025-03-12")
        self.assertEqual(d["2025-03-12"]["incidents"][0]["state"],
                         "rechazada")
        # it was filed without a file
        st, _, doc = self.as_(MARIA, "GET",
                              f"/api/v1/justifications/{j['id']}/attachment")
        self.assertEqual(st, 404, doc)

    def test_justification_bad_input(self):
        ok = {"date": "2025-03-13", "reason": "cita_medica"}

        def with_(**kw):
            b = dict(ok)
            for k, v in kw.items():
                if v is None:
                    b.pop(k, None)
                else:
                    b[k] = v
            return b

        cases = [
            (with_(date=None), 400, "missing_field", "date"),
            (with_(folio="HUE-2025-000000001"), 422, "invalid_value",
             "folio"),
            (with_(date="13/03/2025"), 422, "invalid_date", "date"),
            (with_(date=20250313), 422, "invalid_type", "date"),
            (with_(reason=None), 400, "missing_field", "reason"),
            (with_(reason="no es codigo"), 422, "unknown_reason", "reason"),
            (with_(reason="vacaciones"), 422, "unknown_reason", "reason"),
            (with_(text="x" * 2001), 422, "invalid_text", "text"),
            (with_(text="a\x01b"), 422, "invalid_text", "text"),
            (with_(incident="tarde"), 422, "invalid_incident", "incident"),
            (with_(curp="NOTACURP"), 422, "invalid_curp", "curp"),
            (with_(attachment="x"), 422, "invalid_type", "attachment"),
            (with_(attachment={"data": "AAAA"}), 400, "missing_field",
             "attachment.type"),
            (with_(attachment={"type": "text/html", "data": "AAAA"}), 422,
             "invalid_attachment_type", "attachment.type"),
            (with_(attachment={"type": "application/pdf"}), 400,
             "missing_field", "attachment.data"),
            (with_(attachment={"type": "application/pdf", "data": "@@"}),
             422, "invalid_base64", "attachment.data"),
        ]
        for body, st, code, field in cases:
            with self.subTest(body=str(body)[:80]):
                self.err(self.file(MARIA, body), st, code, field)
        # a worker files only for herself (huellad), a folio must exist
        self.err(self.file(MARIA, with_(curp=CARLOS)), 403, "not_yourself")
        self.err(self.file(MARIA, with_(date=None,
                                        folio="HUE-2025-999999999")),
                 404, "punch_not_found")
        # too large for huellad's limit (512 KiB): refused, nothing filed
        st, _, doc = self.as_(MARIA, "GET", "/api/v1/justifications")
        before = len(doc["justifications"])
        big = base64.b64encode(os.urandom(600 * 1024)).decode()
        self.err(self.file(MARIA, with_(attachment={
            "type": "image/png", "data": big})), 413,
            "attachment_too_large", "attachment.data")
        st, _, doc = self.as_(MARIA, "GET", "/api/v1/justifications")
        self.assertEqual(len(doc["justifications"]), before)
        # the body itself
        self.err(self.as_(MARIA, "POST", "/api/v1/justifications",
                          raw=b"{not json"), 400, "malformed_json")
        self.err(self.as_(MARIA, "POST", "/api/v1/justifications",
                          raw=b"[]"), 400, "malformed_json")
        # no CSRF token with a cookie session
        cookie, _ = self.sessions[MARIA]
        st, _, doc = self.h.request("POST", "/api/v1/justifications", ok,
                                    auth=False, headers={
                                        "Cookie": "huella_session=" + cookie})
        self.assertEqual(st, 403, doc)
        # the admin token must name the person
        self.err(self.file(None, ok), 400, "missing_field", "curp")

    def test_decision_and_lists_bad_input(self):
        p = "/api/v1/justifications/{}/decision"
        self.err(self.as_(JUAN, "POST", p.format("42"),
                          {"decision": "approve"}), 422, "invalid_id", "id")
        self.err(self.as_(JUAN, "POST", p.format("J-12x"),
                          {"decision": "approve"}), 422, "invalid_id", "id")
        self.err(self.as_(JUAN, "POST", p.format("J-99999999"),
                          {"decision": "approve"}), 404,
                 "justification_not_found")
        self.err(self.as_(JUAN, "POST", p.format("J-1"), {}), 400,
                 "missing_field", "decision")
        self.err(self.as_(JUAN, "POST", p.format("J-1"),
                          {"decision": "maybe"}), 422, "invalid_decision",
                 "decision")
        self.err(self.as_(JUAN, "POST", p.format("J-1"),
                          {"decision": "approve", "comment": 5}), 422,
                 "invalid_type", "comment")
        self.err(self.as_(JUAN, "POST", p.format("J-1"),
                          {"decision": "approve", "comment": "x" * 1001}),
                 422, "invalid_text", "comment")
        self.err(self.as_(MARIA, "GET", "/api/v1/justifications?scope=all"),
                 422, "invalid_scope", "scope")
        self.err(self.as_(MARIA, "GET", "/api/v1/justifications?scope=team"),
                 403, "forbidden", "scope")
        self.err(self.as_(MARIA, "GET", "/api/v1/notifications?limit=0"),
                 422, "invalid_limit", "limit")
        self.err(self.as_(MARIA, "GET", "/api/v1/notifications?limit=x"),
                 422, "invalid_limit", "limit")
        self.err(self.as_(MARIA, "GET",
                          "/api/v1/justifications/J-1x/attachment"),
                 422, "invalid_id", "id")

    # -- reports -------------------------------------------------------------
    def test_reports(self):
        q = "from=2025-03-03&to=2025-03-07"
        st, _, doc = self.as_(JUAN, "GET", "/api/v1/reports/attendance?" + q)
        self.assertEqual(st, 200, doc)
        team = {p["curp"]: p for p in doc["people"]}
        self.assertIn(MARIA, team)
        self.assertIn(JORGE, team)        # Ana's report, so Juan's too
        self.assertEqual(team[MARIA]["scheduled_days"], 5)
        self.assertEqual(len(team[MARIA]["late_by_weekday"]), 7)
        st, _, doc = self.as_(ANA, "GET", "/api/v1/reports/attendance?" + q)
        self.assertEqual(st, 200, doc)
        self.assertNotIn(MARIA, [p["curp"] for p in doc["people"]])
        # one person, by an admin token
        st, _, doc = self.as_(None, "GET", "/api/v1/reports/attendance?"
                              f"{q}&curp={MARIA}")
        self.assertEqual(st, 200, doc)
        self.assertEqual([p["curp"] for p in doc["people"]], [MARIA])
        # CSV
        st, hdrs, body = self.get_raw(JUAN, "/api/v1/reports/attendance?"
                                      f"{q}&format=csv")
        self.assertEqual(st, 200, body)
        self.assertEqual(hdrs["content-type"], "text/csv; charset=utf-8")
        self.assertEqual(hdrs["content-disposition"],
                         'attachment; filename="asistencia_equipo_'
                         '2025-03-03_2025-03-07.csv"')
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
        self.assertEqual(rows[0][:3], ["curp", "nombre",
                                       "dias_programados"])
        self.assertIn(MARIA, [r[0] for r in rows[1:]])
        st, hdrs, body = self.get_raw(MARIA, "/api/v1/reports/attendance?"
                                      f"{q}&format=csv&scope=mine")
        self.assertEqual(st, 200, body)
        self.assertIn(MARIA, hdrs["content-disposition"])
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
        self.assertEqual([r[0] for r in rows[1:]], [MARIA])
        # bad input
        r = "/api/v1/reports/attendance?"
        self.err(self.as_(JUAN, "GET", r + q + "&format=xml"), 422,
                 "invalid_format", "format")
        self.err(self.as_(JUAN, "GET", r + q + "&scope=all"), 422,
                 "invalid_scope", "scope")
        self.err(self.as_(JUAN, "GET", r + q + f"&scope=team&curp={MARIA}"),
                 422, "invalid_scope", "scope")
        self.err(self.as_(JUAN, "GET", r + q + "&curp=XXXX"), 422,
                 "invalid_curp", "curp")
        self.err(self.as_(JUAN, "GET", r + "to=2025-03-07"), 400,
                 "missing_field", "from")
        self.err(self.as_(None, "GET", r + q + "&scope=mine"), 403,
                 "not_a_person", "scope")

    # -- punches -------------------------------------------------------------
    def test_punch_on_time_duplicate_and_exit(self):
        # María (matutino 08:00-16:00, central) on Monday 2025-04-07
        st, _, p = self.punch(2, at(2025, 4, 7, 7, 55), site="central")
        self.assertEqual(st, 201, p)
        self.assertEqual((p["curp"], p["kind"], p["status"], p["counted"]),
                         (MARIA, "entrada", "a_tiempo", True))
        self.assertEqual(p["name"], "María López Hernández")
        self.assertEqual(p["at"], "2025-04-07T07:55:00-06:00")
        self.assertEqual(p["kiosk"], self.kiosk.id)
        self.assertEqual(p["site"], "central")
        self.assertRegex(p["folio"], r"^(HUE-\d{4}-\d{9}|P-\d+)$")
        self.assertEqual(p["receipt"].count("."), 2)
        # a second touch two minutes later: acknowledged, not counted
        st, _, p = self.punch(2, at(2025, 4, 7, 7, 57), site="central")
        self.assertEqual(st, 201, p)
        self.assertEqual((p["status"], p["counted"]), ("duplicada", False))
        st, _, p = self.punch(2, at(2025, 4, 7, 16, 5), site="central")
        self.assertEqual(st, 201, p)
        self.assertEqual(p["kind"], "salida")
        d = self.days(MARIA, None, "2025-04-07", "2025-04-07")["2025-04-07"]
        self.assertEqual(d["entries"], ["2025-04-07T07:55:00-06:00"])
        self.assertEqual(d["exits"], ["2025-04-07T16:05:00-06:00"])
        self.assertEqual(d["incidents"], [])
        self.assertEqual(len(d["punches"]), 3)
        self.assertEqual([x["counted"] for x in d["punches"]],
                         [True, False, True])

    def test_punch_late_with_matricula(self):
        # Carlos types his matrícula: 1:1; 20 minutes late is retardo
        st, _, p = self.punch(3, at(2025, 4, 8, 8, 20), matricula="M0003",
                              site="central")
        self.assertEqual(st, 201, p)
        self.assertEqual((p["curp"], p["kind"], p["status"]),
                         (CARLOS, "entrada", "retardo"))
        d = self.days(JUAN, CARLOS, "2025-04-08", "2025-04-08")
        inc = d["2025-04-08"]["incidents"]
        # no exit once the window closed: omision_salida too
        self.assertEqual([(i["kind"], i["minutes"]) for i in inc],
                         [("retardo", 20), ("omision_salida", 0)])
        st, _, doc = self.as_(JUAN, "GET", "/api/v1/reports/attendance?"
                              f"from=2025-04-08&to=2025-04-08&curp={CARLOS}")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["people"][0]["late_count"], 1)
        self.assertEqual(doc["people"][0]["late_minutes"], 20)
        # someone else's finger with his matrícula: no match
        self.err(self.punch(2, at(2025, 4, 8, 8, 21), matricula="M0003",
                            site="central"), 401, "no_match")

    def test_punch_night_shift_across_midnight(self):
        # Jorge (nocturno 22:00-06:00, hospital): Monday 21:55 in, Tuesday
        # 06:02 out; both belong to Monday
        st, _, p = self.punch(7, at(2025, 4, 14, 21, 55), site="hospital")
        self.assertEqual(st, 201, p)
        self.assertEqual((p["curp"], p["kind"], p["status"]),
                         (JORGE, "entrada", "a_tiempo"))
        st, _, p = self.punch(7, at(2025, 4, 15, 6, 2), site="hospital")
        self.assertEqual(st, 201, p)
        self.assertEqual(p["kind"], "salida")
        d = self.days(ANA, JORGE, "2025-04-14", "2025-04-15")
        self.assertEqual(d["2025-04-14"]["entries"],
                         ["2025-04-14T21:55:00-06:00"])
        self.assertEqual(d["2025-04-14"]["exits"],
                         ["2025-04-15T06:02:00-06:00"])
        self.assertEqual(d["2025-04-14"]["incidents"], [])
        self.assertEqual(d["2025-04-15"]["entries"], [])

    def test_punch_frozen_period(self):
        st, _, p = self.punch(3, at(2025, 1, 30, 8, 0), site="central")
        self.assertEqual(st, 201, p)
        self.assertEqual((p["status"], p["counted"]),
                         ("periodo_cerrado", False))
        d = self.days(CARLOS, None, "2025-01-30", "2025-01-30")
        self.assertTrue(d["2025-01-30"]["frozen"])
        self.assertEqual(d["2025-01-30"]["entries"], [])

    def test_punch_gallery_without_site(self):
        # a kiosk of no configured site: the whole gallery
        st, _, p = self.punch(9, at(2025, 4, 9, 8, 0), kiosk=self.kiosk2)
        self.assertEqual(st, 201, p)
        self.assertEqual(p["curp"], "DIMP800817HSLZRD09")

    def test_punch_no_match_and_throttle(self):
        k = self.device("kiosk-throttle", "kiosk")
        stranger = harness.iso(harness.db1(101, 1))
        body = {"finger": {"format": "iso19794-2:2005", "data": stranger}}
        left = []
        for _ in range(5):
            st, hdrs, doc = self.punch(0, at(2025, 4, 10, 9, 0), kiosk=k,
                                       body=body)
            self.assertEqual(st, 401, doc)
            self.assertEqual(doc["error"]["code"], "no_match")
            left.append(doc["error"]["attempts_left"])
        self.assertEqual(left, [4, 3, 2, 1, 0])
        self.assertIn("retry-after", hdrs)
        st, hdrs, doc = self.punch(0, at(2025, 4, 10, 9, 0), kiosk=k,
                                   body=body)
        self.assertIn(st, (423, 429), doc)
        self.assertGreater(int(hdrs["retry-after"]), 0)
        self.assertGreater(doc["error"]["retry_after"], 0)
        # a genuine finger on that kiosk must wait too (delay_s 30)...
        st, _, doc = self.punch(2, at(2025, 4, 10, 9, 0) + 10, kiosk=k)
        self.assertIn(st, (423, 429), doc)
        # ...and is accepted once it has passed, which clears the count
        st, _, doc = self.punch(2, at(2025, 4, 10, 9, 0) + 31, kiosk=k)
        self.assertEqual(st, 201, doc)
        st, _, doc = self.punch(0, at(2025, 4, 10, 9, 0) + 32, kiosk=k,
                                body=body)
        self.assertEqual(doc["error"]["attempts_left"], 4, doc)

    def test_punch_signature_required(self):
        self.err(self.punch(2, at(2025, 4, 11, 8, 0), sign=False), 401,
                 "signature_missing")
        self.err(self.punch(2, at(2025, 4, 11, 8, 0), kiosk=self.enroller),
                 401, "device_purpose_mismatch")
        # the body the kiosk signed, and no other
        raw = json.dumps({"finger": {"format": "iso19794-2:2005",
                                     "data": finger(2, 2)}}).encode()
        h = self.kiosk.sign("POST", "/api/v1/punches", raw)
        h["Content-Type"] = "application/json"
        h["X-Huella-Test-Now"] = str(at(2025, 4, 11, 8, 0))
        self.err(self.h.request("POST", "/api/v1/punches",
                                raw=raw.replace(b"iso", b"ISO"), auth=False,
                                headers=h), 401, "content_digest_mismatch")
        h = self.kiosk.sign("POST", "/api/v1/punches", raw)
        h["Content-Type"] = "application/json"
        h["X-Huella-Test-Now"] = str(at(2025, 4, 11, 8, 0))
        st, _, doc = self.h.request("POST", "/api/v1/punches", raw=raw,
                                    auth=False, headers=h)
        self.assertEqual(st, 201, doc)
        # the same signed punch again: a replay
        self.err(self.h.request("POST", "/api/v1/punches", raw=raw,
                                auth=False, headers=h), 401,
                 "nonce_replayed")
        self.assertEqual(self.as_(MARIA, "GET", "/api/v1/punches")[0], 405)

    def test_punch_bad_input(self):
        when = at(2025, 4, 16, 8, 0)
        fmt = "iso19794-2:2005"
        cases = [
            ({}, 400, "missing_field", "finger"),
            ({"finger": "x"}, 422, "invalid_type", "finger"),
            ({"finger": {"data": finger(2, 2)}}, 400, "missing_field",
             "finger.format"),
            ({"finger": {"format": "wsq", "data": finger(2, 2)}}, 422,
             "unsupported_format", "finger.format"),
            ({"finger": {"format": fmt}}, 400, "missing_field",
             "finger.data"),
            ({"finger": {"format": fmt, "data": "!!"}}, 422,
             "invalid_base64", "finger.data"),
            ({"finger": {"format": fmt, "data": "AAAAAAAA"}}, 422,
             "invalid_template", "finger.data"),
            ({"finger": {"format": fmt, "data": finger(2, 2)},
              "matricula": "M 0002"}, 422, "invalid_matricula",
             "matricula"),
            ({"finger": {"format": fmt, "data": finger(2, 2)},
              "matricula": 2}, 422, "invalid_type", "matricula"),
            ({"finger": {"format": fmt, "data": finger(2, 2)},
              "site": "luna"}, 422, "unknown_site", "site"),
            ({"face": {"model": "m", "dim": 1, "data": "AAAAAA=="}}, 400,
             "face_model_mismatch", "face.model"),
        ]
        for body, st, code, field in cases:
            with self.subTest(body=str(body)[:60]):
                self.err(self.punch(0, when, body=body), st, code, field)
        self.err(self.punch(2, None, headers={"X-Huella-Test-Now": "-1"}),
                 422, "invalid_test_now", "test_now")
        self.err(self.punch(0, when, body=b"{]"), 400, "malformed_json")

    # -- durability (runs last: it kills huellad) ----------------------------
    def test_zz_kill9_right_after_the_answers_keeps_them(self):
        """A punch, two justifications filed and one decided, a device
        registered and one revoked: huellad is killed with SIGKILL right
        after the last answer and all of them are there after the restart
        (the sessions, in nginx, outlive it)."""
        st, _, p = self.punch(2, at(2025, 5, 5, 7, 58), site="central")
        self.assertEqual((st, p["status"]), (201, "a_tiempo"), p)
        st, _, j1 = self.file(CARLOS, {"date": "2025-05-06",
                                       "reason": "cita_medica",
                                       "text": "Consulta en la UMF 20."})
        self.assertEqual(st, 201, j1)
        st, _, j2 = self.file(CARLOS, {"date": "2025-05-07",
                                       "reason": "cita_medica",
                                       "text": "Estudios de laboratorio."})
        self.assertEqual(st, 201, j2)
        st, _, dec = self.as_(JUAN, "POST",
                              f"/api/v1/justifications/{j2['id']}/decision",
                              {"decision": "approve", "comment": "Bien."})
        self.assertEqual((st, dec["state"]), (200, "justificada"), dec)
        gone = self.device("kiosk-gone", "kiosk")
        st, _, doc = self.h.request("POST",
                                    f"/api/v1/devices/{gone.id}/revoke")
        self.assertEqual((st, doc["status"]), (200, "revoked"), doc)
        new = self.device("kiosk-new", "kiosk")

        self.h.kill_huellad(signal.SIGKILL)
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(timeout=15), self.h.logs())

        d = self.days(MARIA, None, "2025-05-05", "2025-05-05")["2025-05-05"]
        self.assertEqual(d["entries"], ["2025-05-05T07:58:00-06:00"])
        st, _, doc = self.as_(CARLOS, "GET", "/api/v1/justifications")
        self.assertEqual(st, 200, doc)
        states = {x["id"]: x["state"] for x in doc["justifications"]}
        self.assertEqual((states.get(j1["id"]), states.get(j2["id"])),
                         ("pendiente", "justificada"), states)
        self.err(self.punch(2, at(2025, 5, 5, 16, 2), kiosk=gone),
                 401, "device_revoked")
        st, _, p = self.punch(2, at(2025, 5, 5, 16, 3), kiosk=new,
                              site="central")
        self.assertEqual((st, p["kind"], p["kiosk"]),
                         (201, "salida", new.id), p)


if __name__ == "__main__":
    harness.main()
