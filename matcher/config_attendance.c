/*
 * config_attendance.c -- the `attendance:` section of config/huella.yaml
 * (issue 6): time zone, policy (windows, tolerance, thresholds), the test
 * clock, freeze date, throttling, holidays, the reason catalog, shifts,
 * sites with their kiosks, groups and people (assignments, supervisors).
 *
 * `include: FILE` loads another YAML file whose top level holds the same
 * keys (the demo institution lives in config/attendance-demo.yaml), in the
 * place the include appears.  Lists refer to each other by name, so they
 * must come in order: shifts and sites before groups, groups before people.
 * Same strictness as config.c: FILE:LINE and the full key on every error.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attendance_rules.h"
#include "config_internal.h"
#include "identifiers.h"
#include "ops.h"

#define ATT_INCLUDE_DEPTH  4

struct att_load {
    struct att_rules  *r;
    int                depth;
};

static int
get_int(struct config_ctx *cx, const char *key, yaml_node_t *v, int min,
    int max, int *out)
{
    uint64_t  u;

    if (get_uint(cx, key, v, (uint64_t) min, (uint64_t) max, &u) != 0) {
        return -1;
    }
    *out = (int) u;
    return 0;
}

static int
get_bool(struct config_ctx *cx, const char *key, yaml_node_t *v, int *out)
{
    const char  *s;

    if (v->type == YAML_SCALAR_NODE
        && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
    {
        s = scalar_text(v);
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            *out = s[0] == 't';
            return 0;
        }
    }
    return config_fail(cx, v, "key '%s': expected true or false", key);
}

static int
get_date(struct config_ctx *cx, const char *key, yaml_node_t *v,
    int32_t *out)
{
    const char  *s;

    if (v->type != YAML_SCALAR_NODE) {
        return config_fail(cx, v, "key '%s': expected a date YYYY-MM-DD",
            key);
    }
    s = scalar_text(v);
    *out = att_parse_date(s, strlen(s));
    if (*out == ATT_NO_DAY) {
        return config_fail(cx, v, "key '%s': expected a date YYYY-MM-DD, "
            "got '%.40s'", key, s);
    }
    return 0;
}

static int
get_curp(struct config_ctx *cx, const char *key, yaml_node_t *v, char *out)
{
    const char  *why;

    if (get_text(cx, key, v, out, ATT_CURP_MAX) != 0) {
        return -1;
    }
    why = id_curp_check(out, strlen(out));
    if (why) {
        return config_fail(cx, v, "key '%s': '%s' is not a valid CURP: %s",
            key, out, why);
    }
    return 0;
}

/*
 * A label shown in the portal (a reason's or shift's label or label_en):
 * 1 to ATT_LABEL_MAX - 1 bytes of UTF-8 text without control characters,
 * the same text the rules-changes API accepts, since a YAML escape such
 * as "\n" gets past the YAML reader's own checks.
 */
static int
get_label(struct config_ctx *cx, const char *key, yaml_node_t *v, char *out)
{
    const char  *s;
    size_t       n, i;

    if (v->type != YAML_SCALAR_NODE) {
        return config_fail(cx, v, "key '%s': expected a label (text), got %s",
            key, node_kind(v));
    }
    s = scalar_text(v);
    n = v->data.scalar.length;
    if (n == 0 || (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                   && !scalar_is_plain_value(v)))
    {
        return config_fail(cx, v, "key '%s': a label cannot be empty", key);
    }
    if (n >= ATT_LABEL_MAX) {
        return config_fail(cx, v, "key '%s': a label is at most %d bytes, "
            "got %zu", key, ATT_LABEL_MAX - 1, n);
    }
    if (!ops_text_valid((const uint8_t *) s, n)) {
        for (i = 0; i < n && (unsigned char) s[i] >= 0x20 && s[i] != 0x7f;
             i++)
        {
        }
        if (i == n) {
            return config_fail(cx, v, "key '%s': a label must be valid "
                "UTF-8 text", key);
        }
        return config_fail(cx, v, "key '%s': a label is one line of text "
            "without control characters (byte 0x%02x at offset %zu)", key,
            (unsigned char) s[i], i);
    }
    memcpy(out, s, n + 1);
    return 0;
}

/* Grows *arr by one zeroed element; returns it or NULL. */
static void *
grow(void **arr, size_t *n, size_t size)
{
    char  *p = realloc(*arr, (*n + 1) * size);

    if (p == NULL) {
        return NULL;
    }
    *arr = p;
    memset(p + *n * size, 0, size);
    return p + (*n)++ * size;
}

/* Walks a list, calling fn for each item with key "section[i]". */
static int
each_item(struct config_ctx *cx, const char *key, yaml_node_t *list,
    int (*fn)(struct config_ctx *, const char *, yaml_node_t *, void *),
    void *arg)
{
    yaml_node_item_t  *it;
    yaml_node_t       *item;
    char               ik[160];
    size_t             i = 0;

    if (list->type != YAML_SEQUENCE_NODE) {
        return config_fail(cx, list, "key '%s': expected a list, got %s",
            key, node_kind(list) ? node_kind(list) : "a scalar");
    }
    for (it = list->data.sequence.items.start;
         it < list->data.sequence.items.top; it++, i++)
    {
        item = yaml_document_get_node(cx->doc, *it);
        snprintf(ik, sizeof(ik), "%.140s[%zu]", key, i);
        if (item == NULL || fn(cx, ik, item, arg) != 0) {
            return -1;
        }
    }
    return 0;
}

/* ---- throttle ----------------------------------------------------------- */

static int
throttle_key(struct config_ctx *cx, const char *key, size_t i,
    yaml_node_t *v, void *arg)
{
    struct att_rules  *r = arg;
    int                n;

    if (get_int(cx, key, v, 1, i == 0 ? 100 : i == 1 ? 3600 : 10000, &n)
        != 0)
    {
        return -1;
    }
    if (i == 0) {
        r->throttle_threshold = (unsigned) n;
    } else if (i == 1) {
        r->throttle_delay_s = (unsigned) n;
    } else {
        r->disable_after = (unsigned) n;
    }
    return 0;
}

/* ---- face punches ------------------------------------------------------- */

static int
face_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    struct att_rules  *r = arg;
    uint64_t           u;
    size_t             k;

    switch (i) {
    case 0:
        if (get_text(cx, key, v, r->face_model, sizeof(r->face_model)) != 0)
        {
            return -1;
        }
        for (k = 0; r->face_model[k]; k++) {
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789._-", r->face_model[k]))
            {
                return config_fail(cx, v, "key '%s': a model name is "
                    "letters, digits, '.', '_' or '-'", key);
            }
        }
        return 0;
    case 1:
        if (get_uint(cx, key, v, 1, 1024, &u) != 0) {
            return -1;
        }
        r->face_dim = (unsigned) u;
        return 0;
    default:
        return get_real(cx, key, v, 0.0, 1.0, &r->face_threshold);
    }
}

/* ---- holidays, reasons -------------------------------------------------- */

static int
holiday_item(struct config_ctx *cx, const char *key, yaml_node_t *v,
    void *arg)
{
    struct att_rules  *r = arg;
    int32_t           *d = grow((void **) &r->holidays, &r->nholidays,
                             sizeof(int32_t));

    if (d == NULL) {
        return config_fail(cx, v, "out of memory");
    }
    return get_date(cx, key, v, d);
}

static int
cmp_day(const void *a, const void *b)
{
    int32_t  x = *(const int32_t *) a, y = *(const int32_t *) b;

    return (x > y) - (x < y);
}

static int
reason_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    struct att_reason  *rs = arg;

    if (i == 0) {
        if (get_text(cx, key, v, rs->code, sizeof(rs->code)) != 0) {
            return -1;
        }
        if (strspn(rs->code, "abcdefghijklmnopqrstuvwxyz0123456789_")
            != strlen(rs->code))
        {
            return config_fail(cx, v, "key '%s': a reason code is "
                "[a-z0-9_]+", key);
        }
        return 0;
    }
    return get_label(cx, key, v, i == 1 ? rs->label : rs->label_en);
}

static int
reason_item(struct config_ctx *cx, const char *key, yaml_node_t *v,
    void *arg)
{
    static const char *const keys[] = { "code", "label", "label_en" };
    struct att_rules   *r = arg;
    struct att_reason  *rs = grow((void **) &r->reasons, &r->nreasons,
                                  sizeof(*rs));

    if (rs == NULL) {
        return config_fail(cx, v, "out of memory");
    }
    if (config_walk(cx, key, v, keys, 3, reason_key, rs) != 0) {
        return -1;
    }
    if (rs->code[0] == '\0' || rs->label[0] == '\0') {
        return config_fail(cx, v, "key '%s': code and label are required",
            key);
    }
    if (att_reason_find(r, rs->code) != rs) {
        return config_fail(cx, v, "key '%s': reason '%s' given twice", key,
            rs->code);
    }
    return 0;
}

/* ---- shifts ------------------------------------------------------------- */

static int
shift_days(struct config_ctx *cx, const char *key, yaml_node_t *list,
    uint8_t *days)
{
    static const char *const names[7] = { "sun", "mon", "tue", "wed", "thu",
                                          "fri", "sat" };
    yaml_node_item_t  *it;
    yaml_node_t       *item;
    unsigned           w;

    if (list->type != YAML_SEQUENCE_NODE) {
        return config_fail(cx, list, "key '%s': expected a list of week "
            "days (mon, tue, wed, thu, fri, sat, sun)", key);
    }
    *days = 0;
    for (it = list->data.sequence.items.start;
         it < list->data.sequence.items.top; it++)
    {
        item = yaml_document_get_node(cx->doc, *it);
        for (w = 0; w < 7; w++) {
            if (item && item->type == YAML_SCALAR_NODE
                && strcmp(scalar_text(item), names[w]) == 0)
            {
                break;
            }
        }
        if (w == 7) {
            return config_fail(cx, item, "key '%s': expected one of mon, "
                "tue, wed, thu, fri, sat, sun", key);
        }
        *days |= (uint8_t) (1u << w);
    }
    if (*days == 0) {
        return config_fail(cx, list, "key '%s': a shift needs at least one "
            "day", key);
    }
    return 0;
}

static int
get_hhmm(struct config_ctx *cx, const char *key, yaml_node_t *v, int *out)
{
    if (v->type != YAML_SCALAR_NODE
        || (*out = att_parse_hhmm(scalar_text(v))) < 0)
    {
        return config_fail(cx, v, "key '%s': expected a time \"HH:MM\" "
            "(quoted)", key);
    }
    return 0;
}

static int
shift_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    struct att_shift  *s = arg;

    switch (i) {
    case 0: return get_text(cx, key, v, s->name, sizeof(s->name));
    case 1: return get_label(cx, key, v, s->label);
    case 2: return get_label(cx, key, v, s->label_en);
    case 3: return get_hhmm(cx, key, v, &s->start_min);
    case 4: return get_hhmm(cx, key, v, &s->end_min);
    default: return shift_days(cx, key, v, &s->days);
    }
}

static int
shift_item(struct config_ctx *cx, const char *key, yaml_node_t *v,
    void *arg)
{
    static const char *const keys[] = { "name", "label", "label_en",
                                        "start", "end", "days" };
    struct att_rules  *r = arg;
    struct att_shift  *s = grow((void **) &r->shifts, &r->nshifts,
                                sizeof(*s));

    if (s == NULL) {
        return config_fail(cx, v, "out of memory");
    }
    s->start_min = s->end_min = -1;
    if (config_walk(cx, key, v, keys, 6, shift_key, s) != 0) {
        return -1;
    }
    if (s->name[0] == '\0' || s->start_min < 0 || s->end_min < 0
        || s->days == 0)
    {
        return config_fail(cx, v, "key '%s': name, start, end and days are "
            "required", key);
    }
    if (s->end_min == s->start_min) {
        return config_fail(cx, v, "key '%s': start and end are equal", key);
    }
    if (s->end_min < s->start_min) {
        s->end_min += 1440;     /* crosses midnight: ends the next day */
    }
    if (s->label[0] == '\0') {
        memcpy(s->label, s->name, sizeof(s->name));
    }
    if (att_shift_find(r, s->name) != (int) (s - r->shifts)) {
        return config_fail(cx, v, "key '%s': shift '%s' given twice", key,
            s->name);
    }
    return 0;
}

/* ---- sites -------------------------------------------------------------- */

static int
site_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    struct att_site   *s = arg;
    yaml_node_item_t  *it;
    yaml_node_t       *item;

    switch (i) {
    case 0: return get_text(cx, key, v, s->id, sizeof(s->id));
    case 1: return get_text(cx, key, v, s->name, sizeof(s->name));
    default:
        if (v->type != YAML_SEQUENCE_NODE) {
            return config_fail(cx, v, "key '%s': expected a list of kiosk "
                "device ids", key);
        }
        for (it = v->data.sequence.items.start;
             it < v->data.sequence.items.top; it++)
        {
            item = yaml_document_get_node(cx->doc, *it);
            if (s->nkiosks == ATT_KIOSKS_MAX) {
                return config_fail(cx, item, "key '%s': at most %d kiosks "
                    "per site", key, ATT_KIOSKS_MAX);
            }
            if (item == NULL || get_text(cx, key, item,
                    s->kiosks[s->nkiosks], ATT_NAME_MAX) != 0)
            {
                return -1;
            }
            s->nkiosks++;
        }
        return 0;
    }
}

static int
site_item(struct config_ctx *cx, const char *key, yaml_node_t *v, void *arg)
{
    static const char *const keys[] = { "id", "name", "kiosks" };
    struct att_rules  *r = arg;
    struct att_site   *s = grow((void **) &r->sites, &r->nsites, sizeof(*s));
    unsigned           k;

    if (s == NULL) {
        return config_fail(cx, v, "out of memory");
    }
    if (config_walk(cx, key, v, keys, 3, site_key, s) != 0) {
        return -1;
    }
    if (s->id[0] == '\0') {
        return config_fail(cx, v, "key '%s': id is required", key);
    }
    if (s->name[0] == '\0') {
        memcpy(s->name, s->id, sizeof(s->id));
    }
    if (att_site_find(r, s->id) != (int) (s - r->sites)) {
        return config_fail(cx, v, "key '%s': site '%s' given twice", key,
            s->id);
    }
    for (k = 0; k < s->nkiosks; k++) {
        if (att_site_of_kiosk(r, s->kiosks[k]) != (int) (s - r->sites)) {
            return config_fail(cx, v, "key '%s': kiosk '%s' belongs to "
                "another site already", key, s->kiosks[k]);
        }
    }
    return 0;
}

/* ---- groups and people -------------------------------------------------- */

static int
ref_shift(struct config_ctx *cx, const char *key, yaml_node_t *v,
    const struct att_rules *r, int *out)
{
    char  name[ATT_NAME_MAX];

    if (get_text(cx, key, v, name, sizeof(name)) != 0) {
        return -1;
    }
    if ((*out = att_shift_find(r, name)) < 0) {
        return config_fail(cx, v, "key '%s': unknown shift '%s' (shifts "
            "must be listed before they are used)", key, name);
    }
    return 0;
}

static int
ref_site(struct config_ctx *cx, const char *key, yaml_node_t *v,
    const struct att_rules *r, int *out)
{
    char  id[ATT_NAME_MAX];

    if (get_text(cx, key, v, id, sizeof(id)) != 0) {
        return -1;
    }
    if ((*out = att_site_find(r, id)) < 0) {
        return config_fail(cx, v, "key '%s': unknown site '%s' (sites must "
            "be listed before they are used)", key, id);
    }
    return 0;
}

struct item_ctx {
    struct att_rules  *r;
    void              *item;
};

static int
group_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    struct item_ctx   *ic = arg;
    struct att_group  *g = ic->item;

    switch (i) {
    case 0: return get_text(cx, key, v, g->name, sizeof(g->name));
    case 1: return ref_shift(cx, key, v, ic->r, &g->shift);
    case 2: return ref_site(cx, key, v, ic->r, &g->site);
    default: return get_curp(cx, key, v, g->supervisor);
    }
}

static int
group_item(struct config_ctx *cx, const char *key, yaml_node_t *v,
    void *arg)
{
    static const char *const keys[] = { "name", "shift", "site",
                                        "supervisor" };
    struct att_rules  *r = arg;
    struct att_group  *g = grow((void **) &r->groups, &r->ngroups,
                                sizeof(*g));
    struct item_ctx    ic = { r, g };
    size_t             i;

    if (g == NULL) {
        return config_fail(cx, v, "out of memory");
    }
    g->shift = g->site = -1;
    if (config_walk(cx, key, v, keys, 4, group_key, &ic) != 0) {
        return -1;
    }
    if (g->name[0] == '\0') {
        return config_fail(cx, v, "key '%s': name is required", key);
    }
    for (i = 0; i + 1 < r->ngroups; i++) {
        if (strcmp(r->groups[i].name, g->name) == 0) {
            return config_fail(cx, v, "key '%s': group '%s' given twice",
                key, g->name);
        }
    }
    return 0;
}

static int
person_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    struct item_ctx    *ic = arg;
    struct att_person  *p = ic->item;
    char                name[ATT_NAME_MAX];
    size_t              g;

    switch (i) {
    case 0: return get_curp(cx, key, v, p->curp);
    case 1: return get_text(cx, key, v, p->matricula, sizeof(p->matricula));
    case 2: return get_text(cx, key, v, p->name, sizeof(p->name));
    case 3: return ref_shift(cx, key, v, ic->r, &p->shift);
    case 4: return ref_site(cx, key, v, ic->r, &p->site);
    case 5:
        if (get_text(cx, key, v, name, sizeof(name)) != 0) {
            return -1;
        }
        for (g = 0; g < ic->r->ngroups; g++) {
            if (strcmp(ic->r->groups[g].name, name) == 0) {
                p->group = (int) g;
                return 0;
            }
        }
        return config_fail(cx, v, "key '%s': unknown group '%s' (groups "
            "must be listed before people)", key, name);
    default: return get_curp(cx, key, v, p->supervisor);
    }
}

static int
person_item(struct config_ctx *cx, const char *key, yaml_node_t *v,
    void *arg)
{
    static const char *const keys[] = { "curp", "matricula", "name",
                                        "shift", "site", "group",
                                        "supervisor" };
    struct att_rules   *r = arg;
    struct att_person  *p = grow((void **) &r->people, &r->npeople,
                                 sizeof(*p));
    struct item_ctx     ic = { r, p };

    if (p == NULL) {
        return config_fail(cx, v, "out of memory");
    }
    p->shift = p->site = p->group = -1;
    if (config_walk(cx, key, v, keys, 7, person_key, &ic) != 0) {
        return -1;
    }
    if (p->curp[0] == '\0') {
        return config_fail(cx, v, "key '%s': curp is required", key);
    }
    if (att_person_find(r, p->curp) != p) {
        return config_fail(cx, v, "key '%s': person %s given twice", key,
            p->curp);
    }
    if (p->matricula[0] && att_person_by_matricula(r, p->matricula) != p) {
        return config_fail(cx, v, "key '%s': matricula %s given twice", key,
            p->matricula);
    }
    if (strcmp(p->supervisor, p->curp) == 0) {
        return config_fail(cx, v, "key '%s': nobody supervises themselves",
            key);
    }
    return 0;
}

/* ---- the section -------------------------------------------------------- */

static int load_file(struct config_ctx *parent, yaml_node_t *at,
    const char *path, struct att_load *ld);

static int
section_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    struct att_load    *ld = arg;
    struct att_rules   *r = ld->r;
    struct att_policy  *p = &r->policy;
    static const char *const throttle_keys[] = { "threshold", "delay_s",
                                                 "disable_after" };
    static const char *const face_keys[] = { "model", "dim", "threshold" };
    char                path[4096];
    uint64_t            u;
    int                 n;

    switch (i) {
    case 0:
        if (get_text(cx, key, v, r->time_zone, sizeof(r->time_zone)) != 0) {
            return -1;
        }
        snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", r->time_zone);
        if (strstr(r->time_zone, "..") || access(path, R_OK) != 0) {
            return config_fail(cx, v, "key '%s': '%s' is not a time zone of "
                "the TZ database (%s)", key, r->time_zone, path);
        }
        return 0;
    case 1: return get_bool(cx, key, v, &r->test_clock);
    case 2:
        /* may be negative: a plain integer with an optional '-' */
        if (v->type == YAML_SCALAR_NODE && scalar_text(v)[0] == '-') {
            yaml_node_t  tmp = *v;

            tmp.data.scalar.value = v->data.scalar.value + 1;
            if (get_uint(cx, key, &tmp, 0, 366u * 86400u, &u) != 0) {
                return -1;
            }
            r->clock_offset_s = -(int64_t) u;
            return 0;
        }
        if (get_uint(cx, key, v, 0, 366u * 86400u, &u) != 0) {
            return -1;
        }
        r->clock_offset_s = (int64_t) u;
        return 0;
    case 3: return get_int(cx, key, v, 0, 720, &p->checkin_window_min);
    case 4: return get_int(cx, key, v, 0, 240, &p->tolerance_min);
    case 5: return get_int(cx, key, v, 0, 720, &p->late_max_min);
    case 6: return get_int(cx, key, v, 0, 720, &p->early_exit_min);
    case 7: return get_int(cx, key, v, 0, 720, &p->exit_window_min);
    case 8: return get_int(cx, key, v, 0, 240, &p->duplicate_window_min);
    case 9: return get_date(cx, key, v, &r->freeze_before);
    case 10: return config_walk(cx, key, v, throttle_keys, 3, throttle_key, r);
    case 11:
        if (get_int(cx, key, v, 1, 4096, &n) != 0) {
            return -1;
        }
        r->max_attachment_bytes = (unsigned) n * 1024u;
        return 0;
    case 12:
        if (get_int(cx, key, v, 1, 400, &n) != 0) {
            return -1;
        }
        r->max_query_days = (unsigned) n;
        return 0;
    case 13:
        if (each_item(cx, key, v, holiday_item, r) != 0) {
            return -1;
        }
        qsort(r->holidays, r->nholidays, sizeof(int32_t), cmp_day);
        return 0;
    case 14: return each_item(cx, key, v, reason_item, r);
    case 15: return each_item(cx, key, v, shift_item, r);
    case 16: return each_item(cx, key, v, site_item, r);
    case 17: return each_item(cx, key, v, group_item, r);
    case 18: return each_item(cx, key, v, person_item, r);
    case 19:
        if (config_walk(cx, key, v, face_keys, 3, face_key, r) != 0) {
            return -1;
        }
        if (r->face_model[0] == '\0' || r->face_dim == 0) {
            return config_fail(cx, v, "key '%s': model and dim are both "
                "required", key);
        }
        return 0;
    case 20: return get_bool(cx, key, v, &r->only_mapped_kiosks);
    default:
        if (get_path(cx, key, v, path, sizeof(path)) != 0) {
            return -1;
        }
        return load_file(cx, v, path, ld);
    }
}

static const char *const section_keys[] = {
    "time_zone", "test_clock", "clock_offset_s", "checkin_window_min",
    "tolerance_min", "late_max_min", "early_exit_min", "exit_window_min",
    "duplicate_window_min", "freeze_before", "throttle",
    "max_attachment_kib", "max_query_days", "holidays", "reasons", "shifts",
    "sites", "groups", "people", "face", "only_mapped_kiosks", "include"
};
#define SECTION_KEYS  (sizeof(section_keys) / sizeof(section_keys[0]))

static int
load_file(struct config_ctx *parent, yaml_node_t *at, const char *path,
    struct att_load *ld)
{
    FILE               *f;
    yaml_parser_t       parser;
    yaml_document_t     doc;
    struct config_ctx   cx = { path, &doc, parent->err, parent->errlen };
    yaml_node_t        *root;
    int                 rc;

    if (ld->depth >= ATT_INCLUDE_DEPTH) {
        return config_fail(parent, at, "key 'attendance.include': includes "
            "nest deeper than %d", ATT_INCLUDE_DEPTH);
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        return config_fail(parent, at, "key 'attendance.include': cannot "
            "open %s", path);
    }
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return config_fail(parent, at, "cannot initialise the YAML parser");
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        config_syntax_error(path, f, &parser, parent->err, parent->errlen);
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    root = yaml_document_get_root_node(&doc);
    ld->depth++;
    rc = root == NULL
        ? config_fail(&cx, NULL, "the file is empty (expected the keys of "
                      "the attendance section)")
        : config_walk(&cx, "attendance", root, section_keys, SECTION_KEYS,
              section_key, ld);
    ld->depth--;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int
config_load_attendance(struct config_ctx *cx, yaml_node_t *map,
    struct att_rules *r)
{
    struct att_load  ld = { r, 0 };

    if (config_walk(cx, "attendance", map, section_keys, SECTION_KEYS, section_key,
            &ld) != 0)
    {
        return -1;
    }
    if (r->policy.late_max_min < r->policy.tolerance_min) {
        return config_fail(cx, map, "key 'attendance.late_max_min': must be "
            "at least tolerance_min (%d)", r->policy.tolerance_min);
    }
    return 0;
}
