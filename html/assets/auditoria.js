/* Auditor: the open dedup cases (GET /api/v1/dedup?status=open) with both
 * CURPs and scores, resolved as confirmed duplicate or false alarm (POST
 * /api/v1/dedup/{case}/resolve), the queued dedup jobs (GET
 * /api/v1/dedup-jobs, refreshed while some are unfinished) and the
 * exceptions (GET /api/v1/exceptions). */
"use strict";
(function () {
  const $ = Enr.$;
  let cases = [];
  let exceptions = [];
  let jobs = [];
  let jobsTimer = null;

  function renderCases() {
    const ul = $("cases");
    ul.textContent = "";
    $("dedup-none").hidden = cases.length > 0;
    cases.forEach((c) => {
      const hid = `case-h-${c.case_id}`;
      const matches = Enr.el("ul", { class: "result-list" });
      (c.matches || []).forEach((m) => matches.appendChild(Enr.el("li", {
        i18n: "match_line", vars: { curp: m.curp, position: m.position,
          probe: m.probe_position, score: m.score } })));
      const li = Enr.el("li", { "data-case": c.case_id },
        Enr.el("h3", { id: hid, class: "mono", text: c.case_id }),
        Enr.el("dl", { class: "details" },
          Enr.el("dt", { i18n: "case_curp" }), Enr.el("dd", { class: "mono", text: c.curp }),
          Enr.el("dt", { i18n: "case_matches" }), Enr.el("dd", {}, matches),
          Enr.el("dt", { i18n: "case_employer" }), Enr.el("dd", { class: "mono", text: c.employer_rfc || "—" }),
          Enr.el("dt", { i18n: "case_device" }), Enr.el("dd", { class: "mono", text: c.device || "—" }),
          Enr.el("dt", { i18n: "case_threshold" }), Enr.el("dd", { text: String(c.threshold ?? "—") }),
          Enr.el("dt", { i18n: "case_searched" }), Enr.el("dd", { text: String(c.searched ?? "—") }),
          Enr.el("dt", { i18n: "case_created" }), Enr.el("dd", { text: Enr.date(c.created) })));
      const acts = Enr.el("div", { class: "actions" });
      [["confirmed", "resolve_confirmed", "btn-danger"], ["false_alarm", "resolve_false", "btn-secondary"]]
        .forEach(([decision, key, cls]) => {
          const b = Enr.el("button", { type: "button", class: `btn btn-small ${cls}`, i18n: key,
                                       "data-decision": decision, "aria-describedby": hid });
          b.addEventListener("click", () => resolve(c, decision));
          acts.appendChild(b);
        });
      li.appendChild(acts);
      ul.appendChild(li);
    });
  }

  /* A <dd> with our sentence for a known code, else the code itself. */
  function known(key, raw) {
    return HUELLA_STRINGS["es-MX"][key] ? Enr.el("dd", { i18n: key })
                                         : Enr.el("dd", { class: "mono", text: raw || "—" });
  }

  function renderExceptions() {
    const ul = $("exc-list");
    ul.textContent = "";
    $("exc-none").hidden = exceptions.length > 0;
    exceptions.forEach((x) => {
      ul.appendChild(Enr.el("li", {},
        Enr.el("h3", { class: "mono", text: x.curp }),
        Enr.el("dl", { class: "details" },
          Enr.el("dt", { i18n: "exc_reason" }), known(`exc_${x.reason}`, x.reason),
          x.message ? Enr.el("dt", { i18n: "exc_detail" }) : null,
          x.message ? Enr.el("dd", { text: x.message }) : null,
          Enr.el("dt", { i18n: "exc_status" }), known(`exc_st_${x.status}`, x.status),
          Enr.el("dt", { i18n: "exc_created" }), Enr.el("dd", { text: Enr.date(x.created) }))));
    });
  }

  function jobOutcome(j) {
    const r = j.result || {};
    if (j.outcome === "enrolled") {
      return Enr.el("dd", {}, Enr.el("a", { i18n: "job_out_enrolled", vars: { folio: r.folio },
        href: `/acuse.html?folio=${encodeURIComponent(r.folio || "")}` }));
    }
    const e = r.error || {};
    if (j.outcome === "duplicate_suspect") {
      return Enr.el("dd", { i18n: "job_out_duplicate_suspect", vars: { id: e.case_id || "—" } });
    }
    return Enr.el("dd", { i18n: "job_out_refused", vars: { code: e.code || "—" } });
  }

  function renderJobs() {
    const ul = $("job-list");
    ul.textContent = "";
    $("jobs-none").hidden = jobs.length > 0;
    jobs.forEach((j) => {
      const p = j.progress || {};
      const finished = j.status === "done" || j.status === "failed";
      ul.appendChild(Enr.el("li", { "data-job": j.job_id, "data-status": j.status },
        Enr.el("h3", { class: "mono", text: j.job_id }),
        Enr.el("dl", { class: "details" },
          Enr.el("dt", { i18n: "job_curp" }), Enr.el("dd", { class: "mono", text: j.curp }),
          Enr.el("dt", { i18n: "job_employer" }), Enr.el("dd", { class: "mono", text: j.employer_rfc || "—" }),
          Enr.el("dt", { i18n: "job_status_label" }),
          Enr.el("dd", {}, Enr.el("span", { class: "pill", i18n: `job_st_${j.status}` })),
          Enr.el("dt", { i18n: "job_progress" }),
          Enr.el("dd", { i18n: "job_progress_value", vars: {
            compared: Number(p.compared || 0).toLocaleString(huellaLang()),
            total: Number(p.total || 0).toLocaleString(huellaLang()) } }),
          Enr.el("dt", { i18n: "job_created" }), Enr.el("dd", { text: Enr.date(j.created) }),
          finished ? Enr.el("dt", { i18n: "job_finished" }) : null,
          finished ? Enr.el("dd", { text: Enr.date(j.finished) }) : null,
          finished ? Enr.el("dt", { i18n: "job_result" }) : null,
          finished ? jobOutcome(j) : null)));
    });
  }

  async function loadJobs() {
    clearTimeout(jobsTimer);
    const r = await huellaApi("GET", "/api/v1/dedup-jobs");
    if (!r.ok) { Enr.error($("jobs-msg"), r.error); return; }
    jobs = (r.data && r.data.jobs) || [];
    renderJobs();
    if (jobs.some((j) => j.status === "queued" || j.status === "running")) {
      jobsTimer = setTimeout(loadJobs, 2000);
    }
  }

  async function resolve(c, decision) {
    const ok = await Enr.confirm(decision === "confirmed" ? "confirm_confirmed" : "confirm_false",
                                 { id: c.case_id }, decision === "confirmed");
    if (!ok) return;
    const r = await huellaApi("POST", `/api/v1/dedup/${encodeURIComponent(c.case_id)}/resolve`, { decision });
    const box = $("dedup-msg");
    if (!r.ok) { Enr.error(box, r.error); return; }
    huellaMessage(box, "case_resolved", { id: c.case_id,
      decision: huellaT(`decision_${decision}`) }, "ok");
    if (r.data && r.data.folio) {
      box.appendChild(Enr.el("p", {}, Enr.el("a", { i18n: "see_receipt", vars: { folio: r.data.folio },
        href: `/acuse.html?folio=${encodeURIComponent(r.data.folio)}` })));
    }
    await load();
    $("dedup-h").focus();
  }

  async function load() {
    const [d, x] = await Promise.all([
      huellaApi("GET", "/api/v1/dedup?status=open"),
      huellaApi("GET", "/api/v1/exceptions"),
    ]);
    if (d.ok) { cases = (d.data && d.data.cases) || []; renderCases(); }
    else if (d.status === 403) $("dedup").hidden = true;   // an admin: exceptions only
    else Enr.error($("dedup-msg"), d.error);
    if (x.ok) { exceptions = (x.data && x.data.exceptions) || []; renderExceptions(); }
    else Enr.error($("exc-msg"), x.error);
    await loadJobs();
  }

  async function start() {
    const me = await Enr.me("/auditoria.html");
    $("loading").hidden = true;
    if (!me) return;
    if (me.error) { Enr.error($("page-msg"), me.error); return; }
    if (!Enr.hasRole(me, "auditor", "admin")) { huellaMessage($("page-msg"), "forbidden_page"); return; }
    $("dedup").hidden = false;
    $("jobs").hidden = false;
    $("exceptions").hidden = false;
    await load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.addEventListener("huella:lang", () => { renderCases(); renderJobs(); renderExceptions(); });
    start();
  });
})();
