// Attendance pages (issue 6) in headless chromium: the kiosk, Mis registros,
// justificar, supervisor and reportes.
//
// What runs against what:
//  - "pages load clean": every page at phone and desktop size (the kiosk
//    also at a kiosk landscape size) with the attendance API answered by a
//    FIXTURE (page.route(), labelled STUB below) so that every state shows
//    in the screenshots; CSP, no inline code, i18n parity, accessibility.
//  - the kiosk punch: the capture device agent is STUBBED with page.route()
//    (a real punch is an RFC 9421 request signed with the kiosk's device
//    key by the agent, which the browser never holds); the offline refusal
//    aborts the request (page.route abort) and sets the context offline.
//  - the justification flow runs END TO END against the real system
//    (huellad + nginx from serve.py, attendance config/attendance-demo.yaml):
//    María López (worker) files, Juan García (her supervisor) approves,
//    María sees "Justificada". It skips (and says so) when this build has no
//    attendance endpoints.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  VIEWPORTS, assertAccessible, assertNoConsoleErrors, baseUrl, close, closePage,
  launch, newPage, screenshot,
} from "./helpers.mjs";

VIEWPORTS.kiosk = { viewport: { width: 1920, height: 1080 }, deviceScaleFactor: 1,
                    isMobile: false, hasTouch: true };

const TZ = "America/Mexico_City";
const WORKER = { curp: "LOHM900725MJCPRR00", name: "María López Hernández",
                 password: "girasoles amarillos junto al río grande",
                 email: "maria.lopez.asistencia@example.mx", nss: "1385107919" };
const SUPER = { curp: "GARJ850312HDFRMN07", name: "Juan García Ramírez",
                password: "la jacaranda florece en marzo cada año",
                email: "juan.garcia.asistencia@example.mx", nss: "1285100000" };

let browser;
let attendanceUp = false;

function withLuhn(ten) {
  let sum = 0;
  for (let i = 9; i >= 0; i--) {
    let d = Number(ten[i]);
    if ((9 - i) % 2 === 0) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return ten + String((10 - (sum % 10)) % 10);
}

function todayMx() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TZ, year: "numeric",
    month: "2-digit", day: "2-digit" }).format(new Date());
}
const pad = (n) => String(n).padStart(2, "0");
function weekdayOf(date) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).getUTCDay();
}

before(async () => {
  browser = await launch();
  try {
    const r = await fetch(`${baseUrl()}/api/v1/attendance/rules`);
    attendanceUp = r.status !== 404 && r.status !== 405 && r.status !== 501;
  } catch { attendanceUp = false; }
});
after(async () => { await close(browser); });

function json(route, status, body, headers = {}) {
  return route.fulfill({ status, contentType: "application/json", headers,
                         body: JSON.stringify(body) });
}

/* Chromium logs every 4xx/5xx or failed fetch as a console error: drop
 * those the test provoked on purpose, then check the rest. */
async function assertClean(page, { statuses = [], offline = false } = {}) {
  const rec = page.huella;
  if (statuses.length) {
    const re = new RegExp(`status of (${statuses.join("|")})\\b`);
    rec.console = rec.console.filter((t) => !re.test(t));
  }
  if (offline) {
    rec.console = rec.console.filter((t) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch/.test(t));
    rec.failed = rec.failed.filter((t) => !/ERR_INTERNET_DISCONNECTED/.test(t));
  }
  await assertNoConsoleErrors(page);
}

async function noInlineCode(page) {
  const inline = await page.evaluate(() => ({
    scripts: [...document.scripts].filter((s) => !s.src).length,
    styles: document.querySelectorAll("style").length,
    styleAttrs: document.querySelectorAll("[style]").length,
    handlers: [...document.querySelectorAll("*")].filter((el) =>
      [...el.attributes].some((a) => /^on/i.test(a.name))).length,
  }));
  assert.deepEqual(inline, { scripts: 0, styles: 0, styleAttrs: 0, handlers: 0 });
}

async function noSideScroll(page) {
  const overflow = await page.evaluate(() =>
    document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `page overflows by ${overflow}px`);
}

async function i18nParity(page) {
  const missing = await page.evaluate(() => {
    const keys = new Set();
    document.querySelectorAll("[data-i18n]").forEach((el) => keys.add(el.dataset.i18n));
    document.querySelectorAll("[data-i18n-attr]").forEach((el) =>
      el.dataset.i18nAttr.split(",").forEach((p) => keys.add(p.split("=")[1].trim())));
    const es = HUELLA_STRINGS["es-MX"], en = HUELLA_STRINGS.en;
    const out = [...keys].filter((k) => !(k in es) || !(k in en));
    for (const k of Object.keys(es)) if (!(k in en)) out.push(`en lacks ${k}`);
    for (const k of Object.keys(en)) if (!(k in es)) out.push(`es-MX lacks ${k}`);
    return out;
  });
  assert.deepEqual(missing, []);
}

/* ---- FIXTURE (stub) of the attendance API ------------------------------ */

function fixtureDays(curp, name) {
  const today = todayMx();
  const [y, m] = today.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const days = [];
  let n = 0;
  for (let d = 1; d <= last; d++) {
    const date = `${y}-${pad(m)}-${pad(d)}`;
    const wd = weekdayOf(date);
    const scheduled = wd >= 1 && wd <= 5;
    const past = date < today;
    const day = { date, weekday: wd, shift: scheduled ? "matutino" : null, scheduled,
                  holiday: false, frozen: false, worked: false, entries: [], exits: [],
                  incidents: [], punches: [], justifications: [] };
    if (scheduled && past) {
      n++;
      const at = (hm) => `${date}T${hm}:00-06:00`;
      const punch = (hm, kind, status) => ({ folio: `HUE-${y}-${pad(d)}${kind === "entrada" ? "1" : "2"}`,
        at: at(hm), kind, status, site: "central", kiosk: "kiosk-central-1", counted: true });
      if (n === 3) {
        day.incidents.push({ kind: "falta", minutes: 0, state: "justificada", justification: "J-00000001" });
        day.justifications.push({ id: "J-00000001", state: "justificada", reason: "cita_medica", incident: "falta" });
      } else if (n === 5) {
        day.worked = true;
        day.punches.push(punch("08:22", "entrada", "retardo"), punch("16:03", "salida", "a_tiempo"));
        day.incidents.push({ kind: "retardo", minutes: 22, state: "pendiente" });
      } else if (n === 7) {
        day.incidents.push({ kind: "falta", minutes: 0, state: "rechazada" });
        day.justifications.push({ id: "J-00000002", state: "rechazada", reason: "otro", incident: null });
      } else if (n === 8) {
        day.worked = true;
        day.punches.push(punch("07:51", "entrada", "a_tiempo"));
        day.incidents.push({ kind: "omision_salida", minutes: 0, state: "pendiente" });
      } else {
        day.worked = true;
        day.punches.push(punch("07:5" + (d % 10), "entrada", "a_tiempo"),
                         punch("16:0" + (d % 10), "salida", "a_tiempo"));
      }
      day.entries = day.punches.filter((p) => p.kind === "entrada").map((p) => p.at);
      day.exits = day.punches.filter((p) => p.kind === "salida").map((p) => p.at);
    }
    if (d === 16 && m === 11) { day.holiday = true; day.scheduled = false; day.incidents = []; day.punches = []; day.entries = []; day.exits = []; day.worked = false; }
    days.push(day);
  }
  return { curp, name, from: days[0].date, to: days[days.length - 1].date, days };
}

const RULES = {
  time_zone: TZ, policy: { checkin_window_min: 60, tolerance_min: 10, late_max_min: 30,
    early_exit_min: 0, exit_window_min: 240, duplicate_window_min: 5 },
  shifts: [{ name: "matutino", label: "Matutino 08:00-16:00", label_en: "Morning 08:00-16:00",
              start: "08:00", end: "16:00" }],
  sites: [{ id: "central", name: "Oficinas centrales", kiosks: ["kiosk-central-1"] }],
  reasons: [{ code: "cita_medica", label: "Cita médica (IMSS)", label_en: "Medical appointment (IMSS)" },
            { code: "incapacidad", label: "Incapacidad", label_en: "Sick leave" },
            { code: "comision", label: "Comisión oficial", label_en: "Official assignment" },
            { code: "otro", label: "Otro (explicar)", label_en: "Other (explain)" }],
  holidays: ["2026-11-16"],
};

function fixtureJustifications(today) {
  const ym = today.slice(0, 7);
  return [
    { id: "J-00000004", curp: "MASC781104HNLRNR00", date: `${ym}-03`, incident: "retardo", reason: "comision",
      reason_label: "Comisión oficial", reason_label_en: "Official assignment",
      text: "Oficio DGA/114/2026, reunión en la delegación.",
      state: "pendiente", created: `${ym}-04T09:12:00-06:00`, filed_by: "MASC781104HNLRNR00",
      folio: "HUE-2026-000000041", attachment: { type: "application/pdf", bytes: 48213 } },
    { id: "J-00000003", curp: WORKER.curp, date: `${ym}-02`, incident: null, reason: "incapacidad",
      reason_label: "Incapacidad", reason_label_en: "Sick leave",
      text: "", state: "pendiente", created: `${ym}-03T08:00:00-06:00`,
      filed_by: WORKER.curp, folio: "HUE-2026-000000038", attachment: null },
    { id: "J-00000002", curp: WORKER.curp, date: `${ym}-01`, incident: null, reason: "otro",
      reason_label: "Otro (explicar)", reason_label_en: "Other (explain)",
      text: "Tráfico", state: "rechazada", created: `${ym}-02T08:00:00-06:00`,
      filed_by: WORKER.curp, folio: "HUE-2026-000000031", decided: `${ym}-02T12:00:00-06:00`,
      decided_by: SUPER.curp, comment: "El tráfico no es causa justificada.", attachment: null },
    { id: "J-00000001", curp: WORKER.curp, date: `${ym}-01`, incident: "falta", reason: "cita_medica",
      reason_label: "Cita médica (IMSS)", reason_label_en: "Medical appointment (IMSS)",
      text: "Folio IMSS 88231", state: "justificada",
      created: `${ym}-01T18:00:00-06:00`, filed_by: WORKER.curp, folio: "HUE-2026-000000030",
      decided: `${ym}-02T10:00:00-06:00`, decided_by: SUPER.curp, comment: "Adelante", attachment: null },
  ];
}

function fixtureReport(from, to) {
  const p = (curp, name, w, late, mins, abs, just, pend, lbw) => ({ curp, name, scheduled_days: 17,
    days_worked: w, late_count: late, late_minutes: mins, absences: abs, early_exits: 0,
    missing_exits: 1, justified: just, pending: pend, rejected: 0, late_by_weekday: lbw });
  const people = [
    p(WORKER.curp, WORKER.name, 14, 2, 35, 1, 1, 1, [0, 1, 0, 0, 0, 1, 0]),
    p("MASC781104HNLRNR00", "Carlos Martínez Sánchez", 16, 4, 71, 0, 0, 1, [0, 2, 1, 0, 0, 1, 0]),
    p("PEGA920218MPLRNN07", "Ana Pérez González", 17, 1, 12, 0, 0, 0, [0, 0, 0, 0, 1, 0, 0]),
  ];
  return { from, to, people, totals: { scheduled_days: 51, days_worked: 47, late_count: 7,
    late_minutes: 118, absences: 1, early_exits: 0, missing_exits: 3, justified: 1, pending: 2, rejected: 0 } };
}

/* STUB: the whole attendance API plus GET /api/v1/me for `me`. */
async function stubApi(page, me) {
  const today = todayMx();
  const decisions = [];
  await page.route((url) => url.pathname.startsWith("/api/v1/"), async (route) => {
    const req = route.request();
    const u = new URL(req.url());
    const p = u.pathname;
    if (p === "/api/v1/me") return json(route, 200, { ...me, csrf_token: "t0k3n", auth_method: "password" });
    if (p === "/api/v1/attendance/rules") return json(route, 200, RULES);
    if (p === "/api/v1/me/attendance") return json(route, 200, fixtureDays(me.curp, me.name));
    const sub = /^\/api\/v1\/subjects\/([A-Z0-9]+)\/attendance$/.exec(p);
    if (sub) return json(route, 200, fixtureDays(sub[1], "Persona"));
    if (p === "/api/v1/justifications" && req.method() === "GET") {
      const all = fixtureJustifications(today);
      return json(route, 200, { justifications: u.searchParams.get("scope") === "team" ? all
        : all.filter((j) => j.curp === me.curp) });
    }
    if (p === "/api/v1/justifications" && req.method() === "POST") {
      return json(route, 201, { id: "J-00000009", folio: "HUE-2026-000000099", state: "pendiente" });
    }
    if (/\/decision$/.test(p)) {
      decisions.push(JSON.parse(req.postData() || "{}"));
      return json(route, 200, { id: "J-00000004", state: "justificada", decision_folio: "HUE-2026-000000100" });
    }
    if (p === "/api/v1/notifications") {
      return json(route, 200, { notifications: [
        { time: `${today}T10:00:00-06:00`, kind: "justification_decided", justification: "J-00000001",
          curp: me.curp, state: "justificada", date: `${today.slice(0, 7)}-01` },
        { time: `${today}T09:00:00-06:00`, kind: "justification_decided", justification: "J-00000002",
          curp: me.curp, state: "rechazada", date: `${today.slice(0, 7)}-01` }] });
    }
    if (p === "/api/v1/reports/attendance") {
      return json(route, 200, fixtureReport(u.searchParams.get("from"), u.searchParams.get("to")));
    }
    return route.continue();
  });
  return decisions;
}

const ME_WORKER = { curp: WORKER.curp, name: WORKER.name, email: WORKER.email, roles: ["worker"] };
const ME_SUPER = { curp: SUPER.curp, name: SUPER.name, email: SUPER.email, roles: ["worker", "supervisor"] };

describe("attendance pages load clean (STUB: fixture API)", () => {
  const pages = [
    { name: "registros", url: "/registros.html", h1: "Mis registros", me: ME_WORKER, ready: "table.calendar" },
    { name: "justificar", url: "/justificar.html?date=2026-11-03&incident=falta", h1: "Justificar una incidencia",
      me: ME_WORKER, ready: "#reason option[value='cita_medica']" },
    { name: "supervisor", url: "/supervisor.html", h1: "Supervisión", me: ME_SUPER, ready: ".inbox-item" },
    { name: "reportes", url: "/reportes.html", h1: "Reportes de asistencia", me: ME_SUPER, ready: "#chart1 svg" },
  ];
  for (const viewport of ["phone", "desktop"]) {
    for (const p of pages) {
      test(`${p.name} (${viewport}): CSP, no inline code, accessible, fits`, async () => {
        const page = await newPage(browser, viewport);
        try {
          await stubApi(page, p.me);
          const res = await page.goto(baseUrl() + p.url, { waitUntil: "load" });
          assert.equal(res.status(), 200);
          const csp = (await res.allHeaders())["content-security-policy"] || "";
          assert.match(csp, /default-src 'self'/);
          await page.getByRole("heading", { level: 1, name: p.h1 }).waitFor();
          await page.locator(p.ready).first().waitFor({ state: "attached" });
          assert.equal(await page.getAttribute("html", "lang"), "es-MX");
          await noInlineCode(page);
          await noSideScroll(page);
          await i18nParity(page);
          await assertAccessible(page);
          await assertClean(page);
          await screenshot(page, `att-${p.name}-${viewport}-es`);
        } finally { await closePage(page); }
      });
    }
  }

  test("registros: calendar and table say each state in words; Justificar links carry the day", async () => {
    const page = await newPage(browser, "desktop");
    try {
      await stubApi(page, ME_WORKER);
      await page.goto(baseUrl() + "/registros.html", { waitUntil: "load" });
      await page.locator("table.days").waitFor();
      const table = page.locator("table.days");
      for (const word of ["Retardo", "Justificada", "Rechazada", "Omisión de salida", "Pendiente"]) {
        assert.ok(await table.getByText(word).first().isVisible(), word);
      }
      const link = page.getByRole("link", { name: /^Justificar retardo del/ }).first();
      const href = await link.getAttribute("href");
      assert.match(href, /^\/justificar\.html\?date=\d{4}-\d{2}-\d{2}&incident=retardo$/);
      // A justified incident offers no second justification.
      assert.equal(await page.getByRole("link", { name: /^Justificar falta del/ }).count(), 1);
      await page.getByRole("cell", { name: /Comisión|Cita médica/ }).first().waitFor();
      await page.getByText("Tu justificación del").first().waitFor();
      // English
      await page.getByRole("button", { name: "English" }).click();
      await page.getByRole("heading", { level: 1, name: "My records" }).waitFor();
      await page.getByRole("heading", { name: "My justifications" }).waitFor();
      assert.ok(await table.getByText("Missing exit").first().isVisible());
      await screenshot(page, "att-registros-desktop-en");
      await page.getByRole("button", { name: "Español" }).click();
      await assertClean(page);
    } finally { await closePage(page); }
  });

  test("reason and shift labels follow the page language (justificar, registros, supervisor)", async () => {
    const page = await newPage(browser, "desktop");
    try {
      await stubApi(page, ME_WORKER);
      // the justification form: the catalog's options, the choice kept
      await page.goto(baseUrl() + "/justificar.html?date=2026-11-03", { waitUntil: "load" });
      const option = page.locator("#reason option[value='cita_medica']");
      await option.waitFor({ state: "attached" });
      assert.equal(await option.textContent(), "Cita médica (IMSS)");
      await page.getByLabel("Motivo").selectOption("incapacidad");
      await page.getByRole("button", { name: "English" }).click();
      await page.getByRole("heading", { level: 1, name: "Justify an incident" }).waitFor();
      assert.equal(await option.textContent(), "Medical appointment (IMSS)");
      assert.equal(await page.locator("#reason option[value='otro']").textContent(), "Other (explain)");
      assert.equal(await page.locator("#reason").inputValue(), "incapacidad");
      assert.equal(await page.locator("#reason option:checked").textContent(), "Sick leave");
      // a page opened in English draws English labels from the start
      await page.goto(baseUrl() + "/registros.html", { waitUntil: "load" });
      const table = page.locator("table.days");
      await table.waitFor();
      await table.getByText("Morning 08:00-16:00").first().waitFor();
      assert.equal(await table.getByText("Matutino 08:00-16:00").count(), 0);
      const history = page.locator("#history");
      await history.getByText("Medical appointment (IMSS)").waitFor();
      assert.equal(await history.getByText("Cita médica (IMSS)").count(), 0);
      await screenshot(page, "att-registros-desktop-en-labels");
      // and back to Spanish
      await page.getByRole("button", { name: "Español" }).click();
      await table.getByText("Matutino 08:00-16:00").first().waitFor();
      assert.equal(await table.getByText("Morning 08:00-16:00").count(), 0);
      await history.getByText("Cita médica (IMSS)").waitFor();
      assert.equal(await history.getByText("Medical appointment (IMSS)").count(), 0);
      await assertClean(page);
    } finally { await closePage(page); }
    const sup = await newPage(browser, "desktop");
    try {
      await stubApi(sup, ME_SUPER);
      await sup.goto(baseUrl() + "/supervisor.html", { waitUntil: "load" });
      const item = sup.locator(".inbox-item").filter({ hasText: "Carlos Martínez Sánchez" });
      await item.getByText("Comisión oficial").waitFor();
      await sup.getByRole("button", { name: "English" }).click();
      await sup.locator(".inbox-item").filter({ hasText: "Carlos Martínez Sánchez" })
        .getByText("Official assignment").waitFor();
      assert.equal(await sup.locator(".inbox-item").getByText("Comisión oficial").count(), 0);
      await assertClean(sup);
    } finally { await closePage(sup); }
  });

  test("supervisor: a rejection needs a comment; approve sends the decision", async () => {
    const page = await newPage(browser, "desktop");
    try {
      const decisions = await stubApi(page, ME_SUPER);
      await page.goto(baseUrl() + "/supervisor.html", { waitUntil: "load" });
      const item = page.locator(".inbox-item").filter({ hasText: "Carlos Martínez Sánchez" });
      await item.waitFor();
      await item.getByRole("button", { name: "Rechazar" }).click();
      await item.getByText("Este campo es obligatorio.").waitFor();
      assert.equal(decisions.length, 0);
      await item.getByLabel(/Comentario para Carlos/).fill("Presentó el oficio.");
      await item.getByRole("button", { name: "Aprobar" }).click();
      await page.getByText("Aprobaste la justificación de Carlos Martínez Sánchez").waitFor();
      assert.deepEqual(decisions, [{ decision: "approve", comment: "Presentó el oficio." }]);
      await assertClean(page);
    } finally { await closePage(page); }
  });

  test("supervisor: a session that ended meanwhile is said so, in both languages", async () => {
    const page = await newPage(browser, "desktop");
    try {
      await stubApi(page, ME_SUPER);
      // The session was revoked after the page loaded (a logout elsewhere).
      await page.route((url) => /\/decision$/.test(url.pathname), (route) => json(route, 401,
        { error: { code: "unauthenticated", message: "sign in, or send an \"Authorization: Bearer <token>\" header" } }));
      await page.goto(baseUrl() + "/supervisor.html", { waitUntil: "load" });
      const item = page.locator(".inbox-item").filter({ hasText: "Carlos Martínez Sánchez" });
      await item.getByRole("button", { name: "Aprobar" }).click();
      const msg = page.locator("#page-msg");
      await msg.getByText("Tu sesión terminó. Inicia sesión de nuevo.").waitFor();
      await page.getByRole("button", { name: "English" }).click();
      await msg.getByText("Your session ended. Sign in again.").waitFor();
      await assertClean(page, { statuses: [401] });
    } finally { await closePage(page); }
  });

  test("reportes: SVG charts have names and a data table; CSV link follows the filters", async () => {
    const page = await newPage(browser, "desktop");
    try {
      await stubApi(page, ME_SUPER);
      await page.goto(baseUrl() + "/reportes.html", { waitUntil: "load" });
      const chart = page.getByRole("img", { name: /Asistencia en el tiempo/ });
      await chart.waitFor();
      await page.getByRole("img", { name: /Retardos por día de la semana/ }).waitFor();
      await page.locator("#chart2-card summary").click();
      const week = page.locator("#chart2-table table");
      await week.getByRole("row", { name: /lunes 3/ }).waitFor();    // Monday: 1+2+0
      const csv = await page.getByRole("link", { name: "Descargar CSV" }).getAttribute("href");
      assert.match(csv, /^\/api\/v1\/reports\/attendance\?from=\d{4}-\d{2}-01&to=\d{4}-\d{2}-\d{2}&scope=team&format=csv$/);
      await page.locator("#scope").selectOption("person");
      await page.locator("#curp").fill("MASC781104HNLRNR00");
      await page.locator("#curp").dispatchEvent("change");
      const csv2 = await page.getByRole("link", { name: "Descargar CSV" }).getAttribute("href");
      assert.match(csv2, /curp=MASC781104HNLRNR00&format=csv$/);
      await page.getByRole("row", { name: /Total/ }).waitFor();
      await assertAccessible(page);
      await screenshot(page, "att-reportes-desktop-tables");
      await assertClean(page);
    } finally { await closePage(page); }
  });
});

/* ---- kiosk ------------------------------------------------------------- */

const AGENT = "**/kiosk-agent/v1/punch";

describe("kiosk (STUB: capture device agent via page.route)", () => {
  for (const viewport of ["kiosk", "desktop", "phone"]) {
    test(`kiosk (${viewport}): loads clean, clock in Mexico City, accessible`, async () => {
      const page = await newPage(browser, viewport);
      try {
        const res = await page.goto(baseUrl() + "/kiosk/", { waitUntil: "load" });
        assert.equal(res.status(), 200);
        await page.locator("#clock").filter({ hasText: /^\d{2}:\d{2}:\d{2}$/ }).waitFor();
        const shown = (await page.locator("#clock").textContent()).slice(0, 5);
        const mx = new Intl.DateTimeFormat("es-MX", { timeZone: TZ, hour: "2-digit", minute: "2-digit",
                                                      hour12: false }).format(new Date());
        assert.ok(Math.abs(toMin(shown) - toMin(mx)) <= 1 || Math.abs(toMin(shown) - toMin(mx)) >= 1439,
                  `${shown} vs ${mx}`);
        await page.getByRole("button", { name: "Registrar con mi huella" }).waitFor();
        await page.getByText("Conectado").waitFor();
        await noInlineCode(page);
        await noSideScroll(page);
        await i18nParity(page);
        await assertAccessible(page);
        await assertClean(page);
        await screenshot(page, `att-kiosk-${viewport}`);
      } finally { await closePage(page); }
    });
  }

  test("a punch shows name, entrada and status within a second", async () => {
    const page = await newPage(browser, "kiosk");
    try {
      let sent = null;
      await page.route(AGENT, (route) => {
        sent = JSON.parse(route.request().postData());
        return json(route, 201, { curp: WORKER.curp, name: WORKER.name, kind: "entrada",
          at: `${todayMx()}T07:56:12-06:00`, folio: "HUE-2026-000000123", status: "a_tiempo" });
      });
      await page.goto(baseUrl() + "/kiosk/", { waitUntil: "load" });
      for (const k of ["M", "0", "0", "0", "2"]) await page.locator(`.key[data-key="${k}"]`).click();
      assert.equal(await page.locator("#matricula").inputValue(), "M0002");
      const t0 = Date.now();
      await page.getByRole("button", { name: "Registrar con mi huella" }).click();
      const status = page.getByRole("status").filter({ hasText: WORKER.name });
      await status.waitFor({ timeout: 1000 });
      const ms = Date.now() - t0;
      assert.ok(ms < 1000, `shown after ${ms} ms`);
      const text = await page.locator("#result").textContent();
      assert.match(text, /¡Bienvenido\(a\), María López Hernández!/);
      assert.match(text, /Entrada registrada a las 07:56/);
      assert.match(text, /A tiempo/);
      assert.match(text, /Folio HUE-2026-000000123/);
      // The simulated agent sent an ISO template of demo subject 102 (M0002).
      assert.equal(sent.matricula, "M0002");
      assert.equal(sent.finger.format, "iso19794-2:2005");
      assert.ok(sent.finger.data.length > 100);
      assert.equal(await page.locator("#matricula").inputValue(), "");
      await screenshot(page, "att-kiosk-punch-entrada");
      await assertClean(page);
    } finally { await closePage(page); }
  });

  test("a salida with retardo, then no_match with attempts left, then a throttle countdown", async () => {
    const page = await newPage(browser, "kiosk");
    try {
      const answers = [
        [201, { curp: SUPER.curp, name: SUPER.name, kind: "salida", at: `${todayMx()}T16:02:00-06:00`,
                folio: "HUE-2026-000000124", status: "a_tiempo" }],
        [401, { error: { code: "no_match", message: "no match", attempts_left: 2 } }],
        [429, { error: { code: "too_many_attempts", message: "wait", retry_after: 30 } }],
      ];
      await page.route(AGENT, (route) => { const [s, b] = answers.shift(); return json(route, s, b); });
      await page.goto(baseUrl() + "/kiosk/", { waitUntil: "load" });
      const btn = page.getByRole("button", { name: "Registrar con mi huella" });
      await btn.click();
      await page.locator("#result").filter({ hasText: "¡Hasta luego, Juan García Ramírez!" }).waitFor();
      assert.match(await page.locator("#result").textContent(), /Salida registrada a las 16:02/);
      await btn.click();
      await page.locator("#result").filter({ hasText: "No reconocimos su huella" }).waitFor();
      assert.match(await page.locator("#result").textContent(), /Le quedan 2 intentos\./);
      await screenshot(page, "att-kiosk-no-match");
      await btn.click();
      await page.locator("#result").filter({ hasText: "Demasiados intentos" }).filter({ hasText: "Espere 0:30" }).waitFor();
      assert.ok(await btn.isDisabled());
      await page.locator("#result").filter({ hasText: "Espere 0:29" }).waitFor({ timeout: 2500 });
      await screenshot(page, "att-kiosk-throttled");
      await assertClean(page, { statuses: [401, 429] });
    } finally { await closePage(page); }
  });

  test("a punch by face, then finger and face that disagree, then biometric punches disabled", async () => {
    const page = await newPage(browser, "kiosk");
    try {
      const answers = [
        [201, { curp: SUPER.curp, name: SUPER.name, kind: "entrada", at: `${todayMx()}T07:58:00-06:00`,
                folio: "HUE-2026-000000125", status: "a_tiempo", method: "face" }],
        [401, { error: { code: "biometrics_disagree", message: "two people", field: "face",
                         attempts_left: 3 } }],
        [423, { error: { code: "biometric_disabled", message: "disabled" } }],
      ];
      await page.route(AGENT, (route) => { const [s, b] = answers.shift(); return json(route, s, b); });
      await page.goto(baseUrl() + "/kiosk/", { waitUntil: "load" });
      const btn = page.getByRole("button", { name: "Registrar con mi huella" });
      await btn.click();
      await page.locator("#result").filter({ hasText: "Reconocido(a) por su rostro." }).waitFor();
      assert.match(await page.locator("#result").textContent(), /Entrada registrada a las 07:58/);
      assert.equal(await page.locator("#result").getAttribute("data-method"), "face");
      await screenshot(page, "att-kiosk-face");
      await btn.click();
      await page.locator("#result").filter({ hasText: "La huella y el rostro no coinciden" }).waitFor();
      assert.match(await page.locator("#result").textContent(), /Le quedan 3 intentos\./);
      await screenshot(page, "att-kiosk-disagree");
      await btn.click();
      await page.locator("#result").filter({ hasText: "Registro biométrico desactivado" }).waitFor();
      assert.match(await page.locator("#result").textContent(), /Pida a Recursos Humanos que lo reactive/);
      assert.ok(!(await btn.isDisabled()));
      await screenshot(page, "att-kiosk-biometric-disabled");
      await assertClean(page, { statuses: [401, 423] });
    } finally { await closePage(page); }
  });

  test("offline: the punch is refused and said so, never queued", async () => {
    const page = await newPage(browser, "kiosk");
    try {
      let calls = 0;
      let fail = true;
      await page.route(AGENT, (route) => {
        calls++;
        if (fail) return route.abort("internetdisconnected");
        return json(route, 201, { curp: WORKER.curp, name: WORKER.name, kind: "salida",
          at: `${todayMx()}T16:00:00-06:00`, folio: "HUE-2026-000000125", status: "a_tiempo" });
      });
      await page.goto(baseUrl() + "/kiosk/", { waitUntil: "load" });
      const btn = page.getByRole("button", { name: "Registrar con mi huella" });
      // 1. the request fails on the way (flaky network)
      await btn.click();
      await page.locator("#result").filter({ hasText: "No se registró: sin conexión. Intente de nuevo" }).waitFor();
      assert.match(await page.locator("#conn").textContent(), /Sin conexión/);
      assert.equal(calls, 1);
      await screenshot(page, "att-kiosk-offline-refused");
      // 2. the kiosk knows it is offline: refused at once, nothing sent
      await page.context().setOffline(true);
      await btn.click();
      await page.locator("#result").filter({ hasText: "No se registró: sin conexión" }).waitFor();
      assert.equal(calls, 1, "no request while offline, and nothing queued");
      // 3. back online: nothing is replayed by itself; the next punch works
      await page.context().setOffline(false);
      fail = false;
      await page.waitForTimeout(500);
      assert.equal(calls, 1, "nothing replayed when the network came back");
      await btn.click();
      await page.locator("#result").filter({ hasText: "Salida registrada a las 16:00" }).waitFor();
      assert.equal(calls, 2);
      await page.locator("#conn").filter({ hasText: "Conectado" }).waitFor();
      await assertClean(page, { offline: true });
    } finally { await closePage(page); }
  });
});

describe("kiosk against the real system", () => {
  test("an unsigned punch (no device agent) is refused and the screen says so", async (t) => {
    if (!attendanceUp) { t.skip("this build has no attendance endpoints"); return; }
    // Real POST /api/v1/punches without the agent's RFC 9421 signature: the
    // browser cannot sign (it never holds the device key), so the server
    // refuses and nothing is recorded.
    const page = await newPage(browser, "kiosk");
    try {
      await page.goto(`${baseUrl()}/kiosk/?agente=/api/v1/punches`, { waitUntil: "load" });
      const answer = page.waitForResponse((r) => r.url().endsWith("/api/v1/punches"));
      await page.getByRole("button", { name: "Registrar con mi huella" }).click();
      const res = await answer;
      assert.equal(res.status(), 401);
      await page.locator("#result").filter({ hasText: "No se registró: este reloj no pudo identificarse" }).waitFor();
      assert.doesNotMatch(await page.locator("#result").textContent(), /Bienvenido|registrada a las/);
      await screenshot(page, "att-kiosk-real-unsigned");
      await assertClean(page, { statuses: [401] });
    } finally { await closePage(page); }
  });

  test("a duplicate punch says it is not counted twice (STUB agent)", async () => {
    const page = await newPage(browser, "phone");
    try {
      await page.route(AGENT, (route) => json(route, 201, { curp: WORKER.curp, name: WORKER.name,
        kind: "entrada", at: `${todayMx()}T07:58:00-06:00`, folio: "HUE-2026-000000126",
        status: "duplicada", counted: false }));
      await page.goto(baseUrl() + "/kiosk/", { waitUntil: "load" });
      await page.getByRole("button", { name: "Registrar con mi huella" }).click();
      await page.locator("#result").filter({ hasText: "no se cuenta dos veces" }).waitFor();
      await screenshot(page, "att-kiosk-phone-duplicate");
      await assertClean(page);
    } finally { await closePage(page); }
  });
});

function toMin(hm) { const [h, m] = hm.split(":").map(Number); return h * 60 + m; }

/* ---- the justification flow on the real system ------------------------ */

async function account(who) {
  let r;
  // 503 matcher_timeout: password hashing on a busy machine; try again.
  for (let i = 0; i < 5; i++) {
    r = await fetch(`${baseUrl()}/api/v1/accounts`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ curp: who.curp, nss: withLuhn(who.nss), email: who.email,
        password: who.password, security_question: "¿Ciudad natal?", security_answer: "Guadalajara" }) });
    if (r.status !== 503) break;
    await new Promise((res) => setTimeout(res, 1000));
  }
  assert.ok([201, 409].includes(r.status), `POST /accounts ${who.curp}: ${r.status} ${await r.text()}`);
}

async function login(page, who) {
  const r = await page.request.post(`${baseUrl()}/api/v1/session`, {
    data: { user: who.curp, password: who.password } });
  assert.equal(r.status(), 201, `login ${who.curp}: ${await r.text()}`);
}

/* The last scheduled weekday before today (matutino: Monday to Friday, not
 * a holiday of config/attendance-demo.yaml): María has no punches, so it
 * is a falta. */
function lastWorkday(holidays) {
  const t = todayMx();
  let d = new Date(Date.UTC(...t.split("-").map((v, i) => (i === 1 ? v - 1 : +v))));
  for (;;) {
    d = new Date(d.getTime() - 86400000);
    const s = d.toISOString().slice(0, 10);
    const wd = d.getUTCDay();
    if (wd >= 1 && wd <= 5 && !holidays.includes(s)) return s;
  }
}

describe("justification flow end to end (real system)", () => {
  test("worker files, supervisor approves, worker sees justificada", async (t) => {
    if (!attendanceUp) { t.skip("this build has no attendance endpoints (GET /api/v1/attendance/rules is 404)"); return; }
    if (!process.env.HUELLA_TOKEN) { t.skip("no admin TOKEN from serve.py"); return; }
    await account(WORKER);
    await account(SUPER);
    const roles = await fetch(`${baseUrl()}/api/v1/accounts/${SUPER.curp}/roles`, {
      method: "PUT", headers: { "Content-Type": "application/json",
                                Authorization: `Bearer ${process.env.HUELLA_TOKEN}` },
      body: JSON.stringify({ roles: ["worker", "supervisor"] }) });
    assert.equal(roles.status, 200, await roles.text());
    const rules = await (await fetch(`${baseUrl()}/api/v1/attendance/rules`, {
      headers: { Authorization: `Bearer ${process.env.HUELLA_TOKEN}` } })).json();
    let date = lastWorkday(rules.holidays || []);
    let month = date.slice(0, 7);

    // 1. María sees her faltas and files a justification with a document
    //    for the latest one not yet justified (an earlier run on the same
    //    system may have justified some).
    const worker = await newPage(browser, "phone");
    try {
      await login(worker, WORKER);
      await worker.goto(`${baseUrl()}/registros.html?mes=${month}`, { waitUntil: "load" });
      await worker.locator("table.days").waitFor();
      const faltas = worker.locator('table.days a[href^="/justificar.html?date="][href$="&incident=falta"]');
      if (await faltas.count() === 0) {       // early in a month: the previous one
        await worker.getByRole("button", { name: "Mes anterior" }).click();
        await worker.locator("table.days").waitFor();
      }
      await faltas.first().waitFor();
      const link = faltas.last();
      date = /date=(\d{4}-\d{2}-\d{2})/.exec(await link.getAttribute("href"))[1];
      month = date.slice(0, 7);
      await assertAccessible(worker);
      await screenshot(worker, "att-real-registros-phone-before");
      await link.click();
      await worker.getByRole("heading", { level: 1, name: "Justificar una incidencia" }).waitFor();
      await worker.locator("#reason option[value='cita_medica']").waitFor({ state: "attached" });
      assert.equal(await worker.locator("#date").inputValue(), date);
      assert.equal(await worker.locator("#incident").inputValue(), "falta");
      await worker.getByLabel("Motivo").selectOption("cita_medica");
      await worker.getByLabel("Explicación").fill("Consulta en la UMF 12, folio IMSS 4471.");
      const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
      await worker.getByLabel("Comprobante (opcional)").setInputFiles({ name: "constancia.png", mimeType: "image/png", buffer: png });
      await worker.getByRole("button", { name: "Enviar justificación" }).click();
      await worker.getByText(/Justificación enviada \(folio [A-Z0-9-]+\)/).waitFor();
      await screenshot(worker, "att-real-justificar-phone-sent");
      await assertClean(worker);
    } finally { await closePage(worker); }

    // 2. Juan, her supervisor, approves it from his inbox.
    const sup = await newPage(browser, "desktop");
    try {
      await login(sup, SUPER);
      await sup.goto(`${baseUrl()}/supervisor.html`, { waitUntil: "load" });
      const item = sup.locator(".inbox-item").filter({ hasText: WORKER.curp })
        .filter({ hasText: "Cita médica" });
      await item.first().waitFor();
      assert.match(await item.first().textContent(), /Consulta en la UMF 12/);
      await item.first().getByRole("link", { name: /Ver comprobante/ }).waitFor();
      await assertAccessible(sup);
      await screenshot(sup, "att-real-supervisor-desktop-inbox");
      await item.first().getByLabel(/Comentario para/).fill("Presentó la constancia del IMSS.");
      await item.first().getByRole("button", { name: "Aprobar" }).click();
      await sup.getByText(/Aprobaste la justificación de/).waitFor();
      await screenshot(sup, "att-real-supervisor-desktop-approved");
      // The team report of the real system draws too.
      await sup.goto(`${baseUrl()}/reportes.html`, { waitUntil: "load" });
      await sup.locator("#summary table").waitFor();
      await sup.getByRole("row", { name: new RegExp(WORKER.name) }).waitFor();
      await assertAccessible(sup);
      await screenshot(sup, "att-real-reportes-desktop");
      await assertClean(sup);
    } finally { await closePage(sup); }

    // 3. María sees the day justified, her history and the notice.
    const again = await newPage(browser, "desktop");
    try {
      await login(again, WORKER);
      await again.goto(`${baseUrl()}/registros.html?mes=${month}`, { waitUntil: "load" });
      await again.locator("table.days").waitFor();
      const row = again.locator("table.days tr").filter({ has: again.locator("th") })
        .filter({ hasText: new RegExp(`\\b${Number(date.slice(8))}\\b`) }).filter({ hasText: "Falta" });
      await row.filter({ hasText: "Justificada" }).first().waitFor();
      assert.equal(await again.locator(`a[href="/justificar.html?date=${date}&incident=falta"]`).count(), 0);
      await again.locator("#history").getByText("Justificada").first().waitFor();
      await again.locator("#notifications").getByText(/quedó: justificada/).first().waitFor();
      // the reason and the shift in the page's language, from the demo YAML
      await again.locator("#history").getByText("Cita médica (IMSS)").first().waitFor();
      await again.locator("table.days").getByText("Matutino 08:00-16:00").first().waitFor();
      await again.getByRole("button", { name: "English" }).click();
      await again.locator("#history").getByText("Medical appointment (IMSS)").first().waitFor();
      await again.locator("table.days").getByText("Morning 08:00-16:00").first().waitFor();
      assert.equal(await again.locator("#history").getByText("Cita médica (IMSS)").count(), 0);
      await again.getByRole("button", { name: "Español" }).click();
      await screenshot(again, "att-real-registros-desktop-after");
      await assertClean(again);
    } finally { await closePage(again); }
  });
});
