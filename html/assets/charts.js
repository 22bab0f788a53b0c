/* Small bar charts as inline SVG (no library, nothing from the network,
 * no inline style: classes from asistencia.css and presentation attributes
 * only).  Each chart is role="img" named by its <title> and <desc>; the
 * page puts the same numbers in a table next to it. */
"use strict";
const HuellaCharts = (function () {
  const NS = "http://www.w3.org/2000/svg";
  let seq = 0;
  function node(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, String(v)));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function niceMax(v) {
    if (v <= 5) return Math.max(1, Math.ceil(v));
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  /**
   * bars(container, {title, desc, labels: [..], series: [{name, values, cls}],
   *      every: n (label every n-th bar), width, height})
   * Series are drawn side by side within each group; a legend follows.
   */
  function bars(container, opt) {
    while (container.firstChild) container.removeChild(container.firstChild);
    // The drawing is as wide as its box, so that 12px text stays 12px.
    const W = opt.width || Math.max(300, Math.min(900, container.clientWidth || 720));
    const H = opt.height || (W < 500 ? 220 : 260);
    const L = 40, R = 10, T = 14, B = 46;
    const n = opt.labels.length;
    const ns = opt.series.length;
    const max = niceMax(Math.max(1, ...opt.series.flatMap((s) => s.values)));
    const id = `chart-${++seq}`;
    const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart-svg",
      "aria-labelledby": `${id}-t ${id}-d`, preserveAspectRatio: "xMidYMid meet" });
    svg.appendChild(node("title", { id: `${id}-t` }, opt.title));
    svg.appendChild(node("desc", { id: `${id}-d` }, opt.desc || ""));
    const g = node("g", { "aria-hidden": "true" });
    const ph = H - T - B, pw = W - L - R;
    const ticks = max <= 5 ? max : 4;
    for (let i = 0; i <= ticks; i++) {
      const v = (max / ticks) * i;
      const y = T + ph - (v / max) * ph;
      g.appendChild(node("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
      g.appendChild(node("text", { x: L - 6, y: y + 4, "text-anchor": "end", class: "axis" },
        Number.isInteger(v) ? String(v) : v.toFixed(1)));
    }
    const gw = pw / Math.max(1, n);
    const bw = Math.max(2, (gw * 0.8) / ns);
    const every = opt.every || Math.max(1, Math.ceil(n / Math.max(4, Math.floor(pw / 40))));
    opt.labels.forEach((lab, i) => {
      const x0 = L + gw * i + gw * 0.1;
      opt.series.forEach((s, k) => {
        const v = s.values[i] || 0;
        const h = (v / max) * ph;
        const r = node("rect", { x: x0 + k * bw, y: T + ph - h, width: bw - 1, height: Math.max(0, h),
          class: `bar ${s.cls || ""}` });
        g.appendChild(r);
      });
      if (i % every === 0) {
        g.appendChild(node("text", { x: L + gw * i + gw / 2, y: H - B + 16, "text-anchor": "middle",
          class: "axis" }, lab));
      }
    });
    g.appendChild(node("line", { x1: L, x2: W - R, y1: T + ph, y2: T + ph, class: "baseline" }));
    // legend
    let lx = L;
    opt.series.forEach((s) => {
      g.appendChild(node("rect", { x: lx, y: H - 16, width: 12, height: 12, class: `bar ${s.cls || ""}` }));
      const t = node("text", { x: lx + 16, y: H - 6, class: "axis legend-text" }, s.name);
      g.appendChild(t);
      lx += 28 + s.name.length * 8;
    });
    svg.appendChild(g);
    container.appendChild(svg);
    return svg;
  }
  return { bars };
})();
