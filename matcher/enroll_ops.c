/*
 * enroll_ops.c -- routing, field decoding, databases and record helpers of
 * the employer-enrollment ops (see enroll_ops.h).
 */

#include "enroll_ops.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "devices.h"
#include "enrollment.h"
#include "enrollment_jobs.h"
#include "identifiers.h"
#include "ipc_server.h"
#include "receipt.h"
#include "search.h"
#include "writer.h"

#define EN_RECORD_VERSION  1u

static struct {
    struct hd_enroll_config  cfg;
    MDB_dbi                  devices, receipts, enroll;
} eg;

MDB_dbi en_db_devices(void) { return eg.devices; }
MDB_dbi en_db_receipts(void) { return eg.receipts; }
MDB_dbi en_db_enroll(void) { return eg.enroll; }
const struct hd_enroll_config *en_cfg(void) { return &eg.cfg; }

/* ---- errors ---------------------------------------------------------------- */

int
en_fail(struct en_err *e, int status, const char *code, const char *field,
    const char *fmt, ...)
{
    va_list  ap;

    e->status = status;
    e->code = code;
    snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

void
en_reply_err(struct hd_request *rq, const struct en_err *e)
{
    ops_reply_error(rq, e->status, e->code, e->field[0] ? e->field : NULL,
        "%s", e->msg);
}

int
en_put_err(struct hipc_writer *w, const struct en_err *e)
{
    ops_error(w, e->code, e->field[0] ? e->field : NULL, "%s", e->msg);
    return e->status;
}

/* ---- decoding -------------------------------------------------------------- */

int
en_has(const struct en_fields *f, unsigned tag)
{
    return tag < 192 && (f->seen[tag / 64] >> (tag % 64)) & 1;
}

static int
in_list(const uint16_t *list, unsigned tag)
{
    for (; *list; list++) {
        if (*list == tag) {
            return 1;
        }
    }
    return 0;
}

static const char *
tag_json(unsigned tag)
{
    switch (tag) {
    case HIPC_F_CURP: return "curp";
    case HIPC_F_NSS: return "nss";
    case HIPC_F_RFC: return "employer_rfc";
    case HIPC_F_PUBLIC_KEY: return "public_key_pem";
    case HIPC_F_MAKE: return "make";
    case HIPC_F_MODEL: return "model";
    case HIPC_F_SERIAL: return "serial";
    case HIPC_F_PURPOSE: return "purpose";
    case HIPC_F_DEVICE_ID: return "device_id";
    case HIPC_F_STATE: return "status";
    case HIPC_F_SIG_BASE: return "signature_base";
    case HIPC_F_SIGNATURE: return "signature";
    case HIPC_F_FOLIO: return "folio";
    case HIPC_F_CASE_ID: return "case_id";
    case HIPC_F_ACTOR: return "actor";
    case HIPC_F_CLIENT: return "client";
    case HIPC_F_FINGER: return "fingers";
    case HIPC_F_FACE: return "face";
    case HIPC_F_MISSING: return "missing";
    case HIPC_F_JOB_ID: return "job_id";
    case HIPC_F_ASYNC: return "async";
    default: return "request";
    }
}

/* Printable ASCII/UTF-8 text, copied into out. */
static int
take_text(struct en_err *e, unsigned tag, const uint8_t *d, uint32_t n,
    char *out, size_t cap, size_t min)
{
    if (n < min || n >= cap || !ops_text_valid(d, n)) {
        return en_fail(e, HIPC_ST_INVALID, "invalid_value", tag_json(tag),
            "%s must be text of %zu..%zu bytes without control characters",
            tag_json(tag), min, cap - 1);
    }
    memcpy(out, d, n);
    out[n] = '\0';
    return 0;
}

/* [A-Za-z0-9_] ids and words. */
static int
take_word(struct en_err *e, unsigned tag, const uint8_t *d, uint32_t n,
    char *out, size_t cap)
{
    uint32_t  i;

    if (n == 0 || n >= cap) {
        goto bad;
    }
    for (i = 0; i < n; i++) {
        if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= '0' && d[i] <= '9')
              || (d[i] >= 'A' && d[i] <= 'Z') || d[i] == '_' || d[i] == '-'))
        {
            goto bad;
        }
    }
    memcpy(out, d, n);
    out[n] = '\0';
    return 0;
bad:
    return en_fail(e, HIPC_ST_INVALID, "invalid_value", tag_json(tag),
        "%s is not a valid value", tag_json(tag));
}

static int
malformed(struct en_err *e, unsigned tag)
{
    return en_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field", tag_json(tag),
        "field %u has the wrong size", tag);
}

static int
decode_finger(struct en_fields *f, const uint8_t *buf, uint32_t len,
    struct en_err *e)
{
    struct hipc_reader  r;
    struct en_finger   *fg = &f->fingers[f->nfingers];
    const uint8_t      *d;
    uint32_t            n;
    uint16_t            tag;
    unsigned            seen = 0;
    int                 rc;
    char                field[32];

    snprintf(field, sizeof(field), "fingers[%u]", f->nfingers);
    if (f->nfingers == EN_FINGERS_MAX) {
        return en_fail(e, HIPC_ST_INVALID, "too_many_fingers", "fingers",
            "at most %d fingers", EN_FINGERS_MAX);
    }
    memset(fg, 0, sizeof(*fg));
    hipc_reader_init(&r, buf, len);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        unsigned bit = tag == HIPC_F_POSITION ? 1 : tag == HIPC_F_FORMAT ? 2
                       : tag == HIPC_F_TEMPLATE ? 4 : 0;

        if (bit == 0 || (seen & bit)) {
            return en_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", field,
                "a FINGER holds POSITION, FORMAT and TEMPLATE once each");
        }
        seen |= bit;
        if (tag == HIPC_F_POSITION) {
            if (hipc_get_u32(d, n, &fg->position) != 0) {
                return malformed(e, tag);
            }
        } else if (tag == HIPC_F_FORMAT) {
            if (hipc_get_u32(d, n, &fg->format) != 0) {
                return malformed(e, tag);
            }
        } else {
            fg->tmpl = d;
            fg->tmpl_len = n;
        }
    }
    if (rc < 0 || seen != 7) {
        return en_fail(e, HIPC_ST_BAD_REQUEST, "missing_field", field,
            "a FINGER needs POSITION, FORMAT and TEMPLATE");
    }
    if (fg->position < 1 || fg->position > 10) {
        snprintf(field + strlen(field), sizeof(field) - strlen(field),
            ".position");
        return en_fail(e, HIPC_ST_INVALID, "invalid_position", field,
            "finger position %u is outside 1..10", fg->position);
    }
    if (fg->format != HIPC_FMT_ISO19794_2_2005
        && fg->format != HIPC_FMT_ANSI378_2004)
    {
        snprintf(field + strlen(field), sizeof(field) - strlen(field),
            ".format");
        return en_fail(e, HIPC_ST_INVALID, "unsupported_format", field,
            "template format %u is not supported", fg->format);
    }
    f->nfingers++;
    return 0;
}

static int
decode_missing(struct en_fields *f, const uint8_t *buf, uint32_t len,
    struct en_err *e)
{
    struct hipc_reader  r;
    struct en_missing  *m = &f->missing[f->nmissing];
    const uint8_t      *d;
    uint32_t            n;
    uint16_t            tag;
    unsigned            seen = 0;
    int                 rc;
    char                field[32];

    snprintf(field, sizeof(field), "missing[%u]", f->nmissing);
    if (f->nmissing == EN_FINGERS_MAX) {
        return en_fail(e, HIPC_ST_INVALID, "too_many_missing", "missing",
            "at most %d missing fingers", EN_FINGERS_MAX);
    }
    memset(m, 0, sizeof(*m));
    hipc_reader_init(&r, buf, len);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        if (tag == HIPC_F_POSITION && !(seen & 1)) {
            seen |= 1;
            if (hipc_get_u32(d, n, &m->position) != 0) {
                return malformed(e, tag);
            }
        } else if (tag == HIPC_F_REASON && !(seen & 2)) {
            seen |= 2;
            if (n >= sizeof(m->reason)) {
                n = 0;
            }
            memcpy(m->reason, d, n);
            m->reason[n] = '\0';
        } else {
            return en_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", field,
                "a MISSING holds POSITION and REASON once each");
        }
    }
    if (rc < 0 || seen != 3) {
        return en_fail(e, HIPC_ST_BAD_REQUEST, "missing_field", field,
            "a MISSING needs POSITION and REASON");
    }
    if (m->position < 1 || m->position > 10) {
        return en_fail(e, HIPC_ST_INVALID, "invalid_position", field,
            "finger position %u is outside 1..10", m->position);
    }
    if (strcmp(m->reason, "amputation") != 0
        && strcmp(m->reason, "bandage") != 0
        && strcmp(m->reason, "unreadable") != 0)
    {
        snprintf(field + strlen(field), sizeof(field) - strlen(field),
            ".reason");
        return en_fail(e, HIPC_ST_INVALID, "invalid_missing_reason", field,
            "the reason is amputation, bandage or unreadable");
    }
    f->nmissing++;
    return 0;
}

static int
decode_face(struct en_fields *f, const uint8_t *buf, uint32_t len,
    struct en_err *e)
{
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n, i;
    uint16_t            tag;
    unsigned            seen = 0;
    int                 rc;
    float               x;

    hipc_reader_init(&r, buf, len);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        if (tag == HIPC_F_FACE_MODEL && !(seen & 1)) {
            seen |= 1;
            if (n == 0 || n >= EN_MODEL_MAX) {
                return en_fail(e, HIPC_ST_INVALID, "invalid_face_model",
                    "face.model", "the model id is 1..64 characters of "
                    "A-Z a-z 0-9 . _ -");
            }
            for (i = 0; i < n; i++) {
                if (!((d[i] >= 'a' && d[i] <= 'z')
                      || (d[i] >= 'A' && d[i] <= 'Z')
                      || (d[i] >= '0' && d[i] <= '9') || d[i] == '.'
                      || d[i] == '_' || d[i] == '-'))
                {
                    return en_fail(e, HIPC_ST_INVALID, "invalid_face_model",
                        "face.model", "the model id is 1..64 characters of "
                        "A-Z a-z 0-9 . _ -");
                }
            }
            memcpy(f->face_model, d, n);
            f->face_model[n] = '\0';
        } else if (tag == HIPC_F_FACE_DIM && !(seen & 2)) {
            seen |= 2;
            if (hipc_get_u32(d, n, &f->face_dim) != 0) {
                return malformed(e, tag);
            }
        } else if (tag == HIPC_F_FACE_DATA && !(seen & 4)) {
            seen |= 4;
            f->face_data = d;
            f->face_data_len = n;
        } else {
            return en_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", "face",
                "a FACE holds FACE_MODEL, FACE_DIM and FACE_DATA once each");
        }
    }
    if (rc < 0 || seen != 7) {
        return en_fail(e, HIPC_ST_BAD_REQUEST, "missing_field", "face",
            "a FACE needs FACE_MODEL, FACE_DIM and FACE_DATA");
    }
    if (f->face_dim < 1 || f->face_dim > EN_FACE_DIM_MAX) {
        return en_fail(e, HIPC_ST_INVALID, "invalid_face_dim", "face.dim",
            "dim must be 1..%d", EN_FACE_DIM_MAX);
    }
    if (f->face_data_len != f->face_dim * 4u) {
        return en_fail(e, HIPC_ST_INVALID, "invalid_face_data", "face.data",
            "%u bytes of data, %u float32 values need %u", f->face_data_len,
            f->face_dim, f->face_dim * 4u);
    }
    for (i = 0; i < f->face_dim; i++) {
        memcpy(&x, f->face_data + 4 * i, 4);
        if (!isfinite(x)) {
            return en_fail(e, HIPC_ST_INVALID, "invalid_face_data",
                "face.data", "value %u is not a finite number", i);
        }
    }
    f->has_face = 1;
    return 0;
}

static int
decode_one(struct en_fields *f, unsigned tag, const uint8_t *d, uint32_t n,
    struct en_err *e)
{
    const char  *why;

    switch (tag) {
    case HIPC_F_CURP:
        if (n >= sizeof(f->curp)
            || (why = id_curp_check((const char *) d, n)) != NULL)
        {
            return en_fail(e, HIPC_ST_INVALID, "invalid_curp", "curp",
                "the CURP is not valid");
        }
        memcpy(f->curp, d, n);
        f->curp[n] = '\0';
        return 0;
    case HIPC_F_NSS:
        if (n >= sizeof(f->nss)
            || (why = id_nss_check((const char *) d, n)) != NULL)
        {
            return en_fail(e, HIPC_ST_INVALID, "invalid_nss", "nss",
                "the NSS is not valid");
        }
        memcpy(f->nss, d, n);
        f->nss[n] = '\0';
        return 0;
    case HIPC_F_RFC:
        if (n >= sizeof(f->rfc)
            || (why = id_rfc_check((const char *) d, n)) != NULL)
        {
            return en_fail(e, HIPC_ST_INVALID, "invalid_rfc", "employer_rfc",
                "the RFC is not valid");
        }
        memcpy(f->rfc, d, n);
        f->rfc[n] = '\0';
        return 0;
    case HIPC_F_PUBLIC_KEY:
        if (n == 0 || n > EN_PEM_MAX) {
            return en_fail(e, HIPC_ST_INVALID, "invalid_public_key",
                "public_key_pem", "a PEM public key of 1..%d bytes is "
                "needed", EN_PEM_MAX);
        }
        f->pem = (const char *) d;
        f->pem_len = n;
        return 0;
    case HIPC_F_MAKE:
        return take_text(e, tag, d, n, f->make, sizeof(f->make), 1);
    case HIPC_F_MODEL:
        return take_text(e, tag, d, n, f->model, sizeof(f->model), 1);
    case HIPC_F_SERIAL:
        return take_text(e, tag, d, n, f->serial, sizeof(f->serial), 1);
    case HIPC_F_PURPOSE:
        return take_word(e, tag, d, n, f->purpose, sizeof(f->purpose));
    case HIPC_F_STATE:
        return take_word(e, tag, d, n, f->state, sizeof(f->state));
    case HIPC_F_DEVICE_ID:
        return take_word(e, tag, d, n, f->device_id, sizeof(f->device_id));
    case HIPC_F_CASE_ID:
        return take_word(e, tag, d, n, f->case_id, sizeof(f->case_id));
    case HIPC_F_FOLIO:
        return take_word(e, tag, d, n, f->folio, sizeof(f->folio));
    case HIPC_F_JOB_ID:
        return take_word(e, tag, d, n, f->job_id, sizeof(f->job_id));
    case HIPC_F_ASYNC: {
        uint32_t  v;

        if (hipc_get_u32(d, n, &v) != 0 || v > 1) {
            return malformed(e, tag);
        }
        f->async = (int) v;
        return 0;
    }
    case HIPC_F_ACTOR:
        return take_text(e, tag, d, n, f->actor, sizeof(f->actor), 1);
    case HIPC_F_CLIENT:
        return take_text(e, tag, d, n, f->client, sizeof(f->client), 0);
    case HIPC_F_SIG_BASE:
        f->sig_base = d;
        f->sig_base_len = n;
        return 0;
    case HIPC_F_SIGNATURE:
        f->sig = d;
        f->sig_len = n;
        return 0;
    case HIPC_F_FINGER:
        return decode_finger(f, d, n, e);
    case HIPC_F_MISSING:
        return decode_missing(f, d, n, e);
    case HIPC_F_FACE:
        return decode_face(f, d, n, e);
    default:
        return en_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", NULL,
            "field tag %u is not part of this request", tag);
    }
}

int
en_decode(const uint8_t *buf, size_t len, const uint16_t *allowed,
    const uint16_t *required, struct en_fields *f, struct en_err *e)
{
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n;
    uint16_t            tag;
    int                 rc;
    int                 repeatable;

    memset(f, 0, sizeof(*f));
    hipc_reader_init(&r, buf, len);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        if (tag >= 192 || !in_list(allowed, tag)) {
            return en_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", NULL,
                "field tag %u is not part of this request", tag);
        }
        repeatable = tag == HIPC_F_FINGER || tag == HIPC_F_MISSING;
        if (en_has(f, tag) && !repeatable) {
            return en_fail(e, HIPC_ST_BAD_REQUEST, "duplicate_field",
                tag_json(tag), "field %s given twice", tag_json(tag));
        }
        f->seen[tag / 64] |= 1ull << (tag % 64);
        if (decode_one(f, tag, d, n, e) != 0) {
            return -1;
        }
    }
    if (rc < 0) {
        return en_fail(e, HIPC_ST_BAD_REQUEST, "malformed_request", NULL,
            "malformed TLV at byte %zu of %zu", r.pos, r.len);
    }
    for (; *required; required++) {
        if (!en_has(f, *required)) {
            return en_fail(e, HIPC_ST_BAD_REQUEST, "missing_field",
                tag_json(*required), "required field %s is missing",
                tag_json(*required));
        }
    }
    return 0;
}

int
en_list_open(struct hd_request *rq, const uint16_t *tags, MDB_dbi dbi,
    struct en_fields *f, MDB_txn **txn, MDB_cursor **cur)
{
    static const uint16_t  none[] = { 0 };
    struct en_err          e;
    int                    rc;

    *txn = NULL;
    *cur = NULL;
    if (en_decode(rq->payload, rq->len, tags, none, f, &e) != 0) {
        en_reply_err(rq, &e);
        return -1;
    }
    if ((rc = store_read_begin(ops_store(), txn)) != 0
        || (rc = mdb_cursor_open(*txn, dbi, cur)) != 0)
    {
        if (*txn) {
            mdb_txn_abort(*txn);
            *txn = NULL;
        }
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- records --------------------------------------------------------------- */

MDB_val
en_key(char *buf, size_t cap, const char *prefix, const char *id)
{
    MDB_val  k;
    int      n = snprintf(buf, cap, "%s%s", prefix, id);

    k.mv_data = buf;
    k.mv_size = n < 0 ? 0 : (size_t) n < cap ? (size_t) n : cap - 1;
    return k;
}

int
en_record_put(MDB_txn *txn, MDB_dbi dbi, const char *prefix, const char *id,
    const struct hipc_writer *w)
{
    char     kb[128];
    MDB_val  k = en_key(kb, sizeof(kb), prefix, id), v;
    int      rc;

    if (w->overflow) {
        return MDB_BAD_VALSIZE;
    }
    v.mv_size = w->len + 1;
    v.mv_data = NULL;
    rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
    if (rc == 0) {
        ((uint8_t *) v.mv_data)[0] = EN_RECORD_VERSION;
        memcpy((uint8_t *) v.mv_data + 1, w->buf, w->len);
    }
    return rc;
}

int
en_record_get(MDB_txn *txn, MDB_dbi dbi, const char *prefix, const char *id,
    const uint8_t **data, size_t *len)
{
    char     kb[128];
    MDB_val  k = en_key(kb, sizeof(kb), prefix, id), v;
    int      rc;

    rc = mdb_get(txn, dbi, &k, &v);
    if (rc != 0) {
        return rc;
    }
    if (v.mv_size < 1 || ((const uint8_t *) v.mv_data)[0]
        != EN_RECORD_VERSION)
    {
        return MDB_CORRUPTED;
    }
    *data = (const uint8_t *) v.mv_data + 1;
    *len = v.mv_size - 1;
    return 0;
}

void
en_record_str(const uint8_t *rec, size_t len, uint16_t tag, char *out,
    size_t cap)
{
    const uint8_t  *d;
    uint32_t        n;

    out[0] = '\0';
    if (hipc_find(rec, len, tag, &d, &n) == 1 && n < cap) {
        memcpy(out, d, n);
        out[n] = '\0';
    }
}

uint32_t
en_record_u32(const uint8_t *rec, size_t len, uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n;
    uint32_t        v = 0;

    if (hipc_find(rec, len, tag, &d, &n) == 1) {
        hipc_get_u32(d, n, &v);
    }
    return v;
}

uint64_t
en_record_u64(const uint8_t *rec, size_t len, uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n;
    uint64_t        v = 0;

    if (hipc_find(rec, len, tag, &d, &n) == 1) {
        hipc_get_u64(d, n, &v);
    }
    return v;
}

double
en_record_f64(const uint8_t *rec, size_t len, uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n;
    double          v = 0;

    if (hipc_find(rec, len, tag, &d, &n) == 1) {
        hipc_get_f64(d, n, &v);
    }
    return v;
}

int
en_random_id(const char *prefix, char *out, size_t cap)
{
    uint8_t  raw[8];

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw)) {
        return -1;
    }
    snprintf(out, cap, "%s%02x%02x%02x%02x%02x%02x%02x%02x", prefix, raw[0],
        raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);
    return 0;
}

void
en_reply_json(struct hd_request *rq, struct hd_thread *th, char *text)
{
    struct hipc_writer  w;

    if (text == NULL) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "out_of_memory", NULL,
            "cannot build the reply");
        return;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put_str(&w, HIPC_F_JSON, text);
    free(text);
    if (w.overflow) {
        ops_reply_error(rq, HIPC_ST_TOO_LARGE, "reply_too_large", NULL,
            "the answer does not fit a reply; narrow the request");
        return;
    }
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

void
en_dispatch(struct hd_request *rq, void *prep, void (*prep_free)(void *),
    void (*fn)(void *arg, struct hd_thread *th))
{
    struct hd_request  *copy = hd_request_dup(rq);

    if (copy == NULL) {
        if (prep_free) {
            prep_free(prep);
        }
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    copy->prep = prep;
    copy->prep_free = prep_free;
    ops_dispatch(rq, copy, fn);
}

/* ---- routing --------------------------------------------------------------- */

int
enroll_ops_owns(unsigned op)
{
    return op >= HIPC_OP_DEVICE_REGISTER && op <= HIPC_OP_DEDUP_JOB_FINISH;
}

void
enroll_ops_handle(struct hd_request *rq, struct hd_thread *th)
{
    switch (rq->op) {
    case HIPC_OP_DEVICE_REGISTER:
    case HIPC_OP_DEVICE_SET_STATUS:
    case HIPC_OP_DEVICE_LIST:
    case HIPC_OP_DEVICE_VERIFY:
        devices_handle(rq, th);
        break;
    case HIPC_OP_RECEIPT_GET:
    case HIPC_OP_JWKS:
        receipt_ops_handle(rq, th);
        break;
    case HIPC_OP_DEDUP_JOB_GET:
    case HIPC_OP_DEDUP_JOB_LIST:
        en_jobs_handle(rq, th);
        break;
    case HIPC_OP_DEDUP_JOB_FINISH:
        /* only the job thread hands this to the writer, never a client */
        ops_reply_error(rq, HIPC_ST_BAD_REQUEST, "unknown_op", NULL,
            "operation %u is internal to huellad", rq->op);
        break;
    default:
        enrollment_handle(rq, th);
        break;
    }
}

int
enroll_ops_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    switch (rq->op) {
    case HIPC_OP_DEVICE_REGISTER:
    case HIPC_OP_DEVICE_SET_STATUS:
        return devices_write(rq, txn, w);
    case HIPC_OP_DEDUP_JOB_FINISH:
        return en_jobs_write_finish(rq, txn, w);
    default:
        return enrollment_write(rq, txn, w);
    }
}

void
enroll_batch_end(MDB_txn *txn)
{
    devices_flush_last_used(txn, 0);
}

void
enroll_writer_stopping(MDB_txn *txn)
{
    devices_flush_last_used(txn, 1);
}

int
enroll_ops_init(const struct hd_config *cfg, struct store *st, char *err,
    size_t errlen)
{
    MDB_txn  *txn;
    int       rc;

    eg.cfg = cfg->enroll;
    if (eg.cfg.debug_dedup_job_pause_ms > 0 && !cfg->allow_debug) {
        snprintf(err, errlen, "enrollment.debug_dedup_job_pause_ms is "
            "refused without matcher.allow_debug: true (tests only)");
        return -1;
    }
    if ((rc = mdb_txn_begin(store_env(st), NULL, 0, &txn)) != 0) {
        snprintf(err, errlen, "enrollment databases: %s", mdb_strerror(rc));
        return -1;
    }
    if ((rc = mdb_dbi_open(txn, "devices", MDB_CREATE, &eg.devices)) != 0
        || (rc = mdb_dbi_open(txn, "receipts", MDB_CREATE, &eg.receipts))
           != 0
        || (rc = mdb_dbi_open(txn, "enrollment", MDB_CREATE, &eg.enroll))
           != 0)
    {
        mdb_txn_abort(txn);
        snprintf(err, errlen, "enrollment databases: %s", mdb_strerror(rc));
        return -1;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        snprintf(err, errlen, "enrollment databases: %s", mdb_strerror(rc));
        return -1;
    }
    if (receipt_init(eg.cfg.receipt_key_file, err, errlen) != 0) {
        return -1;
    }
    if (enrollment_init(err, errlen) != 0) {
        return -1;
    }
    return devices_init(err, errlen);
}
