/*
 * attendance_changes.c -- the attendance rules in force: the YAML's, plus
 * the changes an admin makes through the API (ATT_RULES_CHANGE, op 101),
 * published as immutable snapshots.
 *
 * YAML is the initial and default source.  Each accepted change (a JSON
 * document, docs/attendance-api.md "Changing the rules") is stored as
 * 'R' seq in the attendance database with its audit entry, and all of
 * them are replayed in order over the YAML at start: the effective rules
 * are YAML + changes, durable like any other acknowledged write.
 *
 * A change is checked by applying it to a fresh copy (YAML + every stored
 * change, read in the writer's transaction, so changes in one batch build
 * on each other); that copy is published once the batch is durable
 * (att_changes_committed).  Changes add or update shifts, sites, groups
 * and people but never remove one, so an index taken from one snapshot
 * stays valid in the next.
 *
 * Safe swap: readers load the current snapshot's pointer (att_rules());
 * a published snapshot is never modified, and a replaced one is retired,
 * not freed, until huellad exits.  Admin changes are rare and a snapshot
 * is tens of KB, whereas freeing one would need every reader counted.
 */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attendance.h"
#include "attendance_store.h"
#include "identity.h"
#include "ipc_server.h"
#include "store.h"
#include "writer.h"

static struct {
    struct att_rules                  base;     /* the YAML's */
    _Atomic(const struct att_rules *) current;
    pthread_mutex_t                   lock;     /* retired */
    struct att_rules                **retired;
    size_t                            nretired;
} cs = { .lock = PTHREAD_MUTEX_INITIALIZER };

const struct att_rules *
att_rules(void)
{
    const struct att_rules  *r = atomic_load(&cs.current);

    return r ? r : &cs.base;
}

/* ---- copies ------------------------------------------------------------- */

static void *
dup_array(const void *a, size_t n, size_t size)
{
    void  *p;

    if (n == 0) {
        return NULL;
    }
    p = malloc(n * size);
    if (p) {
        memcpy(p, a, n * size);
    }
    return p;
}

struct att_rules *
att_rules_copy(const struct att_rules *r)
{
    struct att_rules  *c = malloc(sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    *c = *r;
    c->shifts = dup_array(r->shifts, r->nshifts, sizeof(*r->shifts));
    c->sites = dup_array(r->sites, r->nsites, sizeof(*r->sites));
    c->groups = dup_array(r->groups, r->ngroups, sizeof(*r->groups));
    c->people = dup_array(r->people, r->npeople, sizeof(*r->people));
    c->reasons = dup_array(r->reasons, r->nreasons, sizeof(*r->reasons));
    c->holidays = dup_array(r->holidays, r->nholidays, sizeof(int32_t));
    if ((r->nshifts && !c->shifts) || (r->nsites && !c->sites)
        || (r->ngroups && !c->groups) || (r->npeople && !c->people)
        || (r->nreasons && !c->reasons) || (r->nholidays && !c->holidays))
    {
        att_rules_free(c);
        free(c);
        return NULL;
    }
    return c;
}

static void
rules_destroy(struct att_rules *r)
{
    if (r) {
        att_rules_free(r);
        free(r);
    }
}

/* ---- applying one change ------------------------------------------------ */

struct chg_err {
    const char  *code;
    char         field[96];
    char         msg[256];
};

static int
fail(struct chg_err *e, const char *code, const char *field,
    const char *fmt, ...)
{
    va_list  ap;

    e->code = code;
    snprintf(e->field, sizeof(e->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static int
only_keys(json_t *o, const char *where, const char *const *keys,
    struct chg_err *e)
{
    const char  *k;
    json_t      *v;
    size_t       i;
    char         f[96];

    if (!json_is_object(o)) {
        return fail(e, "invalid_type", where, "%s must be an object",
            where[0] ? where : "the change");
    }
    json_object_foreach(o, k, v) {
        for (i = 0; keys[i]; i++) {
            if (strcmp(k, keys[i]) == 0) {
                break;
            }
        }
        if (keys[i] == NULL) {
            snprintf(f, sizeof(f), "%s%s%.60s", where, where[0] ? "." : "",
                k);
            return fail(e, "unknown_key", f, "%s is not a rule that can be "
                "changed here", f);
        }
    }
    return 0;
}

/* A name: 1..63 of [A-Za-z0-9._-]. */
static int
get_word(json_t *o, const char *key, const char *where, char *out,
    size_t cap, int required, struct chg_err *e)
{
    json_t      *v = json_object_get(o, key);
    const char  *s;
    size_t       n, i;
    char         f[96];

    snprintf(f, sizeof(f), "%s.%s", where, key);
    if (v == NULL) {
        return required ? fail(e, "missing_field", f, "%s is required", f)
                        : 1;
    }
    s = json_string_value(v);
    n = s ? strlen(s) : 0;
    for (i = 0; i < n && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
             "QRSTUVWXYZ0123456789._-", s[i]); i++)
    {
    }
    if (s == NULL || n == 0 || n >= cap || i < n) {
        return fail(e, "invalid_value", f, "%s must be 1 to %zu letters, "
            "digits, '.', '_' or '-'", f, cap - 1);
    }
    memcpy(out, s, n + 1);
    return 0;
}

static int
get_label(json_t *o, const char *key, const char *where, char *out,
    size_t cap, struct chg_err *e)
{
    json_t      *v = json_object_get(o, key);
    const char  *s = json_string_value(v);
    char         f[96];

    if (v == NULL) {
        return 1;
    }
    snprintf(f, sizeof(f), "%s.%s", where, key);
    if (s == NULL || s[0] == '\0' || strlen(s) >= cap
        || !ops_text_valid((const uint8_t *) s, strlen(s)))
    {
        return fail(e, "invalid_value", f, "%s must be text of 1 to %zu "
            "bytes", f, cap - 1);
    }
    snprintf(out, cap, "%s", s);
    return 0;
}

static int
get_minutes(json_t *o, const char *key, int max, int *out,
    struct chg_err *e)
{
    json_t  *v = json_object_get(o, key);
    char     f[96];

    if (v == NULL) {
        return 0;
    }
    snprintf(f, sizeof(f), "policy.%s", key);
    if (!json_is_integer(v) || json_integer_value(v) < 0
        || json_integer_value(v) > max)
    {
        return fail(e, "invalid_value", f, "%s must be a whole number of "
            "minutes from 0 to %d", f, max);
    }
    *out = (int) json_integer_value(v);
    return 0;
}

static int
get_day(json_t *v, const char *f, int32_t *out, struct chg_err *e)
{
    const char  *s = json_string_value(v);

    *out = s ? att_parse_date(s, strlen(s)) : ATT_NO_DAY;
    if (*out == ATT_NO_DAY) {
        return fail(e, "invalid_date", f, "%s must be a date YYYY-MM-DD", f);
    }
    return 0;
}

/* A reference by name to a shift or site (null: none); 1 when absent. */
static int
get_ref(const struct att_rules *r, json_t *o, const char *key,
    const char *where, int *out, struct chg_err *e)
{
    json_t      *v = json_object_get(o, key);
    const char  *s;
    char         f[96];

    if (v == NULL) {
        return 1;
    }
    snprintf(f, sizeof(f), "%s.%s", where, key);
    if (json_is_null(v)) {
        *out = -1;
        return 0;
    }
    s = json_string_value(v);
    *out = s == NULL ? -1
         : strcmp(key, "shift") == 0 ? att_shift_find(r, s)
         : att_site_find(r, s);
    if (*out < 0) {
        return fail(e, strcmp(key, "shift") == 0 ? "unknown_shift"
                                                 : "unknown_site", f,
            "%s names no %s of the rules", f, key);
    }
    return 0;
}

static int
get_supervisor(json_t *o, const char *where, char out[ATT_CURP_MAX],
    struct chg_err *e)
{
    json_t      *v = json_object_get(o, "supervisor");
    const char  *s = json_string_value(v);
    char         f[96];

    if (v == NULL) {
        return 1;
    }
    snprintf(f, sizeof(f), "%s.supervisor", where);
    if (json_is_null(v)) {
        out[0] = '\0';
        return 0;
    }
    if (s == NULL || !ops_curp_valid((const uint8_t *) s, strlen(s))) {
        return fail(e, "invalid_curp", f, "%s must be a CURP (or null)", f);
    }
    snprintf(out, ATT_CURP_MAX, "%s", s);
    return 0;
}

static int
grow(void **arr, size_t n, size_t size)
{
    void  *p = realloc(*arr, (n + 1) * size);

    if (p == NULL) {
        return -1;
    }
    *arr = p;
    memset((char *) p + n * size, 0, size);
    return 0;
}

static int
apply_policy(struct att_rules *r, json_t *o, struct chg_err *e)
{
    static const char *const keys[] = { "checkin_window_min",
        "tolerance_min", "late_max_min", "early_exit_min", "exit_window_min",
        "duplicate_window_min", NULL };
    struct att_policy  *p = &r->policy;

    if (only_keys(o, "policy", keys, e) != 0
        || get_minutes(o, keys[0], 720, &p->checkin_window_min, e) != 0
        || get_minutes(o, keys[1], 240, &p->tolerance_min, e) != 0
        || get_minutes(o, keys[2], 720, &p->late_max_min, e) != 0
        || get_minutes(o, keys[3], 720, &p->early_exit_min, e) != 0
        || get_minutes(o, keys[4], 720, &p->exit_window_min, e) != 0
        || get_minutes(o, keys[5], 240, &p->duplicate_window_min, e) != 0)
    {
        return -1;
    }
    if (p->late_max_min < p->tolerance_min) {
        return fail(e, "invalid_value", "policy.late_max_min",
            "late_max_min must be at least tolerance_min (%d)",
            p->tolerance_min);
    }
    return 0;
}

static int
cmp_day(const void *a, const void *b)
{
    int32_t  x = *(const int32_t *) a, y = *(const int32_t *) b;

    return (x > y) - (x < y);
}

static int
apply_holidays(struct att_rules *r, json_t *o, struct chg_err *e)
{
    static const char *const keys[] = { "add", "remove", NULL };
    json_t   *v;
    size_t    i, k;
    int32_t   day;
    char      f[96];
    int       rm;

    if (only_keys(o, "holidays", keys, e) != 0) {
        return -1;
    }
    for (rm = 0; rm < 2; rm++) {
        json_t  *list = json_object_get(o, keys[rm]);

        if (list == NULL) {
            continue;
        }
        if (!json_is_array(list)) {
            snprintf(f, sizeof(f), "holidays.%s", keys[rm]);
            return fail(e, "invalid_type", f, "%s must be a list of dates",
                f);
        }
        json_array_foreach(list, i, v) {
            snprintf(f, sizeof(f), "holidays.%s[%zu]", keys[rm], i);
            if (get_day(v, f, &day, e) != 0) {
                return -1;
            }
            for (k = 0; k < r->nholidays && r->holidays[k] != day; k++) {
            }
            if (rm && k < r->nholidays) {
                r->holidays[k] = r->holidays[--r->nholidays];
            } else if (!rm && k == r->nholidays) {
                if (grow((void **) &r->holidays, r->nholidays,
                        sizeof(int32_t)) != 0)
                {
                    return fail(e, "out_of_memory", "holidays", "out of "
                        "memory");
                }
                r->holidays[r->nholidays++] = day;
            }
        }
    }
    qsort(r->holidays, r->nholidays, sizeof(int32_t), cmp_day);
    return 0;
}

static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu",
                                          "fri", "sat" };

static int
apply_shift(struct att_rules *r, json_t *o, const char *where,
    struct chg_err *e)
{
    static const char *const keys[] = { "name", "label", "label_en",
                                        "start", "end", "days", NULL };
    struct att_shift   s, *t;
    char               name[ATT_NAME_MAX], f[96];
    const char        *hhmm;
    json_t            *v;
    size_t             i, k;
    int                idx, start, end, rc;

    if (only_keys(o, where, keys, e) != 0
        || get_word(o, "name", where, name, sizeof(name), 1, e) != 0)
    {
        return -1;
    }
    idx = att_shift_find(r, name);
    memset(&s, 0, sizeof(s));
    if (idx >= 0) {
        s = r->shifts[idx];
    } else {
        snprintf(s.name, sizeof(s.name), "%s", name);
        snprintf(s.label, sizeof(s.label), "%s", name);
        s.start_min = s.end_min = -1;
    }
    /* label_en is optional, also in changes stored before it existed;
     * null removes it: the English portal then shows label */
    if ((rc = get_label(o, "label", where, s.label, sizeof(s.label), e)) < 0)
    {
        return -1;
    }
    if (json_is_null(json_object_get(o, "label_en"))) {
        s.label_en[0] = '\0';
    } else if (get_label(o, "label_en", where, s.label_en,
                   sizeof(s.label_en), e) < 0)
    {
        return -1;
    }
    start = s.start_min;
    end = s.end_min < 0 ? -1 : s.end_min % 1440;
    for (k = 0; k < 2; k++) {
        v = json_object_get(o, k == 0 ? "start" : "end");
        snprintf(f, sizeof(f), "%s.%s", where, k == 0 ? "start" : "end");
        if (v == NULL) {
            if ((k == 0 ? start : end) < 0) {
                return fail(e, "missing_field", f, "%s is required for a "
                    "new shift", f);
            }
            continue;
        }
        hhmm = json_string_value(v);
        rc = hhmm ? att_parse_hhmm(hhmm) : -1;
        if (rc < 0) {
            return fail(e, "invalid_value", f, "%s must be a time HH:MM", f);
        }
        if (k == 0) {
            start = rc;
        } else {
            end = rc;
        }
    }
    if (start == end) {
        snprintf(f, sizeof(f), "%s.end", where);
        return fail(e, "invalid_value", f, "a shift cannot end when it "
            "starts");
    }
    s.start_min = start;
    /* ending earlier than it starts: it crosses midnight */
    s.end_min = end > start ? end : end + 1440;
    v = json_object_get(o, "days");
    if (v == NULL && idx < 0) {
        snprintf(f, sizeof(f), "%s.days", where);
        return fail(e, "missing_field", f, "%s is required for a new shift",
            f);
    }
    if (v) {
        snprintf(f, sizeof(f), "%s.days", where);
        if (!json_is_array(v) || json_array_size(v) == 0) {
            return fail(e, "invalid_value", f, "%s must be a list of week "
                "days (mon..sun)", f);
        }
        s.days = 0;
        for (i = 0; i < json_array_size(v); i++) {
            const char  *d = json_string_value(json_array_get(v, i));

            for (k = 0; k < 7 && !(d && strcmp(d, day_names[k]) == 0); k++) {
            }
            if (k == 7) {
                return fail(e, "invalid_value", f, "%s[%zu] must be one of "
                    "mon, tue, wed, thu, fri, sat, sun", f, i);
            }
            s.days |= (uint8_t) (1u << k);
        }
    }
    if (idx < 0) {
        if (grow((void **) &r->shifts, r->nshifts, sizeof(s)) != 0) {
            return fail(e, "out_of_memory", where, "out of memory");
        }
        idx = (int) r->nshifts++;
    }
    t = &r->shifts[idx];
    *t = s;
    return 0;
}

static int
apply_site(struct att_rules *r, json_t *o, const char *where,
    struct chg_err *e)
{
    static const char *const keys[] = { "id", "name", NULL };
    char  id[ATT_NAME_MAX];
    int   idx;

    if (only_keys(o, where, keys, e) != 0
        || get_word(o, "id", where, id, sizeof(id), 1, e) != 0)
    {
        return -1;
    }
    if ((idx = att_site_find(r, id)) < 0) {
        if (grow((void **) &r->sites, r->nsites, sizeof(*r->sites)) != 0) {
            return fail(e, "out_of_memory", where, "out of memory");
        }
        idx = (int) r->nsites++;
        snprintf(r->sites[idx].id, sizeof(r->sites[idx].id), "%s", id);
        snprintf(r->sites[idx].name, sizeof(r->sites[idx].name), "%s", id);
    }
    return get_label(o, "name", where, r->sites[idx].name,
        sizeof(r->sites[idx].name), e) < 0 ? -1 : 0;
}

static int
apply_group(struct att_rules *r, json_t *o, const char *where,
    struct chg_err *e)
{
    static const char *const keys[] = { "name", "shift", "site",
                                        "supervisor", NULL };
    struct att_group  g;
    char              name[ATT_NAME_MAX];
    int               idx;

    if (only_keys(o, where, keys, e) != 0
        || get_word(o, "name", where, name, sizeof(name), 1, e) != 0)
    {
        return -1;
    }
    for (idx = 0; idx < (int) r->ngroups
                  && strcmp(r->groups[idx].name, name) != 0; idx++)
    {
    }
    if (idx < (int) r->ngroups) {
        g = r->groups[idx];
    } else {
        memset(&g, 0, sizeof(g));
        snprintf(g.name, sizeof(g.name), "%s", name);
        g.shift = g.site = -1;
    }
    if (get_ref(r, o, "shift", where, &g.shift, e) < 0
        || get_ref(r, o, "site", where, &g.site, e) < 0
        || get_supervisor(o, where, g.supervisor, e) < 0)
    {
        return -1;
    }
    if (idx == (int) r->ngroups) {
        if (grow((void **) &r->groups, r->ngroups, sizeof(g)) != 0) {
            return fail(e, "out_of_memory", where, "out of memory");
        }
        r->ngroups++;
    }
    r->groups[idx] = g;
    return 0;
}

static int
apply_person(struct att_rules *r, json_t *o, const char *where,
    struct chg_err *e)
{
    static const char *const keys[] = { "curp", "matricula", "name", "shift",
        "site", "group", "supervisor", NULL };
    struct att_person         p;
    const struct att_person  *other;
    const char               *s;
    json_t                   *v;
    char                      f[96];
    size_t                    k;
    int                       idx;

    if (only_keys(o, where, keys, e) != 0) {
        return -1;
    }
    snprintf(f, sizeof(f), "%s.curp", where);
    s = json_string_value(json_object_get(o, "curp"));
    if (s == NULL || !ops_curp_valid((const uint8_t *) s, strlen(s))) {
        return fail(e, s ? "invalid_curp" : "missing_field", f,
            "%s must be a CURP", f);
    }
    for (idx = 0; idx < (int) r->npeople
                  && strcmp(r->people[idx].curp, s) != 0; idx++)
    {
    }
    if (idx < (int) r->npeople) {
        p = r->people[idx];
    } else {
        memset(&p, 0, sizeof(p));
        snprintf(p.curp, sizeof(p.curp), "%s", s);
        p.shift = p.site = p.group = -1;
    }
    v = json_object_get(o, "matricula");
    if (v && json_is_null(v)) {
        p.matricula[0] = '\0';
    } else if (get_word(o, "matricula", where, p.matricula,
                   sizeof(p.matricula), 0, e) < 0)
    {
        return -1;
    }
    other = p.matricula[0] ? att_person_by_matricula(r, p.matricula) : NULL;
    if (other && strcmp(other->curp, p.curp) != 0) {
        snprintf(f, sizeof(f), "%s.matricula", where);
        return fail(e, "duplicate_matricula", f, "matricula %s belongs to "
            "%s", p.matricula, other->curp);
    }
    if (get_label(o, "name", where, p.name, sizeof(p.name), e) < 0
        || get_ref(r, o, "shift", where, &p.shift, e) < 0
        || get_ref(r, o, "site", where, &p.site, e) < 0
        || get_supervisor(o, where, p.supervisor, e) < 0)
    {
        return -1;
    }
    v = json_object_get(o, "group");
    if (v && json_is_null(v)) {
        p.group = -1;
    } else if (v) {
        s = json_string_value(v);
        for (k = 0; s && k < r->ngroups && strcmp(r->groups[k].name, s) != 0;
             k++)
        {
        }
        if (s == NULL || k == r->ngroups) {
            snprintf(f, sizeof(f), "%s.group", where);
            return fail(e, "unknown_group", f, "%s names no group of the "
                "rules", f);
        }
        p.group = (int) k;
    }
    if (strcmp(p.supervisor, p.curp) == 0) {
        snprintf(f, sizeof(f), "%s.supervisor", where);
        return fail(e, "invalid_value", f, "a person cannot supervise "
            "themselves");
    }
    if (idx == (int) r->npeople) {
        if (grow((void **) &r->people, r->npeople, sizeof(p)) != 0) {
            return fail(e, "out_of_memory", where, "out of memory");
        }
        r->npeople++;
    }
    r->people[idx] = p;
    return 0;
}

/* "kiosks": {"dev_...": "site" | null}: a kiosk belongs to one site. */
static int
apply_kiosks(struct att_rules *r, json_t *o, struct chg_err *e)
{
    const char  *kiosk, *site;
    json_t      *v;
    size_t       i, n;
    unsigned     k;
    int          idx;
    char         f[96];

    if (!json_is_object(o)) {
        return fail(e, "invalid_type", "kiosks", "kiosks must be an object "
            "of kiosk id to site id (or null)");
    }
    json_object_foreach(o, kiosk, v) {
        snprintf(f, sizeof(f), "kiosks.%.60s", kiosk);
        n = strlen(kiosk);
        for (i = 0; i < n && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
                 "NOPQRSTUVWXYZ0123456789._-", kiosk[i]); i++)
        {
        }
        if (n == 0 || n >= ATT_NAME_MAX || i < n) {
            return fail(e, "invalid_value", f, "a kiosk id is 1 to %d "
                "letters, digits, '.', '_' or '-'", ATT_NAME_MAX - 1);
        }
        idx = -1;
        if (!json_is_null(v)) {
            site = json_string_value(v);
            if (site == NULL || (idx = att_site_find(r, site)) < 0) {
                return fail(e, "unknown_site", f, "%s names no site of the "
                    "rules", f);
            }
        }
        /* out of the site it was in */
        for (i = 0; i < r->nsites; i++) {
            for (k = 0; k < r->sites[i].nkiosks; k++) {
                if (strcmp(r->sites[i].kiosks[k], kiosk) == 0) {
                    r->sites[i].nkiosks--;
                    memmove(r->sites[i].kiosks[k], r->sites[i].kiosks[k + 1],
                        (r->sites[i].nkiosks - k) * ATT_NAME_MAX);
                    break;
                }
            }
        }
        if (idx >= 0) {
            if (r->sites[idx].nkiosks >= ATT_KIOSKS_MAX) {
                return fail(e, "too_many_kiosks", f, "site %s already has "
                    "%d kiosks", r->sites[idx].id, ATT_KIOSKS_MAX);
            }
            snprintf(r->sites[idx].kiosks[r->sites[idx].nkiosks++],
                ATT_NAME_MAX, "%s", kiosk);
        }
    }
    return 0;
}

static int
apply_list(struct att_rules *r, json_t *change, const char *key,
    int (*one)(struct att_rules *, json_t *, const char *,
        struct chg_err *), struct chg_err *e)
{
    json_t  *list = json_object_get(change, key), *v;
    char     where[64];
    size_t   i;

    if (list == NULL) {
        return 0;
    }
    if (!json_is_array(list)) {
        return fail(e, "invalid_type", key, "%s must be a list", key);
    }
    json_array_foreach(list, i, v) {
        snprintf(where, sizeof(where), "%s[%zu]", key, i);
        if (one(r, v, where, e) != 0) {
            return -1;
        }
    }
    return 0;
}

/*
 * Applies one change to r in place: policy, freeze, holidays, then sites,
 * shifts, groups, people and kiosks (later lists may name what earlier
 * ones of the same change added).  -1 with e filled; r is then partly
 * changed and must be dropped.
 */
static int
att_change_apply(struct att_rules *r, json_t *change, struct chg_err *e)
{
    static const char *const keys[] = { "policy", "freeze_before",
        "holidays", "sites", "shifts", "groups", "people", "kiosks", NULL };
    json_t  *v;

    if (only_keys(change, "", keys, e) != 0) {
        return -1;
    }
    if (json_object_size(change) == 0) {
        return fail(e, "missing_field", "", "the change is empty: give at "
            "least one of policy, freeze_before, holidays, sites, shifts, "
            "groups, people, kiosks");
    }
    if ((v = json_object_get(change, "policy")) != NULL
        && apply_policy(r, v, e) != 0)
    {
        return -1;
    }
    if ((v = json_object_get(change, "freeze_before")) != NULL) {
        if (json_is_null(v)) {
            r->freeze_before = ATT_NO_DAY;
        } else if (get_day(v, "freeze_before", &r->freeze_before, e) != 0) {
            return -1;
        }
    }
    if ((v = json_object_get(change, "holidays")) != NULL
        && apply_holidays(r, v, e) != 0)
    {
        return -1;
    }
    if (apply_list(r, change, "sites", apply_site, e) != 0
        || apply_list(r, change, "shifts", apply_shift, e) != 0
        || apply_list(r, change, "groups", apply_group, e) != 0
        || apply_list(r, change, "people", apply_person, e) != 0)
    {
        return -1;
    }
    if ((v = json_object_get(change, "kiosks")) != NULL
        && apply_kiosks(r, v, e) != 0)
    {
        return -1;
    }
    return 0;
}

/* ---- replay ------------------------------------------------------------- */

struct replay {
    struct att_rules  *r;
    uint64_t           count;
};

static int
replay_one(void *arg, uint64_t seq, const char *json, size_t len)
{
    struct replay   *rp = arg;
    struct chg_err   e = { 0 };
    struct att_rules *trial;
    json_t          *doc = json_loadb(json, len, 0, NULL);

    rp->count++;
    trial = doc ? att_rules_copy(rp->r) : NULL;
    if (trial == NULL || att_change_apply(trial, doc, &e) != 0) {
        /* the YAML changed under it (a site renamed, ...): keep the rest */
        fprintf(stderr, "huellad: attendance rules change %llu no longer "
            "applies (%s %s: %s); skipped\n", (unsigned long long) seq,
            e.code ? e.code : "invalid_json", e.field, e.msg);
        rules_destroy(trial);
        json_decref(doc);
        return 0;
    }
    json_decref(doc);
    rules_destroy(rp->r);
    rp->r = trial;
    return 0;
}

/* YAML + every stored change, as read in txn. */
static struct att_rules *
rules_rebuild(MDB_txn *txn, int *rc)
{
    struct replay  rp = { 0 };

    rp.r = att_rules_copy(&cs.base);
    if (rp.r == NULL) {
        *rc = ENOMEM;
        return NULL;
    }
    *rc = atts_change_each(txn, att_dbi(), replay_one, &rp);
    if (*rc != 0) {
        rules_destroy(rp.r);
        return NULL;
    }
    return rp.r;
}

static void
publish(struct att_rules *r)
{
    const struct att_rules  *old = atomic_exchange(&cs.current, r);

    if (old != NULL) {
        pthread_mutex_lock(&cs.lock);
        struct att_rules **p = realloc(cs.retired,
            (cs.nretired + 1) * sizeof(*p));
        if (p) {
            cs.retired = p;
            cs.retired[cs.nretired++] = (struct att_rules *) old;
        }
        /* without room to retire it, it is leaked: never freed under a
         * reader */
        pthread_mutex_unlock(&cs.lock);
    }
}

int
att_changes_init(const struct att_rules *yaml, MDB_env *env, char *err,
    size_t errlen)
{
    struct att_rules  *r;
    MDB_txn           *txn;
    int                rc;

    cs.base = *yaml;
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
        snprintf(err, errlen, "attendance rules: %s", mdb_strerror(rc));
        return -1;
    }
    r = rules_rebuild(txn, &rc);
    mdb_txn_abort(txn);
    if (r == NULL) {
        snprintf(err, errlen, "attendance rules changes: %s",
            mdb_strerror(rc));
        return -1;
    }
    publish(r);
    return 0;
}

/* ---- the ops ------------------------------------------------------------ */

static const uint16_t change_allowed[] = { HIPC_F_JSON, HIPC_F_ACTOR,
    HIPC_F_ROLES, HIPC_F_CLIENT, 0 };
static const uint16_t change_required[] = { HIPC_F_JSON, HIPC_F_ACTOR,
    HIPC_F_ROLES, 0 };

void
att_changes_handle(struct hd_request *rq, struct hd_thread *th)
{
    struct att_job  *job;
    json_t          *doc;
    json_error_t     jerr;

    (void) th;
    job = att_job_new(rq, change_allowed, change_required);
    if (job == NULL) {
        return;
    }
    if (!att_role(job->f.roles, "admin")) {
        free(job);
        ops_reply_error(rq, HIPC_ST_FORBIDDEN, "admin_only", NULL,
            "only an admin changes the attendance rules");
        return;
    }
    doc = json_loadb((const char *) job->f.json, job->f.json_len, 0, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        free(job);
        ops_reply_error(rq, HIPC_ST_INVALID, "invalid_json", NULL,
            "the change must be a JSON object");
        return;
    }
    json_decref(doc);
    att_dispatch(rq, job, NULL);
}

int
att_changes_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct att_job    *job = rq->prep;
    struct att_rules  *r;
    struct chg_err     e = { 0 };
    json_t            *doc, *out;
    char              *s, *summary, seqs[24];
    uint64_t           seq;
    int                rc;

    doc = json_loadb((const char *) job->f.json, job->f.json_len, 0, NULL);
    r = doc ? rules_rebuild(txn, &rc) : NULL;
    if (r == NULL) {
        json_decref(doc);
        ops_error(w, "storage_error", NULL, "attendance rules cannot be "
            "read");
        return HIPC_ST_INTERNAL;
    }
    if (att_change_apply(r, doc, &e) != 0) {
        json_decref(doc);
        rules_destroy(r);
        ops_error(w, e.code, e.field[0] ? e.field : NULL, "%s", e.msg);
        return strcmp(e.code, "missing_field") == 0 ? HIPC_ST_BAD_REQUEST
               : strcmp(e.code, "out_of_memory") == 0 ? HIPC_ST_BUSY
               : HIPC_ST_INVALID;
    }
    /* stored compact, as accepted: the replay reads it back */
    s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (s == NULL
        || (rc = atts_counter_next(txn, att_dbi(), "change", &seq)) != 0
        || (rc = atts_change_put(txn, att_dbi(), seq, s)) != 0)
    {
        free(s);
        rules_destroy(r);
        ops_error(w, "storage_error", NULL, "the change was not stored");
        return HIPC_ST_INTERNAL;
    }
    snprintf(seqs, sizeof(seqs), "%llu", (unsigned long long) seq);
    /* the audit entry names the change; its text is kept whole in 'R' */
    summary = strlen(s) > 900 ? NULL : s;
    rc = id_audit(txn, job->f.actor, "attendance_rules_changed", NULL,
        job->f.client, "change", seqs, "rules", summary ? summary
        : "(longer than 900 bytes: see GET /api/v1/attendance/rules)",
        NULL);
    free(s);
    if (rc != 0) {
        rules_destroy(r);
        ops_error(w, "storage_error", NULL, "audit: %s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    out = att_rules_json(r, 1);
    json_object_set_new(out, "change", json_integer((json_int_t) seq));
    s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (s == NULL) {
        rules_destroy(r);
        ops_error(w, "out_of_memory", NULL, "huellad is out of memory");
        return HIPC_ST_BUSY;
    }
    hipc_put(w, HIPC_F_JSON, s, strlen(s));
    free(s);
    if (w->overflow) {
        rules_destroy(r);
        hipc_writer_init(w, w->buf, w->cap);
        ops_error(w, "reply_too_large", NULL, "the rules do not fit one "
            "reply");
        return HIPC_ST_TOO_LARGE;
    }
    job->rules_new = r;
    return HIPC_ST_OK;
}

void
att_changes_committed(struct hd_request *rq, int status)
{
    struct att_job  *job = rq->prep;

    if (job && job->rules_new && status == HIPC_ST_OK) {
        publish(job->rules_new);
        job->rules_new = NULL;
    }
}
