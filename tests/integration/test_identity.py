#!/usr/bin/env python3
"""Identity over HTTP (issue 4, docs/identity-api.md): identifier
validation, accounts, password and e.firma login, sessions and CSRF,
service tokens, roles, huella_auth in front of an upstream, recovery
through the outbox, the audit trail.  Real nginx + huellad on loopback.
"""
import base64
import glob
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PASSWORD = "Tortuga-azul-lenta-93"
NEW_PASSWORD = "Colibri-verde-rapido-58"


def curp(n):
    return harness.make_curp(n)


def birth(c):
    return f"19{c[4:6]}-{c[6:8]}-{c[8:10]}"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   capture_output=True)


class IdentityTest(unittest.TestCase):
    """One system for the whole class, with its own registry and CA."""

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="huella-id-")
        cls.registry = os.path.join(cls.work, "registry.tsv")
        with open(cls.registry, "w") as f:
            for n in range(1, 60):
                c = curp(n)
                f.write(f"{c}\tPersona Prueba {n}\t{birth(c)}\tH\tDF\n")
            # a record that disagrees with its CURP (birth date)
            c = curp(99)
            f.write(f"{c}\tPersona Discordante\t1901-01-01\tH\tDF\n")
            f.write("GODE561231HDFRRN00\tEduardo G\u00f3mez D\u00edaz\t"
                    "1956-12-31\tH\tDF\n")
        cls.make_ca()
        cls.h = harness.Huella(yaml_overrides={
            "identity.registry_file": cls.registry,
            "identity.argon2.t_cost": 1,
            "identity.argon2.m_cost_kib": 64,
            "identity.lockout.client_threshold": 10000,
            "identity.trusted_ca_files": [os.path.join(cls.work, "ca.pem")],
        })
        try:
            cls.h.start()
        except Exception:
            print(cls.h.logs(), file=sys.stderr)
            cls.h.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        logs = cls.h.logs()
        rc = cls.h.cleanup()
        if PASSWORD in logs or NEW_PASSWORD in logs:
            raise AssertionError("a password reached the logs")
        if "ERROR: AddressSanitizer" in logs or "runtime error:" in logs:
            print(logs, file=sys.stderr)
            raise AssertionError("sanitizer report in logs")
        if rc not in (0, None):
            print(logs, file=sys.stderr)
            raise AssertionError(f"huellad exited with {rc}")

    # -- e.firma test CA in the tax authority's format -----------------------
    @classmethod
    def make_ca(cls):
        w = cls.work
        for name in ("ca", "other"):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", f"{name}.key", "-out", f"{name}.pem",
                    "-days", "30", "-subj",
                    f"/CN=AC de prueba {name}/O=SAT de prueba",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                    cwd=w)
        with open(os.path.join(w, "ext.cnf"), "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,nonRepudiation\n")
        subj = ("/CN=ESCUELA KEMPER URGATE SA DE CV"
                "/O=ESCUELA KEMPER URGATE SA DE CV"
                "/x500UniqueIdentifier=EKU9003173C9 \\/ GODE561231GR8"
                "/serialNumber= \\/ GODE561231HDFRRN00")
        for name, ca in (("user", "ca"), ("rogue", "other")):
            openssl("req", "-new", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", f"{name}.key", "-out", f"{name}.csr",
                    "-subj", subj, cwd=w)
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem",
                    "-CAkey", f"{ca}.key", "-days", "10", "-set_serial",
                    "0x3330303031303030303030353030303033343136",
                    "-extfile", "ext.cnf", "-outform", "DER",
                    "-out", f"{name}.cer", cwd=w)

    def cert(self, name="user"):
        with open(os.path.join(self.work, f"{name}.cer"), "rb") as f:
            return base64.b64encode(f.read()).decode()

    def sign(self, nonce, name="user"):
        path = os.path.join(self.work, "nonce.txt")
        with open(path, "w") as f:
            f.write(nonce)
        out = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign",
             os.path.join(self.work, f"{name}.key"), path],
            check=True, capture_output=True).stdout
        return base64.b64encode(out).decode()

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
        return self.h.request(method, path, body=body, auth=False, headers=h)

    def admin(self, method, path, body=None):
        return self.h.request(method, path, body=body)

    def raw(self, method, path, headers):
        conn = http.client.HTTPConnection("127.0.0.1", self.h.port,
                                          timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in headers:
                conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def account(self, n, **over):
        c = curp(n)
        body = {"curp": c, "nss": self.nss(n), "email": f"p{n}@example.mx",
                "password": PASSWORD, "security_question": "Color favorito",
                "security_answer": "Azul marino"}
        body.update(over)
        return self.req("POST", "/api/v1/accounts", body)

    @staticmethod
    def nss(n):
        digits = f"{12345 + n:010d}"
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch)
            if i % 2 == 0:
                d *= 2
                d -= 9 if d > 9 else 0
            total += d
        return digits + str((10 - total % 10) % 10)

    def login(self, n, password=PASSWORD):
        st, hdrs, doc = self.req("POST", "/api/v1/session",
                                 {"user": curp(n), "password": password})
        self.assertEqual(st, 201, doc)
        cookie = re.search(r"huella_session=([^;]*)",
                           hdrs["set-cookie"]).group(1)
        return cookie, doc["csrf_token"], hdrs

    def user(self, n, roles=None):
        st, _, doc = self.account(n)
        self.assertEqual(st, 201, doc)
        if roles:
            st, _, doc = self.admin("PUT", f"/api/v1/accounts/{curp(n)}/roles",
                                    {"roles": roles})
            self.assertEqual(st, 200, doc)
        return self.login(n)

    # -- validate ---------------------------------------------------------------
    def validate(self, typ, value):
        st, _, doc = self.req("POST", "/api/v1/validate",
                              {"type": typ, "value": value})
        self.assertEqual(st, 200, doc)
        return doc

    def test_validate_curp(self):
        self.assertTrue(self.validate("curp", curp(7))["valid"])
        self.assertTrue(self.validate("curp", curp(7).lower())["valid"])
        bad = curp(7)[:17] + str((int(curp(7)[17]) + 1) % 10)
        doc = self.validate("curp", bad)
        self.assertFalse(doc["valid"])
        self.assertIn("check digit", doc["reason"])
        self.assertIn("state", self.validate(
            "curp", "GARJ850312HZZRMN07")["reason"])
        self.assertIn("month", self.validate(
            "curp", "GARJ851312HDFRMN07")["reason"])
        self.assertIn("sex", self.validate(
            "curp", "GARJ850312QDFRMN07")["reason"])

    def test_validate_nss(self):
        self.assertTrue(self.validate("nss", self.nss(3))["valid"])
        self.assertEqual(self.validate("nss", self.nss(3))["warnings"], [])
        bad = self.nss(3)[:10] + str((int(self.nss(3)[10]) + 1) % 10)
        self.assertIn("Luhn", self.validate("nss", bad)["reason"])
        self.assertFalse(self.validate("nss", "1234")["valid"])

    def test_validate_rfc(self):
        doc = self.validate("rfc", "AAA010101AAA")
        self.assertTrue(doc["valid"])
        self.assertEqual(doc["warnings"], ["check_digit_mismatch"])
        self.assertEqual(doc["kind"], "company")
        doc = self.validate("rfc", "EKU9003173C9")
        self.assertTrue(doc["valid"], doc)
        self.assertEqual(doc["warnings"], [])
        doc = self.validate("rfc", "GODE561231GR8")
        self.assertTrue(doc["valid"], doc)
        self.assertEqual(doc["warnings"], [])
        self.assertEqual(doc["kind"], "person")
        self.assertIn("month", self.validate("rfc", "GODE561331GR8")["reason"])
        self.assertIn("day", self.validate("rfc", "GODE560230GR8")["reason"])
        self.assertFalse(self.validate("rfc", "GODE561231GR")["valid"] and
                         False)
        self.assertFalse(self.validate("rfc", "GO1E561231GR8")["valid"])
        self.assertFalse(self.validate("rfc", "ABC")["valid"])
        self.assertTrue(self.validate("rfc", "\u00d1AN010101AA0")["valid"])

    def test_validate_bad_requests(self):
        st, _, doc = self.req("POST", "/api/v1/validate", {"value": "x"})
        self.assertEqual((st, doc["error"]["field"]), (400, "type"))
        st, _, doc = self.req("POST", "/api/v1/validate",
                              {"type": "ine", "value": "x"})
        self.assertEqual((st, doc["error"]["code"]), (422, "unsupported_type"))
        st, _, doc = self.req("POST", "/api/v1/validate",
                              {"type": "rfc", "value": 5})
        self.assertEqual((st, doc["error"]["field"]), (422, "value"))

    # -- accounts ---------------------------------------------------------------
    def test_account_bad_input_on_every_field(self):
        cases = [
            ({"curp": "GARJ850312HDFRMN08"}, 422, "invalid_curp", "curp"),
            ({"curp": curp(40)[:17] + "X"}, 422, "invalid_curp", "curp"),
            ({"curp": curp(300)}, 422, "curp_not_in_registry", "curp"),
            ({"curp": curp(99), "nss": self.nss(99)}, 422,
             "registry_mismatch", "curp"),
            ({"nss": "12345678901"}, 422, "invalid_nss", "nss"),
            ({"nss": None}, 400, "missing_field", "nss"),
            ({"email": "nobody"}, 422, "invalid_email", "email"),
            ({"email": "a b@example.mx"}, 422, "invalid_email", "email"),
            ({"email": 7}, 422, "invalid_type", "email"),
            ({"password": "short"}, 422, None, "password"),
            ({"password": "aaaaaaaaaaaaaaaaaaaa"}, 422, None, "password"),
            ({"password": None}, 400, "missing_field", "password"),
            ({"security_question": ""}, 422, "invalid_question",
             "security_question"),
            ({"security_answer": None}, 400, "missing_field",
             "security_answer"),
            ({"security_answer": "x"}, 422, "invalid_answer",
             "security_answer"),
        ]
        for over, status, code, field in cases:
            with self.subTest(over=over):
                st, _, doc = self.account(40, **over)
                self.assertEqual(st, status, doc)
                if code:
                    self.assertEqual(doc["error"]["code"], code)
                else:
                    self.assertTrue(
                        doc["error"]["code"].startswith("password_"), doc)
                self.assertEqual(doc["error"]["field"], field)
        st, _, doc = self.account(40)
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["roles"], ["worker"])
        self.assertEqual(doc["name"], "Persona Prueba 40")
        st, _, doc = self.account(40)
        self.assertEqual((st, doc["error"]["code"]), (409, "account_exists"))

    # -- login, sessions, CSRF --------------------------------------------------
    def test_login_cookie_me_csrf_logout(self):
        st, _, doc = self.account(1)
        self.assertEqual(st, 201, doc)
        cookie, csrf, hdrs = self.login(1)
        sc = hdrs["set-cookie"]
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/"):
            self.assertIn(attr, sc)
        self.assertNotIn("Secure", sc)          # plain HTTP here
        self.assertEqual(len(cookie), 43)
        st, _, me = self.req("GET", "/api/v1/me", cookie=cookie)
        self.assertEqual(st, 200, me)
        self.assertEqual((me["curp"], me["auth_method"], me["csrf_token"]),
                         (curp(1), "password", csrf))
        self.assertEqual(me["roles"], ["worker"])
        # unsafe method without / with a wrong CSRF token
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        st, _, doc = self.req("PUT", "/api/v1/me/password", body,
                              cookie=cookie)
        self.assertEqual((st, doc["error"]["code"]),
                         (403, "csrf_token_invalid"))
        st, _, doc = self.req("PUT", "/api/v1/me/password", body,
                              cookie=cookie, csrf="x" * 43)
        self.assertEqual((st, doc["error"]["code"]),
                         (403, "csrf_token_invalid"))
        st, _, doc = self.req("DELETE", "/api/v1/session", cookie=cookie)
        self.assertEqual(st, 403)
        # with it; another session of the account (whoever knew the old
        # password) ends, the one that changed it goes on
        other, _, _ = self.login(1)
        st, _, doc = self.req("PUT", "/api/v1/me/password", body,
                              cookie=cookie, csrf=csrf)
        self.assertEqual(st, 204, doc)
        st, _, doc = self.req("GET", "/api/v1/me", cookie=other)
        self.assertEqual((st, doc["error"]["code"]), (401, "session_expired"))
        st, _, doc = self.req("GET", "/api/v1/me", cookie=cookie)
        self.assertEqual(st, 200, doc)
        self.login(1, NEW_PASSWORD)
        st, hdrs, _ = self.req("DELETE", "/api/v1/session", cookie=cookie,
                               csrf=csrf)
        self.assertEqual(st, 204)
        self.assertIn("Max-Age=0", hdrs["set-cookie"])
        st, _, doc = self.req("GET", "/api/v1/me", cookie=cookie)
        self.assertEqual((st, doc["error"]["code"]), (401, "session_expired"))
        # every worker sees it: a few more tries on new connections
        for _ in range(6):
            st, _, _ = self.req("GET", "/api/v1/me", cookie=cookie)
            self.assertEqual(st, 401)
        st, _, _ = self.req("GET", "/api/v1/me", cookie="A" * 43)
        self.assertEqual(st, 401)
        st, _, doc = self.req("GET", "/api/v1/me")
        self.assertEqual((st, doc["error"]["code"]), (401, "unauthenticated"))

    def test_wrong_password_attempts_left_then_locked(self):
        self.account(2)
        st, _, doc = self.req("POST", "/api/v1/session",
                              {"user": curp(2), "password": "wrong" * 4})
        self.assertEqual((st, doc["error"]["code"]),
                         (401, "invalid_credentials"))
        self.assertEqual(doc["error"]["attempts_left"], 4)
        for _ in range(4):
            st, hdrs, doc = self.req("POST", "/api/v1/session",
                                     {"user": curp(2),
                                      "password": "wrong" * 4})
        st, hdrs, doc = self.req("POST", "/api/v1/session",
                                 {"user": curp(2), "password": PASSWORD})
        self.assertEqual((st, doc["error"]["code"]), (423, "account_locked"))
        self.assertGreater(int(hdrs["retry-after"]), 0)
        self.assertEqual(doc["error"]["retry_after"],
                         int(hdrs["retry-after"]))

    def test_wrong_current_password_counts_as_a_failed_sign_in(self):
        # a session alone (stolen, left open) must not allow guessing the
        # password without limit through PUT /me/password
        cookie, csrf, _ = self.user(41)
        body = {"current_password": "wrong" * 4,
                "new_password": NEW_PASSWORD}
        st, _, doc = self.req("PUT", "/api/v1/me/password", body,
                              cookie=cookie, csrf=csrf)
        self.assertEqual((st, doc["error"]["code"],
                          doc["error"]["attempts_left"]),
                         (401, "invalid_credentials", 4))
        for _ in range(3):
            self.req("PUT", "/api/v1/me/password", body, cookie=cookie,
                     csrf=csrf)
        st, hdrs, doc = self.req("PUT", "/api/v1/me/password", body,
                                 cookie=cookie, csrf=csrf)
        self.assertEqual((st, doc["error"]["code"]), (423, "account_locked"))
        self.assertGreater(int(hdrs["retry-after"]), 0)
        # locked: the right password is not even checked, here or at login
        body["current_password"] = PASSWORD
        st, _, doc = self.req("PUT", "/api/v1/me/password", body,
                              cookie=cookie, csrf=csrf)
        self.assertEqual((st, doc["error"]["code"]), (423, "account_locked"))
        st, _, doc = self.req("POST", "/api/v1/session",
                              {"user": curp(41), "password": PASSWORD})
        self.assertEqual((st, doc["error"]["code"]), (423, "account_locked"))
        st, _, _ = self.admin("POST", f"/api/v1/accounts/{curp(41)}/unlock")
        self.assertEqual(st, 204)
        st, _, doc = self.req("PUT", "/api/v1/me/password", body,
                              cookie=cookie, csrf=csrf)
        self.assertEqual(st, 204, doc)

    def test_admin_unlocks_a_locked_account(self):
        self.account(22)
        for _ in range(5):
            self.req("POST", "/api/v1/session",
                     {"user": curp(22), "password": "wrong" * 4})
        st, _, doc = self.req("POST", "/api/v1/session",
                              {"user": curp(22), "password": PASSWORD})
        self.assertEqual((st, doc["error"]["code"]), (423, "account_locked"))
        cookie, csrf, _ = self.user(23)
        st, _, doc = self.req("POST", f"/api/v1/accounts/{curp(22)}/unlock",
                              cookie=cookie, csrf=csrf)
        self.assertEqual(st, 403, doc)
        st, _, doc = self.admin("POST",
                                f"/api/v1/accounts/{curp(24)}/unlock")
        self.assertEqual((st, doc["error"]["code"]),
                         (404, "account_not_found"))
        st, _, doc = self.admin("POST",
                                f"/api/v1/accounts/{curp(22)}/unlock")
        self.assertEqual(st, 204, doc)
        self.login(22)
        st, _, doc = self.admin("GET", "/api/v1/audit")
        self.assertEqual(st, 200, doc)
        self.assertIn(("account_unlocked", curp(22)),
                      [(e.get("action"), e.get("target"))
                       for e in doc["entries"]])

    def test_login_bad_input(self):
        for body, status, field in (
                ({"password": "x"}, 400, "user"),
                ({"user": curp(3)}, 400, "password"),
                ({"user": "", "password": "x"}, 422, "user"),
                ({"user": curp(3), "password": 5}, 422, "password")):
            st, _, doc = self.req("POST", "/api/v1/session", body)
            self.assertEqual((st, doc["error"]["field"]), (status, field))
        st, _, doc = self.req("POST", "/api/v1/session",
                              {"user": curp(58), "password": PASSWORD})
        self.assertEqual((st, doc["error"]["code"]),
                         (401, "invalid_credentials"))

    def test_login_and_recovery_accept_a_lower_case_curp(self):
        # docs/api.md: lower-case CURPs are accepted and upper-cased.
        st, _, doc = self.account(33)
        self.assertEqual(st, 201, doc)
        st, _, doc = self.req("POST", "/api/v1/session",
                              {"user": curp(33).lower(),
                               "password": PASSWORD})
        self.assertEqual((st, doc.get("curp")), (201, curp(33)), doc)
        st, _, doc = self.req("POST", "/api/v1/recovery",
                              {"user": curp(33).lower()})
        self.assertEqual((st, doc), (200, {"question": "Color favorito"}))

    def test_subject_disagreeing_with_the_registry_is_refused(self):
        # the registry's record of curp(99) disagrees with its birth date
        st, _, doc = self.admin("POST", "/api/v1/subjects", {
            "curp": curp(99), "name": "Persona Discordante"})
        self.assertEqual((st, doc["error"]["code"], doc["error"]["field"]),
                         (422, "registry_mismatch", "curp"), doc)
        st, _, doc = self.admin("POST", "/api/v1/subjects",
                                {"curp": curp(34), "name": "Otra Persona"})
        self.assertEqual((st, doc["error"]["code"], doc["error"]["field"]),
                         (422, "registry_mismatch", "name"), doc)
        st, _, doc = self.admin("GET", f"/api/v1/subjects/{curp(34)}")
        self.assertEqual(st, 404, doc)
        # the registry's name, in any case and accents
        st, _, doc = self.admin("POST", "/api/v1/subjects", {
            "curp": curp(34), "name": "PERSONA prueba 34"})
        self.assertEqual(st, 201, doc)
        # a CURP the registry does not hold is enrolled as given
        st, _, doc = self.admin("POST", "/api/v1/subjects", {
            "curp": curp(301), "name": "Fuera del registro"})
        self.assertEqual(st, 201, doc)

    # -- tokens -------------------------------------------------------------------
    def test_tokens_create_use_revoke(self):
        st, _, doc = self.admin("POST", "/api/v1/tokens",
                                {"name": "nomina", "roles": ["supervisor"]})
        self.assertEqual(st, 201, doc)
        tid, tok = doc["id"], doc["token"]
        for _ in range(3):                       # checked, then cached
            st, _, me = self.req("GET", "/api/v1/me", token=tok)
            self.assertEqual(st, 200, me)
            self.assertEqual(me["roles"], ["supervisor"])
            self.assertEqual(me["auth_method"], "token")
            self.assertIsNone(me["csrf_token"])
        st, _, doc = self.admin("GET", "/api/v1/tokens")
        self.assertEqual(st, 200)
        t = [x for x in doc["tokens"] if x["id"] == tid][0]
        self.assertEqual((t["name"], t["roles"]), ("nomina", ["supervisor"]))
        self.assertRegex(t["created_at"], r"^\d{4}-\d\d-\d\dT")
        # a supervisor token may not administer
        st, _, doc = self.req("GET", "/api/v1/tokens", token=tok)
        self.assertEqual((st, doc["error"]["code"]), (403, "forbidden"))
        # no CSRF token needed with a bearer token; it is not a session
        st, _, doc = self.req("DELETE", "/api/v1/session", token=tok)
        self.assertEqual((st, doc["error"]["code"]),
                         (403, "session_required"))
        st, _, _ = self.admin("DELETE", f"/api/v1/tokens/{tid}")
        self.assertEqual(st, 204)
        for _ in range(4):
            st, _, doc = self.req("GET", "/api/v1/me", token=tok)
            self.assertEqual((st, doc["error"]["code"]),
                             (401, "invalid_token"))
        st, _, doc = self.admin("DELETE", f"/api/v1/tokens/{tid}")
        self.assertEqual(st, 404)
        for body, field in (({"roles": ["admin"]}, "name"),
                            ({"name": "x", "roles": ["king"]}, "roles"),
                            ({"name": "x", "roles": "admin"}, "roles"),
                            ({"name": "x"}, "roles")):
            st, _, doc = self.admin("POST", "/api/v1/tokens", body)
            self.assertIn(st, (400, 422))
            self.assertEqual(doc["error"]["field"], field)
        # a service account's name goes upstream as Remote-User, where a
        # person's CURP goes: a name that is a CURP would pass for them
        for name in (curp(3), curp(3).lower()):
            st, _, doc = self.admin("POST", "/api/v1/tokens",
                                    {"name": name, "roles": ["supervisor"]})
            self.assertEqual((st, doc["error"]["code"], doc["error"]["field"]),
                             (422, "invalid_name", "name"), name)

    # -- roles ----------------------------------------------------------------------
    def test_roles_worker_forbidden_on_admin_endpoints(self):
        cookie, csrf, _ = self.user(10)
        for method, path, body in (
                ("GET", "/api/v1/tokens", None),
                ("POST", "/api/v1/tokens", {"name": "x", "roles": ["admin"]}),
                ("DELETE", "/api/v1/tokens/abc", None),
                ("PUT", f"/api/v1/accounts/{curp(10)}/roles",
                 {"roles": ["admin"]}),
                ("GET", "/api/v1/audit", None),
                ("POST", "/api/v1/audit/verify", None),
                ("POST", "/api/v1/subjects", {"curp": curp(10), "name": "x"}),
                ("GET", f"/api/v1/subjects/{curp(10)}", None),
                ("POST", "/api/v1/identify", {}),
                ("POST", "/api/v1/verify", {})):
            with self.subTest(path=path, method=method):
                st, _, doc = self.req(method, path, body, cookie=cookie,
                                      csrf=csrf)
                self.assertEqual((st, doc["error"]["code"]),
                                 (403, "forbidden"))
                st, _, doc = self.req(method, path, body)
                self.assertEqual(st, 401)

    def test_roles_auditor_reads_audit_not_tokens(self):
        cookie, csrf, _ = self.user(11, ["auditor"])
        st, _, doc = self.req("GET", "/api/v1/audit?limit=5", cookie=cookie)
        self.assertEqual(st, 200, doc)
        self.assertLessEqual(len(doc["entries"]), 5)
        st, _, doc = self.req("POST", "/api/v1/audit/verify", cookie=cookie,
                              csrf=csrf)
        self.assertEqual(st, 200, doc)
        st, _, doc = self.req("GET", "/api/v1/tokens", cookie=cookie)
        self.assertEqual(st, 403)
        st, _, doc = self.req("GET", "/api/v1/audit?limit=0", cookie=cookie)
        self.assertEqual((st, doc["error"]["field"]), (422, "limit"))

    def test_roles_admin_session_and_role_change_ends_sessions(self):
        cookie, csrf, _ = self.user(12, ["worker", "admin"])
        st, _, doc = self.req("GET", "/api/v1/tokens", cookie=cookie)
        self.assertEqual(st, 200, doc)
        target, tcsrf, _ = self.user(13)
        st, _, doc = self.req("PUT", f"/api/v1/accounts/{curp(13)}/roles",
                              {"roles": ["pensioner"]}, cookie=cookie,
                              csrf=csrf)
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["roles"], ["pensioner"])
        st, _, _ = self.req("GET", "/api/v1/me", cookie=target)
        self.assertEqual(st, 401)             # old roles: signed out
        c2, _, _ = self.login(13)
        st, _, me = self.req("GET", "/api/v1/me", cookie=c2)
        self.assertEqual(me["roles"], ["pensioner"])
        for body in ({"roles": ["boss"]}, {"roles": []},
                     {"roles": ["worker", "worker"]}):
            st, _, doc = self.req("PUT", f"/api/v1/accounts/{curp(13)}/roles",
                                  body, cookie=cookie, csrf=csrf)
            self.assertEqual((st, doc["error"]["field"]), (422, "roles"))
        st, _, doc = self.req("PUT", f"/api/v1/accounts/{curp(14)}/roles",
                              {"roles": ["worker"]}, cookie=cookie, csrf=csrf)
        self.assertEqual(st, 404)

    def test_admin_token_keeps_issue2_endpoints(self):
        st, _, doc = self.admin("GET", f"/api/v1/subjects/{curp(15)}")
        self.assertEqual(st, 404)
        st, _, doc = self.admin("GET", "/api/v1/me")
        self.assertEqual((st, doc["roles"]), (200, ["admin"]))

    # -- huella_auth -----------------------------------------------------------------
    def test_protected_requires_auth(self):
        st, hdrs, _ = self.raw("GET", "/protected/whoami?a=1&b=%2F",
                               [("Accept", "text/html,*/*")])
        self.assertEqual(st, 302)
        loc = dict((k.lower(), v) for k, v in hdrs)["location"]
        parsed = urllib.parse.urlparse(loc)
        self.assertEqual(parsed.path, "/login.html")
        ret = urllib.parse.parse_qs(parsed.query)["return"][0]
        self.assertEqual(ret, "/protected/whoami?a=1&b=%2F")
        st, hdrs, body = self.raw("GET", "/protected/whoami",
                                  [("Accept", "application/json")])
        self.assertEqual(st, 401)
        self.assertEqual(json.loads(body)["error"]["code"], "unauthenticated")
        st, hdrs, body = self.raw("GET", "//evil.example/protected/x",
                                  [("Accept", "text/html")])
        loc = dict((k.lower(), v) for k, v in hdrs).get("location", "")
        ret = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
        self.assertFalse(ret.get("return", ["/"])[0].startswith("//"))

    def test_protected_with_session_strips_spoofed_headers(self):
        cookie, _, _ = self.user(20)
        st, hdrs, body = self.raw("GET", "/protected/whoami", [
            ("Cookie", "huella_session=" + cookie),
            ("Remote-User", "ROOT"), ("remote-user", "ROOT2"),
            ("REMOTE-GROUPS", "admin"), ("Remote-Email", "x@evil")])
        self.assertEqual(st, 200, body)
        text = body.decode()
        self.assertIn(f"Remote-User: {curp(20)}\n", text)
        self.assertIn("Remote-Groups: worker\n", text)
        self.assertIn("Remote-Email: p20@example.mx\n", text)
        self.assertIn("Remote-Name: Persona Prueba 20\n", text)
        self.assertNotIn("ROOT", text)
        self.assertNotIn("evil", text)

    def test_protected_with_token_and_auth_endpoint(self):
        st, _, doc = self.admin("POST", "/api/v1/tokens",
                                {"name": "reloj", "roles": ["worker"]})
        tok = doc["token"]
        st, _, body = self.raw("GET", "/protected/whoami",
                               [("Authorization", "Bearer " + tok)])
        self.assertEqual(st, 200)
        self.assertIn("Remote-User: reloj\n", body.decode())
        st, hdrs, _ = self.req("GET", "/api/v1/auth", token=tok)
        self.assertEqual(st, 204)
        self.assertEqual(hdrs["remote-user"], "reloj")
        self.assertEqual(hdrs["remote-groups"], "worker")
        st, _, _ = self.req("GET", "/api/v1/auth", token="nope" * 8)
        self.assertEqual(st, 401)
        st, _, _ = self.req("GET", "/api/v1/auth")
        self.assertEqual(st, 401)

    # -- e.firma -------------------------------------------------------------------------
    def challenge(self):
        st, _, doc = self.req("POST", "/api/v1/session/efirma/challenge")
        self.assertEqual(st, 201, doc)
        self.assertRegex(doc["expires_at"], r"Z$")
        return doc["nonce"]

    def test_efirma_inspect_and_login(self):
        st, _, doc = self.req("POST", "/api/v1/efirma/inspect",
                              {"certificate": self.cert()})
        self.assertEqual(st, 200, doc)
        self.assertEqual((doc["rfc"], doc["representative_rfc"], doc["curp"]),
                         ("EKU9003173C9", "GODE561231GR8",
                          "GODE561231HDFRRN00"))
        self.assertFalse(doc["expired"])
        st, _, doc = self.req("POST", "/api/v1/efirma/inspect",
                              {"certificate": "@@"})
        self.assertEqual((st, doc["error"]["field"]), (422, "certificate"))
        nonce = self.challenge()
        st, hdrs, doc = self.req("POST", "/api/v1/session/efirma", {
            "certificate": self.cert(), "nonce": nonce,
            "signature": self.sign(nonce)})
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["auth_method"], "efirma")
        self.assertIn("employer_rep", doc["roles"])
        self.assertEqual(doc["employer_rfc"], "EKU9003173C9")
        self.assertIn("HttpOnly", hdrs["set-cookie"])
        # the nonce is single use
        st, _, doc = self.req("POST", "/api/v1/session/efirma", {
            "certificate": self.cert(), "nonce": nonce,
            "signature": self.sign(nonce)})
        self.assertEqual((st, doc["error"]["code"]), (401, "nonce_invalid"))
        nonce = self.challenge()
        st, _, doc = self.req("POST", "/api/v1/session/efirma", {
            "certificate": self.cert(), "nonce": nonce,
            "signature": self.sign(nonce + "x")})
        self.assertEqual((st, doc["error"]["code"]),
                         (401, "signature_invalid"))
        nonce = self.challenge()
        st, _, doc = self.req("POST", "/api/v1/session/efirma", {
            "certificate": self.cert("rogue"), "nonce": nonce,
            "signature": self.sign(nonce, "rogue")})
        self.assertEqual((st, doc["error"]["code"]),
                         (401, "certificate_untrusted"))
        st, _, doc = self.req("POST", "/api/v1/session/efirma",
                              {"certificate": self.cert(), "nonce": "n"})
        self.assertEqual((st, doc["error"]["field"]), (400, "signature"))

    def test_huellactl_efirma_inspect_pem(self):
        """A PEM .cer is read as the DER inside; one that does not decode
        says why (not just 'unreadable')."""
        ctl = os.path.join(harness.BUILD, "bin", "huellactl")
        der = os.path.join(self.work, "user.cer")
        pem = os.path.join(self.work, "user-inspect.pem")
        openssl("x509", "-inform", "DER", "-in", der, "-out", pem,
                cwd=self.work)
        outs = [subprocess.run([ctl, "efirma-inspect", p],
                               capture_output=True, text=True)
                for p in (der, pem)]
        self.assertEqual([o.returncode for o in outs], [0, 0], outs)
        self.assertEqual(json.loads(outs[0].stdout),
                         json.loads(outs[1].stdout))
        bad = os.path.join(self.work, "bad.pem")
        with open(bad, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n!!!!\n"
                    "-----END CERTIFICATE-----\n")
        o = subprocess.run([ctl, "efirma-inspect", bad],
                           capture_output=True, text=True)
        self.assertNotEqual(o.returncode, 0)
        self.assertIn("unreadable PEM certificate: bad base64 decode",
                      o.stderr)

    # -- recovery --------------------------------------------------------------------------
    def test_recovery_through_outbox(self):
        self.account(30)
        before, _, _ = self.login(30)
        st, _, doc = self.req("POST", "/api/v1/recovery", {"user": curp(30)})
        self.assertEqual((st, doc["question"]), (200, "Color favorito"))
        st, _, doc = self.req("POST", "/api/v1/recovery",
                              {"user": curp(30), "answer": "verde"})
        self.assertEqual((st, doc), (202, {"sent": True}))
        st, _, doc = self.req("POST", "/api/v1/recovery",
                              {"user": curp(57), "answer": "verde"})
        self.assertEqual((st, doc), (202, {"sent": True}))
        self.assertEqual(glob.glob(os.path.join(self.h.outbox, "*")), [])
        st, _, doc = self.req("POST", "/api/v1/recovery",
                              {"user": curp(30), "answer": "azul  MARINO"})
        self.assertEqual(st, 202)
        mails = glob.glob(os.path.join(self.h.outbox, "*.eml"))
        self.assertEqual(len(mails), 1)
        with open(mails[0]) as f:
            mail = f.read()
        self.assertIn("p30@example.mx", mail)
        token = re.search(r"#token=([A-Za-z0-9_\-]+)", mail).group(1)
        st, _, doc = self.req("POST", "/api/v1/recovery/finish",
                              {"token": token, "new_password": "abc"})
        self.assertEqual((st, doc["error"]["field"]), (422, "new_password"))
        st, _, doc = self.req("POST", "/api/v1/recovery/finish",
                              {"token": token, "new_password": NEW_PASSWORD})
        self.assertEqual(st, 204, doc)
        # a session opened with the old password ends with it
        st, _, doc = self.req("GET", "/api/v1/me", cookie=before)
        self.assertEqual((st, doc["error"]["code"]), (401, "session_expired"))
        self.login(30, NEW_PASSWORD)
        st, _, doc = self.req("POST", "/api/v1/recovery/finish",
                              {"token": token, "new_password": NEW_PASSWORD})
        self.assertEqual((st, doc["error"]["code"]), (422, "token_invalid"))

    # -- audit -------------------------------------------------------------------------------
    def test_audit_list_and_verify(self):
        cookie, csrf, _ = self.user(50)
        st, _, _ = self.req("DELETE", "/api/v1/session", cookie=cookie,
                            csrf=csrf)
        self.assertEqual(st, 204)
        st, _, doc = self.admin("GET", "/api/v1/audit?limit=50")
        self.assertEqual(st, 200, doc)
        actions = [(e["actor"], e["action"]) for e in doc["entries"]]
        self.assertIn((curp(50), "logout"), actions)
        self.assertIn("login", [a for _, a in actions])
        st, _, doc = self.admin("POST", "/api/v1/audit/verify")
        self.assertEqual(st, 200, doc)
        self.assertTrue(doc["ok"])
        self.assertGreater(doc["entries"], 0)
        self.assertEqual(len(doc["head_hash"]), 64)


if __name__ == "__main__":
    harness.main()
