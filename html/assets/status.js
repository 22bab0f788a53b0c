/* Service status card: polls /healthz. */
"use strict";
async function huellaRefreshStatus() {
  const matcher = document.getElementById("st-matcher");
  try {
    const res = await fetch("/healthz", { cache: "no-store" });
    const doc = await res.json();
    const up = res.ok && doc.matcher === "up";
    matcher.dataset.i18n = up ? "up" : "down";
    matcher.textContent = huellaT(matcher.dataset.i18n);
    matcher.className = up ? "ok" : "bad";
    document.getElementById("st-subjects").textContent =
      up && doc.subjects !== undefined ? doc.subjects.toLocaleString("es-MX") : "—";
    document.getElementById("st-templates").textContent =
      up && doc.templates !== undefined ? doc.templates.toLocaleString("es-MX") : "—";
  } catch (e) {
    matcher.dataset.i18n = "down";
    matcher.textContent = huellaT("down");
    matcher.className = "bad";
  }
}
document.addEventListener("DOMContentLoaded", () => {
  huellaRefreshStatus();
  setInterval(huellaRefreshStatus, 5000);
});
