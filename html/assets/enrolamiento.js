/* Enrollment wizard: 1 worker, 2 fingers (ISO 19794-2 templates from
 * files in the demo; missing fingers declared with a reason), 3 face
 * (optional float32 vector), 4 review + the capture device's signature,
 * 5 result (receipt, possible duplicate, or per-finger reasons).
 *
 * A dedup search too big for one request (or asked for with the "in the
 * background" box: Prefer: respond-async) is queued: 202 with a status
 * URL. Step 5 then shows "Verificando duplicados…" with the progress and
 * polls GET /api/v1/dedup-jobs/{id} until the job is done, and shows the
 * same result the synchronous answer would have. ?job=ID reopens step 5
 * on a job (the address can be kept and reloaded).
 *
 * The page never holds a device key. The capture device agent signs the
 * exact body the page shows (RFC 9421: @method, @path, content-digest);
 * in the demo that is `huellactl device sign` run on the downloaded file,
 * and its three header lines are pasted back. The page sends that body,
 * byte for byte, with those headers: POST /api/v1/subjects/{curp}/enrollment. */
"use strict";
(function () {
  const $ = Enr.$;
  let me = null;
  let step = 1;
  let worker = null;
  const fingers = {};     // position -> {data (base64), bytes}
  let face = null;        // {data, dim}
  let bodyText = "";
  let blobUrl = null;
  let pollTimer = null;
  const POLL_MS = 800;

  function b64(buf) {
    const bytes = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function show(n, focus = true) {
    step = n;
    for (let i = 1; i <= 5; i++) $(`step-${i}`).hidden = i !== n;
    document.querySelectorAll("#steps li").forEach((li) => {
      const s = Number(li.dataset.step);
      if (s === n) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
      li.classList.toggle("done", s < n);
    });
    if (focus) $(`s${n}-h`).focus();
  }

  /* ---- 1 worker ---- */
  async function onSearch(e) {
    e.preventDefault();
    const q = $("q");
    huellaFieldError(q);
    huellaMessage($("s1-msg"), null);
    $("worker").textContent = "";
    worker = null;
    if (!Enr.kind(q.value)) { huellaFieldError(q, "search_invalid"); q.focus(); return; }
    $("search-btn").disabled = true;
    const r = await Enr.lookup(q.value);
    $("search-btn").disabled = false;
    if (!r.ok) {
      if (r.status === 404) huellaFieldError(q, "err_subject_not_found");
      else if (!Enr.searchFieldError(q, r.error)) Enr.error($("s1-msg"), r.error);
      return;
    }
    worker = r.data;
    const { node } = Enr.workerCard(worker);
    $("worker").appendChild(node);
    if (!canEnroll()) huellaMessage($("s1-msg"), "enr_already", null, "warn");
  }

  function canEnroll() {
    const b = (worker && worker.biometrics) || {};
    return !!worker && (b.status === "none" || !b.status) && !b.fingers_enrolled;
  }

  /* ---- 2 fingers ---- */
  function buildHands() {
    const hands = $("hands");
    [["hand_right", [1, 2, 3, 4, 5]], ["hand_left", [6, 7, 8, 9, 10]]].forEach(([key, list]) => {
      const fs = Enr.el("fieldset", { class: "hand" }, Enr.el("legend", { i18n: key }));
      list.forEach((p) => {
        const f = Enr.el("fieldset", { class: "finger", id: `finger-${p}` },
          Enr.el("legend", {}, Enr.el("span", { i18n: `finger_${p}` }), ` (${p})`),
          Enr.el("div", { class: "field" },
            Enr.el("label", { for: `file-${p}`, i18n: "finger_file" }),
            Enr.el("input", { type: "file", id: `file-${p}`, accept: ".iso,.ist,.fmr,application/octet-stream",
                              "data-position": p, "aria-describedby": `file-${p}-info file-${p}-error` }),
            Enr.el("span", { class: "field-ok", id: `file-${p}-info`, hidden: true }),
            Enr.el("span", { class: "field-error", id: `file-${p}-error`, hidden: true })),
          Enr.el("div", { class: "field" },
            Enr.el("label", { for: `missing-${p}`, i18n: "finger_missing" }),
            (() => {
              const s = Enr.el("select", { id: `missing-${p}`, "data-position": p });
              ["", "amputation", "bandage", "unreadable"].forEach((v) => {
                s.appendChild(Enr.el("option", { value: v, i18n: v ? `reason_${v}` : "missing_no" }));
              });
              return s;
            })()));
        fs.appendChild(f);
      });
      hands.appendChild(fs);
    });
    hands.addEventListener("change", async (e) => {
      const p = Number(e.target.dataset.position);
      if (!p) return;
      huellaMessage($("s2-msg"), null);
      if (e.target.type === "file") await onFinger(p, e.target);
      mark(p);
    });
  }

  async function onFinger(p, input) {
    const info = $(`file-${p}-info`);
    huellaFieldError(input);
    info.hidden = true;
    delete fingers[p];
    const file = input.files[0];
    if (!file) return;
    const buf = await file.arrayBuffer();
    const head = new Uint8Array(buf.slice(0, 4));
    if (!(head[0] === 0x46 && head[1] === 0x4d && head[2] === 0x52)) {
      huellaFieldError(input, "finger_bad_file");
      return;
    }
    fingers[p] = { data: b64(buf), bytes: buf.byteLength };
    huellaSetText(info, "finger_loaded", { bytes: buf.byteLength });
    info.hidden = false;
  }

  function mark(p) {
    const box = $(`finger-${p}`);
    const reason = $(`missing-${p}`).value;
    box.classList.toggle("loaded", !!fingers[p] && !reason);
    box.classList.toggle("declared", !!reason && !fingers[p]);
  }

  function checkFingers() {
    huellaMessage($("s2-msg"), null);
    let first = null;
    let any = false;
    for (let p = 1; p <= 10; p++) {
      const sel = $(`missing-${p}`);
      huellaFieldError(sel);
      if (fingers[p] && sel.value) { huellaFieldError(sel, "finger_both"); first = first || sel; }
      if (fingers[p]) any = true;
    }
    if (first) { first.focus(); return false; }
    if (!any) { huellaMessage($("s2-msg"), "fingers_none"); $("file-2").focus(); return false; }
    return true;
  }

  /* ---- 3 face ---- */
  async function onFace() {
    const input = $("face-file");
    huellaFieldError(input);
    $("face-info").hidden = true;
    face = null;
    const file = input.files[0];
    if (!file) return;
    const buf = await file.arrayBuffer();
    if (!buf.byteLength || buf.byteLength % 4) { huellaFieldError(input, "face_bad"); return; }
    face = { data: b64(buf), dim: buf.byteLength / 4 };
    huellaSetText($("face-info"), "face_loaded", { dim: face.dim });
    $("face-info").hidden = false;
  }

  /* ---- 4 review ---- */
  function enrollPath() { return `/api/v1/subjects/${encodeURIComponent(worker.curp)}/enrollment`; }

  function buildBody() {
    const body = { fingers: [] };
    const missing = [];
    for (let p = 1; p <= 10; p++) {
      const reason = $(`missing-${p}`).value;
      if (fingers[p]) body.fingers.push({ position: p, format: "iso19794-2:2005", data: fingers[p].data });
      else if (reason) missing.push({ position: p, reason });
    }
    if (missing.length) body.missing = missing;
    if (face) body.face = { model: $("face-model").value.trim() || "face-api-128", dim: face.dim, data: face.data };
    if (!me.employer_rfc && worker.employer_rfc) body.employer_rfc = worker.employer_rfc;
    return JSON.stringify(body);
  }

  function renderReview() {
    const dl = $("review");
    dl.textContent = "";
    const pos = Object.keys(fingers).map(Number).filter((p) => !$(`missing-${p}`).value);
    const miss = [];
    for (let p = 1; p <= 10; p++) {
      const r = $(`missing-${p}`).value;
      if (r && !fingers[p]) miss.push([p, r]);
    }
    const names = (list, fn) => {
      const ul = Enr.el("ul", { class: "result-list" });
      list.forEach((x) => ul.appendChild(fn(x)));
      return ul;
    };
    dl.append(
      Enr.el("dt", { i18n: "review_worker" }),
      Enr.el("dd", { text: `${worker.name || ""} · ${worker.curp}` }),
      Enr.el("dt", { i18n: "review_fingers" }),
      Enr.el("dd", {}, names(pos, (p) => Enr.el("li", {}, Enr.el("span", { i18n: `finger_${p}` }), ` (${p})`))));
    if (miss.length) {
      dl.append(Enr.el("dt", { i18n: "review_missing" }),
        Enr.el("dd", {}, names(miss, ([p, r]) => Enr.el("li", {},
          Enr.el("span", { i18n: `finger_${p}` }), ` (${p}): `, Enr.el("span", { i18n: `reason_${r}` })))));
    }
    dl.append(Enr.el("dt", { i18n: "review_face" }),
      face ? Enr.el("dd", { i18n: "face_loaded", vars: { dim: face.dim } })
           : Enr.el("dd", { i18n: "review_face_none" }));
  }

  function renderCommand() {
    const dev = $("device").value || "dev_…";
    $("agent-cmd").textContent =
      `huellactl device sign --key device.key --keyid ${dev} \\\n` +
      `  --method POST --path ${enrollPath()} enrolamiento.json`;
  }

  async function loadDevices() {
    const r = await huellaApi("GET", "/api/v1/devices" +
      (!me.employer_rfc && worker && worker.employer_rfc
        ? `?employer_rfc=${encodeURIComponent(worker.employer_rfc)}` : ""));
    const sel = $("device");
    sel.textContent = "";
    const list = ((r.ok && r.data && r.data.devices) || [])
      .filter((d) => d.purpose === "enrollment" && d.status === "active");
    list.forEach((d) => sel.appendChild(Enr.el("option", { value: d.device_id,
      text: `${[d.make, d.model].filter(Boolean).join(" ")} · ${d.device_id}` })));
    $("no-device").hidden = list.length > 0;
    sel.hidden = list.length === 0;
    renderCommand();
  }

  async function toReview() {
    bodyText = buildBody();
    $("body").value = bodyText;
    if (blobUrl) URL.revokeObjectURL(blobUrl);
    blobUrl = URL.createObjectURL(new Blob([bodyText], { type: "application/json" }));
    $("body-download").href = blobUrl;
    renderReview();
    show(4);
    await loadDevices();
  }

  /* "Name: value" lines: the three signature headers. */
  function parseHeaders(text) {
    const out = {};
    text.split(/\r?\n/).forEach((line) => {
      const m = /^\s*(content-digest|signature-input|signature)\s*:\s*(.+?)\s*$/i.exec(line);
      if (m) out[m[1].toLowerCase()] = m[2];
    });
    return out["content-digest"] && out["signature-input"] && out.signature ? {
      "Content-Digest": out["content-digest"],
      "Signature-Input": out["signature-input"],
      Signature: out.signature,
    } : null;
  }

  async function onSend(e) {
    e.preventDefault();
    const ta = $("sig-headers");
    huellaFieldError(ta);
    huellaMessage($("s4-msg"), null);
    const headers = parseHeaders(ta.value);
    if (!headers) { huellaFieldError(ta, "agent_headers_bad"); ta.focus(); return; }
    if ($("queued").checked) headers.Prefer = "respond-async";
    $("send").disabled = true;
    const r = await huellaApi("POST", enrollPath(), bodyText, { raw: true, headers });
    $("send").disabled = false;
    const err = r.error || {};
    if (r.status === 202 && r.data && r.data.status_url) {
      show(5);
      followJob(r.data);
      return;
    }
    if (err.code === "dedup_pending" && r.data && r.data.error && r.data.error.status_url) {
      // This worker's enrollment is already queued: follow that one.
      show(5);
      followJob({ job_id: r.data.error.job_id, status_url: r.data.error.status_url,
                  status: "queued", progress: null });
      return;
    }
    // A signature problem is fixed here (sign again), not a result.
    if (r.status === 401 || /^(signature_|nonce_|content_digest|device_)/.test(err.code || "")) {
      // The codes of a missing, expired or revoked session (docs/api.md);
      // the other 401s are the device signature's, fixed on this step.
      if (r.status === 401 && /^(unauthorized|unauthenticated|invalid_token|session_expired)$/.test(err.code || "")) {
        location.replace("/login.html?return=%2Fenrolamiento.html");
        return;
      }
      Enr.error($("s4-msg"), err);
      ta.focus();
      return;
    }
    renderResult(r);
    show(5);
  }

  /* ---- 5 queued dedup: progress, polling ---- */
  function renderPending(job) {
    const box = $("result");
    const p = job.progress || {};
    const total = Number(p.total) || 0;
    const done = Math.min(Number(p.compared) || 0, total);
    const pct = total ? Math.floor((done * 100) / total) : 0;
    let status = $("job-status");
    if (!status) {
      box.textContent = "";
      status = Enr.el("div", { id: "job-status", role: "status", "aria-live": "polite" });
      box.append(Enr.el("div", { class: "flag flag-warn", "data-flag": "job_checking" },
          Enr.el("span", { class: "flag-icon", "aria-hidden": "true", text: "…" }),
          Enr.el("span", { i18n: "job_checking" })),
        status,
        Enr.el("progress", { id: "job-progress", max: "100", value: "0",
                             "aria-labelledby": "job-progress-label" }),
        Enr.el("p", { class: "hint" }, Enr.el("span", { id: "job-progress-label", i18n: "job_progress_label" }),
          " ", Enr.el("span", { class: "mono", text: job.job_id })),
        Enr.el("p", { class: "hint", i18n: "job_leave" }));
    }
    $("job-progress").value = pct;
    $("job-progress").setAttribute("aria-valuetext", `${pct} %`);
    const key = job.status === "running" ? "job_running" : "job_queued";
    huellaSetText(status, key, { compared: done.toLocaleString(huellaLang()),
      total: total.toLocaleString(huellaLang()), pct, position: job.queue_position || 1 });
  }

  /* The finished job as the synchronous answer would have been. */
  function jobAsResponse(job) {
    const status = job.http_status || 500;
    const data = job.result || {};
    if (job.outcome === "enrolled") return { ok: true, status, data };
    return { ok: false, status, data, error: data.error || { code: "job_failed" } };
  }

  function followJob(job) {
    clearTimeout(pollTimer);
    renderPending(job);
    const url = new URL(location.href);
    url.searchParams.set("job", job.job_id);
    history.replaceState(null, "", url);
    const tick = async () => {
      const r = await huellaApi("GET", job.status_url);
      if (!r.ok) {
        if (r.status === 401) { location.replace("/login.html?return=" + encodeURIComponent(location.pathname + location.search)); return; }
        if (r.status === 0 || r.status >= 500) { pollTimer = setTimeout(tick, POLL_MS * 2); return; }
        $("result").textContent = "";
        renderResult(r);
        return;
      }
      const j = r.data;
      if (j.status === "done" || j.status === "failed") {
        if (!worker || worker.curp !== j.curp) worker = { curp: j.curp, name: worker && worker.name };
        renderResult(jobAsResponse(j));
        $("s5-h").focus();
        return;
      }
      renderPending(j);
      pollTimer = setTimeout(tick, POLL_MS);
    };
    pollTimer = setTimeout(tick, POLL_MS);
  }

  /* ---- 5 result ---- */
  function renderResult(r) {
    const box = $("result");
    box.textContent = "";
    const err = r.error || {};
    if (r.ok) {
      box.append(Enr.flag("ok", "result_ok_h"),
        Enr.el("p", { id: "result-text", i18n: "result_ok", vars: { name: worker.name || worker.curp, folio: r.data.folio } }),
        Enr.el("p", {}, Enr.el("a", { class: "btn", id: "receipt-link", i18n: "open_receipt",
          href: `/acuse.html?folio=${encodeURIComponent(r.data.folio)}` })));
      return;
    }
    const data = r.data && r.data.error && typeof r.data.error === "object" ? r.data.error : (r.data || {});
    if (err.code === "duplicate_suspect") {
      box.append(Enr.flag("warn", "result_dup_h"), Enr.el("p", { id: "result-text", i18n: "result_dup" }));
      const caseId = data.case_id || (r.data && r.data.case_id);
      if (caseId) box.append(Enr.el("p", { class: "mono", i18n: "result_case", vars: { id: caseId } }));
      return;
    }
    const list = data.fingers || (r.data && r.data.fingers);
    if (Array.isArray(list) && list.length) {
      box.append(Enr.flag("red", "result_quality_h"), Enr.el("p", { i18n: "result_quality" }));
      const ul = Enr.el("ul", { class: "result-list", id: "finger-errors" });
      list.forEach((f) => {
        const codeKey = `code_${f.code}`;
        ul.appendChild(Enr.el("li", {},
          Enr.el("strong", {}, Enr.el("span", { i18n: `finger_${f.position}` }), ` (${f.position}): `),
          HUELLA_STRINGS["es-MX"][codeKey] ? Enr.el("span", { i18n: codeKey }) : Enr.el("span", { text: f.code }),
          f.message ? Enr.el("span", { class: "hint", text: f.message }) : null));
      });
      box.appendChild(ul);
      const again = Enr.el("button", { type: "button", class: "btn", id: "recapture", i18n: "recapture" });
      again.addEventListener("click", () => show(2));
      box.appendChild(Enr.el("p", {}, again));
      const warnings = data.warnings || (r.data && r.data.warnings) || [];
      if (warnings.includes("exception_opened")) box.appendChild(Enr.flag("warn", "result_exception"));
      return;
    }
    box.append(Enr.flag("red", "result_error_h"));
    const msg = Enr.el("div", { role: "alert" });
    box.appendChild(msg);
    Enr.error(msg, err);
  }

  async function start() {
    me = await Enr.me("/enrolamiento.html" + location.search);
    $("loading").hidden = true;
    if (!me) return;
    if (me.error) { Enr.error($("page-msg"), me.error); return; }
    if (!Enr.hasRole(me, "employer_rep", "admin")) { huellaMessage($("page-msg"), "forbidden_page"); return; }
    $("wizard").hidden = false;
    const jobId = new URLSearchParams(location.search).get("job");
    if (jobId && /^[A-Za-z0-9_-]{1,64}$/.test(jobId)) {
      show(5, false);
      followJob({ job_id: jobId, status_url: `/api/v1/dedup-jobs/${jobId}`, status: "queued", progress: null });
      return;
    }
    show(1, false);
    const curp = new URLSearchParams(location.search).get("curp");
    if (curp) { $("q").value = curp; $("form-search").requestSubmit(); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    buildHands();
    $("form-search").addEventListener("submit", onSearch);
    $("s1-next").addEventListener("click", () => {
      huellaMessage($("s1-msg"), null);
      if (!worker) { huellaMessage($("s1-msg"), "enr_need_worker"); $("q").focus(); return; }
      if (!canEnroll()) { huellaMessage($("s1-msg"), "enr_already", null, "warn"); return; }
      show(2);
    });
    $("s2-next").addEventListener("click", () => { if (checkFingers()) show(3); });
    $("face-file").addEventListener("change", onFace);
    $("s3-next").addEventListener("click", () => { if (!$("face-file").getAttribute("aria-invalid")) toReview(); });
    $("device").addEventListener("change", renderCommand);
    $("form-send").addEventListener("submit", onSend);
    $("sig-headers").addEventListener("input", () => huellaFieldError($("sig-headers")));
    document.querySelectorAll("[data-back]").forEach((b) =>
      b.addEventListener("click", () => show(Number(b.dataset.back))));
    start();
  });
})();
