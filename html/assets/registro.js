/* Self-registration (POST /api/v1/accounts), with live checks of the CURP
 * and the NSS through POST /api/v1/validate. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const seq = { curp: 0, nss: 0 };
  const verdict = { curp: null, nss: null };   // last server answer
  const checked = { curp: null, nss: null };   // ... for this value

  const FIELD_OF = {
    curp: "curp", nss: "nss", email: "email", password: "password",
    security_question: "question", security_answer: "answer",
  };

  function okNote(type, on) {
    const el = $(`${type}-ok`);
    if (!el) return;
    if (on) { huellaSetText(el, `${type}_ok`); el.hidden = false; }
    else { el.hidden = true; el.textContent = ""; delete el.dataset.i18n; }
  }

  async function check(type) {
    const input = $(type);
    const value = input.value.trim();
    if (value && value === checked[type] && verdict[type] !== null) return;
    checked[type] = value;
    const mine = ++seq[type];
    verdict[type] = null;
    okNote(type, false);
    if (!value) { huellaFieldError(input); return; }
    const r = await huellaApi("POST", "/api/v1/validate", { type, value });
    if (mine !== seq[type]) return;      // a newer check is on its way
    if (!r.ok || !r.data || typeof r.data.valid !== "boolean") {
      checked[type] = null;
      huellaFieldError(input);             // the server decides at submit
      return;
    }
    verdict[type] = r.data.valid;
    if (r.data.valid) {
      huellaFieldError(input);
      okNote(type, true);
    } else {
      huellaFieldError(input, r.data.reason ? null : `err_invalid_${type}`,
                       null, r.data.reason);
    }
  }

  function passwordCount() {
    const n = [...$("password").value].length;
    const el = $("password-count");
    if (!n) { el.textContent = ""; delete el.dataset.i18n; return; }
    huellaSetText(el, n >= HUELLA_PASSWORD_MIN ? "password_count_ok" : "password_count",
                  { n, min: HUELLA_PASSWORD_MIN });
  }

  function questionText() {
    const sel = $("question");
    if (sel.value === "custom") return $("custom-question").value.trim();
    return huellaT(sel.value);
  }

  function localChecks() {
    const bad = [];
    const need = (id) => {
      if (!$(id).value.trim()) { huellaFieldError($(id), "err_required"); bad.push($(id)); return false; }
      return true;
    };
    if (need("curp")) {
      if (verdict.curp === false) bad.push($("curp"));
      else if ($("curp").value.trim().length !== 18) {
        huellaFieldError($("curp"), null, null, "a CURP has exactly 18 characters");
        bad.push($("curp"));
      }
    }
    if (need("nss")) {
      if (verdict.nss === false) bad.push($("nss"));
      else if (!/^\d{11}$/.test($("nss").value.trim())) {
        huellaFieldError($("nss"), null, null, "an NSS has exactly 11 digits");
        bad.push($("nss"));
      }
    }
    if (need("email") && !/^[^@\s]+@[^@\s]+$/.test($("email").value.trim())) {
      huellaFieldError($("email"), "err_invalid_email"); bad.push($("email"));
    }
    const pw = $("password").value;
    if (!pw) { huellaFieldError($("password"), "err_required"); bad.push($("password")); }
    else if ([...pw].length < HUELLA_PASSWORD_MIN) {
      huellaFieldError($("password"), "err_password_too_short", { min: HUELLA_PASSWORD_MIN });
      bad.push($("password"));
    }
    if (!$("password2").value) {
      huellaFieldError($("password2"), "err_required"); bad.push($("password2"));
    } else if ($("password2").value !== pw) {
      huellaFieldError($("password2"), "err_password_mismatch"); bad.push($("password2"));
    }
    if ($("question").value === "custom") need("custom-question");
    need("answer");
    return bad;
  }

  async function onSubmit(e) {
    e.preventDefault();
    const box = $("reg-msg"), btn = $("reg-submit");
    huellaMessage(box, null);
    ["email", "password", "password2", "custom-question", "answer", "question"]
      .forEach((id) => huellaFieldError($(id)));
    if (verdict.curp !== false) huellaFieldError($("curp"));
    if (verdict.nss !== false) huellaFieldError($("nss"));
    const bad = localChecks();
    if (bad.length) {
      huellaMessage(box, "fix_fields");
      bad[0].focus();
      return;
    }
    btn.disabled = true;
    const r = await huellaApi("POST", "/api/v1/accounts", {
      curp: $("curp").value.trim().toUpperCase(),
      nss: $("nss").value.trim(),
      email: $("email").value.trim(),
      password: $("password").value,
      security_question: questionText(),
      security_answer: $("answer").value.trim(),
    }, { csrf: false });
    btn.disabled = false;
    if (r.ok) {
      $("reg-form-box").hidden = true;
      huellaSetText($("reg-done-text"), "reg_done",
                    { name: (r.data && r.data.name) || "" });
      $("reg-done").hidden = false;
      $("reg-done-h").focus();
      return;
    }
    const err = r.error;
    const field = err.code === "account_exists" ? "curp" : FIELD_OF[err.field];
    if (field) {
      let input = $(field);
      if (field === "question" && $("question").value === "custom") input = $("custom-question");
      huellaServerFieldError(input, err);
      okNote(field, false);
      huellaMessage(box, "fix_fields");
      input.focus();
    } else {
      huellaMessage(box, huellaErrorKey(err.code), huellaErrorVars(err));
      box.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    huellaSetText($("password-hint"), "password_hint", { min: HUELLA_PASSWORD_MIN });
    const curp = $("curp");
    curp.addEventListener("input", () => {
      const up = curp.value.toUpperCase();
      if (up !== curp.value) {
        const pos = curp.selectionStart;
        curp.value = up;
        curp.setSelectionRange(pos, pos);
      }
      if (curp.value.trim().length === 18) check("curp");
      else { verdict.curp = null; okNote("curp", false); }
    });
    curp.addEventListener("change", () => check("curp"));
    const nss = $("nss");
    nss.addEventListener("input", () => {
      if (nss.value.trim().length === 11) check("nss");
      else { verdict.nss = null; okNote("nss", false); }
    });
    nss.addEventListener("change", () => check("nss"));
    $("password").addEventListener("input", passwordCount);
    $("password2").addEventListener("change", () => {
      const p2 = $("password2");
      if (p2.value && p2.value !== $("password").value) {
        huellaFieldError(p2, "err_password_mismatch");
      } else huellaFieldError(p2);
    });
    $("show-password").addEventListener("change", (e) => {
      const t = e.target.checked ? "text" : "password";
      $("password").type = t;
      $("password2").type = t;
    });
    $("question").addEventListener("change", () => {
      $("custom-box").hidden = $("question").value !== "custom";
    });
    $("reg-msg").tabIndex = -1;
    $("form-reg").addEventListener("submit", onSubmit);
  });
})();
