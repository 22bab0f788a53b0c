/*
 * attendance_rules.c -- calendar arithmetic, rule lookups and the pure
 * day computation of attendance_rules.h.  Nothing here reads a clock, a
 * file or the database.
 */

#include "attendance_rules.h"

#include <stdlib.h>
#include <string.h>

/* ---- calendar (H. Hinnant's days_from_civil / civil_from_days) ---------- */

int32_t
att_days_from_civil(int y, unsigned m, unsigned d)
{
    int       era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t) (era * 146097 + (int) doe - 719468);
}

void
att_civil_from_days(int32_t days, int *y, unsigned *m, unsigned *d)
{
    int       z = days + 719468, era;
    unsigned  doe, yoe, doy, mp;

    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int) yoe + era * 400 + (*m <= 2);
}

unsigned
att_weekday(int32_t days)
{
    /* 1970-01-01 was a Thursday (4) */
    return (unsigned) (((days + 4) % 7 + 7) % 7);
}

static int
digits(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

int32_t
att_parse_date(const char *s, size_t len)
{
    int       y;
    unsigned  m, d, dim;
    static const unsigned char  mdays[12] = { 31, 28, 31, 30, 31, 30, 31,
                                              31, 30, 31, 30, 31 };

    if (len != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4)
        || !digits(s + 5, 2) || !digits(s + 8, 2))
    {
        return ATT_NO_DAY;
    }
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10
        + (s[3] - '0');
    m = (unsigned) ((s[5] - '0') * 10 + (s[6] - '0'));
    d = (unsigned) ((s[8] - '0') * 10 + (s[9] - '0'));
    if (y < 1900 || m < 1 || m > 12) {
        return ATT_NO_DAY;
    }
    dim = mdays[m - 1] + (m == 2 && (y % 4 == 0
                                     && (y % 100 != 0 || y % 400 == 0)));
    if (d < 1 || d > dim) {
        return ATT_NO_DAY;
    }
    return att_days_from_civil(y, m, d);
}

void
att_format_date(int32_t days, char out[11])
{
    int       y;
    unsigned  m, d;

    att_civil_from_days(days, &y, &m, &d);
    out[0] = (char) ('0' + (y / 1000) % 10);
    out[1] = (char) ('0' + (y / 100) % 10);
    out[2] = (char) ('0' + (y / 10) % 10);
    out[3] = (char) ('0' + y % 10);
    out[4] = '-';
    out[5] = (char) ('0' + m / 10);
    out[6] = (char) ('0' + m % 10);
    out[7] = '-';
    out[8] = (char) ('0' + d / 10);
    out[9] = (char) ('0' + d % 10);
    out[10] = '\0';
}

int
att_parse_hhmm(const char *s)
{
    int  h, m;

    if (strlen(s) != 5 || s[2] != ':' || !digits(s, 2) || !digits(s + 3, 2))
    {
        return -1;
    }
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

/* ---- rules -------------------------------------------------------------- */

void
att_rules_defaults(struct att_rules *r)
{
    memset(r, 0, sizeof(*r));
    memcpy(r->time_zone, "America/Mexico_City", 20);
    r->policy.checkin_window_min = 60;
    r->policy.tolerance_min = 10;
    r->policy.late_max_min = 30;
    r->policy.early_exit_min = 0;
    r->policy.exit_window_min = 240;
    r->policy.duplicate_window_min = 5;
    r->freeze_before = ATT_NO_DAY;
    r->throttle_threshold = 5;
    r->throttle_delay_s = 30;
    r->disable_after = 50;
    r->face_threshold = 0.80;
    r->max_attachment_bytes = 512 * 1024;
    r->max_query_days = 62;
}

void
att_rules_free(struct att_rules *r)
{
    free(r->shifts);
    free(r->sites);
    free(r->groups);
    free(r->people);
    free(r->reasons);
    free(r->holidays);
    att_rules_defaults(r);
}

const struct att_person *
att_person_find(const struct att_rules *r, const char *curp)
{
    size_t  i;

    for (i = 0; i < r->npeople; i++) {
        if (strcmp(r->people[i].curp, curp) == 0) {
            return &r->people[i];
        }
    }
    return NULL;
}

const struct att_person *
att_person_by_matricula(const struct att_rules *r, const char *matricula)
{
    size_t  i;

    for (i = 0; i < r->npeople; i++) {
        if (r->people[i].matricula[0]
            && strcmp(r->people[i].matricula, matricula) == 0)
        {
            return &r->people[i];
        }
    }
    return NULL;
}

const struct att_shift *
att_person_shift(const struct att_rules *r, const struct att_person *p)
{
    int  s;

    if (p == NULL) {
        return NULL;
    }
    s = p->shift;
    if (s < 0 && p->group >= 0) {
        s = r->groups[p->group].shift;
    }
    return s >= 0 ? &r->shifts[s] : NULL;
}

int
att_person_site(const struct att_rules *r, const struct att_person *p)
{
    if (p == NULL) {
        return -1;
    }
    if (p->site < 0 && p->group >= 0) {
        return r->groups[p->group].site;
    }
    return p->site;
}

const char *
att_person_supervisor(const struct att_rules *r, const struct att_person *p)
{
    if (p == NULL) {
        return "";
    }
    if (p->supervisor[0] == '\0' && p->group >= 0) {
        return r->groups[p->group].supervisor;
    }
    return p->supervisor;
}

int
att_reports_to(const struct att_rules *r, const char *curp, const char *boss)
{
    const char  *up = curp;
    size_t       hops;

    /* bounded walk: a cycle in the configuration cannot loop forever */
    for (hops = 0; hops <= r->npeople; hops++) {
        up = att_person_supervisor(r, att_person_find(r, up));
        if (up[0] == '\0') {
            return 0;
        }
        if (strcmp(up, boss) == 0) {
            return 1;
        }
    }
    return 0;
}

int
att_site_of_kiosk(const struct att_rules *r, const char *kiosk)
{
    size_t    i;
    unsigned  k;

    for (i = 0; i < r->nsites; i++) {
        for (k = 0; k < r->sites[i].nkiosks; k++) {
            if (strcmp(r->sites[i].kiosks[k], kiosk) == 0) {
                return (int) i;
            }
        }
    }
    return -1;
}

int
att_site_find(const struct att_rules *r, const char *id)
{
    size_t  i;

    for (i = 0; i < r->nsites; i++) {
        if (strcmp(r->sites[i].id, id) == 0) {
            return (int) i;
        }
    }
    return -1;
}

int
att_shift_find(const struct att_rules *r, const char *name)
{
    size_t  i;

    for (i = 0; i < r->nshifts; i++) {
        if (strcmp(r->shifts[i].name, name) == 0) {
            return (int) i;
        }
    }
    return -1;
}

const struct att_reason *
att_reason_find(const struct att_rules *r, const char *code)
{
    size_t  i;

    for (i = 0; i < r->nreasons; i++) {
        if (strcmp(r->reasons[i].code, code) == 0) {
            return &r->reasons[i];
        }
    }
    return NULL;
}

const char *
att_shift_label_en(const struct att_shift *s)
{
    return s->label_en[0] ? s->label_en : s->label;
}

const char *
att_reason_label_en(const struct att_reason *rs)
{
    return rs->label_en[0] ? rs->label_en : rs->label;
}

int
att_is_holiday(const struct att_rules *r, int32_t day)
{
    size_t  lo = 0, hi = r->nholidays, mid;

    while (lo < hi) {
        mid = (lo + hi) / 2;
        if (r->holidays[mid] == day) {
            return 1;
        }
        if (r->holidays[mid] < day) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 0;
}

int
att_scheduled(const struct att_rules *r, const struct att_shift *s,
    int32_t day)
{
    return s != NULL && (s->days & (1u << att_weekday(day)))
           && !att_is_holiday(r, day);
}

int32_t
att_punch_day(const struct att_rules *r, const struct att_shift *s,
    int32_t day, int minute, int *minute_out)
{
    if (s != NULL && s->end_min > 1440 && att_scheduled(r, s, day - 1)
        && minute + 1440 <= s->end_min + r->policy.exit_window_min)
    {
        /* still inside the window of the night shift that began yesterday;
         * unless today's own shift has already opened its check-in window
         * (a short rest between two night shifts) */
        if (!(att_scheduled(r, s, day)
              && minute >= s->start_min - r->policy.checkin_window_min))
        {
            *minute_out = minute + 1440;
            return day - 1;
        }
    }
    *minute_out = minute;
    return day;
}

/* ---- one day ------------------------------------------------------------ */

static int
incident_state(const struct att_day_in *in, int kind)
{
    size_t  i;
    int     pending = 0, rejected = 0;

    for (i = 0; i < in->njusts; i++) {
        if (in->justs[i].kind != -1 && in->justs[i].kind != kind) {
            continue;
        }
        if (in->justs[i].state == ATT_J_JUSTIFICADA) {
            return ATT_J_JUSTIFICADA;
        }
        pending |= in->justs[i].state == ATT_J_PENDIENTE;
        rejected |= in->justs[i].state == ATT_J_RECHAZADA;
    }
    /* a newer pending justification reopens a rejected one */
    return pending || !rejected ? ATT_J_PENDIENTE : ATT_J_RECHAZADA;
}

static void
add_incident(const struct att_day_in *in, struct att_day_out *out, int kind,
    int minutes)
{
    struct att_incident  *inc = &out->incidents[out->nincidents++];

    inc->kind = kind;
    inc->minutes = minutes;
    inc->state = incident_state(in, kind);
}

void
att_day_compute(const struct att_day_in *in, struct att_day_out *out)
{
    const struct att_policy  *p = in->policy;
    const struct att_shift   *s = in->shift;
    size_t                    i, n = in->npunches;
    int                       works, m, last = -1, last_kind = 0;
    int                       entry_status = -1;

    memset(out, 0, sizeof(*out));
    out->entry_min = out->exit_min = -1;
    if (n > ATT_DAY_PUNCHES_MAX) {
        n = ATT_DAY_PUNCHES_MAX;
    }
    works = s != NULL && in->scheduled && !in->holiday;

    for (i = 0; i < n; i++) {
        m = in->punch_min[i];
        if (in->frozen && in->punch_late && in->punch_late[i]) {
            /* the day was closed when this arrived: only an approved
             * justification may change a frozen day */
            out->kind[i] = ATT_KIND_NONE;
            out->status[i] = ATT_ST_PERIODO_CERRADO;
            continue;
        }
        if (last >= 0 && m - last < p->duplicate_window_min) {
            out->kind[i] = (uint8_t) last_kind;
            out->status[i] = ATT_ST_DUPLICADA;
            continue;
        }
        last = m;
        if (out->entries == 0) {
            out->entries = 1;
            out->entry_min = m;
            out->kind[i] = ATT_KIND_ENTRADA;
            if (!works) {
                out->status[i] = ATT_ST_SIN_TURNO;
            } else if (m - s->start_min <= p->tolerance_min) {
                out->status[i] = ATT_ST_A_TIEMPO;
            } else if (m - s->start_min <= p->late_max_min) {
                out->status[i] = ATT_ST_RETARDO;
            } else {
                out->status[i] = ATT_ST_FALTA;
            }
            entry_status = out->status[i];
        } else {
            out->exits++;
            out->exit_min = m;
            out->kind[i] = ATT_KIND_SALIDA;
            if (!works) {
                out->status[i] = ATT_ST_SIN_TURNO;
            } else if (m < s->end_min - p->early_exit_min) {
                out->status[i] = ATT_ST_SALIDA_ANTICIPADA;
            } else {
                out->status[i] = ATT_ST_A_TIEMPO;
            }
        }
        last_kind = out->kind[i];
    }
    out->worked = out->entries > 0;
    if (!works) {
        return;
    }

    if (out->entries == 0) {
        /* absent once the window for an entry has closed */
        if (in->now_min > s->start_min + p->late_max_min) {
            add_incident(in, out, ATT_INC_FALTA, 0);
        }
        return;
    }
    if (entry_status == ATT_ST_RETARDO) {
        add_incident(in, out, ATT_INC_RETARDO, out->entry_min - s->start_min);
    } else if (entry_status == ATT_ST_FALTA) {
        add_incident(in, out, ATT_INC_FALTA, out->entry_min - s->start_min);
    }
    if (out->exits > 0) {
        if (out->exit_min < s->end_min - p->early_exit_min) {
            add_incident(in, out, ATT_INC_SALIDA_ANTICIPADA,
                s->end_min - out->exit_min);
        }
    } else if (in->now_min > s->end_min + p->exit_window_min) {
        add_incident(in, out, ATT_INC_OMISION_SALIDA, 0);
    }
}

/* ---- names -------------------------------------------------------------- */

const char *
att_kind_name(int kind)
{
    switch (kind) {
    case ATT_KIND_ENTRADA: return "entrada";
    case ATT_KIND_SALIDA: return "salida";
    default: return "ninguna";
    }
}

const char *
att_status_name(int status)
{
    switch (status) {
    case ATT_ST_A_TIEMPO: return "a_tiempo";
    case ATT_ST_RETARDO: return "retardo";
    case ATT_ST_FALTA: return "falta";
    case ATT_ST_SALIDA_ANTICIPADA: return "salida_anticipada";
    case ATT_ST_DUPLICADA: return "duplicada";
    case ATT_ST_SIN_TURNO: return "sin_turno";
    default: return "periodo_cerrado";
    }
}

static const char *const incident_names[ATT_INC_COUNT] = {
    "retardo", "falta", "salida_anticipada", "omision_salida"
};

const char *
att_incident_name(int kind)
{
    return kind >= 0 && kind < ATT_INC_COUNT ? incident_names[kind] : "?";
}

int
att_incident_parse(const char *name)
{
    int  i;

    for (i = 0; i < ATT_INC_COUNT; i++) {
        if (strcmp(incident_names[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *
att_just_state_name(int state)
{
    switch (state) {
    case ATT_J_JUSTIFICADA: return "justificada";
    case ATT_J_RECHAZADA: return "rechazada";
    default: return "pendiente";
    }
}
