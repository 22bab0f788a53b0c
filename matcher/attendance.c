/*
 * attendance.c -- the attendance runtime and what every attendance op
 * shares (see attendance.h): rules, clock, time zone, field decoding,
 * authorization, JSON replies, receipts and dispatch.
 */

#include "attendance.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attendance_store.h"
#include "identity.h"
#include "ipc_server.h"
#include "receipt.h"
#include "search.h"
#include "store.h"
#include "writer.h"

static struct {
    MDB_dbi           dbi;
    int               ready;
} ag;

MDB_dbi
att_dbi(void)
{
    return ag.dbi;
}

time_t
att_clock(void)
{
    return time(NULL) + (time_t) att_rules()->clock_offset_s;
}

void
att_local(time_t t, int32_t *day, int *minute)
{
    struct tm  tm;

    localtime_r(&t, &tm);
    *day = att_days_from_civil(tm.tm_year + 1900, (unsigned) tm.tm_mon + 1,
        (unsigned) tm.tm_mday);
    *minute = tm.tm_hour * 60 + tm.tm_min;
}

void
att_iso8601(time_t t, char out[32])
{
    struct tm  tm;
    long       off;
    size_t     n;

    localtime_r(&t, &tm);
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    off = tm.tm_gmtoff;
    snprintf(out + n, 32 - n, "%c%02ld:%02ld", off < 0 ? '-' : '+',
        labs(off) / 3600, labs(off) % 3600 / 60);
}

int
att_now_min(time_t now, int32_t day)
{
    int32_t  today;
    int      minute;
    int64_t  m;

    att_local(now, &today, &minute);
    m = (int64_t) (today - day) * 1440 + minute;
    /* far past or future days: clamp (the rules only compare) */
    return m > 1000000 ? 1000000 : m < -1000000 ? -1000000 : (int) m;
}

/* ---- authorization ------------------------------------------------------ */

int
att_role(const char *roles, const char *role)
{
    size_t       len = strlen(role);
    const char  *p = roles;

    while ((p = strstr(p, role)) != NULL) {
        if ((p == roles || p[-1] == ',') && (p[len] == ',' || p[len] == 0)) {
            return 1;
        }
        p += len;
    }
    return 0;
}

int
att_may_view(const struct att_fields *f, const char *curp)
{
    return strcmp(f->actor, curp) == 0 || att_role(f->roles, "admin")
           || att_role(f->roles, "auditor")
           || att_reports_to(att_rules(), curp, f->actor);
}

/* ---- errors and decoding ------------------------------------------------ */

int
att_has(const struct att_fields *f, unsigned tag)
{
    return ops_seen(f->seen, tag);
}

static const char *
tag_json(unsigned tag)
{
    switch (tag) {
    case HIPC_F_CURP: return "curp";
    case HIPC_F_MATRICULA: return "matricula";
    case HIPC_F_DEVICE_ID: return "kiosk";
    case HIPC_F_SITE: return "site";
    case HIPC_F_FORMAT: return "finger.format";
    case HIPC_F_TEMPLATE: return "finger.data";
    case HIPC_F_TEST_NOW: return "test_now";
    case HIPC_F_FROM: return "from";
    case HIPC_F_TO: return "to";
    case HIPC_F_DATE: return "date";
    case HIPC_F_FOLIO: return "folio";
    case HIPC_F_REASON: return "reason";
    case HIPC_F_TEXT: return "text";
    case HIPC_F_KIND: return "incident";
    case HIPC_F_ATTACHMENT: return "attachment";
    case HIPC_F_ATTACHMENT_TYPE: return "attachment_type";
    case HIPC_F_JUST_ID: return "id";
    case HIPC_F_DECISION: return "decision";
    case HIPC_F_COMMENT: return "comment";
    case HIPC_F_SCOPE: return "scope";
    case HIPC_F_OUTPUT: return "format";
    case HIPC_F_ACTOR: return "actor";
    case HIPC_F_ROLES: return "roles";
    case HIPC_F_CLIENT: return "client";
    case HIPC_F_VALUE: return "limit";
    case HIPC_F_OFFSET: return "offset";
    case HIPC_F_JSON: return "rules";
    case HIPC_F_FACE: return "face";
    default: return "request";
    }
}

static int
take_word(struct ops_err *e, unsigned tag, const uint8_t *d, uint32_t n,
    char *out, size_t cap)
{
    if (n == 0 || n >= cap || !ops_ascii_word(d, n)) {
        return ops_fail(e, HIPC_ST_INVALID, "invalid_field", tag_json(tag),
            "%s must be 1 to %zu printable characters without spaces",
            tag_json(tag), cap - 1);
    }
    memcpy(out, d, n);
    out[n] = '\0';
    return 0;
}

static int
take_text(struct ops_err *e, unsigned tag, const uint8_t *d, uint32_t n,
    char *out, size_t cap)
{
    if (n >= cap || !ops_text_valid(d, n)) {
        return ops_fail(e, HIPC_ST_INVALID, "invalid_text", tag_json(tag),
            "%s must be UTF-8 text of at most %zu bytes without control "
            "characters", tag_json(tag), cap - 1);
    }
    memcpy(out, d, n);
    out[n] = '\0';
    return 0;
}

static int
take_date(struct ops_err *e, unsigned tag, const uint8_t *d, uint32_t n,
    int32_t *out)
{
    *out = att_parse_date((const char *) d, n);
    if (*out == ATT_NO_DAY) {
        return ops_fail(e, HIPC_ST_INVALID, "invalid_date", tag_json(tag),
            "%s must be a date YYYY-MM-DD", tag_json(tag));
    }
    return 0;
}

/* FACE: FACE_MODEL, FACE_DIM, FACE_DATA once each; the model and size
 * must be attendance.face's (embeddings of another model do not compare). */
static int
decode_face(struct att_fields *f, const uint8_t *d, uint32_t n,
    struct ops_err *e)
{
    const struct att_rules  *r = att_rules();
    struct hipc_reader       rd;
    const uint8_t           *v;
    uint32_t                 len, i;
    uint16_t                 tag;
    unsigned                 seen = 0;
    float                    x;
    int                      rc;

    if (r->face_model[0] == '\0') {
        return ops_fail(e, HIPC_ST_INVALID, "face_not_supported", "face",
            "face punches are not configured (attendance.face)");
    }
    hipc_reader_init(&rd, d, n);
    while ((rc = hipc_next(&rd, &tag, &v, &len)) == 1) {
        if (tag == HIPC_F_FACE_MODEL && !(seen & 1)) {
            if (len == 0 || len >= sizeof(f->face_model)
                || !ops_ascii_word(v, len))
            {
                return ops_fail(e, HIPC_ST_INVALID, "invalid_face_model",
                    "face.model", "face.model must be 1 to %zu printable "
                    "characters", sizeof(f->face_model) - 1);
            }
            memcpy(f->face_model, v, len);
            f->face_model[len] = '\0';
        } else if (tag == HIPC_F_FACE_DIM && !(seen & 2)) {
            if (hipc_get_u32(v, len, &f->face_dim) != 0) {
                return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
                    "face.dim", "FACE_DIM is a 4-byte integer");
            }
        } else if (tag == HIPC_F_FACE_DATA && !(seen & 4)) {
            /* its length is checked against dim once both are known */
            f->face_data = v;
            f->face_len = len;
        } else {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
                "face", "a FACE holds FACE_MODEL, FACE_DIM and FACE_DATA "
                "once each");
        }
        seen |= tag == HIPC_F_FACE_MODEL ? 1u : tag == HIPC_F_FACE_DIM ? 2u
                                                                      : 4u;
    }
    if (rc < 0 || seen != 7) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field", "face",
            "a FACE needs FACE_MODEL, FACE_DIM and FACE_DATA");
    }
    if (strcmp(f->face_model, r->face_model) != 0) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "face_model_mismatch",
            "face.model", "face embeddings here are of model %s, not %s",
            r->face_model, f->face_model);
    }
    if (f->face_dim != r->face_dim) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "face_dim_mismatch",
            "face.dim",
            "model %s embeddings have %u values, not %u", r->face_model,
            r->face_dim, f->face_dim);
    }
    if (f->face_len != f->face_dim * 4u) {
        return ops_fail(e, HIPC_ST_INVALID, "invalid_face_data",
            "face.data", "%u bytes of data; %u float32 values need %u",
            f->face_len, f->face_dim, f->face_dim * 4u);
    }
    for (i = 0; i < f->face_dim; i++) {
        memcpy(&x, f->face_data + 4 * i, 4);
        if (x != x || x > 1e30f || x < -1e30f) {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_face_data",
                "face.data", "value %u is not a finite number", i);
        }
    }
    return 0;
}

static int
decode_one(void *arg, unsigned tag, const uint8_t *d, uint32_t n,
    struct ops_err *e)
{
    struct att_fields  *f = arg;
    char                word[ATT_NAME_MAX];

    switch (tag) {
    case HIPC_F_CURP:
        if (!ops_curp_valid(d, n)) {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_curp", "curp",
                "a CURP is 18 characters of 0-9, A-Z and Ñ");
        }
        memcpy(f->curp, d, n);
        f->curp[n] = '\0';
        return 0;
    case HIPC_F_MATRICULA:
        return take_word(e, tag, d, n, f->matricula, sizeof(f->matricula));
    case HIPC_F_DEVICE_ID:
        return take_word(e, tag, d, n, f->device, sizeof(f->device));
    case HIPC_F_SITE:
        return take_word(e, tag, d, n, f->site, sizeof(f->site));
    case HIPC_F_FORMAT:
        if (hipc_get_u32(d, n, &f->format) != 0) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
                "finger.format", "FORMAT is a 4-byte integer");
        }
        if (f->format != HIPC_FMT_ISO19794_2_2005
            && f->format != HIPC_FMT_ANSI378_2004)
        {
            return ops_fail(e, HIPC_ST_INVALID, "unsupported_format",
                "finger.format", "template format %u is not supported",
                f->format);
        }
        return 0;
    case HIPC_F_TEMPLATE:
        f->tmpl = d;
        f->tmpl_len = n;
        return 0;
    case HIPC_F_TEST_NOW:
        if (hipc_get_u64(d, n, &f->test_now) != 0) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
                "test_now", "TEST_NOW is an 8-byte integer");
        }
        if (!att_rules()->test_clock) {
            return ops_fail(e, HIPC_ST_FORBIDDEN, "test_clock_disabled",
                "test_now", "TEST_NOW is refused unless "
                "attendance.test_clock is true");
        }
        return 0;
    case HIPC_F_FROM:
        return take_date(e, tag, d, n, &f->from);
    case HIPC_F_TO:
        return take_date(e, tag, d, n, &f->to);
    case HIPC_F_DATE:
        return take_date(e, tag, d, n, &f->date);
    case HIPC_F_FOLIO:
        return take_word(e, tag, d, n, f->folio, sizeof(f->folio));
    case HIPC_F_REASON:
        return take_word(e, tag, d, n, f->reason, sizeof(f->reason));
    case HIPC_F_TEXT:
        return take_text(e, tag, d, n, f->text, sizeof(f->text));
    case HIPC_F_KIND:
        if (take_word(e, tag, d, n, word, sizeof(word)) != 0
            || (f->kind = att_incident_parse(word)) < 0)
        {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_incident",
                "incident", "incident is one of retardo, falta, "
                "salida_anticipada, omision_salida");
        }
        return 0;
    case HIPC_F_ATTACHMENT:
        f->attachment = d;
        f->attachment_len = n;
        return 0;
    case HIPC_F_ATTACHMENT_TYPE:
        if (take_word(e, tag, d, n, f->attachment_type,
                sizeof(f->attachment_type)) != 0
            || strchr(f->attachment_type, '/') == NULL)
        {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_attachment_type",
                "attachment_type", "a MIME type such as application/pdf");
        }
        return 0;
    case HIPC_F_JUST_ID:
        if (take_word(e, tag, d, n, word, sizeof(word)) != 0
            || word[0] != 'J' || word[1] != '-'
            || strspn(word + 2, "0123456789") != strlen(word + 2)
            || strlen(word + 2) == 0 || strlen(word + 2) > 18)
        {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_id", "id",
                "a justification id looks like J-00000001");
        }
        f->just_id = strtoull(word + 2, NULL, 10);
        return 0;
    case HIPC_F_DECISION:
        if (n == 7 && memcmp(d, "approve", 7) == 0) {
            f->approve = 1;
        } else if (n == 6 && memcmp(d, "reject", 6) == 0) {
            f->approve = 0;
        } else {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_decision",
                "decision", "decision is approve or reject");
        }
        return 0;
    case HIPC_F_COMMENT:
        return take_text(e, tag, d, n, f->comment, sizeof(f->comment));
    case HIPC_F_SCOPE:
        if (n == 4 && memcmp(d, "team", 4) == 0) {
            f->team = 1;
        } else if (!(n == 4 && memcmp(d, "mine", 4) == 0)) {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_scope", "scope",
                "scope is mine or team");
        }
        return 0;
    case HIPC_F_OUTPUT:
        if (n == 3 && memcmp(d, "csv", 3) == 0) {
            f->csv = 1;
        } else if (!(n == 4 && memcmp(d, "json", 4) == 0)) {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_format", "format",
                "format is json or csv");
        }
        return 0;
    case HIPC_F_ACTOR:
        return take_text(e, tag, d, n, f->actor, sizeof(f->actor));
    case HIPC_F_ROLES:
        return take_word(e, tag, d, n, f->roles, sizeof(f->roles));
    case HIPC_F_CLIENT:
        return take_word(e, tag, d, n, f->client, sizeof(f->client));
    case HIPC_F_VALUE:
    case HIPC_F_OFFSET:
        if (hipc_get_u32(d, n, tag == HIPC_F_VALUE ? &f->value
                                                   : &f->offset) != 0)
        {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
                tag_json(tag), "%s is a 4-byte integer", tag_json(tag));
        }
        return 0;
    case HIPC_F_JSON:
        f->json = d;
        f->json_len = n;
        return 0;
    case HIPC_F_FACE:
        return decode_face(f, d, n, e);
    default:
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", NULL,
            "field tag %u is not part of this request", tag);
    }
}

static int
att_decode(const struct hd_request *rq, const uint16_t *allowed,
    const uint16_t *required, struct att_fields *f, struct ops_err *e)
{
    memset(f, 0, sizeof(*f));
    f->kind = -1;
    f->from = f->to = f->date = ATT_NO_DAY;
    return ops_decode(rq, allowed, required, f->seen, tag_json, decode_one,
        f, e);
}

/* ---- jobs --------------------------------------------------------------- */

struct att_job *
att_job_new(struct hd_request *rq, const uint16_t *allowed,
    const uint16_t *required)
{
    struct att_job  *job = calloc(1, sizeof(*job));
    struct ops_err   e = { 0 };

    if (job == NULL) {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return NULL;
    }
    if (att_decode(rq, allowed, required, &job->f, &e) != 0) {
        ops_reply_err(rq, &e);
        free(job);
        return NULL;
    }
    job->now = att_has(&job->f, HIPC_F_TEST_NOW) ? (time_t) job->f.test_now
                                                  : att_clock();
    job->site = -1;
    job->face_score = -1.0;
    return job;
}

void
att_job_free(void *arg)
{
    struct att_job  *job = arg;

    if (job && job->rules_new) {
        att_rules_free(job->rules_new);
        free(job->rules_new);
    }
    free(job);
}

void
att_dispatch(struct hd_request *rq, struct att_job *job,
    void (*fn)(void *arg, struct hd_thread *th))
{
    struct hd_request  *copy = hd_request_dup(rq);

    if (copy == NULL) {
        free(job);
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    /* binary fields point into the payload: repoint them into the copy */
    if (job->f.tmpl) {
        job->f.tmpl = copy->payload + (job->f.tmpl - rq->payload);
    }
    if (job->f.attachment) {
        job->f.attachment = copy->payload
                            + (job->f.attachment - rq->payload);
    }
    if (job->f.json) {
        job->f.json = copy->payload + (job->f.json - rq->payload);
    }
    if (job->f.face_data) {
        job->f.face_data = copy->payload + (job->f.face_data - rq->payload);
    }
    copy->prep = job;
    copy->prep_free = att_job_free;
    ops_dispatch(rq, copy, fn);
}

/* ---- replies ------------------------------------------------------------ */

void
att_reply_text(struct hd_request *rq, struct hd_thread *th, uint16_t tag,
    const char *text, size_t len)
{
    struct hipc_writer  w;

    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put(&w, tag, text, len);
    if (w.overflow) {
        ops_reply_error(rq, HIPC_ST_TOO_LARGE, "reply_too_large", NULL,
            "the answer does not fit one reply (%zu bytes): ask for a "
            "shorter period or fewer people", len);
        return;
    }
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

void
att_reply_json(struct hd_request *rq, struct hd_thread *th, json_t *doc)
{
    char  *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

    json_decref(doc);
    if (s == NULL) {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    att_reply_text(rq, th, HIPC_F_JSON, s, strlen(s));
    free(s);
}

int
att_receipt(MDB_txn *txn, const char *type, json_t *payload,
    const char *curp, char folio[32], char **jws)
{
    int  rc;

    *jws = NULL;
    rc = receipt_issue(txn, type, payload, NULL, curp, folio, jws);
    if (rc != 0) {
        free(*jws);
        *jws = NULL;
        return -1;
    }
    return 0;
}

/* ---- ATTENDANCE_RULES, SUPERVISOR_CHECK --------------------------------- */

static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu",
                                          "fri", "sat" };

json_t *
att_rules_json(const struct att_rules *r, int full)
{
    json_t  *doc, *a, *o, *days;
    char     date[11], hhmm[16];
    size_t   i, k;

    doc = json_object();
    json_object_set_new(doc, "time_zone", json_string(r->time_zone));
    json_object_set_new(doc, "policy", json_pack("{s:i,s:i,s:i,s:i,s:i,s:i}",
        "checkin_window_min", r->policy.checkin_window_min,
        "tolerance_min", r->policy.tolerance_min,
        "late_max_min", r->policy.late_max_min,
        "early_exit_min", r->policy.early_exit_min,
        "exit_window_min", r->policy.exit_window_min,
        "duplicate_window_min", r->policy.duplicate_window_min));
    if (r->freeze_before != ATT_NO_DAY) {
        att_format_date(r->freeze_before, date);
        json_object_set_new(doc, "freeze_before", json_string(date));
    } else if (full) {
        json_object_set_new(doc, "freeze_before", json_null());
    }
    json_object_set_new(doc, "max_attachment_bytes",
        json_integer(r->max_attachment_bytes));
    json_object_set_new(doc, "max_query_days",
        json_integer(r->max_query_days));
    if (r->face_model[0]) {
        json_object_set_new(doc, "face", json_pack("{s:s,s:i}", "model",
            r->face_model, "dim", (int) r->face_dim));
    }
    a = json_array();
    for (i = 0; i < r->nshifts; i++) {
        days = json_array();
        for (k = 0; k < 7; k++) {
            if (r->shifts[i].days & (1u << k)) {
                json_array_append_new(days, json_string(day_names[k]));
            }
        }
        o = json_object();
        json_object_set_new(o, "name", json_string(r->shifts[i].name));
        json_object_set_new(o, "label", json_string(r->shifts[i].label));
        json_object_set_new(o, "label_en",
            json_string(att_shift_label_en(&r->shifts[i])));
        snprintf(hhmm, sizeof(hhmm), "%02d:%02d", r->shifts[i].start_min / 60,
            r->shifts[i].start_min % 60);
        json_object_set_new(o, "start", json_string(hhmm));
        snprintf(hhmm, sizeof(hhmm), "%02d:%02d",
            r->shifts[i].end_min % 1440 / 60, r->shifts[i].end_min % 60);
        json_object_set_new(o, "end", json_string(hhmm));
        json_object_set_new(o, "overnight",
            json_boolean(r->shifts[i].end_min > 1440));
        json_object_set_new(o, "days", days);
        json_array_append_new(a, o);
    }
    json_object_set_new(doc, "shifts", a);
    a = json_array();
    for (i = 0; i < r->nsites; i++) {
        days = json_array();
        for (k = 0; k < r->sites[i].nkiosks; k++) {
            json_array_append_new(days, json_string(r->sites[i].kiosks[k]));
        }
        json_array_append_new(a, json_pack("{s:s,s:s,s:o}", "id",
            r->sites[i].id, "name", r->sites[i].name, "kiosks", days));
    }
    json_object_set_new(doc, "sites", a);
    a = json_array();
    for (i = 0; i < r->nreasons; i++) {
        json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "code",
            r->reasons[i].code, "label", r->reasons[i].label, "label_en",
            att_reason_label_en(&r->reasons[i])));
    }
    json_object_set_new(doc, "reasons", a);
    a = json_array();
    for (i = 0; i < r->nholidays; i++) {
        att_format_date(r->holidays[i], date);
        json_array_append_new(a, json_string(date));
    }
    json_object_set_new(doc, "holidays", a);
    if (!full) {
        return doc;
    }
    json_object_set_new(doc, "throttle", json_pack("{s:i,s:i,s:i}",
        "threshold", (int) r->throttle_threshold,
        "delay_s", (int) r->throttle_delay_s,
        "disable_after", (int) r->disable_after));
    a = json_array();
    for (i = 0; i < r->ngroups; i++) {
        const struct att_group  *g = &r->groups[i];

        json_array_append_new(a, json_pack("{s:s,s:s?,s:s?,s:s?}",
            "name", g->name,
            "shift", g->shift >= 0 ? r->shifts[g->shift].name : NULL,
            "site", g->site >= 0 ? r->sites[g->site].id : NULL,
            "supervisor", g->supervisor[0] ? g->supervisor : NULL));
    }
    json_object_set_new(doc, "groups", a);
    a = json_array();
    for (i = 0; i < r->npeople; i++) {
        const struct att_person  *p = &r->people[i];
        const struct att_shift   *sh = att_person_shift(r, p);
        int                       site = att_person_site(r, p);
        const char               *boss = att_person_supervisor(r, p);

        /* as assigned, then as in force (a group's when not their own) */
        json_array_append_new(a, json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s?,"
            "s:s?,s:{s:s?,s:s?,s:s?}}",
            "curp", p->curp,
            "matricula", p->matricula[0] ? p->matricula : NULL,
            "name", p->name[0] ? p->name : NULL,
            "shift", p->shift >= 0 ? r->shifts[p->shift].name : NULL,
            "site", p->site >= 0 ? r->sites[p->site].id : NULL,
            "group", p->group >= 0 ? r->groups[p->group].name : NULL,
            "supervisor", p->supervisor[0] ? p->supervisor : NULL,
            "effective", "shift", sh ? sh->name : NULL,
            "site", site >= 0 ? r->sites[site].id : NULL,
            "supervisor", boss[0] ? boss : NULL));
    }
    json_object_set_new(doc, "people", a);
    return doc;
}

static void
op_rules(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  allowed[] = { HIPC_F_ACTOR, HIPC_F_ROLES,
                                         HIPC_F_CLIENT, 0 };
    static const uint16_t  none[] = { 0 };
    struct att_job        *job = att_job_new(rq, allowed, none);
    int                    full;

    if (job == NULL) {
        return;
    }
    full = att_role(job->f.roles, "admin") || att_role(job->f.roles,
        "auditor");
    free(job);
    att_reply_json(rq, th, att_rules_json(att_rules(), full));
}

static void
op_supervisor_check(struct hd_request *rq)
{
    static const uint16_t  allowed[] = { HIPC_F_CURP, HIPC_F_ACTOR,
                                         HIPC_F_ROLES, HIPC_F_CLIENT, 0 };
    static const uint16_t  required[] = { HIPC_F_CURP, HIPC_F_ACTOR,
                                          HIPC_F_ROLES, 0 };
    struct att_job        *job = att_job_new(rq, allowed, required);

    if (job == NULL) {
        return;
    }
    if (att_may_view(&job->f, job->f.curp)) {
        hd_reply(rq, HIPC_ST_OK, NULL, 0);
    } else {
        ops_reply_error(rq, HIPC_ST_FORBIDDEN, "not_your_report", "curp",
            "%s does not report to the caller", job->f.curp);
    }
    free(job);
}

/* ---- dispatch ----------------------------------------------------------- */

void
attendance_handle(struct hd_request *rq, struct hd_thread *th)
{
    if (!ag.ready) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "attendance_unavailable", NULL,
            "attendance is not initialised");
        return;
    }
    switch (rq->op) {
    case HIPC_OP_PUNCH:
        att_punch_handle(rq, th);
        break;
    case HIPC_OP_ATTENDANCE_QUERY:
    case HIPC_OP_REPORT:
        att_days_handle(rq, th);
        break;
    case HIPC_OP_SUPERVISOR_CHECK:
        op_supervisor_check(rq);
        break;
    case HIPC_OP_ATTENDANCE_RULES:
        op_rules(rq, th);
        break;
    case HIPC_OP_ATT_RULES_CHANGE:
        att_changes_handle(rq, th);
        break;
    case HIPC_OP_BIOMETRIC_ENABLE:
    case HIPC_OP_BIOMETRIC_LIST:
        att_biometric_handle(rq, th);
        break;
    default:
        att_justify_handle(rq, th);
        break;
    }
}

int
attendance_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    if (rq->op == HIPC_OP_PUNCH) {
        return att_punch_write(rq, txn, w);
    }
    if (rq->op == HIPC_OP_ATT_RULES_CHANGE) {
        return att_changes_write(rq, txn, w);
    }
    if (rq->op == HIPC_OP_BIOMETRIC_ENABLE) {
        return att_biometric_write(rq, txn, w);
    }
    return att_justify_write(rq, txn, w);
}

int
attendance_owns(unsigned op)
{
    return (op >= HIPC_OP_PUNCH && op <= HIPC_OP_ATTENDANCE_RULES)
           || (op >= 101 && op <= 109);
}

void
attendance_committed(struct hd_request *rq, int status)
{
    if (rq->op == HIPC_OP_ATT_RULES_CHANGE) {
        att_changes_committed(rq, status);
    }
}

int
attendance_init(const struct hd_config *cfg, struct store *st, char *err,
    size_t errlen)
{
    int  rc;

    /* Local time is the institution's: huellad uses no other local time
     * (everything else is UTC), and this runs before any request. */
    if (setenv("TZ", cfg->attendance.time_zone, 1) != 0) {
        snprintf(err, errlen, "attendance.time_zone: cannot set TZ");
        return -1;
    }
    tzset();
    if ((rc = atts_open(store_env(st), &ag.dbi)) != 0) {
        snprintf(err, errlen, "cannot open the attendance database: %s",
            mdb_strerror(rc));
        return -1;
    }
    if (att_changes_init(&cfg->attendance, store_env(st), err, errlen)
        != 0)
    {
        return -1;
    }
    ag.ready = 1;
    return 0;
}
