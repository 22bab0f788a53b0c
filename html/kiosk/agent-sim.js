/* The fingerprint reader, SIMULATED for the demo (the agent is real).
 *
 * How a real kiosk works: a small local process, the "capture device
 * agent", runs on the kiosk next to the fingerprint reader.  It holds the
 * kiosk's device key (registered with POST /api/v1/devices, see
 * docs/devices.md) and is reached by this page at a same-origin path (the
 * kiosk's local web server proxies `data-agent-url`, by default
 * /kiosk-agent/v1/punch, to it: the portal's CSP allows no other origin).
 * On a POST {"matricula"?} from the page it captures the finger, builds
 * {"finger":{"format":"iso19794-2:2005","data":"<base64>"},"matricula"?},
 * signs the request with RFC 9421 (Signature-Input, Signature,
 * Content-Digest; DESIGN.md section 5) and sends it to POST /api/v1/punches,
 * then hands the server's answer back unchanged (status and JSON).
 * THE BROWSER NEVER HOLDS THE DEVICE KEY and never signs anything.
 *
 * This simulation stands in for the reader only: it picks a demo ISO
 * 19794-2 template (/kiosk/demo/NNN_2.iso, second impressions of the demo
 * subjects 101..110; by matrícula M000N -> 10N, else ?dedo=NNN, else one at
 * random), and posts it with the matrícula to the same agent URL.  In run
 * mode (`./build.sh run`) tools/kiosk-agent.py answers there: it signs
 * with the demo kiosk's key and forwards the punch to Huella.  With no
 * agent listening there the page says the punch was not recorded.
 *
 * Interface used by kiosk.js:
 *   HuellaKioskAgent.punch({matricula, url, timeoutMs}) ->
 *     Promise<{ok, status, data, error}>   (never throws; status 0 =
 *     the network failed or the agent did not answer in time)
 */
"use strict";
const HuellaKioskAgent = (function () {
  const DEMO = ["101", "102", "103", "104", "105", "106", "107", "108", "109", "110"];
  const cache = new Map();

  function pick(matricula) {
    const m = /^M0*(\d{1,2})$/i.exec(matricula || "");
    if (m && +m[1] >= 1 && +m[1] <= 10) return String(100 + Number(m[1]));
    const q = new URLSearchParams(location.search).get("dedo");
    if (q && DEMO.includes(q)) return q;
    return DEMO[Math.floor(Math.random() * DEMO.length)];
  }

  async function template(id) {
    if (cache.has(id)) return cache.get(id);
    const res = await fetch(`/kiosk/demo/${id}_2.iso`, { cache: "force-cache" });
    if (!res.ok) throw new Error(`demo template ${id}: ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    let s = "";
    bytes.forEach((b) => { s += String.fromCharCode(b); });
    const b64 = btoa(s);
    cache.set(id, b64);
    return b64;
  }

  async function punch({ matricula, url, timeoutMs }) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs || 5000);
    try {
      let data;
      try { data = await template(pick(matricula)); }
      catch (e) {
        return { ok: false, status: 0, data: null,
                 error: { code: "network_error", message: String(e) } };
      }
      const body = { finger: { format: "iso19794-2:2005", data } };
      if (matricula) body.matricula = matricula;
      let res;
      try {
        res = await fetch(url, { method: "POST", cache: "no-store", signal: ctl.signal,
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(body) });
      } catch (e) {
        return { ok: false, status: 0, data: null,
                 error: { code: "network_error", message: String(e) } };
      }
      let doc = null;
      try { doc = await res.json(); } catch (e) { doc = null; }
      if (res.ok) return { ok: true, status: res.status, data: doc, error: null };
      const e = (doc && typeof doc.error === "object" && doc.error) || {};
      const error = { code: e.code || `http_${res.status}`, message: e.message || "" };
      for (const k of ["attempts_left", "retry_after"]) {
        const v = e[k] !== undefined ? e[k] : doc && doc[k];
        if (v !== undefined && v !== null && !Number.isNaN(Number(v))) error[k] = Number(v);
      }
      const ra = res.headers.get("Retry-After");
      if (error.retry_after === undefined && ra && /^\d+$/.test(ra.trim())) error.retry_after = Number(ra);
      return { ok: false, status: res.status, data: doc, error };
    } finally {
      clearTimeout(timer);
    }
  }

  return { punch, simulated: true };
})();
