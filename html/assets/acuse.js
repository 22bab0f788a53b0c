/* Receipt (acuse): GET /api/v1/receipts/{folio}; shows what the JWS
 * payload says (the signed text, not the server's copy), the folio as a
 * QR code (vendored qrcode), and checks the ES256 signature in the browser
 * with WebCrypto against GET /.well-known/jwks.json. A pasted JWS can be
 * checked too, with no session. */
"use strict";
(function () {
  const $ = Enr.$;
  let jws = null;
  let payload = null;

  function b64urlBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function b64urlJson(s) { return JSON.parse(new TextDecoder().decode(b64urlBytes(s))); }

  /* "valid" | "invalid" | {nokey: kid} */
  async function verify(token) {
    const parts = String(token).trim().split(".");
    if (parts.length !== 3) return "invalid";
    let header;
    try { header = b64urlJson(parts[0]); b64urlJson(parts[1]); } catch (e) { return "invalid"; }
    if (header.alg !== "ES256") return "invalid";
    const r = await huellaApi("GET", "/.well-known/jwks.json");
    const keys = (r.ok && r.data && r.data.keys) || [];
    const jwk = keys.find((k) => k.kid === header.kid && k.kty === "EC" && k.crv === "P-256");
    if (!jwk) return { nokey: header.kid || "?" };
    try {
      const key = await crypto.subtle.importKey("jwk",
        { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, ext: true },
        { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
      const sig = b64urlBytes(parts[2]);
      if (sig.length !== 64) return "invalid";
      const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, sig,
        new TextEncoder().encode(`${parts[0]}.${parts[1]}`));
      return ok ? "valid" : "invalid";
    } catch (e) {
      return "invalid";
    }
  }

  async function showVerdict(token) {
    const box = $("verdict");
    box.textContent = "";
    box.appendChild(Enr.el("p", { i18n: "verify_running" }));
    const v = await verify(token);
    box.textContent = "";
    if (v === "valid") box.appendChild(Enr.flag("ok", "verify_ok"));
    else if (v === "invalid") box.appendChild(Enr.flag("red", "verify_bad"));
    else box.appendChild(Enr.flag("red", "verify_nokey", { kid: v.nokey }));
    box.firstChild.classList.add("verdict");
    box.firstChild.id = "verdict-flag";
    box.firstChild.dataset.verdict = typeof v === "string" ? v : "nokey";
  }

  function drawQr(text) {
    const c = $("qr");
    c.setAttribute("role", "img");
    c.setAttribute("aria-label", huellaT("acu_qr", { folio: text }));
    if (!window.QRCode) return;
    const q = window.QRCode.create(text, { errorCorrectionLevel: "M" });
    const n = q.modules.size, margin = 2, cell = Math.floor(c.width / (n + 2 * margin));
    const off = Math.floor((c.width - cell * n) / 2);
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.fillStyle = "#000";
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        if (q.modules.get(y, x)) ctx.fillRect(off + x * cell, off + y * cell, cell, cell);
      }
    }
  }

  function render() {
    if (!payload) return;
    const p = payload;
    $("folio-h").textContent = p.folio || "";
    const dl = $("fields");
    dl.textContent = "";
    const row = (key, value, mono) => {
      if (value === undefined || value === null || value === "") return;
      dl.append(Enr.el("dt", { i18n: key }),
        value instanceof Node ? Enr.el("dd", {}, value) : Enr.el("dd", { class: mono ? "mono" : null, text: String(value) }));
    };
    row("acu_folio", p.folio, true);
    const tk = `type_${p.type}`;
    row("acu_type", HUELLA_STRINGS["es-MX"][tk] ? Enr.el("span", { i18n: tk }) : p.type);
    row("acu_curp", p.curp, true);
    row("acu_rfc", p.employer_rfc, true);
    row("acu_device", p.device || p.device_id, true);
    if (p.case_id) row("acu_case", p.case_id, true);
    if (p.decision) {
      const dk = `decision_${p.decision}`;
      row("acu_decision", HUELLA_STRINGS["es-MX"][dk] ? Enr.el("span", { i18n: dk }) : p.decision);
    }
    row("acu_time", p.iat ? Enr.date(p.iat) : null);
    row("acu_issuer", p.iss);
    if (p.face && p.face.sha256) row("acu_face", `${p.face.model || ""} · ${p.face.sha256}`, true);
    if (Array.isArray(p.missing) && p.missing.length) {
      const ul = Enr.el("ul", { class: "digests" });
      p.missing.forEach((m) => ul.appendChild(Enr.el("li", {},
        Enr.el("span", { i18n: `finger_${m.position}` }), ` (${m.position}): `,
        HUELLA_STRINGS["es-MX"][`reason_${m.reason}`] ? Enr.el("span", { i18n: `reason_${m.reason}` })
                                                     : Enr.el("span", { text: m.reason }))));
      row("acu_missing", ul);
    }
    const list = $("digests");
    list.textContent = "";
    const t = Array.isArray(p.template_sha256) ? p.template_sha256 : [];
    t.forEach((d) => list.appendChild(Enr.el("li", {},
      Enr.el("strong", {}, Enr.el("span", { i18n: `finger_${d.position}` }), ` (${d.position})`),
      Enr.el("br", {}), Enr.el("span", { class: "mono", text: d.sha256 }))));
    $("digests-box").hidden = t.length === 0;
    drawQr(p.folio || "");
  }

  async function start() {
    const folio = new URLSearchParams(location.search).get("folio");
    if (!folio) { huellaMessage($("page-msg"), "acu_need_folio", null, "info"); return; }
    $("loading").hidden = false;
    const r = await huellaApi("GET", `/api/v1/receipts/${encodeURIComponent(folio)}`);
    $("loading").hidden = true;
    if (r.status === 401) {
      HuellaSession.clear();
      location.replace("/login.html?return=" + encodeURIComponent(location.pathname + location.search));
      return;
    }
    if (!r.ok || !r.data) { Enr.error($("page-msg"), r.error); return; }
    // The header's name, when the receipt came with a session.
    huellaApi("GET", "/api/v1/me").then((m) => { if (m.ok && m.data) HuellaSession.save(m.data); });
    jws = r.data.receipt;
    $("jws-text").textContent = jws;
    try { payload = b64urlJson(String(jws).split(".")[1]); }
    catch (e) { payload = r.data.payload || { folio }; }
    render();
    $("receipt").hidden = false;
    await showVerdict(jws);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("print").addEventListener("click", () => window.print());
    $("form-jws").addEventListener("submit", async (e) => {
      e.preventDefault();
      await showVerdict($("jws").value);
    });
    document.addEventListener("huella:lang", render);
    start();
  });
})();
