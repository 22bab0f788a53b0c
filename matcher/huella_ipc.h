/*
 * huella_ipc.h -- the one protocol shared by the nginx module and huellad.
 *
 * Owns: the layout of the shared-memory region a client (an nginx worker,
 * huellactl, a bench) hands to huellad, the handshake on huellad's unix
 * socket, the message header carried in every slot, and the TLV field
 * encoding with its strict decoder.  Nothing else is shared between the two
 * sides; see docs/ipc.md for the full description.
 *
 * Transport, in short:
 *   - the client creates one memfd holding a struct hipc_region (a header,
 *     two single-producer/single-consumer rings of slot indices and
 *     HIPC_SLOTS message slots) and two eventfds: the request doorbell
 *     (client -> huellad) and the reply doorbell (huellad -> client);
 *   - it connects to huellad's unix socket and sends a struct hipc_hello
 *     with the three descriptors attached (SCM_RIGHTS); huellad answers with
 *     a struct hipc_hello_ack.  The socket then stays open as a lifeline:
 *     EOF on it means the peer is gone;
 *   - a request: the client picks a free slot it owns, writes the header and
 *     payload, bumps the slot's generation, pushes the slot index on the
 *     request ring and rings the request doorbell if huellad sleeps;
 *   - a reply: huellad overwrites the payload of that same slot, keeps the
 *     generation, sets status, pushes the index on the reply ring and always
 *     rings the reply doorbell.  A reply whose generation is not the one the
 *     client expects for that slot is dropped.
 *
 * Everything in the region is little-endian host order (both ends run on the
 * same machine).  Both decoders treat every length as hostile.
 */

#ifndef HUELLA_IPC_H
#define HUELLA_IPC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HIPC_MAGIC          0x48554c41u      /* "HULA" */
#define HIPC_VERSION        1u

#define HIPC_SLOTS          128u             /* power of two */
#define HIPC_SLOT_SIZE      (64u * 1024u)    /* header + payload */
#define HIPC_CACHE_LINE     64

/* ---- operations --------------------------------------------------------- */

enum hipc_op {
    HIPC_OP_PING = 1,            /* -> PID, SUBJECTS, TEMPLATES, UPTIME    */
    HIPC_OP_ECHO = 2,            /* payload echoed back untouched (bench)  */
    HIPC_OP_STATS = 3,           /* -> as PING plus STAT_* counters        */
    HIPC_OP_SUBJECT_CREATE = 10, /* CURP, NSS, NAME                        */
    HIPC_OP_SUBJECT_GET = 11,    /* CURP -> CURP,NSS,NAME,CREATED,FINGER*  */
    HIPC_OP_SUBJECT_DELETE = 12, /* CURP                                   */
    HIPC_OP_FINGER_PUT = 20,     /* CURP, POSITION, FORMAT, TEMPLATE
                                    -> MINUTIAE, QUALITY                   */
    HIPC_OP_FINGER_DELETE = 21,  /* CURP, POSITION                         */
    HIPC_OP_VERIFY = 30,         /* CURP, [POSITION], FORMAT, TEMPLATE
                                    -> MATCH, SCORE, THRESHOLD, POSITION;
                                    CURP, PROBE{1..10} -> MATCH, SCORE,
                                    THRESHOLD, FUSED, PROBE_SCORE*         */
    HIPC_OP_IDENTIFY = 31,       /* FORMAT, TEMPLATE, MAX_CANDIDATES
                                    -> CANDIDATE*, SEARCHED, THRESHOLD;
                                    PROBE{1..10}, MAX_CANDIDATES ->
                                    CANDIDATE* (+ PROBE_SCORE*), SEARCHED,
                                    THRESHOLD, FUSED                       */
    HIPC_OP_IMPORT_BATCH = 40,   /* RECORD* (nested CURP, POSITION, FORMAT,
                                    TEMPLATE, optional NAME, NSS)
                                    -> IMPORTED, REJECTED, MESSAGE*        */
    HIPC_OP_BACKUP = 41,         /* PATH (a directory)                     */

    /* Identity (issue 4).  Every op below that answers with an identity
     * replies CURP, NAME, EMAIL, ROLES, ACCOUNT_RFC (when bound) and
     * AUTH_METHOD; failures carry ERR_CODE/MESSAGE/FIELD as usual. */
    HIPC_OP_ACCOUNT_CREATE = 50, /* CURP, NSS, EMAIL, PASSWORD, QUESTION,
                                    ANSWER, [NAME] -> identity             */
    HIPC_OP_LOGIN_PASSWORD = 51, /* USER (CURP|NSS|matricula), PASSWORD,
                                    CLIENT -> identity | UNAUTHORIZED with
                                    ATTEMPTS_LEFT | LOCKED with RETRY_AFTER */
    HIPC_OP_PASSWORD_CHANGE = 52,/* CURP, PASSWORD (current), NEW_PASSWORD */
    HIPC_OP_RECOVERY_START = 53, /* USER, ANSWER -> OK (a one-time link is
                                    mailed; the reply never says whether
                                    the account exists); USER alone ->
                                    QUESTION                               */
    HIPC_OP_RECOVERY_FINISH = 54,/* TOKEN, NEW_PASSWORD                    */
    HIPC_OP_EFIRMA_CHALLENGE = 55, /* -> NONCE, EXPIRES (u64 unix s)       */
    HIPC_OP_EFIRMA_LOGIN = 56,   /* CERT, SIGNATURE, NONCE, CLIENT
                                    -> identity (+ RFC, REP_RFC)           */
    HIPC_OP_EFIRMA_INSPECT = 57, /* CERT -> JSON (the inspect document)    */
    HIPC_OP_TOKEN_CREATE = 58,   /* NAME, ROLES, [ACCOUNT_RFC], ACTOR
                                    -> TOKEN (shown once), TOKEN_ID        */
    HIPC_OP_TOKEN_REVOKE = 59,   /* TOKEN_ID, ACTOR                        */
    HIPC_OP_TOKEN_CHECK = 60,    /* TOKEN -> identity (service account)    */
    HIPC_OP_ROLES_SET = 61,      /* CURP, ROLES, [ACCOUNT_RFC], ACTOR      */
    HIPC_OP_AUDIT_APPEND = 62,   /* ACTOR, ACTION, TARGET, CLIENT, DETAIL  */
    HIPC_OP_AUDIT_VERIFY = 63,   /* -> VALUE (entries), HEAD_HASH, or
                                    CONFLICT naming the first bad entry    */
    HIPC_OP_ACCOUNT_GET = 64,    /* CURP -> identity + NSS, QUESTION       */
    HIPC_OP_TOKEN_LIST = 65,     /* -> JSON                                */
    HIPC_OP_AUDIT_LIST = 66,     /* [VALUE = max entries] -> JSON          */
    HIPC_OP_ACCOUNT_UNLOCK = 67, /* CURP, ACTOR: clears the failure count
                                    and a disabled account (admin)         */
    HIPC_OP_CREDENTIAL_EVENTS = 68, /* [SINCE], [MAX_EVENTS] -> HEAD,
                                    OLDEST, [SINCE_AT], CRED_EVENT{SEQ,
                                    CURP | TOKEN_ID, EVENT_KIND,
                                    EVENT_AT}* after SINCE, oldest first
                                    (docs/ipc.md section 9)                */

    /* Employer enrollment (issue 5; docs/devices.md).  Receipts are JWS
     * compact strings (ES256) with their FOLIO. */
    HIPC_OP_DEVICE_REGISTER = 70,/* RFC, PUBLIC_KEY, MAKE, MODEL, SERIAL,
                                    PURPOSE, ACTOR -> DEVICE_ID, KEY_ALG,
                                    FOLIO, RECEIPT                         */
    HIPC_OP_DEVICE_SET_STATUS = 71, /* DEVICE_ID, STATE, ACTOR, [RFC: the
                                    owner acting] -> DEVICE_ID, STATE      */
    HIPC_OP_DEVICE_LIST = 72,    /* [RFC] -> JSON                          */
    HIPC_OP_DEVICE_VERIFY = 73,  /* DEVICE_ID (keyid), SIG_BASE, SIGNATURE,
                                    PURPOSE -> RFC, PURPOSE, KEY_ALG       */
    HIPC_OP_RECEIPT_GET = 74,    /* FOLIO -> FOLIO, RECEIPT, JSON (payload),
                                    [RFC, CURP]                            */
    HIPC_OP_JWKS = 75,           /* -> JSON (the JWK set)                  */
    HIPC_OP_ENROLL = 76,         /* CURP, RFC, DEVICE_ID, FINGER*{POSITION,
                                    FORMAT, TEMPLATE}, [FACE], MISSING*,
                                    ACTOR -> FOLIO, RECEIPT                */
    HIPC_OP_DEDUP_LIST = 77,     /* [STATE] -> JSON (auditor)              */
    HIPC_OP_DEDUP_RESOLVE = 78,  /* CASE_ID, STATE (confirmed|false_alarm),
                                    ACTOR -> CASE_ID, STATE, FOLIO, RECEIPT*/
    HIPC_OP_EXCEPTION_LIST = 79, /* [CURP] -> JSON                         */
    HIPC_OP_SUBJECT_LOOKUP = 80, /* CURP | NSS -> JSON (worker search)     */
    /* Queued dedup (ENROLL with ASYNC, or more than
     * enrollment.dedup_sync_max_comparisons, answers OK with JOB_ID,
     * STATE "queued", QUEUE_POSITION, COMPARISONS instead of a FOLIO). */
    HIPC_OP_DEDUP_JOB_GET = 81,  /* JOB_ID, [RFC: only that employer's]
                                    -> JSON (the job's status document)    */
    HIPC_OP_DEDUP_JOB_LIST = 82, /* [RFC], [STATE] -> JSON (newest first)  */
    HIPC_OP_DEDUP_JOB_FINISH = 83, /* huellad-internal (the job thread to
                                    the writer); refused from clients      */

    /* Attendance (issue 6; docs/attendance.md).  ACTOR and ROLES are the
     * caller as the module authenticated it; huellad decides who may see
     * or decide what (FORBIDDEN `not_your_report` otherwise). */
    HIPC_OP_PUNCH = 90,          /* FORMAT, TEMPLATE, DEVICE_ID (kiosk),
                                    [MATRICULA, SITE, TEST_NOW] -> CURP,
                                    NAME, KIND, AT, FOLIO, PUNCH_STATUS,
                                    SCORE, THRESHOLD, [RECEIPT]            */
    HIPC_OP_ATTENDANCE_QUERY = 91, /* CURP, FROM, TO, ACTOR, ROLES, [TEST_NOW]
                                    -> JSON (days)                         */
    HIPC_OP_JUSTIFY_CREATE = 92, /* CURP, DATE | FOLIO, REASON, ACTOR, ROLES,
                                    [TEXT, KIND, ATTACHMENT,
                                    ATTACHMENT_TYPE] -> JUST_ID, JSON      */
    HIPC_OP_JUSTIFY_DECIDE = 93, /* JUST_ID, DECISION, ACTOR, ROLES,
                                    [COMMENT] -> JUST_ID, JSON, [FOLIO,
                                    RECEIPT]                               */
    HIPC_OP_JUSTIFY_LIST = 94,   /* SCOPE (mine|team), ACTOR, ROLES -> JSON */
    HIPC_OP_JUSTIFY_ATTACHMENT_GET = 95, /* JUST_ID, ACTOR, ROLES,
                                    [OFFSET] -> ATTACHMENT (a chunk),
                                    ATTACHMENT_TYPE, TOTAL                 */
    HIPC_OP_JUSTIFY_ATTACHMENT_APPEND = 96, /* JUST_ID, ACTOR, ROLES,
                                    ATTACHMENT (a chunk) -> TOTAL          */
    HIPC_OP_NOTIFY_LIST = 97,    /* ACTOR, [VALUE = max] -> JSON           */
    HIPC_OP_REPORT = 98,         /* CURP | SCOPE=team, FROM, TO, ACTOR,
                                    ROLES, [OUTPUT json|csv] -> JSON | TEXT*/
    HIPC_OP_SUPERVISOR_CHECK = 99, /* CURP, ACTOR, ROLES -> OK | FORBIDDEN */
    HIPC_OP_ATTENDANCE_RULES = 100, /* [ACTOR, ROLES] -> JSON: shifts,
                                    sites, reasons, holidays, policy (admin
                                    and auditor: groups, people too)       */
    HIPC_OP_ATT_RULES_CHANGE = 101, /* JSON (a change), ACTOR, ROLES ->
                                    JSON (the effective rules), SEQ        */
    HIPC_OP_BIOMETRIC_ENABLE = 102, /* CURP, ACTOR, ROLES -> JSON          */
    HIPC_OP_BIOMETRIC_LIST = 103 /* ACTOR, ROLES -> JSON (disabled people) */
};

/* Reply status; the module maps each to an HTTP status. */
enum hipc_status {
    HIPC_ST_OK = 0,
    HIPC_ST_NOT_FOUND = 1,       /* 404 */
    HIPC_ST_CONFLICT = 2,        /* 409 */
    HIPC_ST_INVALID = 3,         /* 422, FIELD names the field */
    HIPC_ST_BAD_REQUEST = 4,     /* 400, malformed message */
    HIPC_ST_BUSY = 5,            /* 503, Retry-After */
    HIPC_ST_INTERNAL = 6,        /* 500 */
    HIPC_ST_BAD_VERSION = 7,     /* 400, message version mismatch */
    HIPC_ST_TOO_LARGE = 8,       /* 413 */
    HIPC_ST_EXPIRED = 9,         /* deadline passed before work started */
    HIPC_ST_UNAUTHORIZED = 10,   /* 401 */
    HIPC_ST_FORBIDDEN = 11,      /* 403 */
    HIPC_ST_LOCKED = 12,         /* 423, RETRY_AFTER */
    HIPC_ST_RATE_LIMITED = 13    /* 429, RETRY_AFTER */
};

/* Template formats carried in HIPC_F_FORMAT (u32). */
enum hipc_format {
    HIPC_FMT_ISO19794_2_2005 = 1,
    HIPC_FMT_ANSI378_2004 = 2
};

/* ---- TLV field tags ------------------------------------------------------- */

enum hipc_tag {
    HIPC_F_CURP = 1,             /* string, 18 bytes                       */
    HIPC_F_NSS = 2,              /* string, 11 digits                      */
    HIPC_F_NAME = 3,             /* UTF-8 string                           */
    HIPC_F_POSITION = 4,         /* u32, 1..10 (0 = unknown)               */
    HIPC_F_FORMAT = 5,           /* u32, enum hipc_format                  */
    HIPC_F_TEMPLATE = 6,         /* raw ISO/ANSI record bytes              */
    HIPC_F_MAX_CANDIDATES = 7,   /* u32                                    */
    HIPC_F_MATCH = 8,            /* u32, 0 or 1                            */
    HIPC_F_SCORE = 9,            /* f64                                    */
    HIPC_F_THRESHOLD = 10,       /* f64                                    */
    HIPC_F_CANDIDATE = 11,       /* nested: CURP, POSITION, SCORE          */
    HIPC_F_SEARCHED = 12,        /* u64                                    */
    HIPC_F_MINUTIAE = 13,        /* u32                                    */
    HIPC_F_QUALITY = 14,         /* u32, 0..100                            */
    HIPC_F_CREATED = 15,         /* u64, unix seconds                      */
    HIPC_F_FINGER = 16,          /* nested: POSITION, FORMAT, MINUTIAE,
                                    QUALITY                                */
    HIPC_F_RECORD = 17,          /* nested import record                   */
    HIPC_F_IMPORTED = 18,        /* u64                                    */
    HIPC_F_REJECTED = 19,        /* u64                                    */
    HIPC_F_PATH = 20,            /* string                                 */
    HIPC_F_PID = 21,             /* u64                                    */
    HIPC_F_SUBJECTS = 22,        /* u64                                    */
    HIPC_F_TEMPLATES = 23,       /* u64                                    */
    HIPC_F_UPTIME = 24,          /* u64, seconds                           */
    HIPC_F_STAT = 25,            /* nested: NAME (counter name), VALUE     */
    HIPC_F_VALUE = 26,           /* u64                                    */
    HIPC_F_ERR_CODE = 30,        /* snake_case error code                  */
    HIPC_F_MESSAGE = 31,         /* human-readable message                 */
    HIPC_F_FIELD = 32,           /* JSON field at fault                    */
    HIPC_F_PAYLOAD = 33,         /* opaque bytes (ECHO)                    */
    HIPC_F_EMAIL = 40,           /* string                                 */
    HIPC_F_PASSWORD = 41,        /* string (UTF-8), never logged           */
    HIPC_F_NEW_PASSWORD = 42,    /* string                                 */
    HIPC_F_QUESTION = 43,        /* string                                 */
    HIPC_F_ANSWER = 44,          /* string, never logged                   */
    HIPC_F_USER = 45,            /* CURP, NSS or matricula as typed        */
    HIPC_F_ROLES = 46,           /* comma-separated role names             */
    HIPC_F_NONCE = 47,           /* string                                 */
    HIPC_F_CERT = 48,            /* DER bytes                              */
    HIPC_F_SIGNATURE = 49,       /* raw signature bytes                    */
    HIPC_F_TOKEN = 50,           /* string (bearer or recovery token)      */
    HIPC_F_TOKEN_ID = 51,        /* string                                 */
    HIPC_F_RETRY_AFTER = 52,     /* u32, seconds                           */
    HIPC_F_ATTEMPTS_LEFT = 53,   /* u32                                    */
    HIPC_F_RFC = 54,             /* string                                 */
    HIPC_F_REP_RFC = 55,         /* string                                 */
    HIPC_F_ACCOUNT_RFC = 56,     /* employer RFC an account is bound to    */
    HIPC_F_AUTH_METHOD = 57,     /* "password", "efirma", "token"          */
    HIPC_F_CLIENT = 58,          /* client address, for throttling/audit  */
    HIPC_F_ACTOR = 59,           /* CURP or token id doing the act         */
    HIPC_F_ACTION = 60,          /* audit action, snake_case               */
    HIPC_F_TARGET = 61,          /* audit target                           */
    HIPC_F_DETAIL = 62,          /* audit detail (JSON text)               */
    HIPC_F_JSON = 63,            /* a JSON document, UTF-8                 */
    HIPC_F_EXPIRES = 64,         /* u64, unix seconds                      */
    HIPC_F_HEAD_HASH = 65,       /* hex string                             */
    HIPC_F_WARNING = 66,         /* string; may repeat                     */
    HIPC_F_MATRICULA = 67,       /* staff number (ACCOUNT_CREATE optional) */
    HIPC_F_SEQ = 68,             /* u64, audit sequence number             */

    /* Employer enrollment (issue 5). */
    HIPC_F_PUBLIC_KEY = 80,      /* PEM SubjectPublicKeyInfo (P-256/Ed25519)*/
    HIPC_F_MAKE = 81,            /* string                                 */
    HIPC_F_MODEL = 82,           /* string                                 */
    HIPC_F_SERIAL = 83,          /* string                                 */
    HIPC_F_PURPOSE = 84,         /* "enrollment" | "kiosk"                 */
    HIPC_F_DEVICE_ID = 85,       /* "dev_" + 16 hex; the RFC 9421 keyid   */
    HIPC_F_STATE = 86,           /* device active|suspended|revoked; dedup
                                    case open|confirmed|false_alarm        */
    HIPC_F_KEY_ALG = 87,         /* "ES256" | "Ed25519"                    */
    HIPC_F_SIG_BASE = 88,        /* RFC 9421 signature base, exact bytes   */
    HIPC_F_FOLIO = 89,           /* receipt folio, "HUE-2026-000000123"    */
    HIPC_F_RECEIPT = 90,         /* JWS compact serialization              */
    HIPC_F_FACE = 91,            /* nested: FACE_MODEL, FACE_DIM, FACE_DATA*/
    HIPC_F_FACE_MODEL = 92,      /* string, [A-Za-z0-9._-]{1,64}           */
    HIPC_F_FACE_DIM = 93,        /* u32, 1..1024                           */
    HIPC_F_FACE_DATA = 94,       /* FACE_DIM float32, little-endian        */
    HIPC_F_MISSING = 95,         /* nested: POSITION, REASON               */
    HIPC_F_REASON = 96,          /* amputation | bandage | unreadable      */
    HIPC_F_CASE_ID = 97,         /* dedup case, "dd_" + 16 hex             */
    HIPC_F_FINGER_ERROR = 98,    /* nested: INDEX, POSITION, ERR_CODE,
                                    MESSAGE (one per refused finger)       */
    HIPC_F_INDEX = 99,           /* u32, 0-based index in the request      */
    /* Queued dedup jobs (issue 5, tags 120..139). */
    HIPC_F_JOB_ID = 120,         /* "dj_" + 16 hex                         */
    HIPC_F_ASYNC = 121,          /* u32 1: queue it (Prefer: respond-async)*/
    HIPC_F_COMPARED = 122,       /* u64, comparisons done so far           */
    HIPC_F_COMPARISONS = 123,    /* u64, fingers x gallery templates       */
    HIPC_F_QUEUE_POSITION = 124, /* u32, 1 = running or next               */
    HIPC_F_JOB_SEQ = 125,        /* u64, FIFO order of a job               */
    HIPC_F_OUTCOME = 126,        /* nested: the reply the synchronous call
                                    would have given                       */
    HIPC_F_OUTCOME_STATUS = 127, /* u32, enum hipc_status of OUTCOME       */
    HIPC_F_FINISHED = 128,       /* u64, unix seconds                      */
    HIPC_F_SNAPSHOT = 129,       /* u64, enrollment journal sequence       */

    /* Attendance (issue 6); also uses DEVICE_ID (the kiosk), FOLIO,
     * RECEIPT and REASON (a code from attendance.reasons). */
    HIPC_F_SITE = 100,           /* site id, attendance.sites[].id         */
    HIPC_F_KIND = 101,           /* punch: "entrada" | "salida"; in
                                    JUSTIFY_CREATE an incident kind        */
    HIPC_F_AT = 102,             /* ISO 8601 local time with offset        */
    HIPC_F_PUNCH_STATUS = 103,   /* a_tiempo | retardo | falta |
                                    salida_anticipada | duplicada |
                                    sin_turno | periodo_cerrado            */
    HIPC_F_FROM = 104,           /* YYYY-MM-DD, inclusive                  */
    HIPC_F_TO = 105,             /* YYYY-MM-DD, inclusive                  */
    HIPC_F_DATE = 106,           /* YYYY-MM-DD                             */
    HIPC_F_TEXT = 107,           /* free UTF-8 text; CSV in REPORT         */
    HIPC_F_ATTACHMENT = 108,     /* bytes                                  */
    HIPC_F_ATTACHMENT_TYPE = 109,/* MIME type                              */
    HIPC_F_JUST_ID = 110,        /* justification id, "J-00000001"         */
    HIPC_F_DECISION = 111,       /* "approve" | "reject"                   */
    HIPC_F_COMMENT = 112,        /* supervisor's comment                   */
    HIPC_F_SCOPE = 113,          /* "mine" | "team"                        */
    HIPC_F_OUTPUT = 114,         /* "json" | "csv"                         */
    HIPC_F_TEST_NOW = 115,       /* u64 unix seconds; honoured only when
                                    attendance.test_clock is true          */
    HIPC_F_OFFSET = 116,         /* u32, byte offset (attachment chunks)   */
    HIPC_F_TOTAL = 117,          /* u32, total bytes of an attachment      */

    /* Multi-finger verify/identify (issue 3, docs/api.md "Fusion").  A
     * VERIFY or IDENTIFY carries either the single finger (POSITION,
     * FORMAT, TEMPLATE) or 1..10 PROBE groups, never both; the reply to
     * the PROBE form adds FUSED and one PROBE_SCORE per probe, in request
     * order (in IDENTIFY, inside each CANDIDATE). */
    HIPC_F_PROBE = 170,          /* nested: [POSITION], FORMAT, TEMPLATE   */
    HIPC_F_FUSED = 171,          /* u32, 1: the score fuses PROBE scores   */
    HIPC_F_PROBE_SCORE = 172,    /* nested: POSITION (the probe's, 0 = not
                                    given), SCORE, [MATCHED_POSITION]      */
    HIPC_F_MATCHED_POSITION = 173, /* u32, enrolled finger a probe was
                                    scored against                         */

    /* Sessions outliving a credential change (docs/identity-api.md). */
    HIPC_F_PASSWORD_CHANGED = 180, /* u64, unix ms of the account's last
                                    password change (LOGIN_PASSWORD,
                                    EFIRMA_LOGIN, PASSWORD_CHANGE replies;
                                    0/absent: never)                       */

    /* The credential-event feed (CREDENTIAL_EVENTS, tags 181..189). */
    HIPC_F_SINCE = 181,          /* u64, last sequence number applied      */
    HIPC_F_MAX_EVENTS = 182,     /* u32, 1..4096 events in the reply       */
    HIPC_F_HEAD = 183,           /* u64, the newest sequence number (0:
                                    none ever)                             */
    HIPC_F_OLDEST = 184,         /* u64, the oldest retained one (HEAD + 1
                                    when none is retained)                 */
    HIPC_F_CRED_EVENT = 185,     /* nested: SEQ, CURP, EVENT_KIND, EVENT_AT*/
    HIPC_F_EVENT_KIND = 186,     /* "password" | "roles"                   */
    HIPC_F_EVENT_AT = 187,       /* u64, unix ms (the PASSWORD_CHANGED
                                    clock)                                 */
    HIPC_F_SINCE_AT = 188        /* u64, EVENT_AT of the event SINCE, when
                                    kept: the caller checks it is the event
                                    it applied (a restored log diverges)   */
};

/* ---- the message header, first bytes of every slot ----------------------- */

struct hipc_msg {
    uint16_t  version;           /* HIPC_VERSION */
    uint16_t  op;                /* enum hipc_op */
    uint32_t  generation;        /* echoed by the reply */
    uint32_t  length;            /* payload bytes following the header */
    int32_t   status;            /* reply: enum hipc_status */
    uint64_t  deadline_ns;       /* CLOCK_MONOTONIC; 0 = none */
    uint64_t  reserved;
};

#define HIPC_PAYLOAD_MAX   (HIPC_SLOT_SIZE - sizeof(struct hipc_msg))

struct hipc_slot {
    struct hipc_msg  msg;
    uint8_t          payload[HIPC_PAYLOAD_MAX];
};

/* An SPSC ring of slot indices; head and tail on their own cache lines. */
struct hipc_ring {
    _Alignas(HIPC_CACHE_LINE) _Atomic uint32_t head;   /* consumer */
    _Alignas(HIPC_CACHE_LINE) _Atomic uint32_t tail;   /* producer */
    _Alignas(HIPC_CACHE_LINE) uint32_t entries[HIPC_SLOTS];
};

struct hipc_region {
    uint32_t          magic;
    uint32_t          version;
    uint32_t          slot_count;
    uint32_t          slot_size;
    /* huellad sets this before it sleeps on the request doorbell; the
     * client rings only when it is set (a seq_cst fence on both sides
     * closes the lost-wakeup race). */
    _Alignas(HIPC_CACHE_LINE) _Atomic uint32_t server_sleeping;
    struct hipc_ring  req;
    struct hipc_ring  rep;
    _Alignas(HIPC_CACHE_LINE) struct hipc_slot slots[HIPC_SLOTS];
};

#define HIPC_REGION_SIZE   sizeof(struct hipc_region)

/* ---- handshake on the unix socket ---------------------------------------- */

/* Sent by the client with SCM_RIGHTS: memfd, request eventfd, reply eventfd,
 * in that order. */
struct hipc_hello {
    uint32_t  magic;
    uint32_t  version;
    uint32_t  slot_count;
    uint32_t  slot_size;
    uint64_t  region_size;
    uint64_t  client_pid;
};

struct hipc_hello_ack {
    uint32_t  magic;
    uint32_t  version;
    int32_t   status;            /* enum hipc_status */
    uint32_t  reserved;
    uint64_t  server_pid;
    uint64_t  epoch;             /* bumps at every huellad start */
};

/* ---- rings ---------------------------------------------------------------- */

static inline int
hipc_ring_push(struct hipc_ring *ring, uint32_t slot)
{
    uint32_t  tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint32_t  head = atomic_load_explicit(&ring->head, memory_order_acquire);

    if (tail - head >= HIPC_SLOTS) {
        return -1;
    }
    ring->entries[tail & (HIPC_SLOTS - 1)] = slot;
    atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
    return 0;
}

/* Returns the slot index, or -1 when empty.  A corrupt entry (out of
 * range) is reported as -2 so the consumer can drop the link. */
static inline int64_t
hipc_ring_pop(struct hipc_ring *ring)
{
    uint32_t  head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint32_t  tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    uint32_t  slot;

    if (head == tail) {
        return -1;
    }
    if (tail - head > HIPC_SLOTS) {
        return -2;
    }
    slot = ring->entries[head & (HIPC_SLOTS - 1)];
    atomic_store_explicit(&ring->head, head + 1, memory_order_release);
    return slot < HIPC_SLOTS ? (int64_t) slot : -2;
}

static inline int
hipc_ring_empty(struct hipc_ring *ring)
{
    return atomic_load_explicit(&ring->head, memory_order_acquire)
           == atomic_load_explicit(&ring->tail, memory_order_acquire);
}

/* ---- message header check ------------------------------------------------- */

/* Returns NULL when the header is sound, else a reason. */
static inline const char *
hipc_msg_check(const struct hipc_msg *m)
{
    if (m->version != HIPC_VERSION) {
        return "protocol version mismatch";
    }
    if (m->length > HIPC_PAYLOAD_MAX) {
        return "payload length exceeds slot";
    }
    return NULL;
}

/* ---- TLV encoding ----------------------------------------------------------
 *
 * A payload is a sequence of fields: u16 tag, u16 zero, u32 length, then
 * length bytes.  Nested fields (CANDIDATE, FINGER, RECORD, STAT) hold a TLV
 * sequence themselves.  Integers are u32/u64, reals f64, all host order.
 */

#define HIPC_TLV_HDR  8u

struct hipc_writer {
    uint8_t  *buf;
    size_t    cap;
    size_t    len;
    int       overflow;
};

struct hipc_reader {
    const uint8_t  *buf;
    size_t          len;
    size_t          pos;
};

static inline void
hipc_writer_init(struct hipc_writer *w, void *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = 0;
}

static inline void
hipc_put(struct hipc_writer *w, uint16_t tag, const void *data, size_t len)
{
    uint16_t  zero = 0;
    uint32_t  len32 = (uint32_t) len;

    if (w->overflow || len > UINT32_MAX
        || w->cap - w->len < HIPC_TLV_HDR + len)
    {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->len, &tag, 2);
    memcpy(w->buf + w->len + 2, &zero, 2);
    memcpy(w->buf + w->len + 4, &len32, 4);
    if (len) {
        memcpy(w->buf + w->len + HIPC_TLV_HDR, data, len);
    }
    w->len += HIPC_TLV_HDR + len;
}

static inline void
hipc_put_u32(struct hipc_writer *w, uint16_t tag, uint32_t v)
{
    hipc_put(w, tag, &v, sizeof(v));
}

static inline void
hipc_put_u64(struct hipc_writer *w, uint16_t tag, uint64_t v)
{
    hipc_put(w, tag, &v, sizeof(v));
}

static inline void
hipc_put_f64(struct hipc_writer *w, uint16_t tag, double v)
{
    hipc_put(w, tag, &v, sizeof(v));
}

static inline void
hipc_put_str(struct hipc_writer *w, uint16_t tag, const char *s)
{
    hipc_put(w, tag, s, strlen(s));
}

/* Nested fields: open returns the offset to close with. */
static inline size_t
hipc_open(struct hipc_writer *w, uint16_t tag)
{
    size_t  at = w->len;

    hipc_put(w, tag, NULL, 0);
    return at;
}

static inline void
hipc_close(struct hipc_writer *w, size_t at)
{
    uint32_t  len32;

    if (w->overflow) {
        return;
    }
    len32 = (uint32_t) (w->len - at - HIPC_TLV_HDR);
    memcpy(w->buf + at + 4, &len32, 4);
}

static inline void
hipc_reader_init(struct hipc_reader *r, const void *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
}

/* Returns 1 with the next field, 0 at a clean end, -1 when malformed. */
static inline int
hipc_next(struct hipc_reader *r, uint16_t *tag, const uint8_t **data,
    uint32_t *len)
{
    uint16_t  zero;

    if (r->pos == r->len) {
        return 0;
    }
    if (r->len - r->pos < HIPC_TLV_HDR) {
        return -1;
    }
    memcpy(tag, r->buf + r->pos, 2);
    memcpy(&zero, r->buf + r->pos + 2, 2);
    memcpy(len, r->buf + r->pos + 4, 4);
    if (zero != 0 || *len > r->len - r->pos - HIPC_TLV_HDR) {
        return -1;
    }
    *data = r->buf + r->pos + HIPC_TLV_HDR;
    r->pos += HIPC_TLV_HDR + *len;
    return 1;
}

static inline int
hipc_get_u32(const uint8_t *data, uint32_t len, uint32_t *v)
{
    if (len != sizeof(*v)) {
        return -1;
    }
    memcpy(v, data, sizeof(*v));
    return 0;
}

static inline int
hipc_get_u64(const uint8_t *data, uint32_t len, uint64_t *v)
{
    if (len != sizeof(*v)) {
        return -1;
    }
    memcpy(v, data, sizeof(*v));
    return 0;
}

static inline int
hipc_get_f64(const uint8_t *data, uint32_t len, double *v)
{
    if (len != sizeof(*v)) {
        return -1;
    }
    memcpy(v, data, sizeof(*v));
    return 0;
}

#endif /* HUELLA_IPC_H */
