/* Huella portal: the HTTP API from the pages (docs/identity-api.md), the
 * session the page knows about, and the shared header.
 *
 * huellaApi(method, path, body) always resolves, never throws:
 *   {ok, status, data, error: {code, message, field, attempts_left,
 *    retry_after} | null, headers}
 * A network failure is status 0 with code "network_error".  Unsafe methods
 * carry X-CSRF-Token when the page holds the session's token.
 * opts: {csrf: false, raw: true (body is a string sent as is),
 *        headers: {extra request headers}}. */
"use strict";

/* Mirrors identity.password_min_chars of config/huella.yaml (NIST SP
 * 800-63B rev 4: 15 when the password is the only factor). The server
 * decides; this only drives the hint and the counter. */
const HUELLA_PASSWORD_MIN = 15;

const HuellaSession = {
  KEY: "huella.session",
  get() {
    try { return JSON.parse(sessionStorage.getItem(this.KEY) || "null"); }
    catch (e) { return null; }
  },
  /* Keeps what the header needs and the CSRF token; never a password. */
  save(d) {
    const prev = this.get() || {};
    const s = {
      name: d.name !== undefined ? d.name : prev.name,
      curp: d.curp !== undefined ? d.curp : prev.curp,
      csrf: d.csrf_token !== undefined ? d.csrf_token : prev.csrf,
    };
    sessionStorage.setItem(this.KEY, JSON.stringify(s));
    huellaHeader();
  },
  clear() {
    sessionStorage.removeItem(this.KEY);
    huellaHeader();
  },
  csrf() {
    const s = this.get();
    return s && s.csrf ? s.csrf : "";
  },
};

async function huellaApi(method, path, body, opts) {
  opts = opts || {};
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin",
                 cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    // opts.raw: the body is already the exact JSON text to send (a signed
    // capture: its Content-Digest covers these bytes).
    init.body = opts.raw ? String(body) : JSON.stringify(body);
  }
  if (opts.headers) Object.assign(headers, opts.headers);
  const unsafe = !["GET", "HEAD", "OPTIONS"].includes(method);
  if (unsafe && opts.csrf !== false) {
    const t = HuellaSession.csrf();
    if (t) headers["X-CSRF-Token"] = t;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    return { ok: false, status: 0, data: null, headers: null,
             error: { code: "network_error", message: String(e) } };
  }
  let data = null;
  const type = res.headers.get("Content-Type") || "";
  if (res.status !== 204 && /json/i.test(type)) {
    try { data = await res.json(); } catch (e) { data = null; }
  }
  let error = null;
  if (!res.ok) {
    const e = (data && typeof data.error === "object" && data.error) || {};
    error = {
      code: e.code || `http_${res.status}`,
      message: e.message || "",
      field: e.field || null,
    };
    // Extra numbers may sit inside "error" or beside it.
    for (const k of ["attempts_left", "retry_after"]) {
      const v = e[k] !== undefined ? e[k] : data && data[k];
      if (v !== undefined && v !== null && !Number.isNaN(Number(v))) {
        error[k] = Number(v);
      }
    }
    const ra = res.headers.get("Retry-After");
    if (error.retry_after === undefined && ra && /^\d+$/.test(ra.trim())) {
      error.retry_after = Number(ra.trim());
    }
  }
  return { ok: res.ok, status: res.status, data, error, headers: res.headers };
}

/* The i18n key for an error code (codes the pages know get their own
 * sentence; others a generic one). */
function huellaErrorKey(code) {
  if (!code) return "err_generic";
  // No session any more (revoked by a logout elsewhere or a password
  // change, or its cookie gone): say so, "try again" would not help.
  if (code === "unauthenticated") return "err_session_expired";
  if (/^(recovery_)?token_(invalid|expired)$/.test(code) ||
      code === "recovery_token_expired") return "err_recovery_token_invalid";
  if (/^matcher_(unavailable|timeout|busy)$/.test(code) || code === "http_502" ||
      code === "http_503" || code === "http_504") return "err_matcher_unavailable";
  const key = `err_${code}`;
  return HUELLA_STRINGS["es-MX"][key] ? key : "err_generic";
}

function huellaErrorVars(error) {
  return { code: (error && error.code) || "?", min: HUELLA_PASSWORD_MIN };
}

/* A `?return=` value is followed only when it is a path on this site:
 * one leading "/", not "//" or "/\", no scheme, no control characters. */
function huellaSafeReturn(value) {
  if (typeof value !== "string" || value.length > 2000) return null;
  if (!/^\/(?![/\\])/.test(value)) return null;
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return null;
  let u;
  try { u = new URL(value, location.origin); } catch (e) { return null; }
  if (u.origin !== location.origin) return null;
  return u.pathname + u.search + u.hash;
}

/* Time left as m:ss or h:mm:ss. */
function huellaClock(seconds) {
  seconds = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/* Marks a field as wrong (or right again): aria-invalid plus a message in
 * the field's error element (#<id>-error, listed in aria-describedby). */
function huellaFieldError(input, key, vars, rawText) {
  const err = document.getElementById(`${input.id}-error`);
  if (!key && !rawText) {
    input.removeAttribute("aria-invalid");
    if (err) {
      err.textContent = ""; err.hidden = true;
      delete err.dataset.i18n; delete err.dataset.i18nReason;
    }
    return;
  }
  input.setAttribute("aria-invalid", "true");
  if (err) {
    delete err.dataset.i18nReason;
    if (key) huellaSetText(err, key, vars);
    else {
      // A server sentence: translated when known, redrawn on a switch.
      delete err.dataset.i18n;
      err.dataset.i18nReason = rawText;
      err.textContent = huellaReason(rawText);
    }
    err.hidden = false;
  }
}

/* A server error on a field: our sentence for a known code, else the
 * server's own message. */
function huellaServerFieldError(input, error) {
  const key = huellaErrorKey(error.code);
  if (key === "err_generic" && error.message) {
    huellaFieldError(input, null, null, error.message);
  } else {
    huellaFieldError(input, key, huellaErrorVars(error));
  }
}

/* A message box (role=alert or status) with one i18n string, or cleared. */
function huellaMessage(box, key, vars, kind) {
  if (!box) return;
  if (!key) { box.hidden = true; box.textContent = ""; return; }
  box.className = `msg msg-${kind || "error"}`;
  box.textContent = "";
  const p = document.createElement("p");
  huellaSetText(p, key, vars);
  box.appendChild(p);
  box.hidden = false;
}

async function huellaLogout() {
  if (!HuellaSession.csrf()) {
    const me = await huellaApi("GET", "/api/v1/me");
    if (me.ok && me.data) HuellaSession.save(me.data);
  }
  await huellaApi("DELETE", "/api/v1/session");
  HuellaSession.clear();
  location.assign("/login.html?logout=1");
}

/* Header: the user's name and "sign out" when this tab holds a session,
 * "sign in" otherwise. */
function huellaHeader() {
  const s = HuellaSession.get();
  const who = document.getElementById("who");
  const signin = document.getElementById("signin");
  if (!who) return;
  const name = document.getElementById("who-name");
  if (s && s.name) {
    name.textContent = s.name;
    who.hidden = false;
    if (signin) signin.hidden = true;
  } else {
    who.hidden = true;
    // No "sign in" link on the page that is the sign-in.
    if (signin) signin.hidden = location.pathname === "/login.html";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const out = document.getElementById("logout");
  if (out) {
    out.addEventListener("click", async () => {
      out.disabled = true;
      await huellaLogout();
    });
  }
  huellaHeader();
});
