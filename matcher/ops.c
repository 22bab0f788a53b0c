/*
 * ops.c -- what huellad does with each request, and on which thread.
 *
 * Routing (why: one ring must never wait behind slow work, and LMDB has one
 * writer):
 *   inline on the ring thread: PING, STATS, ECHO, SUBJECT_GET, VERIFY, and
 *       the decoding/validation of every other op, so a malformed or invalid
 *       request is answered at once;
 *   worker pool (search.c): IDENTIFY (split across all workers), the
 *       template parsing of IMPORT_BATCH, BACKUP;
 *   writer thread (writer.c): SUBJECT_CREATE/DELETE, FINGER_PUT/DELETE and
 *       the LMDB half of IMPORT_BATCH, already decoded and encoded so the
 *       writer only spends time in LMDB;
 *   identity ops (50..67) are identity.c's, which follows the same rules.
 *
 * Decoding is strict: unknown or repeated tags, integers of the wrong size
 * and missing required fields are HIPC_ST_BAD_REQUEST; well-formed but
 * unacceptable values are HIPC_ST_INVALID naming the JSON field.
 */

#include "ops.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attendance.h"
#include "credential_events.h"
#include "enroll_ops.h"
#include "fingerprint.h"
#include "identifiers.h"
#include "identity.h"
#include "ipc_server.h"
#include "multi_finger.h"
#include "prefilter.h"
#include "registry.h"
#include "search.h"
#include "store.h"
#include "writer.h"

#define OPS_MAX_OP        128
#define OPS_DEFAULT_CANDIDATES 10u
#define OPS_MAX_CANDIDATES     100u

static struct {
    struct hd_config    cfg;
    struct store       *store;
    double              threshold;
    uint64_t            started;
    _Atomic uint64_t    requests[OPS_MAX_OP];
    _Atomic uint64_t    comparisons;
    _Atomic uint64_t    errors;
} g;

/* ---- small helpers -------------------------------------------------------- */

uint64_t
hd_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

int
hd_expired(const struct hd_request *rq)
{
    return rq->deadline_ns != 0 && hd_now_ns() > rq->deadline_ns;
}

void
ops_count_error(void)
{
    atomic_fetch_add_explicit(&g.errors, 1, memory_order_relaxed);
}

void
ops_count_comparisons(uint64_t n)
{
    atomic_fetch_add_explicit(&g.comparisons, n, memory_order_relaxed);
}

struct store *
ops_store(void)
{
    return g.store;
}

double
ops_threshold(void)
{
    return g.threshold;
}

const struct hd_config *
ops_config(void)
{
    return &g.cfg;
}

struct hd_thread *
hd_thread_new(void)
{
    struct hd_thread  *th = calloc(1, sizeof(*th));

    if (th == NULL) {
        return NULL;
    }
    th->scratch = hm_scratch_new();
    if (th->scratch == NULL) {
        free(th);
        return NULL;
    }
    return th;
}

void
hd_thread_free(struct hd_thread *th)
{
    if (th) {
        hm_scratch_free(th->scratch);
        free(th);
    }
}

struct hd_request *
hd_request_dup(const struct hd_request *rq)
{
    struct hd_request  *copy = malloc(sizeof(*copy) + rq->len);

    if (copy == NULL) {
        return NULL;
    }
    memcpy(copy, rq, sizeof(*copy) + rq->len);
    copy->prep = NULL;
    copy->prep_free = NULL;
    hd_conn_ref(copy->conn);
    return copy;
}

void
hd_request_free(struct hd_request *rq)
{
    if (rq == NULL) {
        return;
    }
    if (rq->prep_free) {
        rq->prep_free(rq->prep);
    }
    hd_conn_unref(rq->conn);
    free(rq);
}

static void
vops_error(struct hipc_writer *w, const char *code, const char *field,
    const char *fmt, va_list ap)
{
    char  msg[512];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    hipc_put_str(w, HIPC_F_ERR_CODE, code);
    hipc_put_str(w, HIPC_F_MESSAGE, msg);
    if (field) {
        hipc_put_str(w, HIPC_F_FIELD, field);
    }
}

void
ops_error(struct hipc_writer *w, const char *code, const char *field,
    const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vops_error(w, code, field, fmt, ap);
    va_end(ap);
}

void
ops_reply_error(struct hd_request *rq, int status, const char *code,
    const char *field, const char *fmt, ...)
{
    uint8_t             buf[1024];
    struct hipc_writer  w;
    va_list             ap;

    hipc_writer_init(&w, buf, sizeof(buf));
    va_start(ap, fmt);
    vops_error(&w, code, field, fmt, ap);
    va_end(ap);
    ops_count_error();
    hd_reply(rq, status, buf, w.len);
}

/* ---- field decoding ------------------------------------------------------- */

#define F(tag)  (1ull << (tag))

struct fields {
    uint64_t        seen;
    char            curp[STORE_CURP_MAX];
    char            nss[STORE_NSS_MAX];
    char            name[STORE_NAME_MAX];
    uint32_t        position;
    uint32_t        format;
    uint32_t        max_candidates;
    const uint8_t  *tmpl;
    uint32_t        tmpl_len;
    char            path[PATH_MAX];
};

/* Well-formed UTF-8 without control characters. */
int
ops_text_valid(const uint8_t *s, size_t len)
{
    size_t  i = 0, n, k;
    uint32_t cp;

    while (i < len) {
        if (s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xE0) == 0xC0) {
            n = 1;
            cp = s[i] & 0x1F;
        } else if ((s[i] & 0xF0) == 0xE0) {
            n = 2;
            cp = s[i] & 0x0F;
        } else if ((s[i] & 0xF8) == 0xF0) {
            n = 3;
            cp = s[i] & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n) {
            return 0;
        }
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800)
            || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            || (cp >= 0xD800 && cp <= 0xDFFF))
        {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

/* Exactly 11 ASCII digits (the Luhn digit is the module's check).  The
 * bytes are not NUL-terminated: no str* functions here. */
static int
nss_digits(const uint8_t *d, uint32_t n)
{
    uint32_t  i;

    if (n != 11) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static const char *
tag_field(unsigned tag)
{
    switch (tag) {
    case HIPC_F_CURP: return "curp";
    case HIPC_F_NSS: return "nss";
    case HIPC_F_NAME: return "name";
    case HIPC_F_POSITION: return "position";
    case HIPC_F_FORMAT: return "format";
    case HIPC_F_TEMPLATE: return "data";
    case HIPC_F_MAX_CANDIDATES: return "max_candidates";
    case HIPC_F_PATH: return "path";
    default: return "request";
    }
}

static int
decode_u32(struct ops_err *e, unsigned tag, const uint8_t *d, uint32_t n,
    uint32_t *out)
{
    if (hipc_get_u32(d, n, out) != 0) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
            tag_field(tag), "field %u must be a 4-byte integer, got %u bytes",
            tag, n);
    }
    return 0;
}

/* Decodes a flat TLV sequence holding only the tags in `allowed`, each at
 * most once, then checks that every tag in `required` came. */
static int
decode_fields(const uint8_t *buf, size_t len, uint64_t allowed,
    uint64_t required, struct fields *f, struct ops_err *e)
{
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n;
    uint16_t            tag;
    int                 rc;
    unsigned            t;

    memset(f, 0, sizeof(*f));
    hipc_reader_init(&r, buf, len);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        if (tag >= 64 || !(allowed & F(tag))) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", NULL,
                "field tag %u is not part of this request", tag);
        }
        if (f->seen & F(tag)) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "duplicate_field",
                tag_field(tag), "field %s given twice", tag_field(tag));
        }
        f->seen |= F(tag);
        switch (tag) {
        case HIPC_F_CURP:
            if (!ops_curp_valid(d, n)) {
                return ops_fail(e, HIPC_ST_INVALID, "invalid_curp", "curp",
                    "a CURP is 18 characters of 0-9, A-Z and Ñ");
            }
            memcpy(f->curp, d, n);
            f->curp[n] = '\0';
            break;
        case HIPC_F_NSS:
            if (!nss_digits(d, n)) {
                return ops_fail(e, HIPC_ST_INVALID, "invalid_nss", "nss",
                    "an NSS is 11 digits");
            }
            memcpy(f->nss, d, n);
            f->nss[n] = '\0';
            break;
        case HIPC_F_NAME:
            if (n >= STORE_NAME_MAX || !ops_text_valid(d, n)) {
                return ops_fail(e, HIPC_ST_INVALID, "invalid_name", "name",
                    "a name is UTF-8 text of at most %d bytes without "
                    "control characters", STORE_NAME_MAX - 1);
            }
            memcpy(f->name, d, n);
            f->name[n] = '\0';
            break;
        case HIPC_F_POSITION:
            if (decode_u32(e, tag, d, n, &f->position) != 0) {
                return -1;
            }
            if (f->position > 10) {
                return ops_fail(e, HIPC_ST_INVALID, "invalid_position",
                    "position", "finger position %u is outside 1..10",
                    f->position);
            }
            break;
        case HIPC_F_FORMAT:
            if (decode_u32(e, tag, d, n, &f->format) != 0) {
                return -1;
            }
            if (f->format != HIPC_FMT_ISO19794_2_2005
                && f->format != HIPC_FMT_ANSI378_2004)
            {
                return ops_fail(e, HIPC_ST_INVALID, "unsupported_format",
                    "format", "template format %u is not supported "
                    "(1 = ISO 19794-2:2005, 2 = ANSI 378-2004)", f->format);
            }
            break;
        case HIPC_F_TEMPLATE:
            f->tmpl = d;
            f->tmpl_len = n;
            break;
        case HIPC_F_MAX_CANDIDATES:
            if (decode_u32(e, tag, d, n, &f->max_candidates) != 0) {
                return -1;
            }
            if (f->max_candidates < 1
                || f->max_candidates > OPS_MAX_CANDIDATES)
            {
                return ops_fail(e, HIPC_ST_INVALID, "invalid_max_candidates",
                    "max_candidates", "max_candidates must be 1..%u",
                    OPS_MAX_CANDIDATES);
            }
            break;
        case HIPC_F_PATH:
            if (n == 0 || n >= sizeof(f->path) || memchr(d, 0, n)
                || d[0] != '/')
            {
                return ops_fail(e, HIPC_ST_INVALID, "invalid_path", "path",
                    "the backup path must be an absolute directory path");
            }
            memcpy(f->path, d, n);
            f->path[n] = '\0';
            break;
        default:
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", NULL,
                "field tag %u is not part of this request", tag);
        }
    }
    if (rc < 0) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_request", NULL,
            "malformed TLV at byte %zu of %zu", r.pos, r.len);
    }
    for (t = 0; t < 64; t++) {
        if ((required & F(t)) && !(f->seen & F(t))) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "missing_field",
                tag_field(t), "required field %s is missing", tag_field(t));
        }
    }
    return 0;
}

/* Parses and encodes a template into th->encoded; returns its length. */
static long
prepare_template(struct hd_thread *th, const struct fields *f, int gate,
    const char *field, struct ops_err *e)
{
    long  n;

    if (f->tmpl_len == 0) {
        ops_fail(e, HIPC_ST_INVALID, "invalid_template", field,
            "the template is empty");
        return -1;
    }
    th->why[0] = '\0';
    if (hm_parse((int) f->format, f->tmpl, f->tmpl_len, &th->fp, th->why,
            sizeof(th->why)) != 0)
    {
        ops_fail(e, HIPC_ST_INVALID, "invalid_template", field, "%s",
            th->why[0] ? th->why : "the template does not parse");
        return -1;
    }
    if (gate && hm_quality_gate(&th->fp, th->why, sizeof(th->why)) != 0) {
        ops_fail(e, HIPC_ST_INVALID, "low_quality", field, "%s",
            th->why[0] ? th->why : "the template's quality is too low");
        return -1;
    }
    n = hm_encode(&th->fp, th->encoded, sizeof(th->encoded), th->why,
        sizeof(th->why));
    if (n <= 0) {
        ops_fail(e, HIPC_ST_INVALID, "invalid_template", field, "%s",
            th->why[0] ? th->why : "the template cannot be encoded");
        return -1;
    }
    return n;
}

long
ops_prepare_template(struct hd_thread *th, uint32_t format,
    const uint8_t *tmpl, uint32_t len, const char *field, struct ops_err *e)
{
    struct fields  f;

    memset(&f, 0, sizeof(f));
    f.format = format;
    f.tmpl = tmpl;
    f.tmpl_len = len;
    return prepare_template(th, &f, 0, field, e);
}

/* ---- inline reads --------------------------------------------------------- */

static const char *
op_name(unsigned op)
{
    switch (op) {
    case HIPC_OP_PING: return "ping";
    case HIPC_OP_ECHO: return "echo";
    case HIPC_OP_STATS: return "stats";
    case HIPC_OP_SUBJECT_CREATE: return "subject_create";
    case HIPC_OP_SUBJECT_GET: return "subject_get";
    case HIPC_OP_SUBJECT_DELETE: return "subject_delete";
    case HIPC_OP_FINGER_PUT: return "finger_put";
    case HIPC_OP_FINGER_DELETE: return "finger_delete";
    case HIPC_OP_VERIFY: return "verify";
    case HIPC_OP_IDENTIFY: return "identify";
    case HIPC_OP_IMPORT_BATCH: return "import_batch";
    case HIPC_OP_BACKUP: return "backup";
    default: return NULL;
    }
}

static void
put_stat(struct hipc_writer *w, const char *name, uint64_t value)
{
    size_t  at = hipc_open(w, HIPC_F_STAT);

    hipc_put_str(w, HIPC_F_NAME, name);
    hipc_put_u64(w, HIPC_F_VALUE, value);
    hipc_close(w, at);
}

static void
op_ping(struct hd_request *rq, struct hd_thread *th, int stats)
{
    struct hipc_writer  w;
    MDB_txn            *txn;
    uint64_t            subjects = 0, fingers = 0;
    char                name[64];
    unsigned            op;
    struct ops_err       e;
    struct fields       f;

    if (rq->len != 0
        && decode_fields(rq->payload, rq->len, 0, 0, &f, &e) != 0)
    {
        ops_reply_err(rq, &e);
        return;
    }
    if (store_read_begin(g.store, &txn) == 0) {
        subjects = store_count_subjects(g.store, txn);
        fingers = store_count_fingers(g.store, txn);
        mdb_txn_abort(txn);
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put_u64(&w, HIPC_F_PID, (uint64_t) getpid());
    hipc_put_u64(&w, HIPC_F_SUBJECTS, subjects);
    hipc_put_u64(&w, HIPC_F_TEMPLATES, fingers);
    hipc_put_u64(&w, HIPC_F_UPTIME, (uint64_t) time(NULL) - g.started);
    if (stats) {
        for (op = 0; op < OPS_MAX_OP; op++) {
            if (op_name(op)) {
                snprintf(name, sizeof(name), "requests_%s", op_name(op));
                put_stat(&w, name, atomic_load(&g.requests[op]));
            }
        }
        put_stat(&w, "comparisons", atomic_load(&g.comparisons));
        put_stat(&w, "errors", atomic_load(&g.errors));
        put_stat(&w, "clients", ipc_server_clients());
        put_stat(&w, "threads", search_threads());
        {
            MDB_envinfo  ei;
            MDB_stat     es;

            if (mdb_env_info(store_env(g.store), &ei) == 0
                && mdb_env_stat(store_env(g.store), &es) == 0)
            {
                put_stat(&w, "lmdb_map_size_bytes", ei.me_mapsize);
                put_stat(&w, "lmdb_map_used_bytes",
                    (uint64_t) (ei.me_last_pgno + 1) * es.ms_psize);
            }
        }
    }
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

static void
op_subject_get(struct hd_request *rq, struct hd_thread *th)
{
    struct fields         f;
    struct ops_err         e;
    struct hipc_writer    w;
    struct store_subject  s;
    MDB_txn              *txn;
    int                   rc;

    if (decode_fields(rq->payload, rq->len, F(HIPC_F_CURP), F(HIPC_F_CURP),
            &f, &e) != 0)
    {
        ops_reply_err(rq, &e);
        return;
    }
    if ((rc = store_read_begin(g.store, &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return;
    }
    rc = store_subject_get(g.store, txn, f.curp, &s);
    if (rc != 0) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND) {
            ops_reply_error(rq, HIPC_ST_NOT_FOUND, "subject_not_found",
                "curp", "no subject with CURP %s", f.curp);
        } else {
            ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL,
                "%s", mdb_strerror(rc));
        }
        return;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put_str(&w, HIPC_F_CURP, s.curp);
    hipc_put_str(&w, HIPC_F_NSS, s.nss);
    hipc_put_str(&w, HIPC_F_NAME, s.name);
    hipc_put_u64(&w, HIPC_F_CREATED, s.created);
    {
        unsigned             pos;
        struct store_finger  fg;
        size_t               at;

        for (pos = 0; pos <= 10; pos++) {
            if (store_finger_get(g.store, txn, s.curp, pos, &fg) != 0) {
                continue;
            }
            at = hipc_open(&w, HIPC_F_FINGER);
            hipc_put_u32(&w, HIPC_F_POSITION, fg.position);
            hipc_put_u32(&w, HIPC_F_FORMAT, fg.format);
            hipc_put_u32(&w, HIPC_F_MINUTIAE, fg.minutiae);
            hipc_put_u32(&w, HIPC_F_QUALITY, fg.quality);
            hipc_close(&w, at);
        }
    }
    mdb_txn_abort(txn);
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

struct verify_best {
    const struct hm_probe  *probe;
    struct hm_scratch      *scratch;
    double                  score;
    int                     position;
    uint64_t                compared;
};

static int
verify_one(void *arg, const struct store_finger *fg)
{
    struct verify_best  *b = arg;
    double               s;

    s = hm_compare(b->probe, fg->stored, fg->stored_len, b->scratch);
    b->compared++;
    if (b->position < 0 || s > b->score) {
        b->score = s;
        b->position = fg->position;
    }
    return 0;
}

static void to_pool(struct hd_request *rq,
    void (*fn)(void *, struct hd_thread *));

static void
verify_fingers_run(void *arg, struct hd_thread *th)
{
    struct hd_request  *rq = arg;

    if (hd_expired(rq)) {
        ops_reply_error(rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed before the verification started");
    } else {
        mf_op_verify(rq, th);
    }
    hd_request_free(rq);
}

static void
op_verify(struct hd_request *rq, struct hd_thread *th)
{
    struct fields         f;
    struct ops_err         e;
    struct hipc_writer    w;
    struct store_subject  s;
    struct store_finger   fg;
    struct verify_best    best = { 0 };
    struct hm_probe      *probe;
    MDB_txn              *txn;
    long                  n;
    int                   rc;

    if (mf_payload_has_probes(rq->payload, rq->len)) {
        /* the "fingers" form (multi_finger.c): up to 10 parses and 110
         * comparisons, too much for the ring thread */
        to_pool(rq, verify_fingers_run);
        return;
    }
    if (decode_fields(rq->payload, rq->len,
            F(HIPC_F_CURP) | F(HIPC_F_POSITION) | F(HIPC_F_FORMAT)
            | F(HIPC_F_TEMPLATE),
            F(HIPC_F_CURP) | F(HIPC_F_FORMAT) | F(HIPC_F_TEMPLATE), &f,
            &e) != 0)
    {
        ops_reply_err(rq, &e);
        return;
    }
    n = prepare_template(th, &f, 0, "finger.data", &e);
    if (n < 0) {
        ops_reply_err(rq, &e);
        return;
    }
    probe = hm_probe_new(th->encoded, (size_t) n);
    if (probe == NULL) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "probe_failed", NULL,
            "cannot prepare the probe");
        return;
    }
    if ((rc = store_read_begin(g.store, &txn)) != 0) {
        hm_probe_free(probe);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return;
    }
    best.probe = probe;
    best.scratch = th->scratch;
    best.position = -1;
    rc = store_subject_get(g.store, txn, f.curp, &s);
    if (rc == MDB_NOTFOUND) {
        ops_reply_error(rq, HIPC_ST_NOT_FOUND, "subject_not_found", "curp",
            "no subject with CURP %s", f.curp);
        goto done;
    }
    if (rc == 0 && (f.seen & F(HIPC_F_POSITION)) && f.position != 0) {
        rc = store_finger_get(g.store, txn, f.curp, f.position, &fg);
        if (rc == MDB_NOTFOUND) {
            ops_reply_error(rq, HIPC_ST_NOT_FOUND, "finger_not_found",
                "finger.position", "subject %s has no finger enrolled at "
                "position %u", f.curp, f.position);
            goto done;
        }
        if (rc == 0) {
            verify_one(&best, &fg);
        }
    } else if (rc == 0) {
        rc = store_finger_each(g.store, txn, f.curp, verify_one, &best);
    }
    if (rc != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        goto done;
    }
    ops_count_comparisons(best.compared);
    if (best.position < 0) {
        ops_reply_error(rq, HIPC_ST_NOT_FOUND, "no_fingers_enrolled", "curp",
            "subject %s has no enrolled fingerprint", f.curp);
        goto done;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put_u32(&w, HIPC_F_MATCH, best.score >= g.threshold);
    hipc_put_f64(&w, HIPC_F_SCORE, best.score);
    hipc_put_f64(&w, HIPC_F_THRESHOLD, g.threshold);
    hipc_put_u32(&w, HIPC_F_POSITION, (uint32_t) best.position);
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);

done:
    mdb_txn_abort(txn);
    hm_probe_free(probe);
}

static void
op_identify(struct hd_request *rq, struct hd_thread *th)
{
    struct fields       f;
    struct ops_err       e;
    struct hm_probe    *probe;
    struct hd_request  *copy;
    long                n;

    if (mf_payload_has_probes(rq->payload, rq->len)) {
        mf_op_identify(rq, th);     /* the "fingers" form: multi_finger.c */
        return;
    }
    if (decode_fields(rq->payload, rq->len,
            F(HIPC_F_FORMAT) | F(HIPC_F_TEMPLATE) | F(HIPC_F_MAX_CANDIDATES),
            F(HIPC_F_FORMAT) | F(HIPC_F_TEMPLATE), &f, &e) != 0)
    {
        ops_reply_err(rq, &e);
        return;
    }
    n = prepare_template(th, &f, 0, "finger.data", &e);
    if (n < 0) {
        ops_reply_err(rq, &e);
        return;
    }
    probe = hm_probe_new(th->encoded, (size_t) n);
    copy = probe ? hd_request_dup(rq) : NULL;
    if (copy == NULL) {
        hm_probe_free(probe);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "out_of_memory", NULL,
            "cannot prepare the probe");
        return;
    }
    copy->len = 0;      /* the payload is not needed any more */
    /* The pre-filter query; NULL (out of memory) searches exhaustively. */
    if (search_identify(copy, probe, hm_sigquery_new(th->encoded, (size_t) n),
            f.max_candidates ? f.max_candidates : OPS_DEFAULT_CANDIDATES,
            g.threshold) != 0)
    {
        /* search_identify() answered and freed on failure */
        return;
    }
}

/* ---- writes: prepared on the ring thread, run by the writer ---------------- */

struct write_prep {
    struct store_subject  subject;
    unsigned              position;
    struct store_finger   finger;
    uint8_t               stored[];
};

static void
submit_write(struct hd_request *rq, struct write_prep *prep)
{
    struct hd_request  *copy = hd_request_dup(rq);

    if (copy == NULL) {
        free(prep);
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    copy->len = 0;
    copy->prep = prep;
    copy->prep_free = free;
    writer_submit(copy);
}

/*
 * A subject whose CURP the population registry knows must agree with it
 * (issue 4: a mismatch is reported, never silently accepted), as for an
 * account: birth date, sex and state encoded in the CURP, and the name
 * when one is given.  A CURP the registry does not hold is enrolled as
 * given (the registry is a stand-in, not the whole population).
 */
static int
registry_refuses(struct hd_request *rq, const struct fields *f)
{
    const struct registry  *reg = id_rt()->registry;
    char                    why[256];

    if (reg == NULL) {
        return 0;
    }
    if (registry_check(reg, f->curp, NULL, NULL, why, sizeof(why))
        == REGISTRY_MISMATCH)
    {
        ops_reply_error(rq, HIPC_ST_INVALID, "registry_mismatch", "curp",
            "%s", why);
        return 1;
    }
    if (registry_check(reg, f->curp, f->name, NULL, why, sizeof(why))
        == REGISTRY_MISMATCH)
    {
        ops_reply_error(rq, HIPC_ST_INVALID, "registry_mismatch", "name",
            "%s", why);
        return 1;
    }
    return 0;
}

static void
op_prepare_write(struct hd_request *rq, struct hd_thread *th)
{
    struct fields       f;
    struct ops_err       e;
    struct write_prep  *p;
    uint64_t            allowed, required;
    long                n = 0;

    switch (rq->op) {
    case HIPC_OP_SUBJECT_CREATE:
        allowed = F(HIPC_F_CURP) | F(HIPC_F_NSS) | F(HIPC_F_NAME);
        required = F(HIPC_F_CURP);
        break;
    case HIPC_OP_SUBJECT_DELETE:
        allowed = required = F(HIPC_F_CURP);
        break;
    case HIPC_OP_FINGER_PUT:
        allowed = required = F(HIPC_F_CURP) | F(HIPC_F_POSITION)
                             | F(HIPC_F_FORMAT) | F(HIPC_F_TEMPLATE);
        break;
    default: /* HIPC_OP_FINGER_DELETE */
        allowed = required = F(HIPC_F_CURP) | F(HIPC_F_POSITION);
        break;
    }
    if (decode_fields(rq->payload, rq->len, allowed, required, &f, &e) != 0)
    {
        ops_reply_err(rq, &e);
        return;
    }
    if (rq->op == HIPC_OP_SUBJECT_CREATE && registry_refuses(rq, &f)) {
        return;
    }
    if ((rq->op == HIPC_OP_FINGER_PUT || rq->op == HIPC_OP_FINGER_DELETE)
        && f.position == 0)
    {
        ops_reply_error(rq, HIPC_ST_INVALID, "invalid_position", "position",
            "finger position must be 1..10");
        return;
    }
    if (rq->op == HIPC_OP_FINGER_PUT) {
        n = prepare_template(th, &f, 1, "data", &e);
        if (n < 0) {
            ops_reply_err(rq, &e);
            return;
        }
    }
    p = calloc(1, sizeof(*p) + (size_t) n);
    if (p == NULL) {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    memcpy(p->subject.curp, f.curp, sizeof(f.curp));
    memcpy(p->subject.nss, f.nss, sizeof(f.nss));
    memcpy(p->subject.name, f.name, sizeof(f.name));
    p->position = f.position;
    if (n > 0) {
        memcpy(p->stored, th->encoded, (size_t) n);
        p->finger.position = (uint8_t) f.position;
        p->finger.format = (uint8_t) f.format;
        p->finger.minutiae = (uint16_t) hm_stored_minutiae(p->stored,
            (size_t) n);
        p->finger.quality = (uint8_t) hm_stored_quality(p->stored,
            (size_t) n);
        p->finger.stored_len = (size_t) n;
    }
    submit_write(rq, p);
}

static int
storage_error(struct hipc_writer *w, int rc)
{
    return ops_storage_error(w, rc);
}

int
ops_storage_error(struct hipc_writer *w, int rc)
{
    /* a full map or disk is the operator's to fix, not a bug: 503 with
     * Retry-After and its own code, never a 500 */
    if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT
        || (rc == EIO && store_disk_full(g.store)))
    {
        ops_error(w, "storage_full", NULL, "the data store is full, nothing "
            "was stored (%s): grow matcher.map_size_mb or the disk",
            mdb_strerror(rc));
        return HIPC_ST_BUSY;
    }
    ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
    return HIPC_ST_INTERNAL;
}

static int
write_simple(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct write_prep     *p = rq->prep;
    struct store_subject   s;
    int                    rc;

    switch (rq->op) {
    case HIPC_OP_SUBJECT_CREATE:
        rc = store_subject_create(g.store, txn, &p->subject);
        if (rc == MDB_KEYEXIST) {
            ops_error(w, "subject_exists", "curp", "a subject with CURP %s "
                "already exists", p->subject.curp);
            return HIPC_ST_CONFLICT;
        }
        if (rc != 0) {
            return storage_error(w, rc);
        }
        hipc_put_str(w, HIPC_F_CURP, p->subject.curp);
        return HIPC_ST_OK;

    case HIPC_OP_SUBJECT_DELETE:
        rc = store_subject_delete(g.store, txn, p->subject.curp);
        break;

    case HIPC_OP_FINGER_PUT:
        rc = store_subject_get(g.store, txn, p->subject.curp, &s);
        if (rc == 0) {
            p->finger.stored = p->stored;
            rc = store_finger_put(g.store, txn, p->subject.curp, &p->finger);
            if (rc == 0) {
                hipc_put_u32(w, HIPC_F_MINUTIAE, p->finger.minutiae);
                hipc_put_u32(w, HIPC_F_QUALITY, p->finger.quality);
                return HIPC_ST_OK;
            }
        }
        break;

    default: /* HIPC_OP_FINGER_DELETE */
        rc = store_subject_get(g.store, txn, p->subject.curp, &s);
        if (rc == 0) {
            rc = store_finger_delete(g.store, txn, p->subject.curp,
                p->position);
            if (rc == MDB_NOTFOUND) {
                ops_error(w, "finger_not_found", "position", "subject %s has "
                    "no finger at position %u", p->subject.curp, p->position);
                return HIPC_ST_NOT_FOUND;
            }
        }
        break;
    }
    if (rc == MDB_NOTFOUND) {
        ops_error(w, "subject_not_found", "curp", "no subject with CURP %s",
            p->subject.curp);
        return HIPC_ST_NOT_FOUND;
    }
    return rc == 0 ? HIPC_ST_OK : storage_error(w, rc);
}

/* ---- import: templates encoded on a pool thread, stored by the writer ---- */

struct import_rec {
    uint32_t             index;
    struct store_subject subject;
    struct store_finger  finger;
    size_t               off;
};

struct import_prep {
    size_t              n, cap;
    struct import_rec  *recs;
    uint8_t            *blob;
    size_t              blob_len, blob_cap;
    uint64_t            rejected;
    char               *msgs;          /* NUL-separated */
    size_t              msgs_len;
};

#define IMPORT_MSGS_MAX  (32u * 1024u)

static void
import_prep_free(void *arg)
{
    struct import_prep  *p = arg;

    if (p) {
        free(p->recs);
        free(p->blob);
        free(p->msgs);
        free(p);
    }
}

static void
import_reject(struct import_prep *p, uint32_t index, const char *curp,
    const char *why)
{
    int  n;

    p->rejected++;
    if (p->msgs_len + 300 > IMPORT_MSGS_MAX) {
        return;
    }
    n = snprintf(p->msgs + p->msgs_len, IMPORT_MSGS_MAX - p->msgs_len,
        "record %u%s%s%s: %.200s", index, curp[0] ? " (" : "", curp,
        curp[0] ? ")" : "", why);
    if (n > 0) {
        p->msgs_len += (size_t) n + 1;
    }
}

static int
import_add(struct import_prep *p, uint32_t index, const struct fields *f,
    const uint8_t *stored, size_t len)
{
    struct import_rec  *r;

    if (p->n == p->cap) {
        size_t  cap = p->cap ? p->cap * 2 : 64;
        void   *nr = realloc(p->recs, cap * sizeof(*p->recs));

        if (nr == NULL) {
            return -1;
        }
        p->recs = nr;
        p->cap = cap;
    }
    if (p->blob_cap - p->blob_len < len) {
        size_t  cap = p->blob_cap ? p->blob_cap : 64 * 1024;
        void   *nb;

        while (cap - p->blob_len < len) {
            cap *= 2;
        }
        nb = realloc(p->blob, cap);
        if (nb == NULL) {
            return -1;
        }
        p->blob = nb;
        p->blob_cap = cap;
    }
    r = &p->recs[p->n++];
    memset(r, 0, sizeof(*r));
    r->index = index;
    memcpy(r->subject.curp, f->curp, sizeof(f->curp));
    memcpy(r->subject.nss, f->nss, sizeof(f->nss));
    memcpy(r->subject.name, f->name, sizeof(f->name));
    r->off = p->blob_len;
    memcpy(p->blob + p->blob_len, stored, len);
    p->blob_len += len;
    r->finger.format = (uint8_t) f->format;
    r->finger.minutiae = (uint16_t) hm_stored_minutiae(stored, len);
    r->finger.quality = (uint8_t) hm_stored_quality(stored, len);
    r->finger.stored_len = len;
    return 0;
}

static void
import_prepare(void *arg, struct hd_thread *th)
{
    struct hd_request   *rq = arg;
    struct import_prep  *p;
    struct hipc_reader   r;
    const uint8_t       *d;
    uint32_t             n, index = 0;
    uint16_t             tag;
    struct fields        f;
    struct ops_err        e;
    const char          *why;
    char                 reason[256];
    long                 len;
    int                  rc;

    if (hd_expired(rq)) {
        ops_reply_error(rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed before the import started");
        hd_request_free(rq);
        return;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->msgs = malloc(IMPORT_MSGS_MAX)) == NULL) {
        free(p);
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        hd_request_free(rq);
        return;
    }
    hipc_reader_init(&r, rq->payload, rq->len);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        if (tag != HIPC_F_RECORD) {
            rc = -2;
            break;
        }
        index++;
        if (decode_fields(d, n, F(HIPC_F_CURP) | F(HIPC_F_POSITION)
                | F(HIPC_F_FORMAT) | F(HIPC_F_TEMPLATE) | F(HIPC_F_NAME)
                | F(HIPC_F_NSS),
                F(HIPC_F_CURP) | F(HIPC_F_FORMAT) | F(HIPC_F_TEMPLATE), &f,
                &e) != 0)
        {
            import_reject(p, index, f.curp, e.msg);
            continue;
        }
        /* the API's rules for a subject (check digits, the registry):
         * a subject imported past them could never be read through it */
        if ((why = id_curp_check(f.curp, strlen(f.curp))) != NULL
            || (f.nss[0] && (why = id_nss_check(f.nss, strlen(f.nss)))
                            != NULL)
            || (id_rt()->registry
                && registry_check(id_rt()->registry, f.curp, f.name, NULL,
                                  reason, sizeof(reason))
                   == REGISTRY_MISMATCH
                && (why = reason) != NULL))
        {
            import_reject(p, index, f.curp, why);
            continue;
        }
        len = prepare_template(th, &f, 1, "data", &e);
        if (len < 0) {
            import_reject(p, index, f.curp, e.msg);
            continue;
        }
        /* Position 0 (unknown): take the record's own, if it gives one. */
        if (f.position == 0 && th->fp.position <= 10) {
            f.position = th->fp.position;
        }
        if (import_add(p, index, &f, th->encoded, (size_t) len) != 0) {
            import_reject(p, index, f.curp, "out of memory");
            continue;
        }
        p->recs[p->n - 1].finger.position = (uint8_t) f.position;
    }
    if (rc != 0 || index == 0) {
        import_prep_free(p);
        ops_reply_error(rq, HIPC_ST_BAD_REQUEST, "malformed_request", NULL,
            rc == -2 ? "an import batch holds only RECORD fields"
            : index == 0 ? "an import batch needs at least one RECORD"
            : "malformed TLV in the import batch");
        hd_request_free(rq);
        return;
    }
    rq->prep = p;
    rq->prep_free = import_prep_free;
    writer_submit(rq);
}

static int
write_import(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct import_prep    *p = rq->prep;
    struct import_rec     *r;
    struct store_subject   s;
    size_t                 i, at;
    int                    rc;

    for (i = 0; i < p->n; i++) {
        r = &p->recs[i];
        rc = store_subject_get(g.store, txn, r->subject.curp, &s);
        if (rc == MDB_NOTFOUND) {
            rc = store_subject_create(g.store, txn, &r->subject);
        }
        if (rc == 0) {
            r->finger.stored = p->blob + r->off;
            rc = store_finger_put(g.store, txn, r->subject.curp, &r->finger);
        }
        if (rc != 0) {
            /* The nested transaction is aborted: nothing of this batch is
             * stored, so say so rather than half-succeed. */
            ops_error(w, "storage_error", NULL, "import batch not stored: "
                "%s", mdb_strerror(rc));
            return HIPC_ST_INTERNAL;
        }
    }
    hipc_put_u64(w, HIPC_F_IMPORTED, p->n);
    hipc_put_u64(w, HIPC_F_REJECTED, p->rejected);
    for (at = 0; at < p->msgs_len; at += strlen(p->msgs + at) + 1) {
        if (w->cap - w->len < 1024) {
            break;
        }
        hipc_put_str(w, HIPC_F_MESSAGE, p->msgs + at);
    }
    return HIPC_ST_OK;
}

int
ops_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    if (rq->op >= HIPC_OP_ACCOUNT_CREATE && rq->op <= HIPC_OP_ACCOUNT_UNLOCK)
    {
        return identity_write(rq, txn, w);
    }
    if (enroll_ops_owns(rq->op)) {
        return enroll_ops_write(rq, txn, w);
    }
    if (attendance_owns(rq->op)) {
        return attendance_write(rq, txn, w);
    }
    if (rq->op == HIPC_OP_IMPORT_BATCH) {
        return write_import(rq, txn, w);
    }
    return write_simple(rq, txn, w);
}

/* ---- backup: a pool thread (it reads the whole map) ----------------------- */

static void
backup_run(void *arg, struct hd_thread *th)
{
    struct hd_request   *rq = arg;
    struct fields        f;
    struct ops_err        e;
    struct hipc_writer   w;
    char                 err[512];

    if (decode_fields(rq->payload, rq->len, F(HIPC_F_PATH), F(HIPC_F_PATH),
            &f, &e) != 0)
    {
        ops_reply_err(rq, &e);
    } else if (store_backup(g.store, f.path, err, sizeof(err)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "backup_failed", "path", "%s",
            err);
    } else {
        hipc_writer_init(&w, th->reply, sizeof(th->reply));
        hipc_put_str(&w, HIPC_F_PATH, f.path);
        hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
    }
    hd_request_free(rq);
}

void
ops_dispatch(struct hd_request *rq, struct hd_request *copy,
    void (*fn)(void *arg, struct hd_thread *th))
{
    if (copy != NULL && fn == NULL) {
        writer_submit(copy);
    } else if (copy == NULL || pool_submit(fn, copy) != 0) {
        hd_request_free(copy);
        ops_reply_error(rq, HIPC_ST_BUSY, "busy", NULL,
            "huellad cannot queue the request");
    }
}

static void
to_pool(struct hd_request *rq, void (*fn)(void *, struct hd_thread *))
{
    ops_dispatch(rq, hd_request_dup(rq), fn);
}

/* Tests only (matcher.debug_delay_ms, refused without allow_debug): a
 * slow matcher.  -1 when the deadline passed meanwhile (answered). */
static int
ops_debug_delay(struct hd_request *rq)
{
    struct timespec  ts;

    ts.tv_sec = g.cfg.debug_delay_ms / 1000;
    ts.tv_nsec = (long) (g.cfg.debug_delay_ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        /* the rest of the delay */
    }
    if (hd_expired(rq)) {
        ops_reply_error(rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed before the work started");
        return -1;
    }
    return 0;
}

/* ---- entry points --------------------------------------------------------- */

void
ops_handle(struct hd_request *rq, struct hd_thread *th)
{
    if (rq->op < OPS_MAX_OP) {
        atomic_fetch_add_explicit(&g.requests[rq->op], 1,
            memory_order_relaxed);
    }
    if (g.cfg.debug_delay_ms > 0 && ops_debug_delay(rq) != 0) {
        return;
    }
    switch (rq->op) {
    case HIPC_OP_PING:
        op_ping(rq, th, 0);
        break;
    case HIPC_OP_STATS:
        op_ping(rq, th, 1);
        break;
    case HIPC_OP_ECHO:
        hd_reply(rq, HIPC_ST_OK, rq->payload, rq->len);
        break;
    case HIPC_OP_SUBJECT_GET:
        op_subject_get(rq, th);
        break;
    case HIPC_OP_VERIFY:
        op_verify(rq, th);
        break;
    case HIPC_OP_IDENTIFY:
        op_identify(rq, th);
        break;
    case HIPC_OP_SUBJECT_CREATE:
    case HIPC_OP_SUBJECT_DELETE:
    case HIPC_OP_FINGER_PUT:
    case HIPC_OP_FINGER_DELETE:
        op_prepare_write(rq, th);
        break;
    case HIPC_OP_IMPORT_BATCH:
        to_pool(rq, import_prepare);
        break;
    case HIPC_OP_BACKUP:
        to_pool(rq, backup_run);
        break;
    default:
        if (rq->op >= HIPC_OP_ACCOUNT_CREATE
            && rq->op <= HIPC_OP_ACCOUNT_UNLOCK)
        {
            identity_handle(rq, th);
            break;
        }
        if (enroll_ops_owns(rq->op)) {
            enroll_ops_handle(rq, th);
            break;
        }
        if (attendance_owns(rq->op)) {
            attendance_handle(rq, th);
            break;
        }
        if (credev_owns(rq->op)) {
            credev_handle(rq, th);
            break;
        }
        ops_reply_error(rq, HIPC_ST_BAD_REQUEST, "unknown_op", NULL,
            "operation %u is unknown", rq->op);
        break;
    }
}

void
ops_committed(struct hd_request *rq, int status)
{
    if (rq->op >= HIPC_OP_ACCOUNT_CREATE && rq->op <= HIPC_OP_ACCOUNT_UNLOCK)
    {
        identity_committed(rq, status);
    }
    if (attendance_owns(rq->op)) {
        attendance_committed(rq, status);
    }
}

int
ops_init(const struct hd_config *cfg, char *err, size_t errlen)
{
    unsigned  threads = config_threads(cfg);

    g.cfg = *cfg;
    g.started = (uint64_t) time(NULL);
    g.threshold = hm_threshold_for_fmr(cfg->fmr);
    /* Readers: ring threads, pool threads, the writer, backups, and room
     * for read-only openers (nginx workers). */
    if (store_open(&g.store, cfg->data_dir, cfg->map_size_mb << 20,
            cfg->max_clients + threads + 64, err, errlen) != 0)
    {
        return -1;
    }
    if (writer_start(g.store, err, errlen) != 0) {
        return -1;
    }
    if (search_start(threads, g.store, err, errlen) != 0) {
        return -1;
    }
    if (credev_init(g.store, cfg->identity.credential_events_keep, err,
            errlen) != 0)
    {
        return -1;
    }
    if (identity_init(&g.cfg, g.store, err, errlen) != 0) {
        return -1;
    }
    if (enroll_ops_init(&g.cfg, g.store, err, errlen) != 0) {
        return -1;
    }
    if (attendance_init(&g.cfg, g.store, err, errlen) != 0) {
        return -1;
    }
    return 0;
}

void
ops_shutdown(void)
{
    writer_stop();
}
