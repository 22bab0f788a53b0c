/* Huella portal strings: es-MX first, English second. */
"use strict";
const HUELLA_STRINGS = {
  "es-MX": {
    title: "Portal de identidad y asistencia",
    lead: "Registro de entradas y salidas, enrolamiento biométrico de trabajadores y comprobación de supervivencia.",
    status: "Estado del servicio", portal: "Portal", up: "En servicio",
    matcher: "Motor biométrico", checking: "Consultando…", down: "Fuera de servicio",
    subjects: "Personas registradas", templates: "Huellas enroladas",
    api: "Para integradores",
    api_text: "La API HTTP v1 está documentada en",
    foot: "Huella · software libre"
  },
  en: {
    title: "Identity and attendance portal",
    lead: "Entry and exit punches, biometric enrollment of workers and proof of life.",
    status: "Service status", portal: "Portal", up: "Up",
    matcher: "Biometric matcher", checking: "Checking…", down: "Down",
    subjects: "People registered", templates: "Fingerprints enrolled",
    api: "For integrators",
    api_text: "The HTTP API v1 is documented in",
    foot: "Huella · free software"
  }
};

function huellaLang() {
  return localStorage.getItem("huella.lang") || "es-MX";
}

function huellaT(key) {
  const table = HUELLA_STRINGS[huellaLang()] || HUELLA_STRINGS["es-MX"];
  return table[key] || HUELLA_STRINGS["es-MX"][key] || key;
}

function huellaApplyLang() {
  const lang = huellaLang();
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => {
    el.textContent = huellaT(el.dataset.i18n);
  });
  document.querySelectorAll(".lang").forEach((b) => {
    b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".lang").forEach((b) => {
    b.addEventListener("click", () => {
      localStorage.setItem("huella.lang", b.dataset.lang);
      huellaApplyLang();
      document.dispatchEvent(new Event("huella:lang"));
    });
  });
  huellaApplyLang();
});
