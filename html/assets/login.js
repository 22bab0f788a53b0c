/* Login page: password tab and e.firma tab (docs/identity-api.md).
 * The e.firma .key is decrypted and used to sign in this page with
 * node-forge (html/vendor/forge.min.js); neither the key nor its password
 * is ever put in a request. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let lockTimer = null;
  let cert = null;           // {der, b64, info} of the chosen .cer

  function busy(btn, on) {
    btn.disabled = on;
    btn.setAttribute("aria-busy", String(on));
  }

  function afterLogin(data) {
    HuellaSession.save(data || {});
    const ret = huellaSafeReturn(
      new URLSearchParams(location.search).get("return"));
    location.assign(ret || "/perfil.html");
  }

  /* ---- tabs (APG: automatic activation, roving tabindex) ------------- */
  function setupTabs() {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    const select = (tab, focus) => {
      tabs.forEach((t) => {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        $(t.getAttribute("aria-controls")).hidden = !on;
      });
      if (focus) tab.focus();
      const hash = tab.id === "tab-efirma" ? "#efirma" : "";
      history.replaceState(null, "", location.pathname + location.search + hash);
    };
    tabs.forEach((t, i) => {
      t.addEventListener("click", () => select(t, true));
      t.addEventListener("keydown", (e) => {
        let j = null;
        if (e.key === "ArrowRight") j = (i + 1) % tabs.length;
        else if (e.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
        else if (e.key === "Home") j = 0;
        else if (e.key === "End") j = tabs.length - 1;
        if (j !== null) { e.preventDefault(); select(tabs[j], true); }
      });
    });
    if (location.hash === "#efirma") select($("tab-efirma"), false);
  }

  /* ---- messages ------------------------------------------------------ */
  function stopLock() {
    if (lockTimer) { clearInterval(lockTimer); lockTimer = null; }
  }

  function para(key, vars) {
    const p = document.createElement("p");
    huellaSetText(p, key, vars);
    return p;
  }

  function showError(box, err) {
    stopLock();
    box.className = "msg msg-error";
    box.textContent = "";
    box.appendChild(para(huellaErrorKey(err.code), huellaErrorVars(err)));
    if (err.code === "invalid_credentials" && err.attempts_left !== undefined) {
      const n = err.attempts_left;
      box.appendChild(para(n === 1 ? "attempts_left_one"
        : n <= 0 ? "attempts_left_zero" : "attempts_left_other", { n }));
    }
    if ((err.code === "account_locked" || err.code === "too_many_attempts") &&
        err.retry_after > 0) {
      const p = document.createElement("p");
      p.id = "lock-wait";
      const label = document.createElement("span");
      huellaSetText(label, "locked_wait");
      const t = document.createElement("span");
      t.className = "timer";
      t.id = "lock-timer";
      t.setAttribute("role", "timer");
      t.setAttribute("aria-live", "off");
      p.append(label, " ", t);
      box.appendChild(p);
      const end = Date.now() + err.retry_after * 1000;
      const tick = () => {
        const left = (end - Date.now()) / 1000;
        if (left <= 0) {
          stopLock();
          p.replaceWith(para("locked_over"));
          return;
        }
        t.textContent = huellaClock(left);
      };
      tick();
      lockTimer = setInterval(tick, 500);
    }
    box.hidden = false;
  }

  function clearBox(box) {
    stopLock();
    box.hidden = true;
    box.textContent = "";
  }

  /* ---- password ------------------------------------------------------ */
  async function onPassword(e) {
    e.preventDefault();
    const user = $("user"), pw = $("password"), box = $("pw-msg");
    const btn = $("pw-submit");
    clearBox(box);
    $("page-msg").hidden = true;
    huellaFieldError(user);
    huellaFieldError(pw);
    const u = user.value.trim();
    let first = null;
    if (!u) { huellaFieldError(user, "err_required"); first = first || user; }
    if (!pw.value) { huellaFieldError(pw, "err_required"); first = first || pw; }
    if (first) { first.focus(); return; }
    busy(btn, true);
    const r = await huellaApi("POST", "/api/v1/session",
                              { user: u, password: pw.value });
    busy(btn, false);
    if (r.ok) { afterLogin(r.data); return; }
    showError(box, r.error);
    if (r.error.code === "invalid_credentials") {
      pw.value = "";
      pw.focus();
    }
  }

  /* ---- e.firma ------------------------------------------------------- */
  function binaryOf(buf) {
    const u8 = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < u8.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    }
    return s;
  }

  /* DER as a forge binary string; PEM files are accepted too. */
  async function readDer(file) {
    const bin = binaryOf(await file.arrayBuffer());
    if (/^\s*-----BEGIN /.test(bin)) return forge.pem.decode(bin)[0].body;
    return bin;
  }

  function decryptKey(der, password) {
    const asn1 = forge.asn1.fromDer(der);
    let info = null;
    try {
      info = forge.pki.decryptPrivateKeyInfo(asn1,
        forge.util.encodeUtf8(password));
    } catch (e) { info = null; }
    if (!info) throw new Error("key_password_wrong");
    const key = forge.pki.privateKeyFromAsn1(info);
    if (!key || !key.n) throw new Error("key_password_wrong");
    return key;
  }

  function fmtDate(s) {
    const d = new Date(s);
    if (!s || Number.isNaN(d.getTime())) return s || "—";
    return d.toLocaleDateString(huellaLang(),
      { dateStyle: "long", timeZone: HUELLA_TZ });
  }

  /* The SAT writes its certificate numbers as ASCII digits: a serial of
   * hex "3330..." is shown as the 20 digits people know ("30001..."). */
  function serialText(hex) {
    if (!hex) return "—";
    const h = String(hex).replace(/[^0-9a-f]/gi, "");
    if (h.length && h.length % 2 === 0 && /^(3[0-9])+$/.test(h)) {
      return h.match(/../g).map((b) => String.fromCharCode(parseInt(b, 16))).join("");
    }
    return hex;
  }

  function showCert() {
    const box = $("cert-box");
    if (!cert) { box.hidden = true; return; }
    const i = cert.info;
    $("cert-name").textContent = i.name || "—";
    $("cert-rfc").textContent = i.rfc || "—";
    $("cert-rep-rfc").textContent = i.representative_rfc || "";
    $("cert-curp").textContent = i.curp || "";
    document.querySelectorAll(".opt-rep").forEach((el) => { el.hidden = !i.representative_rfc; });
    document.querySelectorAll(".opt-curp").forEach((el) => { el.hidden = !i.curp; });
    $("cert-valid").textContent = huellaT("cert_from_to",
      { from: fmtDate(i.not_before), to: fmtDate(i.not_after) });
    $("cert-serial").textContent = serialText(i.serial);
    $("cert-issuer").textContent = i.issuer || "—";
    const expired = i.expired === true;
    $("cert-expired").hidden = !expired;
    $("cert-expired-text").textContent = expired
      ? huellaT("cert_expired", { date: fmtDate(i.not_after) }) : "";
    $("cert-status").textContent = "";
    box.hidden = false;
  }

  /* forge comes from html/vendor/ (tools/vendor.sh): say so if missing. */
  function forgeReady() {
    if (typeof forge !== "undefined") return true;
    huellaMessage($("ef-msg"), "efirma_unavailable");
    return false;
  }

  async function onCer() {
    const input = $("cer"), box = $("ef-msg");
    if (!forgeReady()) return;
    cert = null;
    showCert();
    clearBox(box);
    huellaFieldError(input);
    const f = input.files && input.files[0];
    if (!f) return;
    let der;
    try {
      der = await readDer(f);
      forge.asn1.fromDer(der);
    } catch (e) {
      huellaFieldError(input, "cert_unreadable");
      return;
    }
    const b64 = forge.util.encode64(der);
    const r = await huellaApi("POST", "/api/v1/efirma/inspect",
                              { certificate: b64 });
    if (input.files[0] !== f) return;      // another file chosen meanwhile
    if (!r.ok) {
      if (r.status === 422 || r.status === 400) {
        huellaFieldError(input, "cert_unreadable");
      } else {
        showError(box, r.error);
      }
      return;
    }
    cert = { der, b64, info: r.data || {} };
    showCert();
  }

  async function onEfirma(e) {
    e.preventDefault();
    if (!forgeReady()) return;
    const cerIn = $("cer"), keyIn = $("key"), pass = $("key-password");
    const box = $("ef-msg"), btn = $("ef-submit");
    clearBox(box);
    [keyIn, pass].forEach((el) => huellaFieldError(el));
    let first = null;
    if (!cerIn.files || !cerIn.files[0]) {
      huellaFieldError(cerIn, "need_cer"); first = cerIn;
    } else if (!cert) {
      if (cerIn.getAttribute("aria-invalid") !== "true") await onCer();
      if (!cert) first = cerIn;
    }
    if (!keyIn.files || !keyIn.files[0]) {
      huellaFieldError(keyIn, "need_key"); first = first || keyIn;
    }
    if (!pass.value) {
      huellaFieldError(pass, "err_required"); first = first || pass;
    }
    if (first) { first.focus(); return; }

    busy(btn, true);
    try {
      let key;
      try {
        key = decryptKey(await readDer(keyIn.files[0]), pass.value);
      } catch (err) {
        huellaFieldError(pass, "key_password_wrong");
        pass.focus();
        return;
      }
      let certObj = null;
      try { certObj = forge.pki.certificateFromAsn1(forge.asn1.fromDer(cert.der)); }
      catch (err) { certObj = null; }    // the server checks it anyway
      if (certObj && certObj.publicKey && certObj.publicKey.n &&
          certObj.publicKey.n.compareTo(key.n) !== 0) {
        huellaFieldError(keyIn, "key_mismatch");
        keyIn.focus();
        return;
      }
      const ch = await huellaApi("POST", "/api/v1/session/efirma/challenge");
      if (!ch.ok || !ch.data || !ch.data.nonce) {
        showError(box, ch.error || { code: "bad_response" });
        return;
      }
      const md = forge.md.sha256.create();
      md.update(ch.data.nonce, "utf8");
      const signature = forge.util.encode64(key.sign(md));   // PKCS#1 v1.5
      key = null;
      const r = await huellaApi("POST", "/api/v1/session/efirma", {
        certificate: cert.b64, signature, nonce: ch.data.nonce });
      if (r.ok) { pass.value = ""; afterLogin(r.data); return; }
      showError(box, r.error);
    } finally {
      busy(btn, false);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupTabs();
    const q = new URLSearchParams(location.search);
    if (q.get("logout")) huellaMessage($("page-msg"), "logged_out", null, "ok");
    else if (q.get("return")) huellaMessage($("page-msg"), "session_needed", null, "info");
    $("form-password").addEventListener("submit", onPassword);
    $("show-password").addEventListener("change", (e) => {
      $("password").type = e.target.checked ? "text" : "password";
    });
    $("form-efirma").addEventListener("submit", onEfirma);
    $("cer").addEventListener("change", onCer);
    $("key").addEventListener("change", () => huellaFieldError($("key")));
    document.addEventListener("huella:lang", showCert);
  });
})();
