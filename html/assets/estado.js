/* Admin status page: reads /metrics (Prometheus text, same origin; the
 * server lets only its allow-list in) every 5 s and shows rates over the
 * last interval: requests/s, 5xx share, p50/p99 estimated from the latency
 * histogram, and the matcher's state and gallery size. */
"use strict";

const ESTADO_EVERY_MS = 5000;
let estadoPrev = null;

/* name{labels} value lines -> [{name, labels, value}] */
function estadoParse(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[2] || "")) !== null) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function estadoSum(samples, name, filter) {
  return samples.filter((s) => s.name === name && (!filter || filter(s.labels)))
    .reduce((a, s) => a + s.value, 0);
}

function estadoOne(samples, name) {
  const s = samples.find((x) => x.name === name);
  return s ? s.value : undefined;
}

/* the page's own scrapes are not traffic */
const estadoTraffic = (l) => l.route !== "/metrics";

/* cumulative buckets by le, summed over routes */
function estadoBuckets(samples) {
  const b = new Map();
  for (const s of samples) {
    if (s.name !== "huella_http_request_duration_seconds_bucket") continue;
    if (!estadoTraffic(s.labels)) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    b.set(le, (b.get(le) || 0) + s.value);
  }
  return b;
}

/* quantile q of the histogram delta, linear inside a bucket */
function estadoQuantile(now, prev, q) {
  const les = [...now.keys()].sort((a, b) => a - b);
  const d = les.map((le) => (now.get(le) || 0) - ((prev && prev.get(le)) || 0));
  const total = d[d.length - 1];
  if (!total) return undefined;
  const rank = q * total;
  for (let i = 0; i < les.length; i++) {
    if (d[i] >= rank) {
      if (les[i] === Infinity) return les[i - 1];
      const lo = i ? les[i - 1] : 0, below = i ? d[i - 1] : 0;
      const inside = d[i] - below;
      return inside ? lo + (les[i] - lo) * (rank - below) / inside : les[i];
    }
  }
  return undefined;
}

function estadoMs(seconds) {
  if (seconds === undefined) return "—";
  const ms = seconds * 1000;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

function estadoNum(n, digits) {
  if (n === undefined || Number.isNaN(n)) return "—";
  return n.toLocaleString(huellaLang(), { maximumFractionDigits: digits || 0 });
}

function estadoSet(id, text, cls) {
  const el = document.getElementById(id);
  delete el.dataset.i18n;       /* a number now, not a string to redraw */
  delete el.dataset.i18nVars;
  el.textContent = text;
  if (cls !== undefined) el.className = cls;
}

function estadoMessage(key) {
  const el = document.getElementById("es-msg");
  if (key) huellaSetText(el, key);
  el.hidden = !key;
}

function estadoShow(samples, t) {
  const up = estadoOne(samples, "huella_matcher_up") === 1;
  const el = document.getElementById("es-up");
  huellaSetText(el, up ? "up" : "down");
  el.className = up ? "ok" : "bad";

  const workers = estadoOne(samples, "huella_nginx_workers");
  const links = estadoOne(samples, "huella_matcher_links_up");
  estadoSet("es-links", links === undefined ? "—"
    : `${estadoNum(links)} / ${estadoNum(workers)}`,
    links && links === workers ? "ok" : "bad");
  estadoSet("es-slots", estadoNum(estadoOne(samples, "huella_matcher_slots_in_use")));
  estadoSet("es-restarts", estadoNum(estadoOne(samples, "huella_matcher_restarts_total")));
  estadoSet("es-timeouts",
    estadoNum(estadoOne(samples, "huella_matcher_deadline_expiries_total")));
  estadoSet("es-subjects", estadoNum(estadoOne(samples, "huella_gallery_subjects")));
  estadoSet("es-templates", estadoNum(estadoOne(samples, "huella_gallery_templates")));

  const used = estadoOne(samples, "huella_lmdb_map_used_bytes");
  const size = estadoOne(samples, "huella_lmdb_map_size_bytes");
  estadoSet("es-map", used === undefined || !size ? "—"
    : `${estadoNum(100 * used / size, 1)} % (${estadoNum(used / 1048576, 1)} MiB)`,
    used / size > 0.9 ? "bad" : "");

  const total = estadoSum(samples, "huella_http_requests_total", estadoTraffic);
  const errors = estadoSum(samples, "huella_http_requests_total",
    (l) => estadoTraffic(l) && /^5/.test(l.code));
  const buckets = estadoBuckets(samples);

  if (estadoPrev) {
    const dt = (t - estadoPrev.t) / 1000;
    const dn = total - estadoPrev.total;
    const de = errors - estadoPrev.errors;
    estadoSet("es-rps", dt > 0 ? estadoNum(dn / dt, 1) : "—");
    estadoSet("es-errors", dn > 0 ? `${estadoNum(100 * de / dn, 1)} %` : "0 %",
      de > 0 ? "bad" : "ok");
    estadoSet("es-p50", estadoMs(estadoQuantile(buckets, estadoPrev.buckets, 0.5)));
    estadoSet("es-p99", estadoMs(estadoQuantile(buckets, estadoPrev.buckets, 0.99)));
  } else {
    huellaSetText(document.getElementById("es-rps"), "estado_waiting");
  }
  estadoPrev = { t, total, errors, buckets };
  estadoUpdatedAt = t;
  estadoDrawUpdated();
}

/* "Updated: <time>" in the page's language and the institution's time
 * zone; drawn again on a language switch. */
let estadoUpdatedAt = 0;
function estadoDrawUpdated() {
  if (!estadoUpdatedAt) return;
  huellaSetText(document.getElementById("es-updated"), "estado_updated",
    { time: new Date(estadoUpdatedAt).toLocaleTimeString(huellaLang(),
      { timeZone: HUELLA_TZ }) });
}

async function estadoRefresh() {
  try {
    const res = await fetch("/metrics", { cache: "no-store" });
    if (res.status === 403) {
      estadoMessage("estado_forbidden");
      return;
    }
    if (!res.ok) throw new Error(String(res.status));
    const samples = estadoParse(await res.text());
    estadoMessage(null);
    estadoShow(samples, Date.now());
  } catch (e) {
    estadoMessage("estado_unreachable");
    const el = document.getElementById("es-up");
    huellaSetText(el, "down");
    el.className = "bad";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  estadoRefresh();
  setInterval(estadoRefresh, ESTADO_EVERY_MS);
  document.addEventListener("huella:lang", estadoDrawUpdated);
});
