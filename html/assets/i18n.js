/* Huella portal strings: es-MX first, English second.
 *
 * Markup: data-i18n="key" sets an element's text; data-i18n-vars='{"n":3}'
 * fills {n} in it; data-i18n-attr="aria-label=key,placeholder=key" sets
 * attributes.  Scripts use huellaT(key, vars) and listen for the
 * "huella:lang" event to redraw what they wrote themselves. */
"use strict";

/* The institution's time zone (attendance.time_zone of config/huella.yaml):
 * every date and time the portal shows is in it, whatever the zone of the
 * machine the browser runs on. */
const HUELLA_TZ = "America/Mexico_City";

const HUELLA_STRINGS = {
  "es-MX": {
    title: "Portal de identidad y asistencia",
    index_title: "Huella · Portal de identidad y asistencia",
    lead: "Registro de entradas y salidas, enrolamiento biométrico de trabajadores y comprobación de supervivencia.",
    status: "Estado del servicio", portal: "Portal", up: "En servicio",
    matcher: "Motor biométrico", checking: "Consultando…", down: "Fuera de servicio",
    subjects: "Personas registradas", templates: "Huellas enroladas",
    api: "Para integradores",
    api_text: "La API HTTP v1 está documentada en",
    foot: "Huella · software libre",

    /* header */
    lang_nav: "Idioma", account_nav: "Cuenta", home: "Huella, inicio",
    sign_in: "Iniciar sesión", logout: "Cerrar sesión",
    my_profile: "Mi perfil", working: "Procesando…",

    /* admin status page (estado.html, reads /metrics) */
    estado_title: "Estado del sistema · Huella",
    estado_h1: "Estado del sistema",
    estado_lead: "Tráfico, errores y latencia del portal, y el estado del motor biométrico. Se actualiza cada 5 segundos.",
    estado_traffic: "Tráfico",
    estado_rps: "Solicitudes por segundo",
    estado_error_rate: "Tasa de error (5xx)",
    estado_p50: "Latencia p50 (estimada)",
    estado_p99: "Latencia p99 (estimada)",
    estado_timeouts: "Sin respuesta a tiempo (total)",
    estado_matcher_h: "Motor biométrico",
    estado_links: "Enlaces activos",
    estado_slots: "Solicitudes en curso",
    estado_restarts: "Reinicios",
    estado_data: "Datos",
    estado_map: "Uso del almacenamiento",
    estado_updated: "Actualizado: {time}",
    estado_waiting: "Esperando la segunda lectura…",
    estado_forbidden: "Sin acceso a las métricas: solo se consultan desde la red permitida (huella_metrics_allow).",
    estado_unreachable: "No se pudieron leer las métricas.",

    /* login */
    login_title: "Iniciar sesión · Huella",
    login_h1: "Iniciar sesión",
    login_lead: "Entra con tu contraseña o, si representas a una empresa, con tu e.firma del SAT.",
    login_methods: "Forma de iniciar sesión",
    tab_password: "Contraseña", tab_efirma: "e.firma",
    user_label: "CURP, NSS o matrícula",
    user_hint: "La CURP tiene 18 caracteres; el NSS, 11 dígitos.",
    password_label: "Contraseña",
    show_password: "Mostrar contraseña",
    enter: "Entrar",
    forgot: "¿Olvidaste tu contraseña?",
    no_account: "¿No tienes cuenta?", create_account: "Crear una cuenta",
    logged_out: "Cerraste sesión.",
    session_needed: "Inicia sesión para continuar.",
    attempts_left_one: "Te queda 1 intento antes de que la cuenta se bloquee temporalmente.",
    attempts_left_other: "Te quedan {n} intentos antes de que la cuenta se bloquee temporalmente.",
    attempts_left_zero: "Un intento fallido más bloqueará la cuenta temporalmente.",
    locked_wait: "Podrás intentar de nuevo en",
    locked_over: "Ya puedes intentar de nuevo.",
    wait_label: "Tiempo restante",

    /* e.firma */
    efirma_lead: "Elige el certificado (.cer) y la clave privada (.key) de tu e.firma. La clave y su contraseña se usan solo en este navegador: nunca se envían al servidor.",
    cer_label: "Certificado (.cer)",
    key_label: "Clave privada (.key)",
    key_password_label: "Contraseña de la clave privada",
    cert_details: "Datos del certificado",
    cert_rfc: "RFC", cert_rep_rfc: "RFC del representante", cert_curp: "CURP",
    cert_name: "Nombre", cert_serial: "Número de serie",
    cert_valid: "Vigencia", cert_issuer: "Emisor",
    cert_from_to: "del {from} al {to}",
    cert_expired: "Este certificado venció el {date}. El SAT no lo acepta para iniciar sesión; renuévalo antes de continuar.",
    sign_and_enter: "Firmar y entrar",
    reading_cert: "Leyendo el certificado…",
    signing: "Firmando en este navegador…",
    cert_unreadable: "El archivo .cer no es un certificado válido.",
    need_cer: "Elige el archivo del certificado (.cer).",
    need_key: "Elige el archivo de la clave privada (.key).",
    key_password_wrong: "No se pudo abrir la clave privada: la contraseña es incorrecta o el archivo .key no es válido.",
    key_mismatch: "La clave privada (.key) no corresponde al certificado (.cer).",
    efirma_unavailable: "El inicio de sesión con e.firma no está disponible en este portal (falta la biblioteca de firma).",

    /* registration */
    reg_title: "Crear cuenta · Huella",
    reg_h1: "Crear una cuenta",
    reg_lead: "Todos los campos son obligatorios. Revisamos tu CURP con el registro de población.",
    curp_label: "CURP", curp_hint: "18 caracteres, como aparece en tu constancia.",
    nss_label: "Número de Seguridad Social (NSS)", nss_hint: "11 dígitos.",
    email_label: "Correo electrónico",
    email_hint: "Aquí te enviaremos el enlace si necesitas recuperar tu cuenta.",
    new_password_label: "Contraseña",
    password_hint: "Usa al menos {min} caracteres. Una frase de varias palabras es fácil de recordar y difícil de adivinar. Puedes usar espacios y cualquier carácter; no exigimos mayúsculas, números ni símbolos. No aceptamos contraseñas comunes o que aparecen en filtraciones, ni tu CURP, NSS, nombre o correo.",
    password_count: "{n} de {min} caracteres como mínimo",
    password_count_ok: "{n} caracteres: longitud suficiente",
    confirm_label: "Confirma la contraseña",
    newpw_label: "Nueva contraseña", newpw2_label: "Confirma la nueva contraseña",
    question_label: "Pregunta de seguridad",
    question_hint: "Elige una pregunta cuya respuesta solo tú conozcas y no cambie con el tiempo.",
    q1: "¿Cómo se llamaba tu primera mascota?",
    q2: "¿En qué ciudad nacieron tus abuelos maternos?",
    q3: "¿Cuál fue el nombre de tu escuela primaria?",
    q4: "¿Cuál es el segundo nombre de tu hermano o hermana mayor?",
    q_custom: "Escribir mi propia pregunta",
    custom_question_label: "Tu pregunta",
    answer_label: "Respuesta de seguridad",
    answer_hint: "La necesitarás para recuperar tu cuenta.",
    create: "Crear cuenta",
    checking_field: "Verificando…",
    curp_ok: "CURP válida.", nss_ok: "NSS válido.",
    reg_done_h: "Cuenta creada",
    reg_done: "Listo, {name}: tu cuenta quedó creada. Ya puedes iniciar sesión con tu CURP o tu NSS y tu contraseña.",
    go_login: "Ir a iniciar sesión",
    fix_fields: "Revisa los campos marcados.",
    have_account: "¿Ya tienes cuenta?",

    /* recovery */
    rec_title: "Recuperar cuenta · Huella",
    rec_h1: "Recuperar tu cuenta",
    rec_lead: "Escribe tu CURP, NSS o matrícula. Te haremos tu pregunta de seguridad y, si la respuesta es correcta, te enviaremos un enlace a tu correo.",
    continue: "Continuar",
    rec_question: "Tu pregunta de seguridad",
    answer_send: "Enviar enlace",
    rec_sent_h: "Revisa tu correo",
    rec_sent: "Si los datos son correctos, te enviamos un enlace a tu correo electrónico para elegir una nueva contraseña. El enlace vence en 30 minutos y solo sirve una vez.",
    rec_new_h: "Elige una nueva contraseña",
    rec_save: "Guardar contraseña",
    rec_finished_h: "Contraseña actualizada",
    rec_finished: "Tu contraseña cambió. Ya puedes iniciar sesión con ella.",
    rec_again: "Solicitar otro enlace",

    /* profile */
    prof_title: "Mi perfil · Huella",
    prof_h1: "Mi perfil",
    prof_data: "Mis datos",
    prof_links: "Mis accesos", link_registros: "Mis registros de asistencia", link_justificar: "Justificar una incidencia", link_supervisor: "Bandeja del supervisor", link_reportes: "Reportes de asistencia", link_patron: "Panel del patrón (dispositivos y trabajadores)", link_enrolamiento: "Enrolar a un trabajador", link_auditoria: "Auditoría: posibles duplicados y excepciones", link_estado: "Estado del sistema", link_kiosk: "Quiosco de registro",
    prof_name: "Nombre", prof_curp: "CURP", prof_email: "Correo electrónico",
    prof_roles: "Roles", prof_method: "Forma de inicio de sesión",
    prof_employer: "RFC de la empresa",
    method_password: "Contraseña", method_efirma: "e.firma", method_token: "Token de servicio",
    role_worker: "Trabajador", role_supervisor: "Supervisor",
    role_employer_rep: "Representante del patrón", role_pensioner: "Pensionado",
    role_auditor: "Auditor", role_admin: "Administrador",
    change_password: "Cambiar contraseña",
    current_password_label: "Contraseña actual",
    save_password: "Cambiar contraseña",
    password_changed: "Tu contraseña cambió.",
    loading: "Cargando…",

    /* errors */
    err_required: "Este campo es obligatorio.",
    err_password_mismatch: "Las contraseñas no coinciden.",
    err_invalid_credentials: "La CURP, el NSS, la matrícula o la contraseña no son correctos.",
    err_current_password: "La contraseña actual no es correcta.",
    err_account_locked: "Por seguridad, la cuenta quedó bloqueada temporalmente tras varios intentos fallidos.",
    err_account_disabled: "La cuenta está deshabilitada por demasiados intentos fallidos. Recupérala por correo o pide a un administrador que la desbloquee.",
    err_too_many_attempts: "Demasiados intentos fallidos desde este equipo.",
    err_matcher_unavailable: "El servicio de identidad no está disponible en este momento. Intenta de nuevo en unos segundos.",
    err_network_error: "No se pudo contactar al servidor. Revisa tu conexión e intenta de nuevo.",
    err_generic: "Ocurrió un error ({code}). Intenta de nuevo.",
    err_account_exists: "Ya existe una cuenta con esta CURP. Si es tuya, inicia sesión o recupera tu contraseña.",
    err_invalid_curp: "La CURP no es válida.",
    err_curp_not_in_registry: "Esta CURP no aparece en el registro de población.",
    err_registry_mismatch: "Los datos de esta CURP no coinciden con el registro de población.",
    err_invalid_nss: "El NSS no es válido.",
    err_invalid_email: "El correo electrónico no es válido.",
    err_password_too_short: "La contraseña debe tener al menos {min} caracteres.",
    err_password_too_long: "La contraseña es demasiado larga.",
    err_password_common: "Esta contraseña es común o aparece en filtraciones de contraseñas. Elige otra; una frase de varias palabras funciona bien.",
    err_password_repetitive: "La contraseña es repetitiva o secuencial (como «aaaa» o «123456»). Elige otra.",
    err_password_contains_identity: "La contraseña no debe contener tu CURP, NSS, nombre ni correo.",
    err_password_encoding_invalid: "La contraseña tiene caracteres no válidos.",
    err_password_invalid: "La contraseña no es aceptable. Elige otra.",
    err_security_answer: "Escribe la respuesta de seguridad.",
    err_recovery_token_invalid: "El enlace de recuperación no es válido, ya se usó o venció. Solicita uno nuevo.",
    err_certificate_expired: "El certificado de e.firma está vencido. Renuévalo con el SAT.",
    err_certificate_untrusted: "El certificado no fue emitido por una autoridad certificadora de confianza.",
    err_signature_invalid: "La firma no es válida para este certificado.",
    err_nonce_invalid: "El reto de inicio de sesión venció o ya se usó. Intenta de nuevo.",
    err_trust_store_invalid: "El inicio de sesión con e.firma no está habilitado en este servidor.",
    err_session_expired: "Tu sesión terminó. Inicia sesión de nuevo."
  },
  en: {
    title: "Identity and attendance portal",
    index_title: "Huella · Identity and attendance portal",
    lead: "Entry and exit punches, biometric enrollment of workers and proof of life.",
    status: "Service status", portal: "Portal", up: "Up",
    matcher: "Biometric matcher", checking: "Checking…", down: "Down",
    subjects: "People registered", templates: "Fingerprints enrolled",
    api: "For integrators",
    api_text: "The HTTP API v1 is documented in",
    foot: "Huella · free software",

    lang_nav: "Language", account_nav: "Account", home: "Huella, home",
    sign_in: "Sign in", logout: "Sign out",
    my_profile: "My profile", working: "Working…",

    /* admin status page (estado.html, reads /metrics) */
    estado_title: "System status · Huella",
    estado_h1: "System status",
    estado_lead: "Portal traffic, errors and latency, and the state of the biometric matcher. Refreshed every 5 seconds.",
    estado_traffic: "Traffic",
    estado_rps: "Requests per second",
    estado_error_rate: "Error rate (5xx)",
    estado_p50: "Latency p50 (estimate)",
    estado_p99: "Latency p99 (estimate)",
    estado_timeouts: "No answer in time (total)",
    estado_matcher_h: "Biometric matcher",
    estado_links: "Links up",
    estado_slots: "Calls in flight",
    estado_restarts: "Restarts",
    estado_data: "Data",
    estado_map: "Storage in use",
    estado_updated: "Updated: {time}",
    estado_waiting: "Waiting for the second reading…",
    estado_forbidden: "No access to the metrics: they can only be read from the allowed network (huella_metrics_allow).",
    estado_unreachable: "The metrics could not be read.",

    login_title: "Sign in · Huella",
    login_h1: "Sign in",
    login_lead: "Sign in with your password or, if you represent a company, with your SAT e.firma.",
    login_methods: "Sign-in method",
    tab_password: "Password", tab_efirma: "e.firma",
    user_label: "CURP, NSS or staff number",
    user_hint: "A CURP has 18 characters; an NSS, 11 digits.",
    password_label: "Password",
    show_password: "Show password",
    enter: "Sign in",
    forgot: "Forgot your password?",
    no_account: "No account yet?", create_account: "Create an account",
    logged_out: "You signed out.",
    session_needed: "Sign in to continue.",
    attempts_left_one: "You have 1 attempt left before the account is locked for a while.",
    attempts_left_other: "You have {n} attempts left before the account is locked for a while.",
    attempts_left_zero: "One more failed attempt will lock the account for a while.",
    locked_wait: "You can try again in",
    locked_over: "You can try again now.",
    wait_label: "Time left",

    efirma_lead: "Choose the certificate (.cer) and the private key (.key) of your e.firma. The key and its password are used only in this browser: they are never sent to the server.",
    cer_label: "Certificate (.cer)",
    key_label: "Private key (.key)",
    key_password_label: "Private key password",
    cert_details: "Certificate details",
    cert_rfc: "RFC", cert_rep_rfc: "Representative's RFC", cert_curp: "CURP",
    cert_name: "Name", cert_serial: "Serial number",
    cert_valid: "Valid", cert_issuer: "Issuer",
    cert_from_to: "from {from} to {to}",
    cert_expired: "This certificate expired on {date}. The SAT does not accept it for signing in; renew it first.",
    sign_and_enter: "Sign and enter",
    reading_cert: "Reading the certificate…",
    signing: "Signing in this browser…",
    cert_unreadable: "The .cer file is not a valid certificate.",
    need_cer: "Choose the certificate file (.cer).",
    need_key: "Choose the private key file (.key).",
    key_password_wrong: "Could not open the private key: the password is wrong or the .key file is not valid.",
    key_mismatch: "The private key (.key) does not belong to the certificate (.cer).",
    efirma_unavailable: "Signing in with e.firma is not available on this portal (the signing library is missing).",

    reg_title: "Create an account · Huella",
    reg_h1: "Create an account",
    reg_lead: "All fields are required. We check your CURP against the population registry.",
    curp_label: "CURP", curp_hint: "18 characters, as on your CURP record.",
    nss_label: "Social Security Number (NSS)", nss_hint: "11 digits.",
    email_label: "E-mail",
    email_hint: "We will send the link here if you ever need to recover your account.",
    new_password_label: "Password",
    password_hint: "Use at least {min} characters. A phrase of several words is easy to remember and hard to guess. Spaces and any character are fine; we do not require capitals, digits or symbols. We refuse common or breached passwords, and your CURP, NSS, name or e-mail.",
    password_count: "{n} of at least {min} characters",
    password_count_ok: "{n} characters: long enough",
    confirm_label: "Confirm the password",
    newpw_label: "New password", newpw2_label: "Confirm the new password",
    question_label: "Security question",
    question_hint: "Pick a question whose answer only you know and that does not change over time.",
    q1: "What was the name of your first pet?",
    q2: "In which city were your maternal grandparents born?",
    q3: "What was the name of your primary school?",
    q4: "What is the middle name of your oldest sibling?",
    q_custom: "Write my own question",
    custom_question_label: "Your question",
    answer_label: "Security answer",
    answer_hint: "You will need it to recover your account.",
    create: "Create account",
    checking_field: "Checking…",
    curp_ok: "Valid CURP.", nss_ok: "Valid NSS.",
    reg_done_h: "Account created",
    reg_done: "Done, {name}: your account is ready. You can now sign in with your CURP or NSS and your password.",
    go_login: "Go to sign in",
    fix_fields: "Please check the marked fields.",
    have_account: "Already have an account?",

    rec_title: "Recover your account · Huella",
    rec_h1: "Recover your account",
    rec_lead: "Type your CURP, NSS or staff number. We will ask your security question and, if the answer is right, e-mail you a link.",
    continue: "Continue",
    rec_question: "Your security question",
    answer_send: "Send link",
    rec_sent_h: "Check your e-mail",
    rec_sent: "If the details are right, we sent a link to your e-mail address to choose a new password. The link expires in 30 minutes and works only once.",
    rec_new_h: "Choose a new password",
    rec_save: "Save password",
    rec_finished_h: "Password updated",
    rec_finished: "Your password was changed. You can sign in with it now.",
    rec_again: "Request another link",

    prof_title: "My profile · Huella",
    prof_h1: "My profile",
    prof_data: "My details",
    prof_links: "My pages", link_registros: "My attendance records", link_justificar: "Justify an incident", link_supervisor: "Supervisor inbox", link_reportes: "Attendance reports", link_patron: "Employer dashboard (devices and workers)", link_enrolamiento: "Enroll a worker", link_auditoria: "Audit: duplicate suspects and exceptions", link_estado: "System status", link_kiosk: "Punch kiosk",
    prof_name: "Name", prof_curp: "CURP", prof_email: "E-mail",
    prof_roles: "Roles", prof_method: "Signed in with",
    prof_employer: "Company RFC",
    method_password: "Password", method_efirma: "e.firma", method_token: "Service token",
    role_worker: "Worker", role_supervisor: "Supervisor",
    role_employer_rep: "Employer representative", role_pensioner: "Pensioner",
    role_auditor: "Auditor", role_admin: "Administrator",
    change_password: "Change password",
    current_password_label: "Current password",
    save_password: "Change password",
    password_changed: "Your password was changed.",
    loading: "Loading…",

    err_required: "This field is required.",
    err_password_mismatch: "The passwords do not match.",
    err_invalid_credentials: "The CURP, NSS, staff number or password is not correct.",
    err_current_password: "The current password is not correct.",
    err_account_locked: "For your security, the account is locked for a while after several failed attempts.",
    err_account_disabled: "The account is disabled after too many failed attempts. Recover it by e-mail or ask an administrator to unlock it.",
    err_too_many_attempts: "Too many failed attempts from this device.",
    err_matcher_unavailable: "The identity service is not available right now. Try again in a few seconds.",
    err_network_error: "Could not reach the server. Check your connection and try again.",
    err_generic: "Something went wrong ({code}). Try again.",
    err_account_exists: "An account with this CURP already exists. If it is yours, sign in or recover your password.",
    err_invalid_curp: "The CURP is not valid.",
    err_curp_not_in_registry: "This CURP is not in the population registry.",
    err_registry_mismatch: "This CURP's details do not match the population registry.",
    err_invalid_nss: "The NSS is not valid.",
    err_invalid_email: "The e-mail address is not valid.",
    err_password_too_short: "The password must have at least {min} characters.",
    err_password_too_long: "The password is too long.",
    err_password_common: "This password is common or appears in password breaches. Choose another; a phrase of several words works well.",
    err_password_repetitive: "The password is repetitive or sequential (like “aaaa” or “123456”). Choose another.",
    err_password_contains_identity: "The password must not contain your CURP, NSS, name or e-mail.",
    err_password_encoding_invalid: "The password has characters that are not allowed.",
    err_password_invalid: "The password is not acceptable. Choose another.",
    err_security_answer: "Type the security answer.",
    err_recovery_token_invalid: "The recovery link is not valid, was already used or expired. Request a new one.",
    err_certificate_expired: "The e.firma certificate has expired. Renew it with the SAT.",
    err_certificate_untrusted: "The certificate was not issued by a trusted certification authority.",
    err_signature_invalid: "The signature is not valid for this certificate.",
    err_nonce_invalid: "The sign-in challenge expired or was already used. Try again.",
    err_trust_store_invalid: "Signing in with e.firma is not enabled on this server.",
    err_session_expired: "Your session ended. Sign in again."
  }
};

/* The server's reasons for refusing an identifier (POST /api/v1/validate,
 * matcher/identifiers.c) are English sentences: Spanish for es-MX. */
const HUELLA_REASONS_ES = {
  "a CURP has exactly 18 characters": "La CURP tiene exactamente 18 caracteres.",
  "CURP characters 1 to 4 must be letters A-Z": "Los caracteres 1 a 4 de la CURP deben ser letras (A-Z).",
  "CURP characters 5 to 10 must be the birth date YYMMDD": "Los caracteres 5 a 10 de la CURP son la fecha de nacimiento (AAMMDD).",
  "CURP character 11 (sex) must be H, M or X": "El carácter 11 de la CURP (sexo) debe ser H, M o X.",
  "CURP characters 12 and 13 are not a Mexican state code": "Los caracteres 12 y 13 de la CURP no son una clave de entidad federativa.",
  "CURP characters 14 to 16 must be consonants": "Los caracteres 14 a 16 de la CURP deben ser consonantes.",
  "CURP character 17 must be a digit or a letter": "El carácter 17 de la CURP debe ser un dígito o una letra.",
  "CURP character 18 (check digit) must be a digit": "El carácter 18 de la CURP (dígito verificador) debe ser un número.",
  "CURP birth date has an invalid month": "La fecha de nacimiento de la CURP tiene un mes inválido.",
  "CURP birth date has an invalid day for its month": "La fecha de nacimiento de la CURP tiene un día inválido para su mes.",
  "CURP check digit does not match": "El dígito verificador de la CURP no coincide: revisa que esté bien escrita.",
  "an NSS has exactly 11 digits": "El NSS tiene exactamente 11 dígitos.",
  "an NSS has only digits": "El NSS solo lleva dígitos.",
  "NSS check digit (Luhn) does not match": "El dígito verificador del NSS no coincide: revisa que esté bien escrito."
};

/* A server reason in the page's language (English ones as sent, with a
 * capital and a full stop). */
function huellaReason(text) {
  text = String(text || "").trim();
  if (huellaLang() === "es-MX" && HUELLA_REASONS_ES[text]) return HUELLA_REASONS_ES[text];
  if (!text) return "";
  text = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function huellaLang() {
  const l = localStorage.getItem("huella.lang");
  return HUELLA_STRINGS[l] ? l : "es-MX";
}

function huellaT(key, vars) {
  const table = HUELLA_STRINGS[huellaLang()] || HUELLA_STRINGS["es-MX"];
  let s = table[key] || HUELLA_STRINGS["es-MX"][key] || key;
  if (vars) {
    s = s.replace(/\{(\w+)\}/g, (m, k) =>
      (vars[k] === undefined ? m : String(vars[k])));
  }
  return s;
}

/* Sets el's text to the string `key` (with vars) and remembers both, so a
 * language switch redraws it. */
function huellaSetText(el, key, vars) {
  el.dataset.i18n = key;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  el.textContent = huellaT(key, vars);
}

function huellaApplyLang() {
  const lang = huellaLang();
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => {
    let vars;
    try { vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined; }
    catch (e) { vars = undefined; }
    el.textContent = huellaT(el.dataset.i18n, vars);
  });
  document.querySelectorAll("[data-i18n-reason]").forEach((el) => {
    el.textContent = huellaReason(el.dataset.i18nReason);
  });
  document.querySelectorAll("[data-i18n-attr]").forEach((el) => {
    el.dataset.i18nAttr.split(",").forEach((pair) => {
      const [attr, key] = pair.split("=").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, huellaT(key));
    });
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
