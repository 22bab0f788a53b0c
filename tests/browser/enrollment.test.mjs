// Employer enrollment pages (patron, enrolamiento, acuse, auditoria) in
// headless chromium against the real system (serve.py): devices registered
// through the API and the page, a worker search with the red flag, an
// enrollment through the wizard signed by `huellactl device sign` (the
// capture device agent: the page never holds the device key), its receipt
// verified in the browser and a tampered copy refused, and a dedup case
// (two FVC impressions of one finger under two CURPs) resolved by an
// auditor, and an enrollment whose dedup runs as a queued job: the wizard
// shows "Verificando duplicados…" with its progress, polls the status URL
// and then shows the receipt; the auditor page lists the job.
//
// Sessions: service tokens minted with the admin TOKEN (issue 5 item 9):
// an employer_rep token for EMPLOYER and an auditor token, sent by the
// browser context as Authorization: Bearer. When this build lacks the
// enrollment endpoints (GET /.well-known/jwks.json is not 200) the tests
// that need them are skipped and the load checks use page.route() stubs,
// labelled STUB below.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  ROOT, assertAccessible, assertNoConsoleErrors, baseUrl, close, closePage,
  launch, newPage, screenshot,
} from "./helpers.mjs";

const EMPLOYER = "EDE010101AB1";
const RED_FLAG_CURP = "SARL950403MYNNMC05";   // in config/registry.tsv, never enrolled here
const ENROLL_CURP = "HECS880606MOCRRF03";     // enrolled through the wizard
const DUP_FIRST = "GOTJ750121HGTNRR00";       // 101_1.iso through the API
const DUP_SECOND = "DIMP800817HSLZRD09";      // 101_2.iso through the wizard
const BAD_CURP = "PEGA920218MPLRNN07";        // a template that does not parse
const QUEUED_CURP = "ROFL830930HVZDLS04";     // dedup as a queued job
const FVC = "/work/shared/data/fvc2002/DB1_B";
const HUELLACTL = path.join(process.env.HUELLA_BUILD || path.join(ROOT, "build"), "bin", "huellactl");

let browser;
let up = false;          // the enrollment endpoints exist in this build
let dir;
let repToken = "", auditorToken = "";
let device = null;       // {id, key, pub, folio}

async function api(method, p, body, token, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const r = await fetch(baseUrl() + p, init);
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  return { status: r.status, data };
}

/* The capture device agent of the demo: huellactl signs BODY for PATH. */
function sign(body, apiPath, dev = device) {
  const f = path.join(dir, `body-${Date.now()}-${Math.random()}.json`);
  writeFileSync(f, body);
  return execFileSync(HUELLACTL, ["device", "sign", "--key", dev.key, "--keyid", dev.id,
    "--method", "POST", "--path", apiPath, f], { encoding: "utf8" });
}
function headerMap(text) {
  const h = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z-]+):\s*(.+)$/.exec(line.trim());
    if (m) h[m[1]] = m[2];
  }
  return h;
}

function keygen(name) {
  const out = path.join(dir, name);
  execFileSync(HUELLACTL, ["device", "keygen", out]);
  return { key: path.join(out, "device.key"), pub: path.join(out, "device.pub") };
}

before(async () => {
  browser = await launch();
  dir = mkdtempSync(path.join(tmpdir(), "huella-enr-"));
  try {
    const r = await fetch(`${baseUrl()}/.well-known/jwks.json`);
    up = r.status === 200 && !!process.env.HUELLA_TOKEN && existsSync(HUELLACTL);
  } catch { up = false; }
  if (!up) return;
  const admin = process.env.HUELLA_TOKEN;
  const t1 = await api("POST", "/api/v1/tokens",
    { name: "portal-rep", roles: ["employer_rep"], employer_rfc: EMPLOYER }, admin);
  const t2 = await api("POST", "/api/v1/tokens", { name: "portal-auditor", roles: ["auditor"] }, admin);
  assert.equal(t1.status, 201, JSON.stringify(t1.data));
  assert.equal(t2.status, 201, JSON.stringify(t2.data));
  repToken = t1.data.token;
  auditorToken = t2.data.token;
  const k = keygen("dev1");
  const reg = await api("POST", "/api/v1/devices", { employer_rfc: EMPLOYER,
    public_key_pem: readFileSync(k.pub, "utf8"), make: "Suprema", model: "BioMini Slim 3",
    serial: "SN-PORTAL-0001", purpose: "enrollment" }, repToken);
  assert.equal(reg.status, 201, JSON.stringify(reg.data));
  device = { id: reg.data.device_id, folio: reg.data.folio, ...k };
});
after(async () => {
  await close(browser);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/* Chromium logs every 4xx/5xx fetch as a console error: drop those the
 * test provoked on purpose, then check the rest. */
async function assertClean(page, statuses = []) {
  if (statuses.length) {
    const re = new RegExp(`status of (${statuses.join("|")})\\b`);
    page.huella.console = page.huella.console.filter((t) => !re.test(t));
  }
  await assertNoConsoleErrors(page);
}

async function pageAs(viewport, token) {
  const page = await newPage(browser, viewport);
  if (token) await page.context().setExtraHTTPHeaders({ Authorization: `Bearer ${token}` });
  return page;
}

function json(route, status, body) {
  return route.fulfill({ status, contentType: "application/json", body: JSON.stringify(body) });
}

/* STUB (only when the build lacks the endpoints): a session and empty lists. */
async function stubAll(page, roles) {
  await page.route(`${baseUrl()}/api/v1/me`, (r) => json(r, 200, { curp: "GODE561231HDFRRN00",
    name: "Eduardo Gómez Díaz", roles, employer_rfc: roles.includes("employer_rep") ? EMPLOYER : null,
    auth_method: "efirma", csrf_token: "x" }));
  await page.route(`${baseUrl()}/api/v1/devices*`, (r) => json(r, 200, { devices: [] }));
  await page.route(`${baseUrl()}/api/v1/dedup*`, (r) => json(r, 200, { cases: [] }));
  await page.route(`${baseUrl()}/api/v1/exceptions*`, (r) => json(r, 200, { exceptions: [] }));
}

async function checkPage(page, name) {
  assert.equal(await page.getAttribute("html", "lang"), "es-MX");
  const overflow = await page.evaluate(() =>
    document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `${name} overflows by ${overflow}px`);
  const missing = await page.evaluate(() => {
    const keys = new Set();
    document.querySelectorAll("[data-i18n]").forEach((el) => keys.add(el.dataset.i18n));
    const es = HUELLA_STRINGS["es-MX"], en = HUELLA_STRINGS.en;
    const out = [...keys].filter((k) => !(k in es) || !(k in en));
    for (const k of Object.keys(es)) if (!(k in en)) out.push(`en lacks ${k}`);
    for (const k of Object.keys(en)) if (!(k in es)) out.push(`es-MX lacks ${k}`);
    return out;
  });
  assert.deepEqual(missing, []);
  const inline = await page.evaluate(() => ({
    scripts: [...document.scripts].filter((s) => !s.src).length,
    styles: document.querySelectorAll("style").length,
    styleAttrs: document.querySelectorAll("[style]").length,
  }));
  assert.deepEqual(inline, { scripts: 0, styles: 0, styleAttrs: 0 });
  await assertAccessible(page);
}

describe("enrollment pages load clean", () => {
  const pages = [
    { name: "patron", url: "/patron.html", h1: "Panel del patrón", who: "rep", ready: "#dev-list" },
    { name: "enrolamiento", url: "/enrolamiento.html", h1: "Enrolamiento biométrico", who: "rep", ready: "#step-1" },
    { name: "acuse", url: "/acuse.html?folio=", h1: "Acuse de recibo", who: "rep", ready: "#verdict-flag", folio: true },
    { name: "auditoria", url: "/auditoria.html", h1: "Auditoría de enrolamiento", who: "auditor", ready: "#dedup" },
  ];
  for (const viewport of ["phone", "desktop"]) {
    for (const p of pages) {
      test(`${p.name} (${viewport}): CSP, accessible, fits, screenshot`, async (t) => {
        if (p.folio && !up) { t.skip("no enrollment endpoints in this build"); return; }
        const page = await pageAs(viewport, up ? (p.who === "rep" ? repToken : auditorToken) : "");
        try {
          if (!up) {
            t.diagnostic("STUB: enrollment endpoints missing, session and lists stubbed");
            await stubAll(page, p.who === "rep" ? ["employer_rep"] : ["auditor"]);
          }
          const res = await page.goto(baseUrl() + p.url + (p.folio ? device.folio : ""));
          assert.equal(res.status(), 200);
          assert.match((await res.allHeaders())["content-security-policy"] || "", /default-src 'self'/);
          await page.getByRole("heading", { level: 1, name: p.h1 }).waitFor();
          await page.locator(p.ready).waitFor({ state: "visible" });
          await checkPage(page, p.name);
          await assertClean(page);
          await screenshot(page, `enr-${p.name}-${viewport}-es`);
        } finally { await closePage(page); }
      });
    }
  }
});

describe("employer dashboard", () => {
  test("worker search: red flag (icon + text) when no biometrics are on file", async (t) => {
    if (!up) { t.skip("no enrollment endpoints in this build"); return; }
    for (const viewport of ["phone", "desktop"]) {
      const page = await pageAs(viewport, repToken);
      try {
        await page.goto(`${baseUrl()}/patron.html`);
        await page.getByLabel("CURP o NSS del trabajador").fill("XXXX");
        await page.getByRole("button", { name: "Buscar" }).click();
        await page.locator("#q-error").filter({ hasText: "CURP de 18 caracteres" }).waitFor();
        // A check digit the server refuses: its reason beside the field,
        // not a generic alert under it.
        await page.getByLabel("CURP o NSS del trabajador").fill(RED_FLAG_CURP.slice(0, 17) + "6");
        await page.getByRole("button", { name: "Buscar" }).click();
        await page.locator("#q-error")
          .filter({ hasText: "El dígito verificador de la CURP no coincide" }).waitFor();
        assert.equal(await page.locator("#q").getAttribute("aria-invalid"), "true");
        assert.equal(await page.locator("#worker [role=alert]").count(), 0);
        await page.getByLabel("CURP o NSS del trabajador").fill("12345678901");
        await page.getByRole("button", { name: "Buscar" }).click();
        await page.locator("#q-error")
          .filter({ hasText: "El dígito verificador del NSS no coincide" }).waitFor();
        if (viewport === "desktop") {      // the reason follows the language
          await page.getByRole("button", { name: "English" }).click();
          await page.locator("#q-error")
            .filter({ hasText: "NSS check digit (Luhn) does not match." }).waitFor();
          await page.getByRole("button", { name: "Español" }).click();
        }
        await page.getByLabel("CURP o NSS del trabajador").fill(RED_FLAG_CURP.toLowerCase());
        await page.getByRole("button", { name: "Buscar" }).click();
        const flag = page.locator("[data-flag=flag_none]");
        await flag.waitFor();
        assert.match(await flag.textContent(), /Sin biometría registrada/);
        assert.equal(await flag.locator(".flag-icon").getAttribute("aria-hidden"), "true");
        await page.locator("#w-name").filter({ hasText: "Lucía Sánchez Ramos" }).waitFor();
        assert.equal(await page.locator("#w-bio").textContent(), "Sin biometría");
        assert.equal(await page.locator("#enroll-link").getAttribute("href"),
          `/enrolamiento.html?curp=${RED_FLAG_CURP}`);
        await assertAccessible(page);
        await assertClean(page, [422]);    // the bad check digits above
        await screenshot(page, `enr-patron-${viewport}-es-redflag`);
        if (viewport === "desktop") {
          await page.getByRole("button", { name: "English" }).click();
          await flag.filter({ hasText: "No biometrics on file" }).waitFor();
          await screenshot(page, `enr-patron-${viewport}-en-redflag`);
          await page.getByRole("button", { name: "Español" }).click();
        }
      } finally { await closePage(page); }
    }
  });

  test("registers a device from a PEM file, suspends and revokes it with confirmation", async (t) => {
    if (!up) { t.skip("no enrollment endpoints in this build"); return; }
    const k = keygen("dev2");
    const page = await pageAs("desktop", repToken);
    try {
      await page.goto(`${baseUrl()}/patron.html`);
      await page.locator(`[data-device="${device.id}"]`).waitFor();
      await page.getByLabel("Archivo de la clave pública (.pem)").setInputFiles(k.pub);
      await page.waitForFunction(() => /BEGIN PUBLIC KEY/.test(document.getElementById("pem").value));
      await page.getByLabel("Marca").fill("Idemia");
      await page.getByLabel("Modelo").fill("MorphoWave");
      await page.getByLabel("Número de serie").fill("SN-PORTAL-0002");
      await page.getByLabel("Checador (quiosco)").check();
      await page.getByRole("button", { name: "Registrar dispositivo" }).click();
      const ok = page.locator("#reg-msg");
      await ok.filter({ hasText: "Dispositivo registrado con el identificador dev_" }).waitFor();
      const id = /dev_[0-9a-f]+/.exec(await ok.textContent())[0];
      const card = page.locator(`[data-device="${id}"]`);
      await card.waitFor();
      assert.match(await card.textContent(), /Checador \(quiosco\).*Nunca/s);
      // The same key again: refused on the field.
      await page.getByLabel("Clave pública (PEM)").fill(readFileSync(k.pub, "utf8"));
      await page.getByLabel("Marca").fill("Idemia");
      await page.getByLabel("Modelo").fill("MorphoWave");
      await page.getByLabel("Número de serie").fill("SN-PORTAL-0003");
      await page.getByRole("button", { name: "Registrar dispositivo" }).click();
      await page.locator("#pem-error").filter({ hasText: "ya está registrada" }).waitFor();

      await card.getByRole("button", { name: "Suspender" }).click();
      const dlg = page.getByRole("dialog");
      await dlg.waitFor();
      assert.match(await dlg.textContent(), new RegExp(`Suspender el dispositivo .*${id}`));
      await assertAccessible(page);
      await screenshot(page, "enr-patron-desktop-es-confirm");
      await dlg.getByRole("button", { name: "Cancelar" }).click();
      assert.equal(await card.locator(".pill").textContent(), "Activo");
      await card.getByRole("button", { name: "Suspender" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Sí, continuar" }).click();
      await card.locator(".pill").filter({ hasText: "Suspendido" }).waitFor();
      await card.getByRole("button", { name: "Revocar" }).click();
      assert.match(await page.getByRole("dialog").textContent(), /definitivo/);
      await page.getByRole("dialog").getByRole("button", { name: "Sí, continuar" }).click();
      await card.locator(".pill").filter({ hasText: "Revocado" }).waitFor();
      assert.equal(await card.getByRole("button").count(), 0);
      await screenshot(page, "enr-patron-desktop-es-devices");
      await assertClean(page, [409, 422]);
    } finally { await closePage(page); }
  });
});

/* Steps 1-4 of the wizard for CURP with TEMPLATE at position 2 and finger
 * 10 declared amputated; step 4 signed by the agent (huellactl). */
async function wizard(page, curp, template, shots, faceFile, queued = false, sessionEnds = false) {
  await page.goto(`${baseUrl()}/enrolamiento.html?curp=${curp}`);
  await page.locator("[data-flag=flag_none]").waitFor();
  assert.equal(await page.locator("#steps li[aria-current=step]").getAttribute("data-step"), "1");
  if (shots) await screenshot(page, `${shots}-1`);
  await page.getByRole("button", { name: "Continuar" }).click();
  await page.locator("#step-2").waitFor();
  assert.equal(await page.locator("#steps li[aria-current=step]").getAttribute("data-step"), "2");
  await page.getByRole("button", { name: "Continuar" }).click();   // nothing loaded
  await page.locator("#s2-msg").filter({ hasText: "Carga al menos una huella" }).waitFor();
  await page.locator("#file-2").setInputFiles(template);
  await page.locator("#file-2-info").filter({ hasText: "Plantilla cargada" }).waitFor();
  await page.locator("#missing-10").selectOption("amputation");
  await assertAccessible(page);
  if (shots) await screenshot(page, `${shots}-2`);
  await page.locator("#s2-next").click();
  await page.locator("#step-3").waitFor();
  if (faceFile) {
    await page.getByLabel("Vector del rostro (archivo .f32)").setInputFiles(faceFile);
    await page.locator("#face-info").filter({ hasText: "Vector de 128 dimensiones" }).waitFor();
  }
  await page.locator("#s3-next").click();
  await page.locator("#step-4").waitFor();
  await page.locator("#device option").first().waitFor({ state: "attached" });
  const body = await page.locator("#body").inputValue();
  const parsed = JSON.parse(body);
  assert.deepEqual(parsed.fingers.map((f) => f.position), [2]);
  assert.deepEqual(parsed.missing, [{ position: 10, reason: "amputation" }]);
  assert.equal(Buffer.from(parsed.fingers[0].data, "base64").compare(readFileSync(template)), 0);
  const p = `/api/v1/subjects/${curp}/enrollment`;
  assert.match(await page.locator("#agent-cmd").textContent(), new RegExp(`--keyid ${device.id}[\\s\\S]*--path ${p}`));
  await page.getByLabel(/Encabezados firmados/).fill("Signature: sig1=:AAAA:");
  await page.getByRole("button", { name: "Enviar enrolamiento" }).click();
  await page.locator("#sig-headers-error").filter({ hasText: "Faltan encabezados" }).waitFor();
  await page.getByLabel(/Encabezados firmados/).fill(sign(body, p));
  if (queued) await page.getByLabel("Verificar duplicados en segundo plano").check();
  await assertAccessible(page);
  if (shots) await screenshot(page, `${shots}-4`);
  if (sessionEnds) {
    // STUB: the session ends while the signed request is being prepared.
    await page.route(`${baseUrl()}${p}`, (r) => json(r, 401,
      { error: { code: "session_expired", message: "session expired" } }));
    await page.getByRole("button", { name: "Enviar enrolamiento" }).click();
    await page.waitForURL(/\/login\.html\?return=%2Fenrolamiento\.html$/);
    return;
  }
  await page.getByRole("button", { name: "Enviar enrolamiento" }).click();
  await page.locator("#step-5").waitFor();
  assert.equal(await page.locator("#steps li[aria-current=step]").getAttribute("data-step"), "5");
}

describe("admin acting for a company", () => {
  test("the dashboard asks for the RFC and lists that company's devices", async (t) => {
    if (!up) { t.skip("no enrollment endpoints in this build"); return; }
    const page = await pageAs("phone", process.env.HUELLA_TOKEN);
    try {
      await page.goto(`${baseUrl()}/patron.html`);
      const rfc = page.getByLabel("Empresa (RFC)");
      await rfc.waitFor();
      await rfc.fill(EMPLOYER);
      await rfc.press("Tab");
      await page.locator(`[data-device="${device.id}"]`).waitFor();
      await assertAccessible(page);
      await screenshot(page, "enr-patron-phone-es-admin");
      await assertClean(page);
    } finally { await closePage(page); }
  });
});

describe("enrollment wizard and receipt", () => {
  let folio = null;
  test("a session that ends before the request is sent leads to login", async (t) => {
    if (!up) { t.skip("no enrollment endpoints in this build"); return; }
    const page = await pageAs("desktop", repToken);
    try {
      await wizard(page, ENROLL_CURP, `${FVC}/102_1.iso`, null, null, false, true);
    } finally { await closePage(page); }
  });

  test("wizard enrolls through the capture device agent and links the receipt", async (t) => {
    if (!up) { t.skip("no enrollment endpoints in this build"); return; }
    const page = await pageAs("desktop", repToken);
    try {
      const face = path.join(dir, "face.f32");
      const v = new Float32Array(128).map((_, i) => Math.sin(i + 1) / 8);
      writeFileSync(face, Buffer.from(v.buffer));
      await wizard(page, ENROLL_CURP, `${FVC}/102_1.iso`, "enr-wizard-desktop-es", face);
      const text = await page.locator("#result-text").textContent();
      folio = /HUE-\d{4}-\d+/.exec(text)[0];
      await assertAccessible(page);
      await screenshot(page, "enr-wizard-desktop-es-5");
      await assertClean(page);
      await page.locator("#receipt-link").click();
      await page.waitForURL(/\/acuse\.html\?folio=/);
      await page.locator("#verdict-flag[data-verdict=valid]").waitFor();
    } finally { await closePage(page); }
  });

  test("receipt page verifies the real receipt and flags a tampered one", async (t) => {
    if (!up || !folio) { t.skip("needs the enrollment above"); return; }
    for (const viewport of ["phone", "desktop"]) {
      const page = await pageAs(viewport, repToken);
      try {
        await page.goto(`${baseUrl()}/acuse.html?folio=${folio}`);
        await page.locator("#verdict-flag[data-verdict=valid]").waitFor();
        assert.match(await page.locator("#verdict-flag").textContent(), /Firma válida/);
        const fields = await page.locator("#fields").textContent();
        for (const s of [folio, ENROLL_CURP, EMPLOYER, device.id, "Enrolamiento biométrico", "Amputación",
                         "face-api-128 · "]) {
          assert.ok(fields.includes(s), `${s} in ${fields}`);
        }
        const digest = execFileSync("sha256sum", [`${FVC}/102_1.iso`], { encoding: "utf8" }).split(" ")[0];
        assert.match(await page.locator("#digests").textContent(), new RegExp(`Índice derecho \\(2\\)${digest}`));
        // The QR code is drawn (dark modules on the canvas).
        const dark = await page.evaluate(() => {
          const c = document.getElementById("qr");
          const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++;
          return n;
        });
        assert.ok(dark > 1000, `QR drawn (${dark} dark pixels)`);
        await checkPage(page, "acuse");
        await assertClean(page);
        await screenshot(page, `enr-acuse-${viewport}-es-valid`);
        await page.emulateMedia({ media: "print" });
        await screenshot(page, `enr-acuse-${viewport}-es-print`);
        await page.emulateMedia({ media: "screen" });
      } finally { await closePage(page); }
    }
    // Tampered: the real answer with one payload field changed (route
    // rewrites the response; the endpoint exists, this is the attack).
    const page = await pageAs("desktop", repToken);
    try {
      await page.route(`${baseUrl()}/api/v1/receipts/*`, async (route) => {
        const res = await route.fetch();
        const data = await res.json();
        const [h, p, s] = data.receipt.split(".");
        const payload = JSON.parse(Buffer.from(p, "base64url").toString());
        payload.curp = RED_FLAG_CURP;
        data.receipt = [h, Buffer.from(JSON.stringify(payload)).toString("base64url"), s].join(".");
        return route.fulfill({ response: res, json: data });
      });
      await page.goto(`${baseUrl()}/acuse.html?folio=${folio}`);
      await page.locator("#verdict-flag[data-verdict=invalid]").waitFor();
      assert.match(await page.locator("#verdict-flag").textContent(), /Firma NO válida/);
      await assertAccessible(page);
      await screenshot(page, "enr-acuse-desktop-es-tampered");
      await assertClean(page);
    } finally { await closePage(page); }
    // Anyone, without a session, checks a pasted receipt against the JWKS.
    const got = await api("GET", `/api/v1/receipts/${folio}`, undefined, repToken);
    const real = got.data.receipt;
    const [h, p, s] = real.split(".");
    const forged = [h, Buffer.from(Buffer.from(p, "base64url").toString()
      .replace(EMPLOYER, "AAA010101AAA")).toString("base64url"), s].join(".");
    const anon = await pageAs("phone", "");
    try {
      await anon.goto(`${baseUrl()}/acuse.html`);
      await anon.locator("#page-msg").filter({ hasText: "Falta el folio" }).waitFor();
      await anon.getByText("Verificar otro acuse").click();
      await anon.getByLabel("Acuse firmado (texto JWS)").fill(real);
      await anon.getByRole("button", { name: "Verificar", exact: true }).click();
      await anon.locator("#verdict-flag[data-verdict=valid]").waitFor();
      await anon.getByLabel("Acuse firmado (texto JWS)").fill(forged);
      await anon.getByRole("button", { name: "Verificar", exact: true }).click();
      await anon.locator("#verdict-flag[data-verdict=invalid]").waitFor();
      await assertAccessible(anon);
      await screenshot(anon, "enr-acuse-phone-es-pasted-forged");
      await assertClean(anon);
    } finally { await closePage(anon); }
  });
});

describe("per-finger refusal", () => {
  test("a template that does not parse: the result names the finger and the reason", async (t) => {
    if (!up) { t.skip("no enrollment endpoints in this build"); return; }
    // "FMR\0" and a version, then bytes that are no ISO 19794-2 record.
    const bad = path.join(dir, "bad.iso");
    writeFileSync(bad, Buffer.concat([Buffer.from("FMR\0 20\0", "binary"), Buffer.alloc(40, 0x5a)]));
    const page = await pageAs("desktop", repToken);
    try {
      await wizard(page, BAD_CURP, bad);
      const list = page.locator("#finger-errors");
      await list.waitFor();
      assert.match(await list.textContent(), /Índice derecho \(2\): la plantilla no es válida/);
      await assertAccessible(page);
      await screenshot(page, "enr-wizard-desktop-es-refused");
      await page.getByRole("button", { name: "English" }).click();
      await list.filter({ hasText: "Right index (2): the template is not valid" }).waitFor();
      await screenshot(page, "enr-wizard-desktop-en-refused");
      await page.getByRole("button", { name: "Español" }).click();
      await page.getByRole("button", { name: "Volver a cargar las huellas" }).click();
      await page.locator("#step-2").waitFor();
      assert.equal(await page.locator("#steps li[aria-current=step]").getAttribute("data-step"), "2");
      await assertClean(page, [422]);
    } finally { await closePage(page); }
  });
});

describe("dedup", () => {
  test("second impression of one finger under another CURP: possible duplicate, resolved by the auditor", async (t) => {
    if (!up) { t.skip("no enrollment endpoints in this build"); return; }
    // First enrollment straight to the API, signed by the device.
    const body = JSON.stringify({ fingers: [{ position: 2, format: "iso19794-2:2005",
      data: readFileSync(`${FVC}/101_1.iso`).toString("base64") }],
      // A declared unreadable print opens an exception (the auditor's list).
      missing: [{ position: 9, reason: "unreadable" }] });
    const p = `/api/v1/subjects/${DUP_FIRST}/enrollment`;
    const r1 = await api("POST", p, body, repToken, headerMap(sign(body, p)));
    assert.equal(r1.status, 201, JSON.stringify(r1.data));

    const page = await pageAs("phone", repToken);
    try {
      await wizard(page, DUP_SECOND, `${FVC}/101_2.iso`, "enr-wizard-phone-es");
      await page.locator("#result-text").filter({ hasText: "Posible duplicado: el caso pasó a auditoría" }).waitFor();
      const shown = await page.locator("main").textContent();
      assert.ok(!shown.includes(DUP_FIRST), "the other identity is never shown");
      await assertAccessible(page);
      await screenshot(page, "enr-wizard-phone-es-duplicate");
      await assertClean(page, [409]);
    } finally { await closePage(page); }

    for (const viewport of ["phone", "desktop"]) {
      const aud = await pageAs(viewport, auditorToken);
      try {
        await aud.goto(`${baseUrl()}/auditoria.html`);
        const card = aud.locator("[data-case]").filter({ hasText: DUP_SECOND });
        await card.waitFor();
        assert.match(await card.textContent(), new RegExp(DUP_FIRST));
        await aud.locator("#exc-list li").filter({ hasText: DUP_FIRST }).waitFor();
        await assertAccessible(aud);
        await screenshot(aud, `enr-auditoria-${viewport}-es-case`);
        if (viewport === "desktop") {
          await card.getByRole("button", { name: "Falsa alarma" }).click();
          await aud.getByRole("dialog").getByRole("button", { name: "Sí, continuar" }).click();
          await aud.locator("#dedup-msg").filter({ hasText: "resuelto: Falsa alarma" }).waitFor();
          await card.waitFor({ state: "detached" });
          await screenshot(aud, `enr-auditoria-${viewport}-es-resolved`);
        }
        await assertClean(aud);
      } finally { await closePage(aud); }
    }
    const look = await api("GET", `/api/v1/subjects?curp=${DUP_SECOND}`, undefined, repToken);
    assert.equal(look.status, 200);
    assert.equal(look.data.biometrics.status, "enrolled");
  });
});

describe("queued dedup", () => {
  test("the wizard follows a queued dedup job to its receipt; the auditor lists it", async (t) => {
    if (!up) { t.skip("no enrollment endpoints in this build"); return; }
    const template = "/work/shared/data/fvc2004/DB1_B/103_1.iso";
    const page = await pageAs("desktop", repToken);
    let jobId;
    try {
      await wizard(page, QUEUED_CURP, template, null, null, true);
      const checking = page.locator("[data-flag=job_checking]");
      await checking.filter({ hasText: "Verificando duplicados…" }).waitFor();
      await page.locator("#job-progress").waitFor();
      assert.match(await page.locator("#job-status").textContent(), /En cola|Comparando/);
      jobId = new URL(page.url()).searchParams.get("job");
      assert.match(jobId || "", /^dj_[0-9a-f]{16}$/);
      await assertAccessible(page);
      await screenshot(page, "enr-wizard-desktop-es-queued");
      await page.locator("#result-text").filter({ hasText: "Se registró la biometría" }).waitFor({ timeout: 30000 });
      const folio = /HUE-\d{4}-\d+/.exec(await page.locator("#result-text").textContent())[0];
      assert.equal(await page.locator("#receipt-link").getAttribute("href"), `/acuse.html?folio=${folio}`);
      await assertAccessible(page);
      await screenshot(page, "enr-wizard-desktop-es-queued-done");
      // The address keeps the job: reloading shows the same result.
      await page.reload();
      await page.locator("#result-text").filter({ hasText: folio }).waitFor();
      await page.getByRole("button", { name: "English" }).click();
      await page.locator("#result-text").filter({ hasText: "Receipt folio" }).waitFor();
      await page.getByRole("button", { name: "Español" }).click();
      await assertClean(page);
    } finally { await closePage(page); }
    const look = await api("GET", `/api/v1/subjects?curp=${QUEUED_CURP}`, undefined, repToken);
    assert.equal(look.data.biometrics.status, "enrolled");
    for (const viewport of ["phone", "desktop"]) {
      const aud = await pageAs(viewport, auditorToken);
      try {
        await aud.goto(`${baseUrl()}/auditoria.html`);
        const card = aud.locator(`[data-job="${jobId}"]`);
        await card.waitFor();
        assert.equal(await card.getAttribute("data-status"), "done");
        assert.match(await card.textContent(), new RegExp(`${QUEUED_CURP}.*Terminado.*Enrolado, acuse HUE-`, "s"));
        await checkPage(aud, "auditoria");
        await screenshot(aud, `enr-auditoria-${viewport}-es-jobs`);
        await assertClean(aud);
      } finally { await closePage(aud); }
    }
  });
});

describe("dates in the institution's time zone", () => {
  test("a device's last use reads in Mexico City time from a browser in Tokyo [stubbed list]", async () => {
    // 2026-03-10T05:30:00Z: 9 March, 23:30 in Mexico City; 10 March, 14:30
    // in Tokyo. The portal speaks the institution's time, not the browser's.
    const page = await newPage(browser, "phone", { timezoneId: "Asia/Tokyo" });
    try {
      await stubAll(page, ["employer_rep"]);
      await page.route(`${baseUrl()}/api/v1/devices*`, (r) => json(r, 200, { devices: [{
        device_id: "dev_0123456789abcdef", status: "active", purpose: "kiosk",
        make: "Idemia", model: "MorphoWave", serial: "SN-TZ-1", key_alg: "ES256",
        employer_rfc: EMPLOYER, last_used: 1773120600 }] }));
      await page.goto(`${baseUrl()}/patron.html`);
      const card = page.locator('[data-device="dev_0123456789abcdef"]');
      await card.waitFor();
      const es = await card.textContent();
      assert.match(es, /9 mar 2026, 11:30\sp\.\s?m\./, es);
      assert.doesNotMatch(es, /10 mar 2026/);
      await page.getByRole("button", { name: "English" }).click();
      await card.filter({ hasText: "Last used" }).waitFor();
      assert.match(await card.textContent(), /Mar 9, 2026, 11:30\sPM/);
      await assertClean(page);
    } finally { await closePage(page); }
  });
});

describe("worker card", () => {
  test("one finger on file reads in the singular [stubbed lookup]", async () => {
    const page = await newPage(browser, "phone");
    try {
      await stubAll(page, ["employer_rep"]);
      await page.route(`${baseUrl()}/api/v1/subjects?*`, (r) => json(r, 200, {
        curp: ENROLL_CURP, name: "Sofía Hernández Cruz", nss: "12851000005",
        employer_rfc: EMPLOYER, biometrics: { status: "enrolled", fingers_enrolled: 1,
          finger_positions: [2], face: false } }));
      await page.goto(`${baseUrl()}/patron.html`);
      await page.getByLabel("CURP o NSS del trabajador").fill(ENROLL_CURP);
      await page.getByRole("button", { name: "Buscar" }).click();
      const card = page.locator("#worker");
      await card.getByText("1 huella, posición 2", { exact: true }).waitFor();
      await page.getByRole("button", { name: "English" }).click();
      await card.getByText("1 fingerprint, position 2", { exact: true }).waitFor();
      await assertClean(page);
    } finally { await closePage(page); }
  });
});
