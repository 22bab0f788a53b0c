#!/usr/bin/env python3
"""Builds the request pool of the `punch` load scenario (bench/load/run.sh):
kiosk punches signed as one or more simulated capture devices.

A punch must carry an RFC 9421 signature with a fresh nonce
(docs/devices.md), so wrk cannot repeat one request: each simulated kiosk
(a directory holding `device.key` and `device_id` of a registered kiosk,
as `./build.sh run` keeps in var/kiosk/) signs every request of the pool
once, with `huellactl device sign`, and punch.lua sends each one once.

The punches are those of the demo people (matrícula M000N with a second
impression NNN_2.iso of their enrolled finger, config/demo/fingers/).
Each (kiosk, person) pair is tried once first; only pairs the instance
accepts (201) go into the pool, so the table measures punches, not
refusals.  Every punch is real: it is recorded (a repeat within the
duplicate window as `duplicada`).

    punch_pool.py --url URL --kiosks DIR[,DIR...] --huellactl PATH
                  --fingers DIR --pool N --out POOL.lua

Exit 0 with the pool written; 3 with the reason on stdout when the
scenario cannot run against this instance.  Python standard library only.
"""
import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import secrets
import ssl
import subprocess
import sys
import tempfile
import urllib.parse

API_PATH = "/api/v1/punches"


def skip(reason):
    print(reason)
    sys.exit(3)


class Kiosk:
    def __init__(self, directory, huellactl, tmp):
        self.key = os.path.join(directory, "device.key")
        with open(os.path.join(directory, "device_id")) as f:
            self.id = f.read().strip()
        self.huellactl = huellactl
        self.tmp = tmp

    def sign(self, body):
        fd, path = tempfile.mkstemp(dir=self.tmp, suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            out = subprocess.run(
                [self.huellactl, "device", "sign", "--key", self.key,
                 "--keyid", self.id, "--method", "POST", "--path",
                 API_PATH, "--nonce", secrets.token_urlsafe(16), path],
                check=True, capture_output=True, text=True,
                timeout=10).stdout
        finally:
            os.unlink(path)
        return [tuple(line.split(": ", 1)) for line in out.splitlines()]


def body(fingers, n):
    with open(os.path.join(fingers, f"{100 + n}_2.iso"), "rb") as f:
        data = f.read()
    return json.dumps({
        "matricula": f"M{n:04d}",
        "finger": {"format": "iso19794-2:2005",
                   "data": base64.b64encode(data).decode()},
    }, separators=(",", ":")).encode()


def send(url, raw, headers):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(
            u.hostname, u.port or 443, timeout=10,
            context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80,
                                          timeout=10)
    h = {"Content-Type": "application/json"}
    h.update(dict(headers))
    try:
        conn.request("POST", API_PATH, raw, h)
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    return r.status, data


def lua_string(s):
    """A quoted Lua string: JSON's escapes are Lua's too for ASCII text
    (a long bracket would turn CRLF into LF)."""
    assert s.isascii()
    return json.dumps(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--kiosks", required=True)
    ap.add_argument("--huellactl", required=True)
    ap.add_argument("--fingers", required=True)
    ap.add_argument("--pool", type=int, default=3000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    if not os.access(a.huellactl, os.X_OK):
        skip(f"no {a.huellactl} (./build.sh)")
    tmp = tempfile.mkdtemp(prefix="huella-load-punch-")
    try:
        kiosks = []
        for d in filter(None, a.kiosks.split(",")):
            if not (os.path.isfile(os.path.join(d, "device.key"))
                    and os.path.isfile(os.path.join(d, "device_id"))):
                skip(f"no kiosk key in {d} (set HUELLA_KIOSKS)")
            kiosks.append(Kiosk(d, a.huellactl, tmp))
        if not kiosks:
            skip("no kiosk (set HUELLA_KIOSKS)")
        people = [n for n in range(1, 11) if os.path.isfile(
            os.path.join(a.fingers, f"{100 + n}_2.iso"))]
        pairs, last = [], ""
        for k in kiosks:
            for n in people:
                raw = body(a.fingers, n)
                try:
                    st, data = send(a.url, raw, k.sign(raw))
                except (OSError, http.client.HTTPException) as e:
                    skip(f"cannot reach {a.url}: {e.__class__.__name__}")
                if st == 201:
                    pairs.append((k, raw))
                else:
                    last = f"HTTP {st} {data[:120].decode(errors='replace')}"
        if not pairs:
            skip("no punch accepted: " + (last or "no demo fingers"))

        jobs = [pairs[i % len(pairs)] for i in range(a.pool)]
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            sigs = list(ex.map(lambda kr: kr[0].sign(kr[1]), jobs))
        host = urllib.parse.urlsplit(a.url).netloc
        with open(a.out, "w") as f:
            f.write("-- generated by bench/load/punch_pool.py: each request"
                    " once\nreturn {\n")
            for (_, raw), sig in zip(jobs, sigs):
                hd = "".join(f"{k}: {v}\r\n" for k, v in sig)
                req = (f"POST {API_PATH} HTTP/1.1\r\nHost: {host}\r\n"
                       "Content-Type: application/json\r\n"
                       f"Content-Length: {len(raw)}\r\n{hd}\r\n"
                       + raw.decode())
                f.write(lua_string(req) + ",\n")
            f.write("}\n")
        print(f"ok {len(pairs)} kiosk/person pairs, {len(jobs)} requests")
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
