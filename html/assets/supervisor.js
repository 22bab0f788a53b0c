/* Supervisión: the team's pending justifications
 * (GET /api/v1/justifications?scope=team) with approve/reject + comment
 * (POST /api/v1/justifications/{id}/decision {decision, comment}), and the
 * team's attendance of a month (GET /api/v1/reports/attendance?scope=team,
 * a person's days from GET /api/v1/subjects/{curp}/attendance). */
"use strict";
(function () {
  const A = HuellaAtt;
  const $ = (id) => document.getElementById(id);
  let list = null, report = null, names = new Map(), detail = null;

  const who = (curp) => names.get(curp) || curp;

  function renderInbox() {
    const ul = $("inbox");
    A.clear(ul);
    if (!list) return;
    const pending = list.filter((j) => j.state === "pendiente");
    if (!pending.length) { ul.appendChild(A.el("li", "empty", huellaT("sup_inbox_empty"))); }
    pending.forEach((j) => {
      const li = A.el("li", "inbox-item");
      const hid = `j-${j.id}-h`;
      const h = A.el("h3", null, who(j.curp));
      h.id = hid;
      li.setAttribute("aria-labelledby", hid);
      li.appendChild(h);
      const dl = A.el("dl", "details");
      const add = (k, v) => { dl.appendChild(A.el("dt", null, huellaT(k))); const dd = A.el("dd"); if (v instanceof Node) dd.appendChild(v); else dd.textContent = v || "—"; dl.appendChild(dd); };
      add("att_curp", j.curp);
      add("att_date", A.fmtDate(j.date));
      add("reg_incident_for", A.incidentCell(j.incident));
      add("reg_reason", A.localLabel(j, "reason_label") || j.reason);
      if (j.text) add("jus_text", j.text);
      add("reg_folio", j.folio || j.id);
      if (j.attachment) {
        const a = A.el("a", null, `${huellaT("sup_attachment")} (${j.attachment.type}, ${Math.ceil((j.attachment.bytes || 0) / 1024)} KiB)`);
        a.href = `/api/v1/justifications/${encodeURIComponent(j.id)}/attachment`;
        a.target = "_blank";
        a.rel = "noopener";
        add("sup_document", a);
      }
      li.appendChild(dl);
      const form = A.el("form", "decide");
      form.noValidate = true;
      const field = A.el("div", "field");
      const cid = `c-${j.id}`;
      const lab = A.el("label", null, huellaT("sup_comment", { name: who(j.curp) }));
      lab.htmlFor = cid;
      const hint = A.el("span", "hint", huellaT("sup_comment_hint"));
      hint.id = `${cid}-hint`;
      const ta = A.el("textarea");
      ta.id = cid; ta.rows = 2; ta.maxLength = 500;
      ta.setAttribute("aria-describedby", `${cid}-hint ${cid}-error`);
      const err = A.el("span", "field-error"); err.id = `${cid}-error`; err.hidden = true;
      field.append(lab, hint, ta, err);
      const ok = A.el("button", "btn", huellaT("sup_approve"));
      ok.type = "submit"; ok.value = "approve";
      ok.setAttribute("aria-describedby", hid);
      const no = A.el("button", "btn btn-danger", huellaT("sup_reject"));
      no.type = "submit"; no.value = "reject";
      no.setAttribute("aria-describedby", hid);
      const actions = A.el("div", "actions");
      actions.append(ok, no);
      form.append(field, actions);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        decide(j, (e.submitter && e.submitter.value) || "approve", ta, [ok, no]);
      });
      li.appendChild(form);
      ul.appendChild(li);
    });
  }

  function renderDecided() {
    const box = $("decided");
    A.clear(box);
    if (!list) return;
    const done = list.filter((j) => j.state !== "pendiente").slice(0, 20);
    if (!done.length) { box.appendChild(A.el("p", null, "—")); return; }
    box.appendChild(A.table(huellaT("sup_decided"),
      [huellaT("att_person"), huellaT("att_date"), huellaT("reg_incident_for"), huellaT("att_state"), huellaT("reg_comment")],
      done.map((j) => [who(j.curp), A.fmtDate(j.date), A.incidentCell(j.incident),
                       A.badge(A.state(j.state), A.stateTone(j.state)), j.comment || "—"]),
      { rowHeaders: true, captionHidden: true, cls: "stack" }));
  }

  async function decide(j, decision, ta, buttons) {
    huellaFieldError(ta);
    if (decision === "reject" && !ta.value.trim()) {
      huellaFieldError(ta, "err_required");
      ta.focus();
      return;
    }
    buttons.forEach((b) => { b.disabled = true; });
    const body = { decision };
    if (ta.value.trim()) body.comment = ta.value.trim();
    const path = `/api/v1/justifications/${encodeURIComponent(j.id)}/decision`;
    let r = await huellaApi("POST", path, body);
    if (r.status === 403 && r.error && /csrf/i.test(r.error.code)) {
      const m = await huellaApi("GET", "/api/v1/me");
      if (m.ok) { HuellaSession.save(m.data); r = await huellaApi("POST", path, body); }
    }
    buttons.forEach((b) => { b.disabled = false; });
    if (!r.ok) {
      if (r.error && r.error.field === "comment") { huellaServerFieldError(ta, r.error); ta.focus(); }
      else A.apiError($("page-msg"), r);
      return;
    }
    const d = r.data || {};
    huellaMessage($("decision-msg"), decision === "approve" ? "sup_approved" : "sup_rejected",
                  { name: who(j.curp), folio: d.decision_folio || d.folio || j.id }, "ok");
    await loadList();
    $("inbox-h").tabIndex = -1;
    $("inbox-h").focus();
  }

  function renderTeam() {
    const box = $("team");
    A.clear(box);
    if (!report) return;
    const people = report.people || [];
    if (!people.length) { box.appendChild(A.el("p", null, huellaT("sup_team_empty"))); return; }
    const rows = people.map((p) => {
      const b = A.el("button", "btn btn-small btn-secondary", huellaT("sup_detail_short"));
      b.type = "button";
      b.setAttribute("aria-label", huellaT("sup_detail", { name: p.name || p.curp }));
      b.addEventListener("click", () => loadDetail(p));
      return [p.name || p.curp, p.days_worked, p.late_count, p.absences, p.justified, p.pending, b];
    });
    box.appendChild(A.table(huellaT("sup_team"),
      [huellaT("att_person"), huellaT("sup_days"), huellaT("sup_late"), huellaT("sup_absences"),
       huellaT("rep_justified"), huellaT("sup_pending"), huellaT("att_actions")], rows,
      { rowHeaders: true, captionHidden: true, cls: "stack" }));
  }

  function renderDetail() {
    const box = $("detail");
    A.clear(box);
    if (!detail) return;
    box.appendChild(A.el("h3", null, huellaT("sup_detail_h", { name: detail.name || detail.curp })));
    const days = (detail.days || []).filter((d) => d.scheduled || (d.punches || []).length);
    if (!days.length) { box.appendChild(A.el("p", null, huellaT("att_no_days"))); return; }
    box.appendChild(A.table(huellaT("sup_detail_h", { name: detail.name || detail.curp }),
      [huellaT("att_date"), huellaT("att_entries"), huellaT("att_exits"), huellaT("att_incidents")],
      days.map((d) => {
        const incs = A.el("span");
        (d.incidents || []).forEach((i, n) => {
          if (n) incs.appendChild(document.createTextNode(" "));
          incs.appendChild(A.badge(`${A.incident(i.kind)}: ${A.state(i.state)}`, A.stateTone(i.state)));
        });
        if (!(d.incidents || []).length) incs.textContent = "—";
        return [A.fmtDate(d.date), (d.entries || []).map(A.fmtTime).join(", ") || "—",
                (d.exits || []).map(A.fmtTime).join(", ") || "—", incs];
      }), { rowHeaders: true, captionHidden: true, cls: "stack" }));
  }

  async function loadDetail(p) {
    const { from, to } = A.monthRange($("month").value);
    const r = await huellaApi("GET", `/api/v1/subjects/${encodeURIComponent(p.curp)}/attendance?from=${from}&to=${to}`);
    if (!r.ok) { A.apiError($("page-msg"), r); return; }
    detail = Object.assign({ name: p.name }, r.data);
    renderDetail();
    $("detail").focus();
  }

  async function loadList() {
    const r = await huellaApi("GET", "/api/v1/justifications?scope=team");
    $("loading").hidden = true;
    if (!r.ok) { A.apiError($("page-msg"), r); list = null; }
    else list = (r.data && r.data.justifications) || [];
    renderInbox();
    renderDecided();
  }

  async function loadTeam() {
    const { from, to } = A.monthRange($("month").value);
    detail = null;
    renderDetail();
    const r = await huellaApi("GET", `/api/v1/reports/attendance?scope=team&from=${from}&to=${to}`);
    if (!r.ok) { report = null; A.apiError($("page-msg"), r); }
    else {
      report = r.data;
      (report.people || []).forEach((p) => { if (p.name) names.set(p.curp, p.name); });
    }
    renderTeam();
  }

  function render() { renderInbox(); renderDecided(); renderTeam(); renderDetail(); }

  document.addEventListener("DOMContentLoaded", async () => {
    const me = await A.requireMe(location.pathname);
    if (!me) return;
    A.subnav(me);
    if (!A.hasRole(me, "supervisor", "admin")) {
      $("loading").hidden = true;
      huellaMessage($("page-msg"), "sup_only_supervisors", null, "info");
      return;
    }
    A.monthSelect($("month"), A.today().slice(0, 7));
    $("period").addEventListener("submit", (e) => { e.preventDefault(); if ($("month").value) loadTeam(); });
    $("prev").addEventListener("click", () => { A.monthSelect($("month"), A.addMonths($("month").value, -1)); loadTeam(); });
    $("next").addEventListener("click", () => { A.monthSelect($("month"), A.addMonths($("month").value, 1)); loadTeam(); });
    $("month").addEventListener("change", loadTeam);
    document.addEventListener("huella:lang", () => { A.monthSelect($("month"), $("month").value); render(); });
    await loadTeam();      // first: it names the people of the inbox
    await loadList();
  });
})();
