"""Employer enrollment end to end (issue 5, docs/devices.md): devices
registered and suspended/revoked, RFC 9421 signed captures made with
`huellactl device sign` and every rejection code (signature_missing,
signature_invalid, signature_expired, nonce_replayed, content_digest_mismatch,
device_unknown, device_suspended, device_revoked, device_purpose_mismatch),
a replayed and a tampered request, an enrollment whose receipt is verified
offline with the openssl CLI alone, the same finger under two CURPs caught
as duplicate_suspect and resolved by an auditor both ways, per-finger
quality refusals, exceptions, the worker lookup's red flag, and a kill -9
of huellad during enrollments leaving all or nothing.
"""
import base64
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (BUILD, DATA, HuellaTestCase, main, make_curp)

RFC_E = "AAA010101AAA"
RFC_O = "EKU9003173C9"
HUELLACTL = os.path.join(BUILD, "bin", "huellactl")


def fvc(name, db="DB1_B"):
    with open(os.path.join(DATA, "fvc2002", db, name), "rb") as f:
        return f.read()


def finger(position, name, quality=None, db="DB1_B"):
    t = bytearray(fvc(name, db))
    if quality is not None:
        t[26] = quality                     # ISO finger view quality
    return {"position": position, "format": "iso19794-2:2005",
            "data": base64.b64encode(bytes(t)).decode()}


def face(dim=128):
    import struct
    data = struct.pack("<%df" % dim, *[(i / dim) - 0.5 for i in range(dim)])
    return {"model": "face-api-128", "dim": dim,
            "data": base64.b64encode(data).decode()}


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def rs_to_der(sig):
    """r||s (64 bytes) into a DER ECDSA-Sig-Value."""
    body = der_int(sig[:32]) + der_int(sig[32:])
    return b"\x30" + bytes([len(body)]) + body


def jwk_to_pem(jwk):
    """A P-256 JWK into a SubjectPublicKeyInfo PEM."""
    spki = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d03010703"
                         "420004") + b64url_decode(jwk["x"]) \
        + b64url_decode(jwk["y"])
    b = base64.b64encode(spki).decode()
    return ("-----BEGIN PUBLIC KEY-----\n"
            + "\n".join(b[i:i + 64] for i in range(0, len(b), 64))
            + "\n-----END PUBLIC KEY-----\n")


class Device:
    """A simulated capture device: its key pair made by huellactl."""

    def __init__(self, tmp, name, ed25519=False):
        self.dir = os.path.join(tmp, name)
        args = [HUELLACTL, "device", "keygen", self.dir]
        if ed25519:
            args.append("--ed25519")
        subprocess.run(args, check=True, capture_output=True)
        self.key = os.path.join(self.dir, "device.key")
        with open(os.path.join(self.dir, "device.pub")) as f:
            self.pub = f.read()
        self.id = None

    def sign(self, method, path, body, keyid=None, nonce=None, created=None):
        bodyfile = os.path.join(self.dir, "body")
        with open(bodyfile, "wb") as f:
            f.write(body)
        args = [HUELLACTL, "device", "sign", "--key", self.key,
                "--keyid", keyid or self.id, "--method", method,
                "--path", path]
        if nonce:
            args += ["--nonce", nonce]
        if created is not None:
            args += ["--created", str(created)]
        out = subprocess.run(args + [bodyfile], check=True,
                             capture_output=True, text=True).stdout
        headers = {}
        for line in out.splitlines():
            k, v = line.split(": ", 1)
            headers[k] = v
        return headers


class EnrollmentTest(HuellaTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="huella-dev-", dir=cls.h.dir)
        cls.rep = cls.token("rep-e", ["employer_rep"], RFC_E)
        cls.rep_o = cls.token("rep-o", ["employer_rep"], RFC_O)
        cls.auditor = cls.token("auditor", ["auditor"])
        cls.worker = cls.token("worker", ["worker"])
        cls.dev = cls.device("enr", "enrollment", cls.rep)
        cls.kiosk = cls.device("kiosk", "kiosk", cls.rep, ed25519=True)
        cls.dev_o = cls.device("enr-o", "enrollment", cls.rep_o)
        cls.n = 100

    @classmethod
    def token(cls, name, roles, rfc=None):
        body = {"name": name, "roles": roles}
        if rfc:
            body["employer_rfc"] = rfc
        st, _, doc = cls.h.request("POST", "/api/v1/tokens", body)
        assert st == 201, doc
        return doc["token"]

    @classmethod
    def device(cls, name, purpose, token, ed25519=False, admin_rfc=None):
        d = Device(cls.tmp, name, ed25519)
        body = {"public_key_pem": d.pub, "make": "Acme", "model": "FP-1",
                "serial": name + "-" + os.urandom(4).hex(),
                "purpose": purpose}
        if admin_rfc:
            body["employer_rfc"] = admin_rfc
        st, _, doc = cls.call("POST", "/api/v1/devices", body, token)
        assert st == 201, doc
        d.id = doc["device_id"]
        d.doc = doc
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
        EnrollmentTest.n += 1
        return make_curp(EnrollmentTest.n)

    def enroll(self, curp, body, dev=None, token=None, sign_body=None,
               headers=None, **kw):
        """A signed enrollment; sign_body: sign other bytes than sent."""
        dev = dev or self.dev
        path = f"/api/v1/subjects/{curp}/enrollment"
        raw = json.dumps(body).encode()
        h = dev.sign("POST", path, sign_body or raw, **kw)
        h.update(headers or {})
        st, hd, doc = self.call("POST", path, token=token or self.rep,
                                raw=raw, headers=h)
        return st, doc, (path, raw, h)

    def code(self, doc):
        return doc["error"]["code"] if doc and "error" in doc else None

    # -- devices --------------------------------------------------------------
    def test_device_registration_and_list(self):
        self.assertTrue(self.dev.id.startswith("dev_"))
        self.assertEqual(self.dev.doc["purpose"], "enrollment")
        self.assertTrue(self.dev.doc["folio"].startswith("HUE-"))
        self.assertEqual(self.kiosk.doc["key_alg"], "Ed25519")
        # the 201 names the employer the device now belongs to
        self.assertEqual(self.dev.doc["employer_rfc"], RFC_E)
        self.assertEqual(self.dev_o.doc["employer_rfc"], RFC_O)
        st, _, doc = self.call("GET", "/api/v1/devices", token=self.rep)
        self.assertEqual(st, 200, doc)
        ids = {d["device_id"] for d in doc["devices"]}
        self.assertIn(self.dev.id, ids)
        self.assertNotIn(self.dev_o.id, ids)       # another employer's
        st, _, doc = self.call("GET", "/api/v1/devices")     # admin: all
        ids = {d["device_id"] for d in doc["devices"]}
        self.assertTrue({self.dev.id, self.dev_o.id} <= ids)
        # an employer registers for itself only; admin names the employer
        d = Device(self.tmp, "other")
        body = {"public_key_pem": d.pub, "make": "a", "model": "b",
                "serial": "c", "purpose": "kiosk", "employer_rfc": RFC_O}
        st, _, doc = self.call("POST", "/api/v1/devices", body, self.rep)
        self.assertEqual((st, self.code(doc)), (403, "not_your_employer"))
        del body["employer_rfc"]
        st, _, doc = self.call("POST", "/api/v1/devices", body)
        self.assertEqual((st, self.code(doc)), (400, "missing_field"))
        st, _, doc = self.call("POST", "/api/v1/devices", dict(
            body, purpose="door"), self.rep)
        self.assertEqual((st, self.code(doc)), (422, "invalid_purpose"))
        st, _, doc = self.call("GET", "/api/v1/devices", token=self.worker)
        self.assertEqual(st, 403)

    # -- signature refusals -------------------------------------------------
    def test_signature_missing(self):
        curp = self.curp()
        path = f"/api/v1/subjects/{curp}/enrollment"
        body = {"fingers": [finger(1, "103_1.iso")]}
        st, _, doc = self.call("POST", path, body, self.rep)
        self.assertEqual((st, self.code(doc)), (401, "signature_missing"))
        raw = json.dumps(body).encode()
        h = self.dev.sign("POST", path, raw)
        del h["Signature"]
        st, _, doc = self.call("POST", path, token=self.rep, raw=raw,
                               headers=h)
        self.assertEqual((st, self.code(doc)), (401, "signature_missing"))
        self.assertEqual(self.lookup(curp)["biometrics"]["status"], "none")

    def test_signature_invalid_headers(self):
        curp = self.curp()
        path = f"/api/v1/subjects/{curp}/enrollment"
        raw = json.dumps({"fingers": [finger(1, "103_1.iso")]}).encode()
        good = self.dev.sign("POST", path, raw)
        si = good["Signature-Input"]
        bad = [
            {"Signature-Input": "garbage"},
            {"Signature-Input": si.replace('"content-digest"', "")
                .replace('" )', '")')},
            {"Signature-Input": si.replace('("@method" ',
                                           '("@method" "@authority" ')},
            {"Signature-Input": si.replace(";nonce=", ";foo=1;nonce=")},
            {"Signature-Input": si.replace("created=", "created=-")},
            {"Signature-Input": si.replace(";keyid=", ";created=1;keyid=")},
            {"Signature-Input": si + ", sig2=()"},
            {"Signature": good["Signature"].replace("sig1=", "sig2=")},
            {"Signature": good["Signature"].replace(":", "", 1)},
            {"Signature": "sig1=:!!!!:"},
            {"Content-Digest": "sha-512=:" + base64.b64encode(
                b"\0" * 64).decode() + ":"},
            {"Content-Digest": "sha-256=:AAAA:"},
        ]
        for change in bad:
            h = dict(good, **change)
            st, _, doc = self.call("POST", path, token=self.rep, raw=raw,
                                   headers=h)
            self.assertEqual((st, self.code(doc)), (401, "signature_invalid"),
                             (change, doc))
        # a well-formed signature by another key: huellad refuses it
        stranger = Device(self.tmp, "stranger")
        h = stranger.sign("POST", path, raw, keyid=self.dev.id)
        st, _, doc = self.call("POST", path, token=self.rep, raw=raw,
                               headers=h)
        self.assertEqual((st, self.code(doc)), (401, "signature_invalid"))
        # signed for another path (the request's own is what is checked)
        h = self.dev.sign("POST", path.replace(curp, self.curp()), raw)
        st, _, doc = self.call("POST", path, token=self.rep, raw=raw,
                               headers=h)
        self.assertEqual((st, self.code(doc)), (401, "signature_invalid"))
        self.assertEqual(self.lookup(curp)["biometrics"]["status"], "none")

    def test_signature_expired(self):
        body = {"fingers": [finger(1, "103_1.iso")]}
        for created in (int(time.time()) - 400, int(time.time()) + 400):
            st, doc, _ = self.enroll(self.curp(), body, created=created)
            self.assertEqual((st, self.code(doc)), (401, "signature_expired"))

    def test_tampered_body(self):
        curp = self.curp()
        body = {"fingers": [finger(1, "103_1.iso")]}
        other = json.dumps({"fingers": [finger(1, "104_1.iso")]}).encode()
        st, doc, _ = self.enroll(curp, body, sign_body=other)
        self.assertEqual((st, self.code(doc)), (401,
                                                "content_digest_mismatch"))
        # the digest of the body that was signed, another body sent
        path = f"/api/v1/subjects/{curp}/enrollment"
        h = self.dev.sign("POST", path, other)
        h["Content-Digest"] = "sha-256=:" + base64.b64encode(
            hashlib.sha256(json.dumps(body).encode()).digest()).decode() + ":"
        st, _, doc = self.call("POST", path, token=self.rep,
                               raw=json.dumps(body).encode(), headers=h)
        self.assertEqual((st, self.code(doc)), (401, "signature_invalid"))
        self.assertEqual(self.lookup(curp)["biometrics"]["status"], "none")

    def test_device_codes(self):
        body = {"fingers": [finger(1, "103_1.iso")]}
        st, doc, _ = self.enroll(self.curp(), body,
                                 keyid="dev_0123456789abcdef")
        self.assertEqual((st, self.code(doc)), (401, "device_unknown"))
        st, doc, _ = self.enroll(self.curp(), body, dev=self.kiosk)
        self.assertEqual((st, self.code(doc)), (401,
                                                "device_purpose_mismatch"))
        # another employer's enrollment device
        st, doc, _ = self.enroll(self.curp(), body, dev=self.dev_o)
        self.assertEqual((st, self.code(doc)), (403,
                                                "device_employer_mismatch"))

    def test_device_suspended_then_revoked(self):
        d = self.device("susp", "enrollment", self.rep)
        body = {"fingers": [finger(1, "108_1.iso")]}
        # another employer may not touch it
        st, _, doc = self.call("POST", f"/api/v1/devices/{d.id}/suspend",
                               token=self.rep_o)
        self.assertEqual((st, self.code(doc)), (403, "device_not_owned"))
        st, _, doc = self.call("POST", f"/api/v1/devices/{d.id}/suspend",
                               token=self.rep)
        self.assertEqual((st, doc["status"]), (200, "suspended"), doc)
        st, doc, _ = self.enroll(self.curp(), body, dev=d)
        self.assertEqual((st, self.code(doc)), (401, "device_suspended"))
        st, _, doc = self.call("POST", f"/api/v1/devices/{d.id}/reactivate")
        self.assertEqual((st, doc["status"]), (200, "active"), doc)
        curp = self.curp()
        st, doc, _ = self.enroll(curp, body, dev=d)
        self.assertEqual(st, 201, doc)
        st, _, doc = self.call("POST", f"/api/v1/devices/{d.id}/revoke",
                               token=self.rep)
        self.assertEqual((st, doc["status"]), (200, "revoked"), doc)
        st, doc, _ = self.enroll(self.curp(), body, dev=d)
        self.assertEqual((st, self.code(doc)), (401, "device_revoked"))
        st, _, doc = self.call("POST", f"/api/v1/devices/{d.id}/reactivate")
        self.assertEqual((st, self.code(doc)), (409, "device_revoked"))
        st, _, doc = self.call("GET", "/api/v1/devices", token=self.rep)
        mine = [x for x in doc["devices"] if x["device_id"] == d.id][0]
        self.assertEqual(mine["status"], "revoked")
        self.assertIsNotNone(mine["last_used"])

    # -- enrollment, receipts -------------------------------------------------
    def test_enrollment_receipt_offline_and_replay(self):
        curp = self.curp()
        body = {"fingers": [finger(2, "101_1.iso"), finger(7, "102_1.iso")],
                "face": face(),
                "missing": [{"position": 10, "reason": "amputation"}]}
        st, doc, (path, raw, h) = self.enroll(curp, body)
        self.assertEqual(st, 201, doc)
        folio, jws = doc["folio"], doc["receipt"]
        self.assertEqual(doc["curp"], curp)
        # the captured request again: refused before huellad's write path
        st, _, again = self.call("POST", path, token=self.rep, raw=raw,
                                 headers=h)
        self.assertEqual((st, self.code(again)), (401, "nonce_replayed"))
        # the receipt by folio; the public keys without identity
        st, _, rec = self.call("GET", f"/api/v1/receipts/{folio}",
                               token=self.rep)
        self.assertEqual((st, rec["receipt"]), (200, jws), rec)
        st, _, rec2 = self.call("GET", f"/api/v1/receipts/{folio}",
                                token=self.rep_o)
        self.assertEqual(st, 404)                 # another employer's
        st, hd, jwks = self.h.request("GET", "/.well-known/jwks.json",
                                      auth=False)
        self.assertEqual(st, 200, jwks)
        head_b64, payload_b64, sig_b64 = jws.split(".")
        header = json.loads(b64url_decode(head_b64))
        payload = json.loads(b64url_decode(payload_b64))
        self.assertEqual(header["alg"], "ES256")
        self.assertEqual((payload["folio"], payload["type"], payload["curp"],
                          payload["employer_rfc"], payload["device"]),
                         (folio, "enrollment", curp, RFC_E, self.dev.id))
        shas = {t["position"]: t["sha256"] for t in payload["template_sha256"]}
        self.assertEqual(shas[2], hashlib.sha256(fvc("101_1.iso")).hexdigest())
        # offline, OpenSSL alone: JWK -> PEM, r||s -> DER
        jwk = [k for k in jwks["keys"] if k["kid"] == header["kid"]][0]
        d = tempfile.mkdtemp(dir=self.tmp)
        with open(os.path.join(d, "pub.pem"), "w") as f:
            f.write(jwk_to_pem(jwk))
        with open(os.path.join(d, "input.txt"), "wb") as f:
            f.write((head_b64 + "." + payload_b64).encode())
        with open(os.path.join(d, "sig.der"), "wb") as f:
            f.write(rs_to_der(b64url_decode(sig_b64)))
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify",
                            os.path.join(d, "pub.pem"), "-signature",
                            os.path.join(d, "sig.der"),
                            os.path.join(d, "input.txt")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Verified OK", r.stdout)
        # a changed payload does not verify
        with open(os.path.join(d, "input.txt"), "ab") as f:
            f.write(b"x")
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify",
                            os.path.join(d, "pub.pem"), "-signature",
                            os.path.join(d, "sig.der"),
                            os.path.join(d, "input.txt")],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        # the worker lookup: enrolled, no red flag
        doc = self.lookup(curp)
        self.assertEqual(doc["biometrics"]["status"], "enrolled", doc)
        self.assertFalse(doc["red_flag"])
        st, doc, _ = self.enroll(curp, body)
        self.assertEqual((st, self.code(doc)), (409, "already_enrolled"))

    def test_ed25519_device_and_concurrent_replay(self):
        d = self.device("ed", "enrollment", self.rep, ed25519=True)
        self.assertEqual(d.doc["key_alg"], "Ed25519")
        curp = self.curp()
        path = f"/api/v1/subjects/{curp}/enrollment"
        raw = json.dumps({"fingers": [finger(8, "110_1.iso",
                                             db="DB2_B")]}).encode()
        h = d.sign("POST", path, raw)
        # the same signed request twice at once: one gets through
        out = []

        def go():
            out.append(self.call("POST", path, token=self.rep, raw=raw,
                                 headers=h)[::2])

        ts = [threading.Thread(target=go) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        codes = sorted((st, self.code(doc)) for st, doc in out)
        self.assertEqual(codes, [(201, None)] + [(401, "nonce_replayed")] * 3,
                         out)
        # alg must name the key's algorithm
        h = d.sign("POST", path, raw)
        h["Signature-Input"] = h["Signature-Input"].replace(
            'alg="ed25519"', 'alg="ecdsa-p256-sha256"')
        st, _, doc = self.call("POST", path, token=self.rep, raw=raw,
                               headers=h)
        self.assertEqual((st, self.code(doc)), (401, "signature_invalid"))

    def test_admin_service_account_for_employer(self):
        body = {"fingers": [finger(3, "109_1.iso")],
                "employer_rfc": RFC_E}
        st, doc, _ = self.enroll(self.curp(), body, token=self.h.token)
        self.assertEqual(st, 201, doc)
        del body["employer_rfc"]
        st, doc, _ = self.enroll(self.curp(), body, token=self.h.token)
        self.assertEqual((st, self.code(doc)), (400, "missing_field"))
        # signature still required for the admin
        st, _, doc = self.call("POST", "/api/v1/subjects/%s/enrollment"
                               % self.curp(), dict(body, employer_rfc=RFC_E))
        self.assertEqual((st, self.code(doc)), (401, "signature_missing"))

    def lookup(self, curp):
        st, _, doc = self.call("GET", f"/api/v1/subjects?curp={curp}",
                               token=self.rep)
        if st == 404:
            return {"biometrics": {"status": "none"}, "red_flag": True,
                    "flags": ["no_biometrics"]}
        self.assertEqual(st, 200, doc)
        return doc

    def test_lookup_red_flag(self):
        curp = self.curp()
        st, _, doc = self.h.request("POST", "/api/v1/subjects",
                                    {"curp": curp, "name": "Sin Huellas"})
        self.assertIn(st, (200, 201), doc)
        st, _, doc = self.call("GET", f"/api/v1/subjects?curp={curp}",
                               token=self.rep)
        self.assertEqual(st, 200, doc)
        self.assertTrue(doc["red_flag"])
        self.assertIn("no_biometrics", doc["flags"])
        # by NSS: a worker registered with one, not enrolled, no account
        nss_curp = self.curp()
        st, _, doc = self.h.request("POST", "/api/v1/subjects",
                                    {"curp": nss_curp, "nss": "12345678903",
                                     "name": "Con NSS"})
        self.assertIn(st, (200, 201), doc)
        st, _, doc = self.call("GET", "/api/v1/subjects?nss=12345678903",
                               token=self.rep)
        self.assertEqual((st, doc.get("curp")), (200, nss_curp), doc)
        self.assertEqual(doc["name"], "Con NSS")
        self.assertTrue(doc["red_flag"])
        st, _, doc = self.call("GET", "/api/v1/subjects?nss=98765432103",
                               token=self.rep)
        self.assertEqual((st, self.code(doc)), (404, "subject_not_found"))
        st, _, doc = self.call("GET", "/api/v1/subjects", token=self.rep)
        self.assertEqual((st, self.code(doc)), (400, "missing_field"))
        st, _, doc = self.call("GET", "/api/v1/subjects?curp=XYZ",
                               token=self.rep)
        self.assertEqual((st, self.code(doc)), (422, "invalid_curp"))
        st, _, doc = self.call("GET", f"/api/v1/subjects?curp={curp}",
                               token=self.worker)
        self.assertEqual(st, 403)

    # -- quality, exceptions --------------------------------------------------
    def test_quality_refusal_per_finger(self):
        curp = self.curp()
        body = {"fingers": [finger(1, "103_1.iso"),
                            finger(6, "104_1.iso", quality=10)]}
        st, doc, _ = self.enroll(curp, body)
        self.assertEqual((st, self.code(doc)), (422, "low_quality"), doc)
        self.assertEqual(doc["error"]["field"], "fingers[1].data")
        f = doc["error"]["fingers"]
        self.assertEqual([(x["index"], x["position"], x["code"], x["field"])
                          for x in f],
                         [(1, 6, "low_quality", "fingers[1].data")])
        self.assertEqual(self.lookup(curp)["biometrics"]["status"], "none")
        self.assertNotIn("warnings", doc["error"])
        # item 7: the third refusal (enrollment.quality_failures) opens an
        # exception, and the worker's status says so
        for n in (2, 3):
            st, doc, _ = self.enroll(curp, body)
            self.assertEqual((st, self.code(doc)), (422, "low_quality"))
        self.assertEqual(doc["error"].get("warnings"), ["exception_opened"])
        st, _, doc = self.call("GET", f"/api/v1/exceptions?curp={curp}")
        self.assertEqual([e["reason"] for e in doc["exceptions"]],
                         ["repeated_quality_failure"], doc)
        st, _, look = self.call("GET", f"/api/v1/subjects?curp={curp}",
                                token=self.rep)
        self.assertEqual(st, 200, look)
        self.assertIn("exception", look["flags"])
        self.assertEqual(look["exception"]["reason"],
                         "repeated_quality_failure")
        st, doc, _ = self.enroll(curp, {"fingers": [
            finger(1, "103_1.iso"), finger(1, "104_1.iso")]})
        self.assertEqual(st, 422, doc)
        st, doc, _ = self.enroll(curp, {"fingers": [
            {"position": 11, "format": "iso19794-2:2005", "data": "AAAA"}]})
        self.assertEqual((st, doc["error"]["field"]), (422,
                                                       "fingers[0].position"))

    def test_registry_mismatch_is_refused(self):
        # config/registry.tsv records MISM910101HDFSSM01 as born 1991-02-01,
        # its CURP says 1991-01-01: refused, nothing stored (issue 4)
        curp = "MISM910101HDFSSM01"
        st, doc, _ = self.enroll(curp, {"fingers": [finger(1, "105_1.iso")]})
        self.assertEqual((st, self.code(doc), doc["error"]["field"]),
                         (422, "registry_mismatch", "curp"), doc)
        self.assertIn("1991-02-01", doc["error"]["message"])
        st, _, doc = self.h.request("GET", f"/api/v1/subjects/{curp}")
        self.assertEqual(st, 404, doc)

    def test_exception_for_unreadable_prints(self):
        curp = self.curp()
        body = {"fingers": [finger(4, "110_1.iso")],
                "missing": [{"position": 9, "reason": "unreadable"}]}
        st, doc, _ = self.enroll(curp, body)
        self.assertEqual(st, 201, doc)
        st, _, doc = self.call("GET", f"/api/v1/exceptions?curp={curp}")
        self.assertEqual(st, 200, doc)
        self.assertEqual(len(doc["exceptions"]), 1, doc)
        st, _, doc = self.call("GET", "/api/v1/exceptions",
                               token=self.auditor)
        self.assertEqual(st, 200, doc)
        self.assertIn(curp, [e["curp"] for e in doc["exceptions"]])
        st, _, doc = self.call("GET", "/api/v1/exceptions", token=self.rep)
        self.assertEqual(st, 403)
        self.assertIn("exception", self.lookup(curp)["flags"])

    def test_worker_sees_own_exception_and_receipt(self):
        """Item 7: an exception is visible to the worker too, and the
        worker reads the acuse of their own enrollment."""
        curp, nss = "RAMO880808HJCMRL07", "50880800037"   # in the registry
        password = "Tortuga-azul-lenta-93"
        st, _, doc = self.h.request("POST", "/api/v1/accounts", {
            "curp": curp, "nss": nss, "email": "raul@example.mx",
            "password": password, "security_question": "Color favorito",
            "security_answer": "Azul marino"}, auth=False)
        self.assertEqual(st, 201, doc)
        st, hd, doc = self.h.request("POST", "/api/v1/session", {
            "user": curp, "password": password}, auth=False)
        self.assertEqual(st, 201, doc)
        me = {"Cookie": hd["set-cookie"].split(";")[0]}
        st, _, doc = self.h.request("GET", "/api/v1/me/exceptions",
                                    auth=False, headers=me)
        self.assertEqual((st, doc["exceptions"]), (200, []), doc)
        body = {"fingers": [finger(6, "109_2.iso", db="DB2_B")],
                "missing": [{"position": 1, "reason": "unreadable"}]}
        st, doc, _ = self.enroll(curp, body)
        self.assertEqual(st, 201, doc)
        folio = doc["folio"]
        st, _, doc = self.h.request("GET", "/api/v1/me/exceptions",
                                    auth=False, headers=me)
        self.assertEqual(st, 200, doc)
        self.assertEqual([e["curp"] for e in doc["exceptions"]], [curp])
        st, _, doc = self.h.request("GET", f"/api/v1/receipts/{folio}",
                                    auth=False, headers=me)
        self.assertEqual((st, doc["payload"]["curp"]), (200, curp), doc)

    # -- dedup ----------------------------------------------------------------
    def test_dedup_confirmed_and_false_alarm(self):
        a, b = self.curp(), self.curp()
        st, doc, _ = self.enroll(a, {"fingers": [finger(2, "105_1.iso")]})
        self.assertEqual(st, 201, doc)
        st, doc, _ = self.enroll(b, {"fingers": [finger(2, "105_2.iso")]})
        self.assertEqual((st, self.code(doc)), (409, "duplicate_suspect"),
                         doc)
        case = doc["error"]["case_id"]
        self.assertNotIn(a, json.dumps(doc))     # never the other identity
        self.assertEqual(self.lookup(b)["biometrics"]["status"], "none")
        # the held enrollment is all there is of b: the lookup says so
        st, _, look = self.call("GET", f"/api/v1/subjects?curp={b}",
                                token=self.rep)
        self.assertEqual(st, 200, look)
        self.assertIn("dedup_pending", look["flags"])
        self.assertNotIn(a, json.dumps(look))
        # the auditor sees both; employers may not
        st, _, doc = self.call("GET", "/api/v1/dedup", token=self.rep)
        self.assertEqual(st, 403)
        st, _, doc = self.call("GET", "/api/v1/dedup?status=open",
                               token=self.auditor)
        self.assertEqual(st, 200, doc)
        c = [x for x in doc["cases"] if x["case_id"] == case][0]
        self.assertEqual(c["curp"], b)
        self.assertIn(a, [m["curp"] for m in c["matches"]])
        st, _, doc = self.call("POST", f"/api/v1/dedup/{case}/resolve",
                               {"decision": "maybe"}, self.auditor)
        self.assertEqual((st, self.code(doc)), (422, "invalid_decision"))
        st, _, doc = self.call("POST", f"/api/v1/dedup/{case}/resolve",
                               {"decision": "confirmed"}, self.auditor)
        self.assertEqual((st, doc["status"]), (200, "confirmed"), doc)
        self.assertTrue(doc["folio"].startswith("HUE-"))
        st, _, doc = self.call("POST", f"/api/v1/dedup/{case}/resolve",
                               {"decision": "false_alarm"}, self.auditor)
        self.assertEqual((st, self.code(doc)), (409, "case_closed"))
        self.assertIn("duplicate_confirmed", self.lookup(b)["flags"])
        # the same finger again, judged a false alarm: enrollment accepted
        c2, d2 = self.curp(), self.curp()
        st, doc, _ = self.enroll(c2, {"fingers": [finger(5, "106_1.iso")]})
        self.assertEqual(st, 201, doc)
        st, doc, _ = self.enroll(d2, {"fingers": [finger(5, "106_2.iso")]})
        self.assertEqual((st, self.code(doc)), (409, "duplicate_suspect"))
        case = doc["error"]["case_id"]
        st, _, doc = self.call("POST", f"/api/v1/dedup/{case}/resolve",
                               {"decision": "false_alarm"}, self.auditor)
        self.assertEqual((st, doc["status"]), (200, "false_alarm"), doc)
        self.assertEqual(self.lookup(d2)["biometrics"]["status"], "enrolled")

    def devices_once_linked(self):
        """GET /api/v1/devices, retried until every nginx worker's link to
        a restarted huellad is back up; (status, doc)."""
        for _ in range(100):
            st, _, doc = self.call("GET", "/api/v1/devices", token=self.rep)
            if st == 200:
                break
            time.sleep(0.1)
        return st, doc

    # -- crash ----------------------------------------------------------------
    def test_zy_last_use_survives_a_clean_restart(self):
        d = self.device("last-use", "enrollment", self.rep)
        st, doc, _ = self.enroll(self.curp(), {"fingers": [
            finger(3, "108_3.iso", db="DB2_B")]}, dev=d)
        self.assertEqual(st, 201, doc)

        def last_used():
            st, doc = self.devices_once_linked()
            self.assertEqual(st, 200, doc)
            return [x["last_used"] for x in doc["devices"]
                    if x["device_id"] == d.id][0]

        used = last_used()
        self.assertIsNotNone(used)
        # within enrollment.device_last_used_flush_s of the start: only
        # the clean stop writes it
        self.h.kill_huellad(signal.SIGTERM)
        self.h.start_huellad()
        self.assertTrue(self.h.wait_healthy(20), self.h.logs())
        self.assertEqual(last_used(), used)

    def test_zz_kill9_during_enrollment_all_or_nothing(self):
        results = []
        seen = set()
        for i, delay in enumerate((0.0, 0.003, 0.006, 0.01, 0.02, 0.04, 0.3)):
            curp = self.curp()
            # a finger of its own each round (DB2_B), no dedup hit
            body = {"fingers": [finger(1, f"{101 + i}_1.iso", db="DB2_B"),
                                finger(6, f"{101 + i}_5.iso", db="DB2_B")],
                    "face": face()}
            path = f"/api/v1/subjects/{curp}/enrollment"
            raw = json.dumps(body).encode()
            h = self.dev.sign("POST", path, raw)     # signed beforehand
            done = []

            def go():
                try:
                    st, _, doc = self.call("POST", path, token=self.rep,
                                           raw=raw, headers=h)
                    done.append((st, doc))
                except OSError as e:
                    done.append((None, str(e)))

            t = threading.Thread(target=go)
            t.start()
            time.sleep(delay)
            self.h.kill_huellad()
            t.join(30)
            self.h.start_huellad()
            self.assertTrue(self.h.wait_healthy(20), self.h.logs())
            self.devices_once_linked()
            look = self.lookup(curp)
            status = look["biometrics"]["status"]
            results.append((delay, done[0][0] if done else None, status))
            seen.add(status)
            if status == "none":
                self.assertEqual(look["biometrics"].get(
                    "fingers_enrolled", 0), 0, look)
                continue
            # enrolled: all of it, with its receipt
            self.assertEqual(status, "enrolled", look)
            self.assertEqual(look["biometrics"]["fingers_enrolled"], 2)
            self.assertTrue(look["biometrics"]["face"])
            folio = look["folio"]
            st, _, rec = self.call("GET", f"/api/v1/receipts/{folio}",
                                   token=self.rep)
            self.assertEqual(st, 200, rec)
            self.assertEqual(rec["payload"]["curp"], curp)
        print("kill -9 rounds (delay, HTTP status, state):", results)
        self.assertIn("enrolled", seen, results)  # the last round at least


if __name__ == "__main__":
    main()
