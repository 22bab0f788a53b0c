// The portal's index page (html/index.html) in headless chromium.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  assertAccessible, assertNoConsoleErrors, baseUrl, close, closePage,
  focusedInfo, launch, newPage, screenshot, tabUntil,
} from "./helpers.mjs";

const STATUS_TIMEOUT = 15_000;   // the page polls /healthz every 5 s

let browser;
before(async () => { browser = await launch(); });
after(async () => { await close(browser); });

async function open(viewport, opts) {
  const page = await newPage(browser, viewport, opts);
  const res = await page.goto(baseUrl() + "/", { waitUntil: "load" });
  return { page, res };
}

async function matcherUp(page, text) {
  const dd = page.locator("#st-matcher");
  await dd.filter({ hasText: text }).waitFor({ timeout: STATUS_TIMEOUT });
  assert.equal(await dd.getAttribute("class"), "ok");
}

describe("index page", () => {
  test("is served with a strict CSP and has no inline script or style",
    async () => {
      const { page, res } = await open("desktop");
      try {
        assert.equal(res.status(), 200);
        const csp = (await res.allHeaders())["content-security-policy"] || "";
        assert.match(csp, /default-src 'self'/);
        // 'wasm-unsafe-eval' allows WebAssembly compilation only, not JS eval.
        assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'/);
        const inline = await page.evaluate(() => ({
          scripts: [...document.scripts].filter((s) => !s.src).length,
          styles: document.querySelectorAll("style").length,
          styleAttrs: document.querySelectorAll("[style]").length,
          handlers: [...document.querySelectorAll("*")].filter((el) =>
            [...el.attributes].some((a) => /^on/i.test(a.name))).length,
        }));
        assert.deepEqual(inline,
          { scripts: 0, styles: 0, styleAttrs: 0, handlers: 0 });
      } finally { await closePage(page); }
    });

  for (const viewport of ["phone", "desktop"]) {
    test(`loads in es-MX and the matcher becomes "En servicio" (${viewport})`,
      async () => {
        const { page } = await open(viewport);
        try {
          assert.equal(await page.getAttribute("html", "lang"), "es-MX");
          assert.equal(await page.title(),
                       "Huella · Portal de identidad y asistencia");
          await page.getByRole("heading", { name: "Estado del servicio" })
            .waitFor({ state: "visible" });
          await matcherUp(page, "En servicio");
          assert.equal(await page.locator("#st-portal").textContent(),
                       "En servicio");
          assert.equal(await page.getByRole("button", { name: "Español" })
            .getAttribute("aria-pressed"), "true");
          // Nothing wider than the screen (no sideways scrolling).
          const overflow = await page.evaluate(() =>
            document.documentElement.scrollWidth -
            document.documentElement.clientWidth);
          assert.ok(overflow <= 0, `page overflows by ${overflow}px`);
          await assertAccessible(page);
          await assertNoConsoleErrors(page);
          await screenshot(page, `index-${viewport}-es`);
        } finally { await closePage(page); }
      });

    test(`switching to English works and persists across reload (${viewport})`,
      async () => {
        const { page } = await open(viewport);
        try {
          await matcherUp(page, "En servicio");
          await page.getByRole("button", { name: "English" }).click();
          await page.getByRole("heading", { name: "Service status" })
            .waitFor({ state: "visible" });
          assert.equal(await page.getAttribute("html", "lang"), "en");
          assert.equal(await page.title(),
                       "Huella · Identity and attendance portal");
          assert.equal(await page.locator("#st-matcher").textContent(), "Up");
          assert.equal(await page.getByRole("button", { name: "English" })
            .getAttribute("aria-pressed"), "true");

          await page.reload({ waitUntil: "load" });
          await page.getByRole("heading", { name: "Service status" })
            .waitFor({ state: "visible" });
          assert.equal(await page.getAttribute("html", "lang"), "en");
          await matcherUp(page, "Up");
          assert.equal(
            await page.locator("h1").textContent(),
            "Identity and attendance portal");
          await assertAccessible(page);
          await assertNoConsoleErrors(page);
          await screenshot(page, `index-${viewport}-en`);

          // And back.
          await page.getByRole("button", { name: "Español" }).click();
          await page.getByRole("heading", { name: "Estado del servicio" })
            .waitFor({ state: "visible" });
          assert.equal(await page.getAttribute("html", "lang"), "es-MX");
        } finally { await closePage(page); }
      });
  }

  test("keyboard alone reaches the language buttons, with a visible focus",
    async () => {
      const { page } = await open("desktop");
      try {
        await matcherUp(page, "En servicio");
        const steps = await tabUntil(page, (i) => i.lang === "en", 10);
        const langs = steps.filter((i) => i && i.lang);
        assert.deepEqual(langs.map((i) => i.lang), ["es-MX", "en"],
          JSON.stringify(steps));
        for (const i of steps) {
          assert.ok(i.focusVisible && i.visibleIndicator,
            `no visible focus on ${JSON.stringify(i)}`);
        }
        await screenshot(page, "index-desktop-focus-english");
        await page.keyboard.press("Enter");
        await page.getByRole("heading", { name: "Service status" })
          .waitFor({ state: "visible" });
        const after = await focusedInfo(page);
        assert.equal(after.lang, "en", "focus stays on the button");
        await page.keyboard.press("Shift+Tab");
        await page.keyboard.press("Space");
        await page.getByRole("heading", { name: "Estado del servicio" })
          .waitFor({ state: "visible" });
        await assertNoConsoleErrors(page);
      } finally { await closePage(page); }
    });

  test("shows the matcher down on a 503 /healthz, and up again after",
    async () => {
      const page = await newPage(browser, "phone");
      try {
        let down = true;
        await page.route(`${baseUrl()}/healthz`, (route) => down
          ? route.fulfill({ status: 503, contentType: "application/json",
              body: '{"status":"degraded","matcher":"down"}' })
          : route.continue());
        await page.goto(baseUrl() + "/", { waitUntil: "load" });
        const dd = page.locator("#st-matcher");
        await dd.filter({ hasText: "Fuera de servicio" })
          .waitFor({ timeout: STATUS_TIMEOUT });
        assert.equal(await dd.getAttribute("class"), "bad");
        assert.equal(await page.locator("#st-subjects").textContent(), "—");
        await assertAccessible(page);   // red on white must still read
        await screenshot(page, "index-phone-es-matcher-down");
        down = false;
        await matcherUp(page, "En servicio");   // next poll, within 5 s
      } finally { await closePage(page); }
    });

  test("no console errors or CSP violations over a full polling cycle",
    async () => {
      const { page } = await open("desktop");
      try {
        await matcherUp(page, "En servicio");
        // Wait for the second /healthz poll (every 5 s).
        await page.waitForResponse((r) => r.url().endsWith("/healthz"),
                                   { timeout: STATUS_TIMEOUT });
        await assertNoConsoleErrors(page);
      } finally { await closePage(page); }
    });
});

describe("status page (estado.html)", () => {
  test("'Updated' reads in the institution's time zone, not the browser's",
    async () => {
      // The browser sits in Tokyo at 2026-03-10T05:30:00Z: 14:30 there,
      // 23:30 of 9 March in Mexico City.
      const page = await newPage(browser, "phone", { timezoneId: "Asia/Tokyo" });
      try {
        await page.clock.setFixedTime(new Date(Date.UTC(2026, 2, 10, 5, 30)));
        await page.goto(baseUrl() + "/estado.html", { waitUntil: "load" });
        const upd = page.locator("#es-updated");
        await upd.filter({ hasText: "Actualizado:" }).waitFor();
        assert.match(await upd.textContent(), /^Actualizado: 11:30:00\sp\.\s?m\.$/);
        await page.getByRole("button", { name: "English" }).click();
        await upd.filter({ hasText: "Updated:" }).waitFor();
        assert.match(await upd.textContent(), /^Updated: 11:30:00\sPM$/);
        await assertAccessible(page);
        await assertNoConsoleErrors(page);
      } finally { await closePage(page); }
    });
});
