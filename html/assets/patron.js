/* Employer dashboard (employer_rep; an admin acts for a company by RFC):
 * worker search with the red flag, capture devices (list, register,
 * suspend / reactivate / revoke). docs/devices.md. */
"use strict";
(function () {
  const $ = Enr.$;
  let me = null;
  let devices = [];
  let lastWorker = null;

  /* The company the page acts for: the rep's own, or the RFC an admin typed. */
  function company() {
    if (me && me.employer_rfc) return me.employer_rfc;
    return $("company-rfc").value.trim().toUpperCase();
  }

  async function loadDevices() {
    const rfc = company();
    const q = me.employer_rfc || !rfc ? "" : `?employer_rfc=${encodeURIComponent(rfc)}`;
    const r = await huellaApi("GET", `/api/v1/devices${q}`);
    if (!r.ok) { Enr.error($("dev-msg"), r.error); return; }
    devices = (r.data && r.data.devices) || [];
    renderDevices();
  }

  function renderDevices() {
    const ul = $("dev-list");
    ul.textContent = "";
    $("dev-none").hidden = devices.length > 0;
    devices.forEach((d) => {
      const name = [d.make, d.model].filter(Boolean).join(" ");
      const st = d.status || "active";
      const li = Enr.el("li", { "data-device": d.device_id },
        Enr.el("h3", { text: name || d.device_id }),
        Enr.el("dl", { class: "details" },
          Enr.el("dt", { i18n: "dev_status" }),
          Enr.el("dd", {}, Enr.el("span", { class: `pill pill-${st}`, i18n: `st_${st}` })),
          Enr.el("dt", { i18n: "dev_id" }), Enr.el("dd", { class: "mono", text: d.device_id }),
          Enr.el("dt", { i18n: "dev_serial" }), Enr.el("dd", { class: "mono", text: d.serial || "—" }),
          Enr.el("dt", { i18n: "dev_purpose" }), Enr.el("dd", { i18n: `purpose_${d.purpose}` }),
          Enr.el("dt", { i18n: "dev_alg" }), Enr.el("dd", { class: "mono", text: d.key_alg || "—" }),
          Enr.el("dt", { i18n: "dev_last" }),
          d.last_used ? Enr.el("dd", { text: Enr.date(d.last_used) }) : Enr.el("dd", { i18n: "dev_never" }),
          d.employer_rfc && !me.employer_rfc ? Enr.el("dt", { i18n: "pat_company" }) : null,
          d.employer_rfc && !me.employer_rfc ? Enr.el("dd", { class: "mono", text: d.employer_rfc }) : null,
          d.folio ? Enr.el("dt", { i18n: "dev_registered" }) : null,
          d.folio ? Enr.el("dd", {}, Enr.el("a", { class: "mono",
            href: `/acuse.html?folio=${encodeURIComponent(d.folio)}`, text: d.folio })) : null));
      if (st !== "revoked") {
        const acts = Enr.el("div", { class: "actions" });
        const mk = (action, key, cls) => {
          const b = Enr.el("button", { type: "button", class: `btn btn-small ${cls}`,
                                       i18n: key, "data-action": action });
          b.setAttribute("aria-describedby", `dev-h3-${d.device_id}`);
          b.addEventListener("click", () => change(d, action, name));
          acts.appendChild(b);
        };
        li.firstChild.id = `dev-h3-${d.device_id}`;
        if (st === "active") mk("suspend", "suspend", "btn-secondary");
        else mk("reactivate", "reactivate", "btn-secondary");
        mk("revoke", "revoke", "btn-danger");
        li.appendChild(acts);
      }
      ul.appendChild(li);
    });
  }

  async function change(d, action, name) {
    const ok = await Enr.confirm(`confirm_${action}`, { name: name || d.device_id, id: d.device_id },
                                 action === "revoke");
    if (!ok) return;
    const r = await huellaApi("POST", `/api/v1/devices/${encodeURIComponent(d.device_id)}/${action}`, {});
    if (!r.ok) { Enr.error($("dev-msg"), r.error); return; }
    const status = (r.data && r.data.status) || { suspend: "suspended", revoke: "revoked",
                                                  reactivate: "active" }[action];
    huellaMessage($("dev-msg"), "dev_changed", { id: d.device_id,
      status: huellaT(`st_${status}`).toLowerCase() }, "ok");
    await loadDevices();
    $("dev-h").focus();
  }

  async function onSearch(e) {
    e.preventDefault();
    const q = $("q");
    huellaFieldError(q);
    $("worker").textContent = "";
    if (!Enr.kind(q.value)) { huellaFieldError(q, "search_invalid"); q.focus(); return; }
    $("search-btn").disabled = true;
    const r = await Enr.lookup(q.value);
    $("search-btn").disabled = false;
    if (!r.ok) {
      if (r.error.code === "subject_not_found" || r.status === 404) {
        huellaFieldError(q, "err_subject_not_found");
      } else if (!Enr.searchFieldError(q, r.error)) {
        const box = Enr.el("div", { role: "alert" });
        $("worker").appendChild(box);
        Enr.error(box, r.error);
      }
      return;
    }
    lastWorker = r.data;
    renderWorker();
  }

  function renderWorker() {
    const box = $("worker");
    box.textContent = "";
    if (!lastWorker) return;
    const { node, none } = Enr.workerCard(lastWorker);
    box.appendChild(node);
    if (none) {
      box.appendChild(Enr.el("a", { class: "btn", id: "enroll-link", i18n: "enroll_this",
        href: `/enrolamiento.html?curp=${encodeURIComponent(lastWorker.curp)}` }));
    }
  }

  async function onPemFile() {
    const f = $("pem-file").files[0];
    if (!f) return;
    $("pem").value = (await f.text()).trim();
    huellaFieldError($("pem"));
  }

  async function onRegister(e) {
    e.preventDefault();
    const box = $("reg-msg");
    huellaMessage(box, null);
    const f = { pem: $("pem"), make: $("make"), model: $("model"), serial: $("serial") };
    Object.values(f).forEach((el) => huellaFieldError(el));
    let first = null;
    for (const el of Object.values(f)) {
      if (!el.value.trim()) { huellaFieldError(el, "err_required"); first = first || el; }
    }
    if (f.pem.value.trim() && !/-----BEGIN PUBLIC KEY-----/.test(f.pem.value)) {
      huellaFieldError(f.pem, "err_invalid_public_key"); first = first || f.pem;
    }
    const rfcInput = $("company-rfc");
    if (!me.employer_rfc) {
      huellaFieldError(rfcInput);
      if (!company()) { huellaFieldError(rfcInput, "err_required"); first = first || rfcInput; }
    }
    if (first) { first.focus(); return; }
    const body = {
      employer_rfc: company(),
      public_key_pem: f.pem.value.trim() + "\n",
      make: f.make.value.trim(), model: f.model.value.trim(), serial: f.serial.value.trim(),
      purpose: document.querySelector("input[name=purpose]:checked").value,
    };
    $("reg-submit").disabled = true;
    const r = await huellaApi("POST", "/api/v1/devices", body);
    $("reg-submit").disabled = false;
    if (!r.ok) {
      const field = { public_key_pem: f.pem, make: f.make, model: f.model, serial: f.serial,
                      employer_rfc: me.employer_rfc ? null : rfcInput }[r.error.field];
      if (field) { huellaServerFieldError(field, r.error); field.focus(); }
      else if (r.error.code === "device_key_registered") { huellaServerFieldError(f.pem, r.error); f.pem.focus(); }
      else Enr.error(box, r.error);
      return;
    }
    huellaMessage(box, "dev_registered_ok", { id: r.data.device_id }, "ok");
    if (r.data.folio) {
      box.appendChild(Enr.el("p", {}, Enr.el("a", { i18n: "see_receipt", vars: { folio: r.data.folio },
        href: `/acuse.html?folio=${encodeURIComponent(r.data.folio)}` })));
    }
    $("form-device").reset();
    await loadDevices();
  }

  async function start() {
    me = await Enr.me("/patron.html");
    $("loading").hidden = true;
    if (!me) return;
    if (me.error) { Enr.error($("page-msg"), me.error); return; }
    if (!Enr.hasRole(me, "employer_rep", "admin")) {
      huellaMessage($("page-msg"), "forbidden_page");
      return;
    }
    $("company-box").hidden = !!me.employer_rfc;
    ["search", "devices", "register"].forEach((id) => { $(id).hidden = false; });
    $("dev-h").setAttribute("tabindex", "-1");
    await loadDevices();
    const q = new URLSearchParams(location.search).get("q");
    if (q) { $("q").value = q; $("form-search").requestSubmit(); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("form-search").addEventListener("submit", onSearch);
    $("form-device").addEventListener("submit", onRegister);
    $("pem-file").addEventListener("change", onPemFile);
    $("company-rfc").addEventListener("change", () => { if (me) loadDevices(); });
    document.addEventListener("huella:lang", () => { if (me && !me.error) { renderDevices(); } });
    start();
  });
})();
