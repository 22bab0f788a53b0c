/* Profile: GET /api/v1/me, password change (PUT /api/v1/me/password).
 * Without a session it goes to the login page, which brings the user back. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let me = null;

  function toLogin() {
    HuellaSession.clear();
    location.replace("/login.html?return=" + encodeURIComponent("/perfil.html"));
  }

  function render() {
    if (!me) return;
    $("me-name").textContent = me.name || "—";
    $("me-curp").textContent = me.curp || "—";
    $("me-email").textContent = me.email || "—";
    const ul = $("me-roles");
    ul.textContent = "";
    (me.roles || []).forEach((r) => {
      const li = document.createElement("li");
      const key = `role_${r}`;
      li.textContent = HUELLA_STRINGS["es-MX"][key] ? huellaT(key) : r;
      ul.appendChild(li);
    });
    document.querySelectorAll(".opt-employer").forEach((el) => { el.hidden = !me.employer_rfc; });
    $("me-employer").textContent = me.employer_rfc || "";
    const mk = `method_${me.auth_method}`;
    $("me-method").textContent = HUELLA_STRINGS["es-MX"][mk] ? huellaT(mk) : (me.auth_method || "—");
  }

  async function load() {
    const r = await huellaApi("GET", "/api/v1/me");
    $("prof-loading").hidden = true;
    if (r.status === 401) { toLogin(); return; }
    if (!r.ok || !r.data) {
      huellaMessage($("prof-msg"), huellaErrorKey(r.error && r.error.code),
                    huellaErrorVars(r.error));
      return;
    }
    me = r.data;
    HuellaSession.save(me);
    render();
    $("prof-data").hidden = false;
    // The pages this person's roles open; the server still checks each call.
    const roles = new Set(me.roles || []);
    let shown = 0;
    document.querySelectorAll("#prof-links [data-roles]").forEach((li) => {
      li.hidden = !li.dataset.roles.split(" ").some((r) => roles.has(r));
      if (!li.hidden) shown++;
    });
    $("prof-links").hidden = shown === 0;
    // A password is changed from a password session; an e.firma session
    // (a company's representative) or a service token has none to change.
    $("prof-password").hidden = me.auth_method !== "password";
  }

  async function onPassword(e) {
    e.preventDefault();
    const cur = $("current-password"), p1 = $("new-password"), p2 = $("new-password2");
    const box = $("pw-msg");
    huellaMessage(box, null);
    [cur, p1, p2].forEach((el) => huellaFieldError(el));
    let first = null;
    if (!cur.value) { huellaFieldError(cur, "err_required"); first = cur; }
    if (!p1.value) { huellaFieldError(p1, "err_required"); first = first || p1; }
    else if ([...p1.value].length < HUELLA_PASSWORD_MIN) {
      huellaFieldError(p1, "err_password_too_short", { min: HUELLA_PASSWORD_MIN });
      first = first || p1;
    }
    if (p2.value !== p1.value) { huellaFieldError(p2, "err_password_mismatch"); first = first || p2; }
    if (first) { first.focus(); return; }
    $("pw-submit").disabled = true;
    const body = { current_password: cur.value, new_password: p1.value };
    let r = await huellaApi("PUT", "/api/v1/me/password", body);
    if (r.status === 403 && /csrf/i.test(r.error.code)) {
      // The tab's token is stale: take the session's and try once more.
      const m = await huellaApi("GET", "/api/v1/me");
      if (m.ok) { HuellaSession.save(m.data); r = await huellaApi("PUT", "/api/v1/me/password", body); }
    }
    $("pw-submit").disabled = false;
    if (r.ok) {
      [cur, p1, p2].forEach((el) => { el.value = ""; });
      huellaMessage(box, "password_changed", null, "ok");
      return;
    }
    const err = r.error;
    if (err.field === "current_password" || err.code === "invalid_credentials") {
      huellaFieldError(cur, "err_current_password");
      cur.focus();
    } else if (r.status === 401) {
      toLogin();
    } else if (err.field === "new_password" || err.field === "password" ||
               /^password_/.test(err.code)) {
      huellaServerFieldError(p1, err);
      p1.focus();
    } else {
      huellaMessage(box, huellaErrorKey(err.code), huellaErrorVars(err));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    huellaSetText($("new-password-hint"), "password_hint", { min: HUELLA_PASSWORD_MIN });
    $("form-password").addEventListener("submit", onPassword);
    document.addEventListener("huella:lang", render);
    load();
  });
})();
