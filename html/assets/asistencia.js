/* Shared helpers of the attendance pages (docs/attendance.md):
 * the institution's calendar (America/Mexico_City), labels of statuses,
 * incidents and states, the session gate and the attendance sub-menu. */
"use strict";
const HuellaAtt = (function () {
  const TZ = HUELLA_TZ;
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  };

  /* YYYY-MM-DD of "now" in the institution's time zone. */
  function today(tz) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: tz || TZ, year: "numeric",
      month: "2-digit", day: "2-digit" }).format(new Date());
  }
  function parseDate(s) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || "");
    return m ? { y: +m[1], m: +m[2], d: +m[3] } : null;
  }
  function iso(y, m, d) {
    return `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
  }
  function daysInMonth(y, m) { return new Date(Date.UTC(y, m, 0)).getUTCDate(); }
  /* Weekday 0=Sunday of a YYYY-MM-DD (calendar arithmetic, no zone). */
  function weekday(s) {
    const p = parseDate(s);
    return new Date(Date.UTC(p.y, p.m - 1, p.d)).getUTCDay();
  }
  function monthRange(ym) {
    const [y, m] = ym.split("-").map(Number);
    return { from: iso(y, m, 1), to: iso(y, m, daysInMonth(y, m)) };
  }
  function addMonths(ym, n) {
    let [y, m] = ym.split("-").map(Number);
    m += n;
    while (m < 1) { m += 12; y--; }
    while (m > 12) { m -= 12; y++; }
    return `${y}-${String(m).padStart(2, "0")}`;
  }
  function locale() { return huellaLang() === "en" ? "en-US" : "es-MX"; }
  /* "lun 3 mar 2025" in the page's language (the date is a calendar day). */
  function fmtDate(s, opts) {
    const p = parseDate(s);
    if (!p) return s || "—";
    return new Intl.DateTimeFormat(locale(), Object.assign({ timeZone: "UTC",
      weekday: "short", day: "numeric", month: "short", year: "numeric" }, opts || {}))
      .format(new Date(Date.UTC(p.y, p.m - 1, p.d)));
  }
  function fmtMonth(ym) {
    const [y, m] = ym.split("-").map(Number);
    return new Intl.DateTimeFormat(locale(), { timeZone: "UTC", month: "long", year: "numeric" })
      .format(new Date(Date.UTC(y, m - 1, 1)));
  }
  /* HH:MM of an ISO 8601 time with the institution's offset (as sent). */
  function fmtTime(at) {
    const m = /T(\d{2}:\d{2})/.exec(at || "");
    return m ? m[1] : "—";
  }
  function fmtStamp(at) {
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(at || "");
    return m ? `${fmtDate(m[1], { weekday: undefined })} ${m[2]}` : (at || "—");
  }
  /* The institution's label of a reason or shift (o[key], key "label" by
   * default; a justification's is "reason_label") in the page's language:
   * o[key + "_en"] when the page is in English, o[key] otherwise. huellad
   * sends both, the English one equal to the Spanish when none was
   * configured; an answer without it falls back to the Spanish. Pages call
   * it when they draw, so a language switch redraws it. */
  function localLabel(o, key) {
    if (!o) return "";
    const k = key || "label";
    return (huellaLang() === "en" && o[`${k}_en`]) || o[k] || "";
  }
  function label(prefix, code) {
    const key = `${prefix}${code}`;
    return HUELLA_STRINGS["es-MX"][key] ? huellaT(key) : String(code || "—");
  }
  const status = (c) => label("att_st_", c);
  const kind = (c) => label("att_kind_", c);
  const incident = (c) => (c ? label("att_inc_", c) : huellaT("att_inc_day"));
  const state = (c) => label("att_state_", c);
  /* In a table cell: "Todo el día" for a whole-day justification. */
  const incidentCell = (c) => (c ? label("att_inc_", c) : huellaT("jus_whole_day"));
  /* <select> of months (YYYY-MM, newest first): two years back to next
   * month, plus `selected` if it lies outside. */
  function monthSelect(sel, selected) {
    const now = today().slice(0, 7);
    const list = [];
    for (let i = 1; i >= -24; i--) list.push(addMonths(now, i));
    if (selected && !list.includes(selected)) list.push(selected);
    list.sort().reverse();
    while (sel.options.length) sel.remove(0);
    list.forEach((ym) => {
      const o = document.createElement("option");
      o.value = ym;
      const t = fmtMonth(ym);
      o.textContent = t.charAt(0).toUpperCase() + t.slice(1);
      sel.appendChild(o);
    });
    sel.value = selected || now;
  }
  /* A coloured badge that also says its meaning in words. */
  function badge(text, tone) {
    return el("span", `badge badge-${tone || "neutral"}`, text);
  }
  function stateTone(s) {
    return { justificada: "ok", approved: "ok", rechazada: "bad", rejected: "bad",
             pendiente: "warn", pending: "warn" }[s] || "neutral";
  }
  function statusTone(s) {
    return { a_tiempo: "ok", retardo: "warn", falta: "bad", salida_anticipada: "warn",
             periodo_cerrado: "neutral", duplicada: "neutral", sin_turno: "neutral" }[s] || "neutral";
  }

  /* GET /api/v1/me or off to the login page (which brings the user back). */
  async function requireMe(returnPath) {
    const r = await huellaApi("GET", "/api/v1/me");
    if (r.status === 401 || r.status === 403) {
      HuellaSession.clear();
      location.replace("/login.html?return=" + encodeURIComponent(returnPath));
      return null;
    }
    if (r.ok && r.data) HuellaSession.save(r.data);
    return r.ok ? r.data : null;
  }
  function hasRole(me, ...roles) {
    return !!(me && (me.roles || []).some((r) => roles.includes(r)));
  }
  /* The attendance sub-menu: the supervision page only for supervisors. */
  function subnav(me) {
    const nav = document.getElementById("att-nav");
    if (!nav) return;
    nav.querySelectorAll("[data-role]").forEach((a) => {
      a.closest("li").hidden = !hasRole(me, ...a.dataset.role.split(","));
    });
    nav.querySelectorAll("a").forEach((a) => {
      if (a.getAttribute("href") === location.pathname) a.setAttribute("aria-current", "page");
    });
  }
  /* An error box for a failed API call: 404 means "not in this build". */
  function apiError(box, r) {
    if (r.status === 404 && (!r.error || /^http_/.test(r.error.code))) {
      huellaMessage(box, "att_not_available", null, "info");
    } else if (r.status === 403) {
      huellaMessage(box, "att_forbidden");
    } else {
      const err = r.error || { code: "?" };
      huellaMessage(box, huellaErrorKey(err.code), huellaErrorVars(err));
      if (huellaErrorKey(err.code) === "err_generic" && err.message) {
        const p = el("p", null, huellaReason(err.message));
        box.appendChild(p);
      }
    }
  }
  /* A <table> with a caption, header row and rows of cells (strings or
   * nodes); the first column as row headers when rowHeaders. */
  function table(caption, heads, rows, opts) {
    opts = opts || {};
    const wrap = el("div", "table-wrap");
    if (opts.scrollLabel) {
      wrap.tabIndex = 0;
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", caption);
    }
    const t = el("table", `data${opts.cls ? " " + opts.cls : ""}`);
    if (caption) {
      const c = el("caption", opts.captionHidden ? "visually-hidden" : null, caption);
      t.appendChild(c);
    }
    const thead = el("thead");
    const hr = el("tr");
    heads.forEach((h) => { const th = el("th", null, h); th.scope = "col"; hr.appendChild(th); });
    thead.appendChild(hr);
    t.appendChild(thead);
    const tb = el("tbody");
    rows.forEach((row) => {
      const tr = el("tr");
      row.forEach((cell, i) => {
        const td = el(i === 0 && opts.rowHeaders ? "th" : "td");
        if (i === 0 && opts.rowHeaders) td.scope = "row";
        if (cell instanceof Node) td.appendChild(cell);
        else td.textContent = cell === undefined || cell === null ? "—" : String(cell);
        if (typeof cell === "number") td.className = "num";
        if (i > 0 && heads[i]) td.dataset.label = heads[i];
        tr.appendChild(td);
      });
      tb.appendChild(tr);
    });
    t.appendChild(tb);
    wrap.appendChild(t);
    return wrap;
  }
  function clear(node) { while (node && node.firstChild) node.removeChild(node.firstChild); }
  function query(name) { return new URLSearchParams(location.search).get(name); }

  return { TZ, el, today, parseDate, iso, daysInMonth, weekday, monthRange, addMonths,
           fmtDate, fmtMonth, fmtTime, fmtStamp, status, kind, incident, state, badge,
           stateTone, statusTone, incidentCell, monthSelect, requireMe, hasRole, subnav, apiError, table, clear,
           query, locale, localLabel };
})();
