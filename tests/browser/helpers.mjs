// Shared helpers for the portal's browser tests: Debian's chromium driven by
// playwright-core (no browser download), two viewports, screenshots kept as
// test artifacts, console/CSP/network watchers and a small accessibility
// check of our own.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, "..", "..");
export const SCREENSHOT_DIR = path.resolve(
  process.env.HUELLA_ARTIFACTS || path.join(ROOT, "build", "artifacts"),
  "screenshots");

/** Base URL of the Huella under test (set by run.sh). */
export function baseUrl() {
  const u = process.env.HUELLA_URL;
  if (!u) throw new Error("HUELLA_URL is not set: run tests/browser/run.sh");
  return u.replace(/\/+$/, "");
}

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2,
           isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1,
             isMobile: false, hasTouch: false },
};

/** Launches Debian's chromium; playwright gives it a fresh --user-data-dir. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

export async function close(browser) {
  if (browser) await browser.close();
}

function isLocal(url) {
  let u;
  try { u = new URL(url); } catch { return true; }
  if (u.protocol === "data:" || u.protocol === "blob:" ||
      u.protocol === "about:") return true;
  return ["127.0.0.1", "localhost", "[::1]", "::1"].includes(u.hostname);
}

/**
 * A new page in its own context at a named viewport ("phone" | "desktop").
 * Records console errors, uncaught exceptions, CSP violations, failed and
 * non-loopback requests (the latter are aborted: the portal must load
 * nothing from the internet) in page.huella. opts: locale, storageState,
 * timezoneId (the browser's time zone; default the machine's).
 */
export async function newPage(browser, viewportName = "desktop",
                              { locale = "es-MX", storageState,
                                timezoneId } = {}) {
  const vp = VIEWPORTS[viewportName];
  if (!vp) throw new Error(`unknown viewport ${viewportName}`);
  const context = await browser.newContext({
    ...vp, locale, storageState, serviceWorkers: "block",
    // The machine's zone unless a test picks one (to prove the portal
    // shows the institution's time whatever the browser's zone).
    ...(timezoneId ? { timezoneId } : {}),
  });
  const rec = { console: [], pageErrors: [], csp: [], external: [],
                failed: [] };
  // A request still in flight when its page or context closes (a poll at
  // the end of a test) may be handled or cut before this handler's answer
  // lands; Playwright then rejects it, after the test has ended.  That is
  // not a fault of the page: only other rejections are recorded.
  const settle = (p) => p.catch((e) => {
    if (!/already handled|closed/i.test(String(e))) {
      rec.failed.push(`route: ${e}`);
    }
  });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLocal(url)) return settle(route.continue());
    rec.external.push(url);
    return settle(route.abort("blockedbyclient"));
  });
  // Runs before any page script, outside the page's CSP.
  await context.addInitScript(() => {
    window.__huellaCsp = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__huellaCsp.push(
        `${e.violatedDirective} blocked ${e.blockedURI || "inline"}` +
        (e.sourceFile ? ` (${e.sourceFile}:${e.lineNumber})` : ""));
    });
  });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) rec.csp.push(m.text());
    else if (m.type() === "error") rec.console.push(m.text());
  });
  page.on("pageerror", (e) => rec.pageErrors.push(String(e)));
  page.on("requestfailed", (r) => {
    // ERR_ABORTED: cut short by a navigation or reload (a /healthz poll in
    // flight, say), not a fault of the server.
    const err = r.failure()?.errorText || "";
    if (isLocal(r.url()) && !/ERR_ABORTED/.test(err)) {
      rec.failed.push(`${r.url()}: ${r.failure()?.errorText}`);
    }
  });
  page.huella = rec;
  return page;
}

export async function closePage(page) {
  await page.context().close();
}

/** Saves a full-page PNG to build/artifacts/screenshots/NAME.png. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR,
                         `${name.replace(/[^\w.-]+/g, "_")}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: "disabled" });
  return file;
}

/** Fails on console errors, uncaught exceptions, CSP violations, failed or
 *  non-loopback requests seen on the page so far. */
export async function assertNoConsoleErrors(page) {
  let inPage = [];
  try {
    inPage = await page.evaluate(() => window.__huellaCsp || []);
  } catch { /* page closed or navigating: rely on the console */ }
  const rec = page.huella;
  const problems = [
    ...rec.console.map((t) => `console error: ${t}`),
    ...rec.pageErrors.map((t) => `uncaught: ${t}`),
    // The page's own securitypolicyviolation events say which directive
    // and where; the console's wording is the fallback.
    ...(inPage.length ? inPage : rec.csp).map((t) => `CSP: ${t}`),
    ...rec.external.map((u) => `non-local request: ${u}`),
    ...rec.failed.map((t) => `failed request: ${t}`),
  ];
  assert.deepEqual(problems, [], problems.join("\n"));
}

/**
 * A basic accessibility check written for this portal (not a full audit):
 * the document has a lang and a title; every form control has a label;
 * images have alt; buttons and links have accessible names; aria-labelledby
 * points at existing elements; ids are unique; text has WCAG AA contrast
 * against its (solid) background. Returns the list of problems.
 */
export async function accessibilityProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    const desc = (el) => {
      const id = el.id ? `#${el.id}` : "";
      const cls = el.classList.length ? `.${[...el.classList].join(".")}` : "";
      return `<${el.tagName.toLowerCase()}${id}${cls}>`;
    };
    const hidden = (el) => {
      if (el.closest("[hidden], [aria-hidden='true']")) return true;
      const s = getComputedStyle(el);
      return s.display === "none" || s.visibility === "hidden";
    };
    const textOf = (el) => {
      // Text content plus alt text of contained images.
      let t = "";
      el.childNodes.forEach((n) => {
        if (n.nodeType === Node.TEXT_NODE) t += n.textContent;
        else if (n.nodeType === Node.ELEMENT_NODE) {
          if (n.getAttribute("aria-hidden") === "true") return;
          if (n.tagName === "IMG") t += n.getAttribute("alt") || "";
          else t += textOf(n);
        }
      });
      return t;
    };
    const labelledBy = (el) => {
      const ids = (el.getAttribute("aria-labelledby") || "").split(/\s+/)
        .filter(Boolean);
      return ids.map((id) => {
        const ref = document.getElementById(id);
        if (!ref) problems.push(`${desc(el)} aria-labelledby="${id}" missing`);
        return ref ? textOf(ref) : "";
      }).join(" ").trim();
    };
    const name = (el) => {
      const lb = labelledBy(el);
      if (lb) return lb;
      const al = (el.getAttribute("aria-label") || "").trim();
      if (al) return al;
      return "";
    };

    const lang = document.documentElement.getAttribute("lang");
    if (!lang || !lang.trim()) problems.push("<html> has no lang");
    if (!document.title.trim()) problems.push("document has no <title>");

    const seen = new Map();
    document.querySelectorAll("[id]").forEach((el) => {
      if (seen.has(el.id)) problems.push(`duplicate id "${el.id}"`);
      seen.set(el.id, el);
    });

    document.querySelectorAll("input, select, textarea").forEach((el) => {
      const type = (el.getAttribute("type") || "").toLowerCase();
      if (type === "hidden") return;
      if (["button", "submit", "reset"].includes(type)) {
        if (!(name(el) || (el.value || "").trim() || el.title.trim())) {
          problems.push(`${desc(el)} button has no accessible name`);
        }
        return;
      }
      if (type === "image") {
        if (!(el.getAttribute("alt") || "").trim() && !name(el)) {
          problems.push(`${desc(el)} image button has no alt`);
        }
        return;
      }
      const viaLabel = [...(el.labels || [])].map(textOf).join(" ").trim();
      if (!(name(el) || viaLabel)) {
        problems.push(`${desc(el)} has no label`);
      }
    });

    document.querySelectorAll("img").forEach((el) => {
      if (!el.hasAttribute("alt")) problems.push(`${desc(el)} has no alt`);
    });
    document.querySelectorAll("svg[role='img'], [role='img']:not(img)")
      .forEach((el) => {
        if (!name(el) && !el.querySelector("title")) {
          problems.push(`${desc(el)} role=img without a name`);
        }
      });

    document.querySelectorAll("button, [role='button'], a[href]")
      .forEach((el) => {
        if (hidden(el)) return;
        const n = name(el) || textOf(el).trim() || el.title.trim();
        if (!n) problems.push(`${desc(el)} has no accessible name`);
      });

    // Contrast (WCAG 2.x AA): 4.5:1, or 3:1 for large text.
    const rgba = (s) => {
      const m = s.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
    };
    const lum = ({ r, g, b }) => {
      const f = (c) => {
        c /= 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const over = (top, bottom) => ({
      r: top.r * top.a + bottom.r * (1 - top.a),
      g: top.g * top.a + bottom.g * (1 - top.a),
      b: top.b * top.a + bottom.b * (1 - top.a), a: 1,
    });
    const background = (el) => {
      const layers = [];
      for (let e = el; e; e = e.parentElement) {
        const s = getComputedStyle(e);
        if (s.backgroundImage && s.backgroundImage !== "none") return null;
        const c = rgba(s.backgroundColor);
        if (c && c.a > 0) {
          layers.push(c);
          if (c.a >= 1) break;
        }
      }
      let bg = { r: 255, g: 255, b: 255, a: 1 };
      for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
      return bg;
    };
    document.querySelectorAll("body *").forEach((el) => {
      const own = [...el.childNodes].some((n) =>
        n.nodeType === Node.TEXT_NODE && n.textContent.trim());
      if (!own || hidden(el)) return;
      const s = getComputedStyle(el);
      const fg = rgba(s.color);
      const bg = background(el);
      if (!fg || !bg) return;
      const fgc = over(fg, bg);
      const [l1, l2] = [lum(fgc), lum(bg)].sort((a, b) => b - a);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      const px = parseFloat(s.fontSize);
      const bold = Number(s.fontWeight) >= 700;
      const large = px >= 24 || (bold && px >= 18.66);
      const need = large ? 3 : 4.5;
      if (ratio < need) {
        problems.push(`${desc(el)} contrast ${ratio.toFixed(2)}:1 < ${need}:1`);
      }
    });
    return problems;
  });
}

export async function assertAccessible(page) {
  const problems = await accessibilityProblems(page);
  assert.deepEqual(problems, [], problems.join("\n"));
}

/** Presses Tab until `predicate(activeElementInfo)` holds (at most `max`
 *  presses); returns the info of each focused element along the way. */
export async function tabUntil(page, predicate, max = 30) {
  const path = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const info = await focusedInfo(page);
    path.push(info);
    if (info && predicate(info)) return path;
  }
  return path;
}

// Colour arithmetic on the Node side (the in-page check has its own copy).
function parseColor(s) {
  const m = /rgba?\(([^)]+)\)/.exec(s || "");
  if (!m) return null;
  const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
  return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
}
function over(top, bottom) {
  return { r: top.r * top.a + bottom.r * (1 - top.a),
           g: top.g * top.a + bottom.g * (1 - top.a),
           b: top.b * top.a + bottom.b * (1 - top.a), a: 1 };
}
function luminance({ r, g, b }) {
  const f = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}
export function contrast(a, b) {
  const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (l1 + 0.05) / (l2 + 0.05);
}

/**
 * What has the focus, and whether it shows a visible focus indicator: an
 * outline (or box-shadow) at least 2px wide whose colour has 3:1 contrast
 * (WCAG 1.4.11) against the background around the element.
 */
export async function focusedInfo(page) {
  const raw = await page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const s = getComputedStyle(el);
    const layers = [];   // backgrounds behind the element, innermost first
    for (let e = el.parentElement; e; e = e.parentElement) {
      const bg = getComputedStyle(e).backgroundColor;
      layers.push(bg);
    }
    return {
      tag: el.tagName.toLowerCase(),
      text: (el.textContent || "").trim(),
      lang: el.dataset ? el.dataset.lang || null : null,
      focusVisible: el.matches(":focus-visible"),
      outlineStyle: s.outlineStyle,
      outlineWidth: parseFloat(s.outlineWidth) || 0,
      outlineColor: s.outlineColor,
      boxShadow: s.boxShadow,
      layers,
    };
  });
  if (!raw) return null;
  let bg = { r: 255, g: 255, b: 255, a: 1 };
  const solid = [];
  for (const l of raw.layers) {
    const c = parseColor(l);
    if (c && c.a > 0) { solid.push(c); if (c.a >= 1) break; }
  }
  for (let i = solid.length - 1; i >= 0; i--) bg = over(solid[i], bg);
  let ratio = 0;
  const hasOutline = raw.outlineStyle !== "none" && raw.outlineWidth >= 2;
  const oc = parseColor(raw.outlineColor);
  if (hasOutline && oc) ratio = contrast(over(oc, bg), bg);
  if (!ratio && raw.boxShadow && raw.boxShadow !== "none") {
    const sc = parseColor(raw.boxShadow);
    if (sc) ratio = contrast(over(sc, bg), bg);
  }
  const { layers, ...info } = raw;
  return { ...info, indicatorContrast: Number(ratio.toFixed(2)),
           visibleIndicator: info.focusVisible && ratio >= 3 };
}
