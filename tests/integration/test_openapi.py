#!/usr/bin/env python3
"""docs/openapi.yaml describes every API route the module serves: each
(method, path) of the routing table in ngx_module/ngx_http_huella_route.c
has an operation in the document, and the document names no route the
module does not serve.  Every $ref resolves."""
import os
import re
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ROUTES = os.path.join(ROOT, "ngx_module", "ngx_http_huella_route.c")
OPENAPI = os.path.join(ROOT, "docs", "openapi.yaml")

# Served by nginx configuration (not the routing table) or not JSON API.
NOT_IN_TABLE = {("head", "/healthz")}


def routes():
    with open(ROUTES, encoding="utf-8") as f:
        text = f.read()
    out = set()
    for m in re.finditer(r'\{\s*NGX_HTTP_([A-Z]+),\s*"(/[^"]*)"', text):
        method, path = m.group(1).lower(), m.group(2)
        out.add((method, re.sub(r"\{[^}]*\}", "{}", path)))
    return out


def documented():
    """(method, path) of the paths section, read line by line (the stdlib
    has no YAML parser): a path is a two-space key starting with '/', a
    method a four-space key."""
    out = set()
    path = None
    in_paths = False
    with open(OPENAPI, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for line in lines:
        if re.match(r"^paths:\s*$", line):
            in_paths = True
            continue
        if in_paths and re.match(r"^\S", line):
            in_paths = False
        if not in_paths:
            continue
        m = re.match(r"^  (/[^:]*):\s*$", line)
        if m:
            path = re.sub(r"\{[^}]*\}", "{}", m.group(1))
            continue
        m = re.match(r"^    (get|put|post|delete|patch|head):\s*$", line)
        if m and path:
            out.add((m.group(1), path))
    return out


class OpenApiTest(unittest.TestCase):
    def test_every_route_documented(self):
        want = routes()
        self.assertGreater(len(want), 20)
        got = documented()
        missing = sorted(want - got)
        # GET routes answer HEAD too; HEAD need not be documented.
        self.assertEqual(missing, [], "routes missing from docs/openapi.yaml")
        extra = sorted(got - want - NOT_IN_TABLE)
        self.assertEqual(extra, [], "docs/openapi.yaml documents routes the "
                         "module does not serve")

    def test_refs_resolve(self):
        with open(OPENAPI, encoding="utf-8") as f:
            text = f.read()
        comps = {}
        section = kind = None
        for line in text.splitlines():
            if line.startswith("components:"):
                section = True
                continue
            if section and re.match(r"^\S", line):
                section = False
            if not section:
                continue
            m = re.match(r"^  (\w+):\s*$", line)
            if m:
                kind = m.group(1)
                continue
            m = re.match(r"^    (\w+):", line)
            if m and kind:
                comps.setdefault(kind, set()).add(m.group(1))
        bad = [r for r in re.findall(r"#/components/(\w+)/(\w+)", text)
               if r[1] not in comps.get(r[0], set())]
        self.assertEqual(bad, [])


if __name__ == "__main__":
    r = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if r.wasSuccessful() else 1)
