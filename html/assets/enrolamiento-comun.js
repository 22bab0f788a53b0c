/* Shared by the employer enrollment pages: the session with its roles,
 * small DOM builders, the worker card with its red flag, the confirmation
 * dialog and dates. Loaded after i18n.js, i18n-enrolamiento.js and api.js. */
"use strict";

const Enr = {
  $(id) { return document.getElementById(id); },

  /* el("p", {class: "x", i18n: "key", vars: {...}}, children...) */
  el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "i18n") huellaSetText(e, v, attrs.vars);
      else if (k === "vars") continue;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids) {
      if (c === null || c === undefined || c === false) continue;
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return e;
  },

  /* The caller (GET /api/v1/me); without a session, to the login page
   * which brings the user back. Resolves null after redirecting. */
  async me(returnPath) {
    const r = await huellaApi("GET", "/api/v1/me");
    if (r.status === 401) {
      HuellaSession.clear();
      location.replace("/login.html?return=" + encodeURIComponent(returnPath));
      return null;
    }
    if (!r.ok || !r.data) return { error: r.error };
    HuellaSession.save(r.data);
    // The sub-navigation offers only the pages this role can use.
    document.querySelectorAll(".subnav li[data-roles]").forEach((li) => {
      li.hidden = !Enr.hasRole(r.data, ...li.dataset.roles.split(" "));
    });
    return r.data;
  },

  hasRole(me, ...roles) {
    return !!me && (me.roles || []).some((r) => roles.includes(r));
  },

  /* epoch seconds or an ISO string, in the page's language and the
   * institution's time zone. */
  date(v) {
    if (v === null || v === undefined || v === "") return "—";
    const d = typeof v === "number" ? new Date(v * 1000) : new Date(v);
    if (Number.isNaN(d.getTime())) return String(v);
    return d.toLocaleString(huellaLang() === "en" ? "en-US" : "es-MX",
      { dateStyle: "medium", timeStyle: "short", timeZone: HUELLA_TZ });
  },

  fingerName(p) { return huellaT(`finger_${p}`); },

  /* "CURP" for 18 characters, "NSS" for 11 digits, else null. */
  kind(q) {
    q = q.trim().toUpperCase();
    if (/^[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z0-9]\d$/.test(q)) return { curp: q };
    if (/^\d{11}$/.test(q)) return { nss: q };
    return null;
  },

  async lookup(q) {
    const k = Enr.kind(q);
    if (!k) return { ok: false, error: { code: "search_invalid" } };
    const qs = k.curp ? `curp=${encodeURIComponent(k.curp)}`
                      : `nss=${encodeURIComponent(k.nss)}`;
    return huellaApi("GET", `/api/v1/subjects?${qs}`);
  },

  /* A flag box: icon (hidden from screen readers) plus a sentence. */
  flag(kind, key, vars) {
    const icon = { red: "!", warn: "!", ok: "✓" }[kind];
    return Enr.el("div", { class: `flag flag-${kind}`, "data-flag": key },
      Enr.el("span", { class: "flag-icon", "aria-hidden": "true", text: icon }),
      Enr.el("span", { i18n: key, vars }));
  },

  /* The worker as GET /api/v1/subjects describes them. */
  workerCard(w) {
    const b = w.biometrics || {};
    const flags = w.flags || [];
    const none = w.red_flag === true || flags.includes("no_biometrics") ||
                 b.status === "none";
    const frag = document.createDocumentFragment();
    const statusKey = `bio_${b.status || "none"}`;
    const dl = Enr.el("dl", { class: "details" },
      Enr.el("dt", { i18n: "w_name" }), Enr.el("dd", { id: "w-name", text: w.name || "—" }),
      Enr.el("dt", { i18n: "w_curp" }), Enr.el("dd", { class: "mono", text: w.curp || "—" }),
      Enr.el("dt", { i18n: "w_nss" }), Enr.el("dd", { class: "mono", text: w.nss || "—" }),
      Enr.el("dt", { i18n: "w_employer" }),
      w.employer_rfc ? Enr.el("dd", { class: "mono", text: w.employer_rfc })
                     : Enr.el("dd", { i18n: "w_no_employer" }),
      Enr.el("dt", { i18n: "w_bio" }),
      Enr.el("dd", { id: "w-bio", i18n: HUELLA_STRINGS["es-MX"][statusKey] ? statusKey : "bio_none" }));
    if (b.fingers_enrolled) {
      dl.append(Enr.el("dt", { i18n: "review_fingers" }),
        Enr.el("dd", { i18n: b.fingers_enrolled === 1 ? "w_fingers_one" : "w_fingers",
          vars: { n: b.fingers_enrolled,
          list: (b.finger_positions || []).join(", ") } }));
    }
    if (b.face) {
      dl.append(Enr.el("dt", { i18n: "review_face" }), Enr.el("dd", { i18n: "w_face" }));
    }
    if (w.folio) {
      dl.append(Enr.el("dt", { i18n: "w_folio" }), Enr.el("dd", {},
        Enr.el("a", { href: `/acuse.html?folio=${encodeURIComponent(w.folio)}`,
                      class: "mono", text: w.folio })));
    }
    if (none) frag.appendChild(Enr.flag("red", "flag_none"));
    if (flags.includes("dedup_pending")) frag.appendChild(Enr.flag("warn", "flag_dedup"));
    if (flags.includes("dedup_queued")) frag.appendChild(Enr.flag("warn", "flag_queued"));
    if (flags.includes("duplicate_confirmed") || b.status === "duplicate_confirmed") {
      frag.appendChild(Enr.flag("red", "flag_dup"));
    }
    if (flags.includes("exception")) frag.appendChild(Enr.flag("warn", "flag_exception"));
    if (!none && !flags.length && b.status === "enrolled") {
      frag.appendChild(Enr.flag("ok", "bio_enrolled"));
    }
    frag.appendChild(dl);
    return { node: frag, none };
  },

  /* A modal confirmation (<dialog>): resolves true or false. */
  confirm(key, vars, danger) {
    return new Promise((resolve) => {
      let d = Enr.$("enr-confirm");
      if (d) d.remove();
      const yes = Enr.el("button", { type: "button", class: `btn${danger ? " btn-danger" : ""}`,
                                     i18n: "confirm_yes" });
      const no = Enr.el("button", { type: "button", class: "btn btn-secondary", i18n: "cancel" });
      d = Enr.el("dialog", { id: "enr-confirm", "aria-labelledby": "enr-confirm-h",
                             "aria-describedby": "enr-confirm-p" },
        Enr.el("h2", { id: "enr-confirm-h", i18n: "confirm_h" }),
        Enr.el("p", { id: "enr-confirm-p", i18n: key, vars }),
        Enr.el("div", { class: "actions" }, yes, no));
      document.body.appendChild(d);
      const done = (v) => { d.close(); d.remove(); resolve(v); };
      yes.addEventListener("click", () => done(true));
      no.addEventListener("click", () => done(false));
      d.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
      d.showModal();
      no.focus();
    });
  },

  /* A lookup the server refused for the CURP or NSS itself (check digit,
   * birth date, state code...): the reason beside the search field, as
   * the registration form gives it. False for any other error. */
  searchFieldError(q, err) {
    if (!err || !["curp", "nss"].includes(err.field)) return false;
    const reason = String(err.message || "").trim();
    if (HUELLA_REASONS_ES[reason]) huellaFieldError(q, null, null, reason);
    else huellaFieldError(q, huellaErrorKey(err.code), huellaErrorVars(err));
    q.focus();
    return true;
  },

  /* An error's sentence into a message box. */
  error(box, err) {
    if (err && err.code === "search_invalid") { huellaMessage(box, "search_invalid"); return; }
    if (err && (err.code === "forbidden" || err.code === "http_403") && !HUELLA_STRINGS["es-MX"][`err_${err.code}`]) {
      huellaMessage(box, "err_forbidden"); return;
    }
    const key = huellaErrorKey(err && err.code);
    huellaMessage(box, key, huellaErrorVars(err));
    if (key === "err_generic" && err && err.message) {
      box.appendChild(Enr.el("p", { class: "mono", text: err.message }));
    }
  },

  /* Marks the current page's link in the sub-navigation. */
  subnav() {
    document.querySelectorAll(".subnav a").forEach((a) => {
      if (a.getAttribute("href") === location.pathname) a.setAttribute("aria-current", "page");
    });
  },
};

document.addEventListener("DOMContentLoaded", () => Enr.subnav());
