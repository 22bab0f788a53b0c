/* Mis registros: GET /api/v1/me/attendance?from&to (a month), drawn as a
 * calendar and a table; the person's justifications
 * (GET /api/v1/justifications?scope=mine) and notices
 * (GET /api/v1/notifications). "Justificar" opens justificar.html. */
"use strict";
(function () {
  const A = HuellaAtt;
  const $ = (id) => document.getElementById(id);
  let doc = null, history = null, notices = null, shifts = new Map();

  /* A day names its shift; the rules give its labels (by language). */
  function shiftLabel(s) {
    if (!s) return null;
    if (typeof s === "string") s = shifts.get(s) || { name: s };
    return A.localLabel(s) || (s.start && s.end ? `${s.start}–${s.end}` : s.name) || null;
  }
  function dayTone(d) {
    const inc = d.incidents || [];
    if (inc.some((i) => i.state !== "justificada")) return "incident";
    if (inc.length) return "justified";
    if (!d.scheduled || d.holiday) return "off";
    return d.worked ? "ok" : "none";
  }
  function dayWords(d) {
    const inc = d.incidents || [];
    if (inc.length) {
      return inc.map((i) => `${A.incident(i.kind)} (${A.state(i.state)})`).join(", ");
    }
    if (d.holiday) return huellaT("att_holiday");
    if (!d.scheduled) return huellaT("att_rest");
    if (d.worked) return huellaT("reg_day_ok");
    return "";
  }

  function justifyLink(d, inc) {
    const a = A.el("a", "btn btn-small", huellaT("att_justify"));
    const q = new URLSearchParams({ date: d.date });
    if (inc && inc.kind) q.set("incident", inc.kind);
    a.href = `/justificar.html?${q}`;
    a.setAttribute("aria-label", huellaT("att_justify_label",
      { what: A.incident(inc && inc.kind).toLowerCase(), date: A.fmtDate(d.date) }));
    return a;
  }

  function renderCalendar() {
    const box = $("calendar");
    A.clear(box);
    const ym = $("month").value;
    const { from, to } = A.monthRange(ym);
    const byDate = new Map((doc.days || []).map((d) => [d.date, d]));
    const names = huellaT("att_weekdays").split(",");
    const longNames = huellaT("att_weekdays_long").split(",");
    const order = [1, 2, 3, 4, 5, 6, 0];           // Monday first (Mexico)
    const t = A.el("table", "calendar");
    t.appendChild(A.el("caption", "visually-hidden", huellaT("reg_cal_caption", { month: A.fmtMonth(ym) })));
    const hr = A.el("tr");
    order.forEach((w) => {
      const th = A.el("th", null, names[w]);
      th.scope = "col";
      th.setAttribute("abbr", longNames[w]);
      hr.appendChild(th);
    });
    const thead = A.el("thead"); thead.appendChild(hr); t.appendChild(thead);
    const tb = A.el("tbody");
    const last = A.parseDate(to).d;
    let tr = A.el("tr");
    const lead = order.indexOf(A.weekday(from));
    for (let i = 0; i < lead; i++) tr.appendChild(A.el("td", "pad"));
    for (let day = 1; day <= last; day++) {
      const date = A.iso(...ym.split("-").map(Number), day);
      const d = byDate.get(date);
      const td = A.el("td", `day day-${d ? dayTone(d) : "none"}`);
      if (date === A.today()) td.setAttribute("aria-current", "date");
      td.appendChild(A.el("span", "day-n", String(day)));
      if (d) {
        const words = dayWords(d);
        if ((d.entries || []).length) {
          td.appendChild(A.el("span", "day-t", A.fmtTime(d.entries[0]) +
            ((d.exits || []).length ? `–${A.fmtTime(d.exits[d.exits.length - 1])}` : "")));
        }
        if (words) td.appendChild(A.el("span", "day-w", words));
      }
      tr.appendChild(td);
      if (tr.children.length === 7) { tb.appendChild(tr); tr = A.el("tr"); }
    }
    if (tr.children.length) {
      while (tr.children.length < 7) tr.appendChild(A.el("td", "pad"));
      tb.appendChild(tr);
    }
    t.appendChild(tb);
    const wrap = A.el("div", "table-wrap");
    wrap.appendChild(t);
    box.appendChild(wrap);
  }

  function renderDays() {
    const box = $("days");
    A.clear(box);
    const today = A.today();
    const days = (doc.days || []).filter((d) => (d.date <= today && d.scheduled) ||
      (d.punches || []).length || (d.incidents || []).length);
    if (!days.length) { box.appendChild(A.el("p", null, huellaT("att_no_days"))); return; }
    const rows = days.map((d) => {
      const shift = A.el("span", null, d.holiday ? huellaT("att_holiday")
        : (shiftLabel(d.shift) || huellaT(d.scheduled ? "att_none" : "att_rest")));
      if (d.frozen) { shift.appendChild(document.createTextNode(" ")); shift.appendChild(A.badge(huellaT("att_frozen"), "neutral")); }
      const punches = (d.punches || []);
      const times = (list, kind) => {
        const ul = A.el("ul", "plain");
        const fromPunches = punches.filter((p) => p.kind === kind);
        const src = fromPunches.length ? fromPunches : (list || []).map((at) => ({ at }));
        src.forEach((p) => {
          const li = A.el("li", null, A.fmtTime(p.at));
          if (p.status && p.status !== "a_tiempo") {
            li.appendChild(document.createTextNode(" "));
            li.appendChild(A.badge(A.status(p.status), A.statusTone(p.status)));
          }
          ul.appendChild(li);
        });
        if (!src.length) ul.appendChild(A.el("li", null, "—"));
        return ul;
      };
      const incs = A.el("ul", "plain incidents");
      (d.incidents || []).forEach((i) => {
        const li = A.el("li");
        li.appendChild(document.createTextNode(A.incident(i.kind) +
          (i.minutes ? ` (${huellaT("att_minutes", { n: i.minutes })})` : "") + " "));
        li.appendChild(A.badge(A.state(i.state), A.stateTone(i.state)));
        if (i.state !== "justificada") {
          const pending = (d.justifications || []).some((j) => j.state === "pendiente" &&
            (!j.incident || j.incident === i.kind));
          if (!pending) { li.appendChild(document.createTextNode(" ")); li.appendChild(justifyLink(d, i)); }
        }
        incs.appendChild(li);
      });
      if (!(d.incidents || []).length) incs.appendChild(A.el("li", null, "—"));
      return [A.fmtDate(d.date), shift, times(d.entries, "entrada"), times(d.exits, "salida"), incs];
    });
    box.appendChild(A.table(huellaT("reg_table"),
      [huellaT("att_date"), huellaT("att_shift"), huellaT("att_entries"), huellaT("att_exits"),
       huellaT("att_incidents")], rows, { rowHeaders: true, captionHidden: true, cls: "days" }));
  }

  function renderHistory() {
    const box = $("history");
    A.clear(box);
    if (!history) return;
    if (!history.length) { box.appendChild(A.el("p", null, huellaT("reg_history_empty"))); return; }
    const rows = history.map((j) => {
      const st = A.el("span");
      st.appendChild(A.badge(A.state(j.state), A.stateTone(j.state)));
      if (j.comment) st.appendChild(A.el("span", "comment", `“${j.comment}”`));
      return [A.fmtDate(j.date), A.incidentCell(j.incident), A.localLabel(j, "reason_label") || j.reason,
              j.folio || j.id, st];
    });
    box.appendChild(A.table(huellaT("reg_history"),
      [huellaT("att_date"), huellaT("reg_incident_for"), huellaT("reg_reason"),
       huellaT("reg_folio"), huellaT("att_state")], rows, { rowHeaders: true, captionHidden: true, cls: "stack" }));
  }

  function renderNotices() {
    const ul = $("notifications");
    A.clear(ul);
    if (!notices) return;
    if (!notices.length) { ul.appendChild(A.el("li", null, huellaT("reg_notifications_empty"))); return; }
    notices.slice(0, 20).forEach((n) => {
      const li = A.el("li");
      const key = `notif_${n.kind}`;
      const text = HUELLA_STRINGS["es-MX"][key]
        ? huellaT(key, { who: n.name || n.curp, date: A.fmtDate(n.date), state: A.state(n.state).toLowerCase() })
        : `${n.kind} ${n.date || ""}`;
      li.appendChild(A.el("span", "notice-time", A.fmtStamp(n.time)));
      li.appendChild(A.el("span", null, text));
      ul.appendChild(li);
    });
  }

  function render() {
    if (doc) { renderCalendar(); renderDays(); }
    renderHistory();
    renderNotices();
  }

  async function load() {
    const ym = $("month").value;
    const { from, to } = A.monthRange(ym);
    const qs = new URLSearchParams(location.search);
    qs.set("mes", ym);
    window.history.replaceState(null, "", `${location.pathname}?${qs}`);
    $("loading").hidden = false;
    huellaMessage($("page-msg"), null);
    const [att, jus, nots, rules] = await Promise.all([
      huellaApi("GET", `/api/v1/me/attendance?from=${from}&to=${to}`),
      huellaApi("GET", "/api/v1/justifications?scope=mine"),
      huellaApi("GET", "/api/v1/notifications"),
      shifts.size ? null : huellaApi("GET", "/api/v1/attendance/rules"),
    ]);
    if (rules && rules.ok && rules.data) {
      (rules.data.shifts || []).forEach((s) => { if (s.name) shifts.set(s.name, s); });
    }
    $("loading").hidden = true;
    if (att.status === 401) { await A.requireMe(location.pathname + location.search); return; }
    if (att.ok && att.data) {
      doc = att.data;
      $("cal-card").hidden = false;
      $("table-card").hidden = false;
    } else {
      doc = null;
      $("cal-card").hidden = true;
      $("table-card").hidden = true;
      A.apiError($("page-msg"), att);
    }
    history = jus.ok && jus.data ? (jus.data.justifications || []) : [];
    notices = nots.ok && nots.data ? (nots.data.notifications || []) : [];
    render();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const me = await A.requireMe(location.pathname + location.search);
    if (!me) return;
    A.subnav(me);
    const q = A.query("mes");
    A.monthSelect($("month"), /^\d{4}-\d{2}$/.test(q || "") ? q : A.today().slice(0, 7));
    $("period").addEventListener("submit", (e) => { e.preventDefault(); if ($("month").value) load(); });
    $("prev").addEventListener("click", () => { A.monthSelect($("month"), A.addMonths($("month").value, -1)); load(); });
    $("next").addEventListener("click", () => { A.monthSelect($("month"), A.addMonths($("month").value, 1)); load(); });
    $("month").addEventListener("change", load);
    document.addEventListener("huella:lang", () => { A.monthSelect($("month"), $("month").value); render(); });
    load();
  });
})();
