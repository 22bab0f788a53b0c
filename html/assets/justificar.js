/* Justificar: POST /api/v1/justifications {date, incident?, reason, text?,
 * attachment?: {type, data (base64)}}; reasons from the catalog of
 * GET /api/v1/attendance/rules. ?date=YYYY-MM-DD&incident=kind prefill. */
"use strict";
(function () {
  const A = HuellaAtt;
  const $ = (id) => document.getElementById(id);
  const TYPES = ["application/pdf", "image/png", "image/jpeg"];
  let maxKib = 512;
  let reasons = [];

  function fillReasons() {
    const sel = $("reason");
    const keep = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    reasons.forEach((r) => {
      const o = document.createElement("option");
      o.value = r.code;
      o.textContent = A.localLabel(r) || r.code;
      sel.appendChild(o);
    });
    if (keep) sel.value = keep;
  }

  function base64(buf) {
    const bytes = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function checkFile() {
    const f = $("file").files[0];
    huellaFieldError($("file"));
    if (!f) return true;
    const type = f.type || (/\.pdf$/i.test(f.name) ? "application/pdf"
      : /\.png$/i.test(f.name) ? "image/png" : /\.jpe?g$/i.test(f.name) ? "image/jpeg" : "");
    if (!TYPES.includes(type)) { huellaFieldError($("file"), "jus_file_type"); return false; }
    if (f.size > maxKib * 1024) { huellaFieldError($("file"), "jus_file_too_large", { kib: maxKib }); return false; }
    return true;
  }

  async function onSubmit(e) {
    e.preventDefault();
    const box = $("page-msg");
    huellaMessage(box, null);
    ["date", "reason", "incident", "text"].forEach((id) => huellaFieldError($(id)));
    let first = null;
    if (!A.parseDate($("date").value)) { huellaFieldError($("date"), "err_required"); first = $("date"); }
    if (!$("reason").value) { huellaFieldError($("reason"), "err_required"); first = first || $("reason"); }
    if (!checkFile()) first = first || $("file");
    if (first) { first.focus(); return; }
    const body = { date: $("date").value, reason: $("reason").value };
    if ($("incident").value) body.incident = $("incident").value;
    if ($("text").value.trim()) body.text = $("text").value.trim();
    const f = $("file").files[0];
    $("send").disabled = true;
    if (f) {
      const type = f.type || (/\.pdf$/i.test(f.name) ? "application/pdf" : /\.png$/i.test(f.name) ? "image/png" : "image/jpeg");
      body.attachment = { type, data: base64(await f.arrayBuffer()) };
    }
    let r = await huellaApi("POST", "/api/v1/justifications", body);
    if (r.status === 403 && r.error && /csrf/i.test(r.error.code)) {
      const m = await huellaApi("GET", "/api/v1/me");
      if (m.ok) { HuellaSession.save(m.data); r = await huellaApi("POST", "/api/v1/justifications", body); }
    }
    $("send").disabled = false;
    if (r.ok) {
      const d = r.data || {};
      huellaMessage(box, "jus_sent", { folio: d.folio || d.id || "—" }, "ok");
      box.setAttribute("role", "status");
      $("form-justify").reset();
      $("date").value = $("date").dataset.initial || "";
      huellaSetText($("file-hint"), "jus_file_hint", { kib: maxKib });
      box.focus();
      return;
    }
    if (r.status === 401) { await A.requireMe(location.pathname + location.search); return; }
    const err = r.error || {};
    const field = { date: "date", reason: "reason", incident: "incident", text: "text",
                    attachment: "file", "attachment.type": "file", "attachment.data": "file" }[err.field];
    if (field) { huellaServerFieldError($(field), err); $(field).focus(); }
    else A.apiError(box, r);
  }

  async function loadRules() {
    const r = await huellaApi("GET", "/api/v1/attendance/rules");
    if (r.ok && r.data) {
      reasons = r.data.reasons || [];
      if (r.data.max_attachment_kib) maxKib = r.data.max_attachment_kib;
      fillReasons();
    } else {
      A.apiError($("page-msg"), r);
    }
    huellaSetText($("file-hint"), "jus_file_hint", { kib: maxKib });
  }

  document.addEventListener("DOMContentLoaded", async () => {
    huellaSetText($("file-hint"), "jus_file_hint", { kib: maxKib });
    $("page-msg").tabIndex = -1;
    const date = A.query("date");
    $("date").value = A.parseDate(date) ? date : A.today();
    $("date").dataset.initial = $("date").value;
    const inc = A.query("incident");
    if (inc && [...$("incident").options].some((o) => o.value === inc)) $("incident").value = inc;
    const me = await A.requireMe(location.pathname + location.search);
    if (!me) return;
    A.subnav(me);
    $("file").addEventListener("change", checkFile);
    $("form-justify").addEventListener("submit", onSubmit);
    /* the catalog's labels in the new language, the choice kept */
    document.addEventListener("huella:lang", fillReasons);
    loadRules();
  });
})();
