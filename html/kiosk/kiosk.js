/* Kiosk (reloj checador): a large clock in the institution's time zone,
 * an optional matrícula keypad, and a punch through the capture device
 * agent (agent-sim.js describes the agent and simulates it for the demo).
 *
 * The answer of POST /api/v1/punches is shown as soon as it arrives:
 * 201 {curp, name, kind: entrada|salida, at, folio, status, method:
 * finger|face}; 401 no_match with attempts_left (field "face" when only a
 * face was sent), 401 biometrics_disagree (finger and face of two people);
 * 423 biometric_disabled (50 failures in a row: an admin re-enables); 429
 * too_many_attempts with retry_after (a countdown).
 *
 * Flaky network: punches are NEVER queued.  When the kiosk is offline, or
 * the request fails or times out, the screen says "No se registró: sin
 * conexión. Intente de nuevo" and the person punches again later (a
 * repeated punch within attendance.duplicate_window_min is acknowledged
 * and not counted twice, so retrying after an unclear failure is safe).
 * The connection indicator follows navigator.onLine, a /healthz poll and
 * the outcome of each punch. */
"use strict";
(function () {
  const TZ = "America/Mexico_City";
  const RESET_MS = 7000;          // back to "place your finger" after this
  const TIMEOUT_MS = 5000;        // no answer by then: not recorded
  const $ = (id) => document.getElementById(id);
  let online = navigator.onLine;
  let busy = false, resetTimer = 0, countdown = 0, countdownUntil = 0;

  const clockFmt = new Intl.DateTimeFormat("es-MX", { timeZone: TZ, hour: "2-digit",
    minute: "2-digit", second: "2-digit", hour12: false });
  const dateFmt = new Intl.DateTimeFormat("es-MX", { timeZone: TZ, weekday: "long",
    day: "numeric", month: "long", year: "numeric" });

  function tick() {
    const now = new Date();
    $("clock").textContent = clockFmt.format(now);
    $("clock").setAttribute("datetime", now.toISOString());
    const d = dateFmt.format(now);
    $("date").textContent = d.charAt(0).toUpperCase() + d.slice(1);
    setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
  }

  function agentUrl() {
    const q = new URLSearchParams(location.search).get("agente");
    return (q && huellaSafeReturn(q)) || document.body.dataset.agentUrl || "/kiosk-agent/v1/punch";
  }

  function setOnline(v) {
    online = v;
    const c = $("conn");
    c.className = `conn ${v ? "conn-on" : "conn-off"}`;
    huellaSetText($("conn-text"), v ? "kiosk_online" : "kiosk_offline");
  }

  async function ping() {
    if (!navigator.onLine) { setOnline(false); return; }
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 3000);
    try {
      const r = await fetch("/healthz", { cache: "no-store", signal: ctl.signal });
      setOnline(r.ok || r.status === 503);
    } catch (e) {
      setOnline(false);
    } finally { clearTimeout(t); }
  }

  /* The result panel: tone idle|busy|ok|warn|bad, a title and lines. */
  function show(tone, title, line, extra) {
    const box = $("result");
    box.className = `result result-${tone}`;
    box.setAttribute("aria-live", box.dataset.quiet ? "off" : "assertive");
    const set = (el, v) => {
      if (!v) { el.textContent = ""; delete el.dataset.i18n; el.hidden = true; return; }
      el.hidden = false;
      if (typeof v === "string") { delete el.dataset.i18n; el.textContent = v; }
      else huellaSetText(el, v[0], v[1]);
    };
    set($("r-title"), title);
    set($("r-line"), line);
    set($("r-extra"), extra);
  }

  function idle() {
    clearTimeout(resetTimer);
    show("idle", ["kiosk_place"], ["kiosk_place_hint"], null);
  }
  function later(ms) {
    clearTimeout(resetTimer);
    resetTimer = setTimeout(idle, ms);
  }

  function timeOf(at) {
    const m = /T(\d{2}:\d{2})/.exec(at || "");
    return m ? m[1] : clockFmt.format(new Date()).slice(0, 5);
  }

  function success(d) {
    const kind = d.kind === "salida" ? "salida" : "entrada";
    const st = d.status || d.punch_status || "";
    const stKey = `att_st_${st}`;
    show(st === "retardo" || st === "falta" || st === "salida_anticipada" ? "warn" : "ok",
      [kind === "salida" ? "kiosk_ok_salida" : "kiosk_ok_entrada", { name: d.name || d.curp || "" }],
      ["kiosk_registered", { kind: huellaT(`att_kind_${kind}`), time: timeOf(d.at) }],
      `${HUELLA_STRINGS["es-MX"][stKey] ? huellaT(stKey) : ""}${st && d.folio ? " · " : ""}${d.folio ? huellaT("kiosk_folio", { folio: d.folio }) : ""}`);
    if (st === "duplicada" || d.counted === false) {
      huellaSetText($("r-extra"), "kiosk_duplicate");
    } else if (d.method === "face") {
      const ex = $("r-extra");
      ex.hidden = false;
      ex.textContent = `${ex.textContent ? `${ex.textContent} · ` : ""}${huellaT("kiosk_by_face")}`;
    }
    $("result").dataset.method = d.method || "finger";
    $("result").dataset.kind = kind;
    $("result").dataset.status = st;
    $("matricula").value = "";
    later(RESET_MS);
  }

  function refuseOffline() {
    setOnline(false);
    show("bad", ["kiosk_offline_refused"], ["kiosk_offline_detail"], null);
    later(RESET_MS + 3000);
  }

  function startCountdown(seconds) {
    countdownUntil = Date.now() + seconds * 1000;
    $("punch").disabled = true;
    clearInterval(countdown);
    let first = true;
    const step = () => {
      const left = Math.max(0, Math.ceil((countdownUntil - Date.now()) / 1000));
      // Announced once, not every second.
      if (!first) $("result").dataset.quiet = "1";
      first = false;
      show("bad", ["kiosk_throttled_title"], ["kiosk_throttled", { time: huellaClock(left) }], null);
      $("r-line").classList.add("timer");
      if (left <= 0) {
        clearInterval(countdown);
        delete $("result").dataset.quiet;
        $("r-line").classList.remove("timer");
        $("punch").disabled = false;
        idle();
      }
    };
    step();
    countdown = setInterval(step, 1000);
  }

  function failure(r) {
    const err = r.error || {};
    if (r.status === 0) { refuseOffline(); return; }
    if (r.status === 429 || err.code === "too_many_attempts" ||
        (err.code === "no_match" && err.attempts_left === 0 && err.retry_after)) {
      startCountdown(err.retry_after || 30);
      return;
    }
    if (r.status === 423 || err.code === "biometric_disabled") {
      show("bad", ["kiosk_bio_disabled"], ["kiosk_bio_disabled_hint"], null);
      $("matricula").value = "";
      later(RESET_MS + 3000);
      return;
    }
    if (err.code === "biometrics_disagree") {
      const n = err.attempts_left;
      show("warn", ["kiosk_disagree"], ["kiosk_disagree_hint"],
        n === undefined ? null : n === 1 ? ["kiosk_attempts_one"] : ["kiosk_attempts", { n }]);
      later(RESET_MS);
      return;
    }
    if (r.status === 401 && err.code !== "no_match") {
      // The request's device signature was refused: not the person's fault.
      show("bad", ["kiosk_device"], null, err.code ? `(${err.code})` : null);
      later(RESET_MS);
      return;
    }
    if (err.code === "no_match") {
      const n = err.attempts_left;
      show("warn", [err.field === "face" ? "kiosk_no_match_face" : "kiosk_no_match"],
        n === undefined ? null : n === 1 ? ["kiosk_attempts_one"] : ["kiosk_attempts", { n }], null);
      later(RESET_MS);
      return;
    }
    if (/^(invalid_template|unsupported_format|bad_capture)$/.test(err.code)) {
      show("warn", ["kiosk_bad_capture"], null, null);
    } else if (/matricula|not_found/.test(err.code) || err.field === "matricula") {
      show("warn", ["kiosk_unknown_matricula"], null, null);
    } else if (r.status >= 502 && r.status <= 504) {
      refuseOffline();
      return;
    } else {
      show("bad", ["kiosk_error"], null, err.code ? `(${err.code})` : null);
    }
    later(RESET_MS);
  }

  async function punch() {
    if (busy || $("punch").disabled) return;
    clearTimeout(resetTimer);
    if (!navigator.onLine) { refuseOffline(); return; }
    busy = true;
    $("punch").disabled = true;
    show("busy", ["kiosk_reading"], null, null);
    delete $("result").dataset.kind;
    delete $("result").dataset.status;
    const r = await HuellaKioskAgent.punch({ matricula: $("matricula").value.trim().toUpperCase(),
                                            url: agentUrl(), timeoutMs: TIMEOUT_MS });
    busy = false;
    $("punch").disabled = false;
    if (r.ok && r.data) { setOnline(true); success(r.data); }
    else failure(r);
  }

  function key(k) {
    const inp = $("matricula");
    if (k === "back") inp.value = inp.value.slice(0, -1);
    else if (inp.value.length < 16) inp.value += k;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("agent-note").hidden = !(HuellaKioskAgent && HuellaKioskAgent.simulated);
    tick();
    setOnline(navigator.onLine);
    ping();
    setInterval(ping, 10000);
    window.addEventListener("online", () => { setOnline(true); ping(); });
    window.addEventListener("offline", () => setOnline(false));
    $("punch").addEventListener("click", punch);
    document.querySelectorAll(".key").forEach((b) =>
      b.addEventListener("click", () => key(b.dataset.key)));
    $("clear").addEventListener("click", () => { $("matricula").value = ""; });
    // A reader's "finger down" may arrive as Enter from the agent's keyboard wedge.
    $("matricula").addEventListener("keydown", (e) => { if (e.key === "Enter") punch(); });
  });
})();
