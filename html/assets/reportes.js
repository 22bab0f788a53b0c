/* Reportes: GET /api/v1/reports/attendance?from&to[&curp|&scope=team]
 * (summary per person, CSV with &format=csv) and the days of the period
 * (GET /api/v1/me/attendance or /api/v1/subjects/{curp}/attendance) for
 * the "attendance over time" chart.  Charts are inline SVG (charts.js),
 * each with its numbers in a table. */
"use strict";
(function () {
  const A = HuellaAtt;
  const $ = (id) => document.getElementById(id);
  const CURP_RE = /^[A-Z]{4}\d{6}[HMX][A-Z]{5}[0-9A-Z]\d$/;
  const MAX_PEOPLE = 40;            // team chart: days of at most this many
  let me = null, report = null, perDay = null;

  function params() {
    const q = new URLSearchParams({ from: $("from").value, to: $("to").value });
    const scope = $("scope").value;
    if (scope === "team") q.set("scope", "team");
    else if (scope === "person") q.set("curp", $("curp").value.trim().toUpperCase());
    return q;
  }
  function updateCsv() {
    const q = params();
    q.set("format", "csv");
    $("csv").href = `/api/v1/reports/attendance?${q}`;
  }

  function renderSummary() {
    const box = $("summary");
    A.clear(box);
    const people = (report && report.people) || [];
    if (!people.length) { box.appendChild(A.el("p", null, huellaT("rep_empty"))); return; }
    const cols = ["scheduled_days", "days_worked", "late_count", "late_minutes", "absences",
                  "early_exits", "missing_exits", "justified", "pending", "rejected"];
    const heads = [huellaT("att_person"), huellaT("rep_scheduled"), huellaT("rep_worked"),
      huellaT("rep_late"), huellaT("rep_late_min"), huellaT("rep_absences"), huellaT("rep_early"),
      huellaT("rep_missing"), huellaT("rep_justified"), huellaT("rep_pending"), huellaT("rep_rejected")];
    const rows = people.map((p) => [p.name || p.curp, ...cols.map((c) => Number(p[c] || 0))]);
    if (people.length > 1) {
      const t = report.totals || {};
      rows.push([huellaT("rep_total"), ...cols.map((c) => Number(t[c] !== undefined ? t[c]
        : people.reduce((s, p) => s + Number(p[c] || 0), 0)))]);
    }
    box.appendChild(A.table(huellaT("rep_summary"), heads, rows,
      { rowHeaders: true, captionHidden: true, scrollLabel: true, cls: "numbers stack" }));
  }

  function renderCharts() {
    const people = (report && report.people) || [];
    // lateness by weekday, Monday first
    const order = [1, 2, 3, 4, 5, 6, 0];
    const names = huellaT("att_weekdays").split(",");
    const longNames = huellaT("att_weekdays_long").split(",");
    const late = [0, 0, 0, 0, 0, 0, 0];
    people.forEach((p) => (p.late_by_weekday || []).forEach((v, i) => { late[i] += Number(v || 0); }));
    $("chart2-card").hidden = !people.length;
    if (people.length) {
      HuellaCharts.bars($("chart2"), { title: huellaT("rep_chart_week"), desc: huellaT("rep_chart_week_desc"),
        labels: order.map((w) => names[w]), series: [{ name: huellaT("rep_late"), values: order.map((w) => late[w]), cls: "bar-late" }],
        height: 220, every: 1 });
      A.clear($("chart2-table"));
      $("chart2-table").appendChild(A.table(huellaT("rep_chart_week"), [huellaT("rep_weekday"), huellaT("rep_late")],
        order.map((w) => [longNames[w], late[w]]), { rowHeaders: true }));
    }
    // attendance over time
    $("chart1-card").hidden = !perDay || !perDay.length;
    if (perDay && perDay.length) {
      const labels = perDay.map((d) => String(A.parseDate(d.date).d));
      HuellaCharts.bars($("chart1"), { title: huellaT("rep_chart_time"), desc: huellaT("rep_chart_time_desc"),
        labels, series: [
          { name: huellaT("rep_scheduled_short"), values: perDay.map((d) => d.scheduled), cls: "bar-sched" },
          { name: huellaT("rep_present"), values: perDay.map((d) => d.present), cls: "bar-present" }] });
      A.clear($("chart1-table"));
      $("chart1-table").appendChild(A.table(huellaT("rep_chart_time"),
        [huellaT("rep_day"), huellaT("rep_scheduled_short"), huellaT("rep_present")],
        perDay.map((d) => [A.fmtDate(d.date), d.scheduled, d.present]), { rowHeaders: true }));
    }
  }

  function render() { if (report) { renderSummary(); renderCharts(); } }

  /* Per date: how many had a shift and how many attended. */
  async function loadDays(people) {
    const from = $("from").value, to = $("to").value;
    const scope = $("scope").value;
    const paths = scope === "mine" ? [`/api/v1/me/attendance?from=${from}&to=${to}`]
      : people.slice(0, MAX_PEOPLE).map((p) =>
        `/api/v1/subjects/${encodeURIComponent(p.curp)}/attendance?from=${from}&to=${to}`);
    const answers = await Promise.all(paths.map((p) => huellaApi("GET", p)));
    const map = new Map();
    answers.forEach((r) => {
      if (!r.ok || !r.data) return;
      (r.data.days || []).forEach((d) => {
        const e = map.get(d.date) || { date: d.date, scheduled: 0, present: 0 };
        if (d.scheduled && !d.holiday) e.scheduled++;
        if (d.worked || (d.entries || []).length) e.present++;
        map.set(d.date, e);
      });
    });
    const today = A.today();
    return [...map.values()].filter((d) => d.date <= today)
      .sort((a, b) => a.date.localeCompare(b.date));
  }

  async function load(e) {
    if (e) e.preventDefault();
    const box = $("page-msg");
    huellaMessage(box, null);
    huellaFieldError($("curp"));
    if ($("scope").value === "person" && !CURP_RE.test($("curp").value.trim().toUpperCase())) {
      huellaFieldError($("curp"), "err_invalid_curp");
      $("curp").focus();
      return;
    }
    if (!$("from").value || !$("to").value) return;
    updateCsv();
    $("loading").hidden = false;
    const r = await huellaApi("GET", `/api/v1/reports/attendance?${params()}`);
    if (!r.ok) {
      $("loading").hidden = true;
      report = null;
      ["summary-card", "chart1-card", "chart2-card"].forEach((id) => { $(id).hidden = true; });
      if (r.status === 401) { await A.requireMe(location.pathname); return; }
      if (r.error && r.error.field && ["from", "to", "curp"].includes(r.error.field)) {
        huellaServerFieldError($(r.error.field), r.error);
      } else A.apiError(box, r);
      return;
    }
    report = r.data || { people: [] };
    perDay = await loadDays(report.people || []);
    $("loading").hidden = true;
    $("summary-card").hidden = false;
    render();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    me = await A.requireMe(location.pathname);
    if (!me) return;
    A.subnav(me);
    const today = A.today();
    const ym = today.slice(0, 7);
    $("from").value = A.monthRange(ym).from;
    $("to").value = today;
    const lead = A.hasRole(me, "supervisor", "admin", "auditor");
    if (!lead) {
      [...$("scope").options].forEach((o) => { if (o.value !== "mine") o.remove(); });
    } else {
      $("scope").value = "team";
    }
    if (!A.hasRole(me, "admin", "auditor", "supervisor")) $("curp-field").hidden = true;
    $("scope").addEventListener("change", () => {
      $("curp-field").hidden = $("scope").value !== "person";
      updateCsv();
    });
    ["from", "to", "curp"].forEach((id) => $(id).addEventListener("change", updateCsv));
    $("filters").addEventListener("submit", load);
    document.addEventListener("huella:lang", render);
    let resizeTimer = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => { if (report) renderCharts(); }, 200);
    });
    updateCsv();
    load();
  });
})();
