#!/usr/bin/env python3
"""What a password login costs nginx when the session zone is full of
other people's sessions.

A login whose account has changed its password (huellad answers
PASSWORD_CHANGED) ends that account's sessions opened before the change
(docs/identity-api.md "Sessions and credential changes"); a login of an
account that never changed it does not look.  The bench fills the zone
with --sessions sessions of --accounts other accounts, then times logins
of the two kinds, interleaved one by one so that noise hits both alike,
and prints their p50/p99 and the ratio of the p50s.  Through the account
index the ratio stays near 1 whatever the zone holds; a walk over the
whole zone grows with it.  Run it against two builds to compare them:

    python3 bench/bench_session_purge.py [--sessions 15000] [--accounts 150]
        [--rounds 300] [--build DIR]

Real nginx + huellad on loopback (tests/integration/harness.py), cheap
argon2 parameters so that the logins that fill the zone are quick.
"""
import argparse
import http.client
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

PASSWORD = "Tortuga-azul-lenta-93"
NEW_PASSWORD = "Colibri-verde-rapido-58"


def nss(n):
    digits = f"{12345 + n:010d}"
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return digits + str((10 - total % 10) % 10)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]


class Client:
    """One keep-alive connection to nginx."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        self.conn.request(method, path, body=json.dumps(body).encode()
                          if body is not None else None, headers=h)
        resp = self.conn.getresponse()
        data = resp.read()
        doc = json.loads(data) if data else None
        return resp.status, resp.getheader("Set-Cookie"), doc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=15000)
    ap.add_argument("--accounts", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--build", help="a build directory (default: build/)")
    args = ap.parse_args()
    if args.build:
        os.environ["HUELLA_BUILD"] = os.path.abspath(args.build)
    os.environ.setdefault("HUELLA_BUILD", os.path.join(ROOT, "build"))
    os.environ.setdefault("HUELLA_SHARED",
                          os.path.join(os.path.dirname(ROOT), "shared"))
    import harness  # noqa: E402  (after HUELLA_BUILD is set)

    n_acc = args.accounts + 2
    work = tempfile.mkdtemp(prefix="huella-bench-purge-")
    registry = os.path.join(work, "registry.tsv")
    with open(registry, "w") as f:
        for n in range(1, n_acc + 1):
            c = harness.make_curp(n)
            f.write(f"{c}\tPersona Prueba {n}\t19{c[4:6]}-{c[6:8]}-{c[8:10]}"
                    "\tH\tDF\n")
    h = harness.Huella(yaml_overrides={
        "identity.registry_file": registry,
        "identity.argon2.t_cost": 1,
        "identity.argon2.m_cost_kib": 64,
        "identity.lockout.client_threshold": 100000,
    })
    h.start()
    try:
        cl = Client(h.port)
        for n in range(1, n_acc + 1):
            st, _, doc = cl.call("POST", "/api/v1/accounts", {
                "curp": harness.make_curp(n), "nss": nss(n),
                "email": f"p{n}@example.mx", "password": PASSWORD,
                "security_question": "Color favorito",
                "security_answer": "Azul marino"})
            if st != 201:
                sys.exit(f"account {n}: {st} {doc}")

        def login(n, password=PASSWORD):
            t0 = time.perf_counter()
            st, cookie, doc = cl.call("POST", "/api/v1/session", {
                "user": harness.make_curp(n), "password": password})
            dt = time.perf_counter() - t0
            if st != 201:
                sys.exit(f"login {n}: {st} {doc}")
            return dt, cookie.split(";")[0], doc["csrf_token"]

        # the changed account (1) and the plain one (2)
        _, cookie, csrf = login(1)
        st, _, doc = cl.call("PUT", "/api/v1/me/password",
                             {"current_password": PASSWORD,
                              "new_password": NEW_PASSWORD},
                             {"Cookie": cookie, "X-CSRF-Token": csrf})
        if st != 204:
            sys.exit(f"password change: {st} {doc}")

        t0 = time.time()
        for i in range(args.sessions):
            login(3 + i % args.accounts)
        fill = time.time() - t0

        changed, plain = [], []
        for _ in range(args.rounds):
            changed.append(login(1, NEW_PASSWORD)[0])
            plain.append(login(2)[0])
        print(f"build {os.environ['HUELLA_BUILD']}: {args.sessions} "
              f"sessions of {args.accounts} accounts in the zone "
              f"(filled in {fill:.0f} s), {args.rounds} logins of each kind")
        for name, v in (("changed password", changed), ("never changed", plain)):
            print(f"  {name:17s} p50 {pct(v, 50) * 1e3:.2f} ms  "
                  f"p99 {pct(v, 99) * 1e3:.2f} ms")
        print(f"  ratio of the p50s (changed / never changed): "
              f"{pct(changed, 50) / pct(plain, 50):.2f}")
    finally:
        h.cleanup()


if __name__ == "__main__":
    main()
