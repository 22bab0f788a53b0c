// The helpers' own checks must catch what they claim to: a page with known
// faults, served from the Huella origin (intercepted, never on disk) with the
// same CSP as the real server, has to fail each of them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  accessibilityProblems, assertNoConsoleErrors, baseUrl, close, closePage,
  focusedInfo, launch, newPage,
} from "./helpers.mjs";

const CSP = "default-src 'self'; frame-ancestors 'none'";

const BAD = `<!doctype html>
<html><head><meta charset="utf-8"><title>bad</title></head><body>
<script>window.inlineRan = true;</script>
<p class="x">low contrast</p>
<input id="nolabel" type="text">
<label for="good">Nombre</label><input id="good" type="text">
<label>CURP <input id="wrapped" type="text"></label>
<input type="text" aria-labelledby="missing-id">
<img src="/x.png">
<img src="/y.png" alt="">
<button type="button"></button>
<button type="button" aria-label="Cerrar"></button>
<a href="/"></a>
<span id="dup"></span><span id="dup"></span>
<img src="http://huella-selftest.invalid/blocked-by-csp.png" alt="t">
</body></html>`;

const GOOD = `<!doctype html>
<html lang="es-MX"><head><meta charset="utf-8"><title>ok</title></head>
<body><main><h1>Bien</h1>
<label for="a">Correo</label><input id="a" type="email">
<button type="button">Entrar</button></main></body></html>`;

const CSS = `.x { color: #bbbbbb; background: #ffffff; }
.dark { background: #0b5d3b; padding: 1rem; }
#styled:focus-visible { outline: 3px solid #ffbf47; }
#faint:focus-visible { outline: 3px solid #165f40; }`;

const FOCUS = `<!doctype html>
<html lang="es-MX"><head><meta charset="utf-8"><title>focus</title></head>
<body><div class="dark"><button id="plain">Uno</button>
<button id="faint">Dos</button><button id="styled">Tres</button></div>
</body></html>`;

let browser;
before(async () => { browser = await launch(); });
after(async () => { await close(browser); });

async function fixture(html, csp = CSP) {
  const page = await newPage(browser, "desktop");
  await page.route(`${baseUrl()}/__selftest/**`, (route) => {
    const url = route.request().url();
    if (url.endsWith(".css")) {
      return route.fulfill({ status: 200, contentType: "text/css",
                             body: CSS });
    }
    return route.fulfill({
      status: 200, contentType: "text/html; charset=utf-8",
      headers: csp ? { "Content-Security-Policy": csp } : {},
      body: html.replace("</head>",
        '<link rel="stylesheet" href="/__selftest/s.css"></head>'),
    });
  });
  await page.route(`${baseUrl()}/*.png`, (route) =>
    route.fulfill({ status: 204, body: "" }));
  await page.goto(`${baseUrl()}/__selftest/page.html`, { waitUntil: "load" });
  return page;
}

describe("helpers catch faults", () => {
  test("inline script and a foreign image are blocked by CSP and reported",
    async () => {
      const page = await fixture(BAD);
      try {
        assert.equal(await page.evaluate(() => window.inlineRan), undefined);
        await assert.rejects(assertNoConsoleErrors(page), (e) => {
          assert.match(e.message, /CSP: script-src-elem blocked inline/);
          assert.match(e.message, /CSP: img-src blocked http:\/\/huella-sel/);
          return true;
        });
      } finally { await closePage(page); }
    });

  test("a non-loopback request is aborted before it leaves and reported",
    async () => {
      // No CSP here, so only the helpers' route stands in the way.
      const page = await fixture(GOOD.replace("</main>",
        '<img src="http://huella-selftest.invalid/pixel.png" alt="p"></main>'),
        null);
      try {
        await assert.rejects(assertNoConsoleErrors(page),
          /non-local request: http:\/\/huella-selftest\.invalid\/pixel\.png/);
      } finally { await closePage(page); }
    });

  test("accessibility check reports each fault", async () => {
    const page = await fixture(BAD);
    try {
      const p = (await accessibilityProblems(page)).join("\n");
      assert.match(p, /<html> has no lang/);
      assert.match(p, /<input#nolabel> has no label/);
      assert.doesNotMatch(p, /#good|#wrapped/);
      assert.match(p, /aria-labelledby="missing-id" missing/);
      assert.match(p, /<img> has no alt/);
      assert.equal((p.match(/has no alt/g) || []).length, 1, p);
      assert.equal((p.match(/<button> has no accessible name/g) || []).length,
                   1, p);
      assert.match(p, /<a> has no accessible name/);
      assert.match(p, /duplicate id "dup"/);
      assert.match(p, /<p\.x> contrast 1\.\d+:1 < 4\.5:1/);
    } finally { await closePage(page); }
  });

  test("a clean page passes both checks", async () => {
    const page = await fixture(GOOD);
    try {
      assert.deepEqual(await accessibilityProblems(page), []);
      await assertNoConsoleErrors(page);
    } finally { await closePage(page); }
  });

  test("focus indicator: default ring on dark green and a faint outline fail, "
       + "a 3:1 outline passes", async () => {
    const page = await fixture(FOCUS);
    try {
      const seen = {};
      for (let i = 0; i < 3; i++) {
        await page.keyboard.press("Tab");
        const f = await focusedInfo(page);
        seen[f.text] = f.visibleIndicator;
      }
      assert.deepEqual(seen, { Uno: false, Dos: false, Tres: true });
    } finally { await closePage(page); }
  });
});
