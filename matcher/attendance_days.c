/*
 * attendance_days.c -- ATTENDANCE_QUERY and REPORT: a person's days,
 * recomputed from the stored punches and justifications with today's
 * rules, and their sums per person and per team.
 *
 * Both run on the worker pool in one read transaction.  Days are computed,
 * not stored: the rules are cheap and a day's incidents must follow the
 * justifications decided since (docs/attendance.md, "why recompute").
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attendance.h"
#include "attendance_store.h"
#include "ipc_server.h"
#include "store.h"

struct loaded {
    int32_t                from, to;
    struct att_punch_rec  *p;
    size_t                 np, capp;
    struct att_just_rec   *j;
    size_t                 nj, capj;
};

static int
load_punch(void *arg, const struct att_punch_rec *p)
{
    struct loaded  *L = arg;
    void           *n;

    if (p->day < L->from || p->day > L->to) {
        return 0;
    }
    if (L->np == L->capp) {
        L->capp = L->capp ? L->capp * 2 : 64;
        n = realloc(L->p, L->capp * sizeof(*L->p));
        if (n == NULL) {
            return ENOMEM;
        }
        L->p = n;
    }
    L->p[L->np++] = *p;
    return 0;
}

static int
load_just(void *arg, const struct att_just *j)
{
    struct loaded  *L = arg;
    void           *n;

    if (j->r.day < L->from || j->r.day > L->to) {
        return 0;
    }
    if (L->nj == L->capj) {
        L->capj = L->capj ? L->capj * 2 : 16;
        n = realloc(L->j, L->capj * sizeof(*L->j));
        if (n == NULL) {
            return ENOMEM;
        }
        L->j = n;
    }
    L->j[L->nj++] = j->r;
    return 0;
}

static int
load(MDB_txn *txn, const char *curp, int32_t from, int32_t to,
    struct loaded *L)
{
    int  rc;

    memset(L, 0, sizeof(*L));
    L->from = from;
    L->to = to;
    /* a day's punches lie within a day and a half of its midnight, and
     * day numbers are UTC-aligned within a day: a two-day margin covers
     * every offset */
    rc = atts_punch_each(txn, att_dbi(), curp,
        (uint64_t) ((int64_t) from - 2 > 0 ? ((int64_t) from - 2) * 86400
                                           : 0),
        (uint64_t) (((int64_t) to + 3) * 86400), load_punch, L);
    if (rc == 0) {
        rc = atts_just_each(txn, att_dbi(), curp, load_just, L);
    }
    return rc;
}

static void
unload(struct loaded *L)
{
    free(L->p);
    free(L->j);
}

/* One day: the rules' input from what was loaded. */
struct day_view {
    int32_t                     day;
    const struct att_shift     *shift;
    int                         scheduled, holiday, frozen;
    size_t                      idx[ATT_DAY_PUNCHES_MAX], n; /* L->p[] */
    struct att_day_out          out;
};

static void
compute_day(const struct loaded *L, const struct att_person *person,
    int32_t day, time_t now, struct day_view *v)
{
    const struct att_rules  *r = att_rules();
    struct att_day_in        in = { 0 };
    struct att_just_in       justs[32];
    int                      mins[ATT_DAY_PUNCHES_MAX];
    uint8_t                  late[ATT_DAY_PUNCHES_MAX];
    size_t                   i, nj = 0;

    memset(v, 0, sizeof(*v));
    v->day = day;
    v->shift = att_person_shift(r, person);
    v->scheduled = v->shift && (v->shift->days & (1u << att_weekday(day)));
    v->holiday = att_is_holiday(r, day);
    v->frozen = r->freeze_before != ATT_NO_DAY && day < r->freeze_before;
    /* L->p is in time order, so each day's punches are too */
    for (i = 0; i < L->np && v->n < ATT_DAY_PUNCHES_MAX; i++) {
        if (L->p[i].day != day) {
            continue;
        }
        v->idx[v->n] = i;
        mins[v->n] = L->p[i].minute;
        late[v->n] = (L->p[i].flags & ATT_PF_FROZEN) != 0;
        v->n++;
    }
    for (i = 0; i < L->nj && nj < 32; i++) {
        if (L->j[i].day == day) {
            justs[nj].kind = L->j[i].kind;
            justs[nj].state = L->j[i].state;
            nj++;
        }
    }
    in.policy = &r->policy;
    in.shift = v->shift;
    in.scheduled = v->scheduled;
    in.holiday = v->holiday;
    in.frozen = v->frozen;
    in.now_min = att_now_min(now, day);
    in.punch_min = mins;
    in.punch_late = late;
    in.npunches = v->n;
    in.justs = justs;
    in.njusts = nj;
    att_day_compute(&in, &v->out);
}

static void
person_name(MDB_txn *txn, const char *curp, char *out, size_t cap)
{
    struct store_subject      s;
    const struct att_person  *p = att_person_find(att_rules(), curp);

    out[0] = '\0';
    if (store_subject_get(ops_store(), txn, curp, &s) == 0) {
        snprintf(out, cap, "%s", s.name);
    }
    if (out[0] == '\0' && p) {
        snprintf(out, cap, "%s", p->name);
    }
}

static json_t *
day_json(const struct loaded *L, const struct day_view *v)
{
    json_t    *d = json_object(), *entries = json_array(),
              *exits = json_array(), *inc = json_array(),
              *punches = json_array(), *js = json_array();
    char       date[11], at[32], id[32];
    size_t     i, k;

    att_format_date(v->day, date);
    json_object_set_new(d, "date", json_string(date));
    json_object_set_new(d, "weekday", json_integer(att_weekday(v->day)));
    json_object_set_new(d, "shift", v->shift ? json_string(v->shift->name)
                                             : json_null());
    json_object_set_new(d, "scheduled", json_boolean(v->scheduled));
    json_object_set_new(d, "holiday", json_boolean(v->holiday));
    json_object_set_new(d, "frozen", json_boolean(v->frozen));
    json_object_set_new(d, "worked", json_boolean(v->out.worked));
    for (i = 0; i < v->n; i++) {
        const struct att_punch_rec  *p = &L->p[v->idx[i]];
        int                          counted;

        att_iso8601((time_t) p->at, at);
        counted = v->out.status[i] != ATT_ST_DUPLICADA
                  && v->out.status[i] != ATT_ST_PERIODO_CERRADO;
        if (counted && v->out.kind[i] == ATT_KIND_ENTRADA) {
            json_array_append_new(entries, json_string(at));
        } else if (counted && v->out.kind[i] == ATT_KIND_SALIDA) {
            json_array_append_new(exits, json_string(at));
        }
        json_array_append_new(punches, json_pack(
            "{s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "folio", p->folio, "at", at,
            "kind", att_kind_name(v->out.kind[i]),
            "status", att_status_name(v->out.status[i]),
            "site", p->site, "kiosk", p->device, "counted", counted));
    }
    for (i = 0; i < v->out.nincidents; i++) {
        json_t  *o = json_pack("{s:s,s:i,s:s}", "kind",
            att_incident_name(v->out.incidents[i].kind), "minutes",
            v->out.incidents[i].minutes, "state",
            att_just_state_name(v->out.incidents[i].state));

        /* the newest justification covering it, if any */
        for (k = L->nj; k-- > 0;) {
            if (L->j[k].day == v->day && (L->j[k].kind == -1
                    || L->j[k].kind == v->out.incidents[i].kind))
            {
                snprintf(id, sizeof(id), "J-%08llu",
                    (unsigned long long) L->j[k].id);
                json_object_set_new(o, "justification", json_string(id));
                break;
            }
        }
        json_array_append_new(inc, o);
    }
    for (k = 0; k < L->nj; k++) {
        if (L->j[k].day != v->day) {
            continue;
        }
        snprintf(id, sizeof(id), "J-%08llu", (unsigned long long) L->j[k].id);
        json_array_append_new(js, json_pack("{s:s,s:s,s:s,s:s}", "id", id,
            "state", att_just_state_name(L->j[k].state), "reason",
            L->j[k].reason, "incident", L->j[k].kind < 0 ? "all"
            : att_incident_name(L->j[k].kind)));
    }
    json_object_set_new(d, "entries", entries);
    json_object_set_new(d, "exits", exits);
    json_object_set_new(d, "incidents", inc);
    json_object_set_new(d, "punches", punches);
    json_object_set_new(d, "justifications", js);
    return d;
}

/* ---- ops ---------------------------------------------------------------- */

static int
check_range(struct hd_request *rq, const struct att_fields *f)
{
    if (f->to < f->from) {
        ops_reply_error(rq, HIPC_ST_INVALID, "invalid_range", "to",
            "to comes before from");
        return -1;
    }
    if ((uint32_t) (f->to - f->from) + 1 > att_rules()->max_query_days) {
        ops_reply_error(rq, HIPC_ST_INVALID, "range_too_long", "to",
            "at most %u days per request", att_rules()->max_query_days);
        return -1;
    }
    return 0;
}

static void
query_run(void *arg, struct hd_thread *th)
{
    struct hd_request        *rq = arg;
    struct att_job           *job = rq->prep;
    const struct att_person  *person;
    struct loaded             L;
    struct day_view           v;
    MDB_txn                  *txn;
    json_t                   *doc, *days;
    char                      name[STORE_NAME_MAX], date[11];
    int32_t                   d;
    int                       rc;

    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        hd_request_free(rq);
        return;
    }
    if ((rc = load(txn, job->f.curp, job->f.from, job->f.to, &L)) != 0) {
        unload(&L);
        mdb_txn_abort(txn);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        hd_request_free(rq);
        return;
    }
    person = att_person_find(att_rules(), job->f.curp);
    person_name(txn, job->f.curp, name, sizeof(name));
    doc = json_object();
    json_object_set_new(doc, "curp", json_string(job->f.curp));
    json_object_set_new(doc, "name", json_string(name));
    att_format_date(job->f.from, date);
    json_object_set_new(doc, "from", json_string(date));
    att_format_date(job->f.to, date);
    json_object_set_new(doc, "to", json_string(date));
    days = json_array();
    for (d = job->f.from; d <= job->f.to; d++) {
        compute_day(&L, person, d, job->now, &v);
        json_array_append_new(days, day_json(&L, &v));
    }
    json_object_set_new(doc, "days", days);
    unload(&L);
    mdb_txn_abort(txn);
    att_reply_json(rq, th, doc);
    hd_request_free(rq);
}

struct sums {
    int  scheduled, worked, late_count, late_minutes, absences;
    int  early_exits, missing_exits, justified, pending, rejected;
    int  late_by_weekday[7];
};

static int
person_sums(MDB_txn *txn, const char *curp, const struct att_job *job,
    struct sums *s)
{
    const struct att_person  *person = att_person_find(att_rules(), curp);
    struct loaded             L;
    struct day_view           v;
    int32_t                   d, today;
    unsigned                  i;
    int                       rc, minute;

    memset(s, 0, sizeof(*s));
    if ((rc = load(txn, curp, job->f.from, job->f.to, &L)) != 0) {
        unload(&L);
        return rc;
    }
    att_local(job->now, &today, &minute);
    for (d = job->f.from; d <= job->f.to; d++) {
        compute_day(&L, person, d, job->now, &v);
        if (v.scheduled && !v.holiday && d <= today) {
            s->scheduled++;
        }
        s->worked += v.out.worked;
        for (i = 0; i < v.out.nincidents; i++) {
            const struct att_incident  *inc = &v.out.incidents[i];

            switch (inc->kind) {
            case ATT_INC_RETARDO:
                s->late_count++;
                s->late_minutes += inc->minutes;
                s->late_by_weekday[att_weekday(d)]++;
                break;
            case ATT_INC_FALTA:
                s->absences += inc->state != ATT_J_JUSTIFICADA;
                break;
            case ATT_INC_SALIDA_ANTICIPADA:
                s->early_exits++;
                break;
            default:
                s->missing_exits++;
                break;
            }
            s->justified += inc->state == ATT_J_JUSTIFICADA;
            s->pending += inc->state == ATT_J_PENDIENTE;
            s->rejected += inc->state == ATT_J_RECHAZADA;
        }
    }
    unload(&L);
    return 0;
}

static json_t *
sums_json(const struct sums *s)
{
    json_t  *wd = json_array();
    int      i;

    for (i = 0; i < 7; i++) {
        json_array_append_new(wd, json_integer(s->late_by_weekday[i]));
    }
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:o}",
        "scheduled_days", s->scheduled, "days_worked", s->worked,
        "late_count", s->late_count, "late_minutes", s->late_minutes,
        "absences", s->absences, "early_exits", s->early_exits,
        "missing_exits", s->missing_exits, "justified", s->justified,
        "pending", s->pending, "rejected", s->rejected,
        "late_by_weekday", wd);
}

/* CSV field: quoted when it holds a comma, quote or newline. */
static void
csv_field(char **buf, size_t *len, size_t *cap, const char *s, int last)
{
    size_t  need = strlen(s) * 2 + 4, i;
    char   *p;

    if (*len + need >= *cap) {
        size_t  nc = (*cap + need) * 2;

        p = realloc(*buf, nc);
        if (p == NULL) {
            return;
        }
        *buf = p;
        *cap = nc;
    }
    p = *buf + *len;
    if (strpbrk(s, ",\"\n")) {
        *p++ = '"';
        for (i = 0; s[i]; i++) {
            if (s[i] == '"') {
                *p++ = '"';
            }
            *p++ = s[i];
        }
        *p++ = '"';
    } else {
        memcpy(p, s, strlen(s));
        p += strlen(s);
    }
    *p++ = last ? '\n' : ',';
    *len = (size_t) (p - *buf);
}

static void
csv_row(char **buf, size_t *len, size_t *cap, const char *curp,
    const char *name, const struct sums *s)
{
    char  n[10][16];
    int   i;
    const int  vals[10] = { s->scheduled, s->worked, s->late_count,
                            s->late_minutes, s->absences, s->early_exits,
                            s->missing_exits, s->justified, s->pending,
                            s->rejected };

    csv_field(buf, len, cap, curp, 0);
    csv_field(buf, len, cap, name, 0);
    for (i = 0; i < 10; i++) {
        snprintf(n[i], sizeof(n[i]), "%d", vals[i]);
        csv_field(buf, len, cap, n[i], i == 9);
    }
}

static void
report_run(void *arg, struct hd_thread *th)
{
    struct hd_request        *rq = arg;
    struct att_job           *job = rq->prep;
    const struct att_rules   *r = att_rules();
    struct sums               s, total;
    MDB_txn                  *txn;
    json_t                   *doc, *people;
    char                      name[STORE_NAME_MAX], date[11], *csv = NULL;
    size_t                    i, csv_len = 0, csv_cap = 0;
    int                       rc = 0, k, everyone;
    const char               *curp;

    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        hd_request_free(rq);
        return;
    }
    everyone = att_role(job->f.roles, "admin")
               || att_role(job->f.roles, "auditor");
    memset(&total, 0, sizeof(total));
    people = json_array();
    if (job->f.csv) {
        static const char *const head[12] = { "curp", "nombre",
            "dias_programados", "dias_trabajados", "retardos",
            "minutos_retardo", "faltas", "salidas_anticipadas",
            "omisiones_salida", "justificadas", "pendientes",
            "rechazadas" };

        for (k = 0; k < 12; k++) {
            csv_field(&csv, &csv_len, &csv_cap, head[k], k == 11);
        }
    }
    for (i = 0; i < (job->f.curp[0] ? 1 : r->npeople); i++) {
        curp = job->f.curp[0] ? job->f.curp : r->people[i].curp;
        if (!job->f.curp[0] && !everyone
            && !att_reports_to(r, curp, job->f.actor))
        {
            continue;
        }
        if ((rc = person_sums(txn, curp, job, &s)) != 0) {
            break;
        }
        person_name(txn, curp, name, sizeof(name));
        {
            json_t  *o = sums_json(&s);

            json_object_set_new(o, "curp", json_string(curp));
            json_object_set_new(o, "name", json_string(name));
            json_array_append_new(people, o);
        }
        if (job->f.csv) {
            csv_row(&csv, &csv_len, &csv_cap, curp, name, &s);
        }
        total.scheduled += s.scheduled;
        total.worked += s.worked;
        total.late_count += s.late_count;
        total.late_minutes += s.late_minutes;
        total.absences += s.absences;
        total.early_exits += s.early_exits;
        total.missing_exits += s.missing_exits;
        total.justified += s.justified;
        total.pending += s.pending;
        total.rejected += s.rejected;
        for (k = 0; k < 7; k++) {
            total.late_by_weekday[k] += s.late_by_weekday[k];
        }
    }
    mdb_txn_abort(txn);
    if (rc != 0) {
        json_decref(people);
        free(csv);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        hd_request_free(rq);
        return;
    }
    if (job->f.csv) {
        json_decref(people);
        att_reply_text(rq, th, HIPC_F_TEXT, csv ? csv : "", csv_len);
        free(csv);
        hd_request_free(rq);
        return;
    }
    doc = json_object();
    att_format_date(job->f.from, date);
    json_object_set_new(doc, "from", json_string(date));
    att_format_date(job->f.to, date);
    json_object_set_new(doc, "to", json_string(date));
    json_object_set_new(doc, "people", people);
    json_object_set_new(doc, "totals", sums_json(&total));
    att_reply_json(rq, th, doc);
    hd_request_free(rq);
}

void
att_days_handle(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  q_allowed[] = { HIPC_F_CURP, HIPC_F_FROM,
        HIPC_F_TO, HIPC_F_ACTOR, HIPC_F_ROLES, HIPC_F_TEST_NOW,
        HIPC_F_CLIENT, 0 };
    static const uint16_t  q_required[] = { HIPC_F_CURP, HIPC_F_FROM,
        HIPC_F_TO, HIPC_F_ACTOR, HIPC_F_ROLES, 0 };
    static const uint16_t  r_allowed[] = { HIPC_F_CURP, HIPC_F_SCOPE,
        HIPC_F_FROM, HIPC_F_TO, HIPC_F_ACTOR, HIPC_F_ROLES, HIPC_F_OUTPUT,
        HIPC_F_TEST_NOW, HIPC_F_CLIENT, 0 };
    static const uint16_t  r_required[] = { HIPC_F_FROM, HIPC_F_TO,
        HIPC_F_ACTOR, HIPC_F_ROLES, 0 };
    int                    query = rq->op == HIPC_OP_ATTENDANCE_QUERY;
    struct att_job        *job;

    (void) th;
    job = att_job_new(rq, query ? q_allowed : r_allowed,
        query ? q_required : r_required);
    if (job == NULL) {
        return;
    }
    if (check_range(rq, &job->f) != 0) {
        free(job);
        return;
    }
    if (!query && !job->f.curp[0] && !job->f.team) {
        free(job);
        ops_reply_error(rq, HIPC_ST_BAD_REQUEST, "missing_field", "curp",
            "a report names a curp or scope=team");
        return;
    }
    if (job->f.curp[0] && !att_may_view(&job->f, job->f.curp)) {
        ops_reply_error(rq, HIPC_ST_FORBIDDEN, "not_your_report", "curp",
            "%s does not report to the caller", job->f.curp);
        free(job);
        return;
    }
    att_dispatch(rq, job, query ? query_run : report_run);
}
