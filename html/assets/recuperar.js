/* Account recovery: user -> security question -> answer -> e-mailed link;
 * opened from that link (#token=...) it asks for the new password. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let user = "";
  let token = "";

  function show(step) {
    ["step-user", "step-answer", "step-sent", "step-new", "step-done"]
      .forEach((id) => { $(id).hidden = id !== step; });
  }

  function fail(err) {
    huellaMessage($("rec-msg"), huellaErrorKey(err.code), huellaErrorVars(err));
    $("rec-msg").focus();
  }

  async function onUser(e) {
    e.preventDefault();
    huellaMessage($("rec-msg"), null);
    const input = $("user");
    huellaFieldError(input);
    user = input.value.trim();
    if (!user) { huellaFieldError(input, "err_required"); input.focus(); return; }
    $("user-submit").disabled = true;
    const r = await huellaApi("POST", "/api/v1/recovery", { user }, { csrf: false });
    $("user-submit").disabled = false;
    if (!r.ok || !r.data || !r.data.question) { fail(r.error || { code: "bad_response" }); return; }
    $("question-text").textContent = r.data.question;
    show("step-answer");
    $("answer").focus();
  }

  async function onAnswer(e) {
    e.preventDefault();
    huellaMessage($("rec-msg"), null);
    const input = $("answer");
    huellaFieldError(input);
    if (!input.value.trim()) { huellaFieldError(input, "err_security_answer"); input.focus(); return; }
    $("answer-submit").disabled = true;
    const r = await huellaApi("POST", "/api/v1/recovery",
                              { user, answer: input.value.trim() }, { csrf: false });
    $("answer-submit").disabled = false;
    if (!r.ok) { fail(r.error); return; }
    input.value = "";
    show("step-sent");
    $("sent-h").focus();
  }

  async function onNew(e) {
    e.preventDefault();
    huellaMessage($("rec-msg"), null);
    const p1 = $("new-password"), p2 = $("new-password2");
    huellaFieldError(p1);
    huellaFieldError(p2);
    let first = null;
    if (!p1.value) { huellaFieldError(p1, "err_required"); first = p1; }
    else if ([...p1.value].length < HUELLA_PASSWORD_MIN) {
      huellaFieldError(p1, "err_password_too_short", { min: HUELLA_PASSWORD_MIN }); first = p1;
    }
    if (p2.value !== p1.value) { huellaFieldError(p2, "err_password_mismatch"); first = first || p2; }
    if (first) { first.focus(); return; }
    $("new-submit").disabled = true;
    const r = await huellaApi("POST", "/api/v1/recovery/finish",
                              { token, new_password: p1.value }, { csrf: false });
    $("new-submit").disabled = false;
    if (r.ok) {
      p1.value = ""; p2.value = "";
      show("step-done");
      $("done-h").focus();
      return;
    }
    if (r.error.field === "new_password" || r.error.field === "password" ||
        /^password_/.test(r.error.code)) {
      huellaServerFieldError(p1, r.error);
      p1.focus();
      return;
    }
    fail(r.error);
    if (huellaErrorKey(r.error.code) === "err_recovery_token_invalid") {
      $("step-new").hidden = true;
      $("again").hidden = false;
    }
  }

  function fromLink() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    huellaMessage($("rec-msg"), null);
    $("again").hidden = true;
    if (m) {
      token = decodeURIComponent(m[1]);
      // Out of the address bar and the history: it is a one-time secret.
      history.replaceState(null, "", location.pathname);
      show("step-new");
    } else if (!token) {
      show("step-user");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    huellaSetText($("new-password-hint"), "password_hint", { min: HUELLA_PASSWORD_MIN });
    fromLink();
    // The link may be opened while the page is already showing.
    window.addEventListener("hashchange", fromLink);
    $("form-user").addEventListener("submit", onUser);
    $("form-answer").addEventListener("submit", onAnswer);
    $("form-new").addEventListener("submit", onNew);
  });
})();
