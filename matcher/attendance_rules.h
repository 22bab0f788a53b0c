/*
 * attendance_rules.h -- the attendance rules (issue 6): what a shift, a
 * site, a person's assignment and the institution's policy are, the civil
 * calendar arithmetic they need, and the pure function that turns one day
 * (a shift, the day's punches, holidays, justifications) into punch
 * classifications and incidents.
 *
 * Owns no I/O and no clock: times enter as "minutes after the local
 * midnight that starts the shift's day" (a night shift's exit at 06:00 the
 * next morning is minute 1800), so every rule can be unit tested with plain
 * numbers.  The YAML that fills struct att_rules is config_attendance.c's;
 * converting instants to local days and minutes is attendance.c's.
 */

#ifndef HUELLA_ATTENDANCE_RULES_H
#define HUELLA_ATTENDANCE_RULES_H

#include <stddef.h>
#include <stdint.h>

#define ATT_NAME_MAX        64       /* shift, site, group, kiosk ids */
#define ATT_LABEL_MAX       128
#define ATT_CURP_MAX        40
#define ATT_MATRICULA_MAX   64
#define ATT_KIOSKS_MAX      64       /* per site */
#define ATT_DAY_PUNCHES_MAX 64       /* punches considered per day */
#define ATT_NO_DAY          INT32_MIN

/* ---- the civil calendar (proleptic Gregorian, days since 1970-01-01) --- */

int32_t att_days_from_civil(int y, unsigned m, unsigned d);
void att_civil_from_days(int32_t days, int *y, unsigned *m, unsigned *d);
/* 0 = Sunday .. 6 = Saturday (as struct tm's tm_wday). */
unsigned att_weekday(int32_t days);
/* "YYYY-MM-DD" (exactly, a real date) -> days; ATT_NO_DAY when invalid. */
int32_t att_parse_date(const char *s, size_t len);
/* Writes "YYYY-MM-DD" (11 bytes with the NUL). */
void att_format_date(int32_t days, char out[11]);
/* "HH:MM", 00:00 .. 23:59 -> minutes; -1 when invalid. */
int att_parse_hhmm(const char *s);

/* ---- rules -------------------------------------------------------------- */

struct att_policy {
    int  checkin_window_min;   /* an entry may come this early */
    int  tolerance_min;        /* late by at most this: a_tiempo */
    int  late_max_min;         /* late by at most this: retardo; more: falta */
    int  early_exit_min;       /* leaving more than this before the end:
                                  salida_anticipada */
    int  exit_window_min;      /* punches up to this long after the end
                                  still belong to the shift */
    int  duplicate_window_min; /* a punch this soon after the last counted
                                  one is acknowledged, not counted */
};

struct att_shift {
    char     name[ATT_NAME_MAX];
    char     label[ATT_LABEL_MAX];      /* es-MX, the portal's first */
    char     label_en[ATT_LABEL_MAX];   /* English; "" = none given */
    int      start_min;        /* after the local midnight of its day */
    int      end_min;          /* > start_min; past 1440 when it crosses
                                  midnight (the shift belongs to the day
                                  it starts) */
    uint8_t  days;             /* bit w set: works on weekday w (0 = Sun) */
};

struct att_site {
    char      id[ATT_NAME_MAX];
    char      name[ATT_LABEL_MAX];
    char      kiosks[ATT_KIOSKS_MAX][ATT_NAME_MAX];
    unsigned  nkiosks;
};

struct att_group {
    char  name[ATT_NAME_MAX];
    int   shift;               /* index into shifts, -1 = none */
    int   site;                /* index into sites, -1 = none */
    char  supervisor[ATT_CURP_MAX];
};

struct att_person {
    char  curp[ATT_CURP_MAX];
    char  matricula[ATT_MATRICULA_MAX];
    char  name[ATT_LABEL_MAX];
    int   shift;               /* -1: the group's */
    int   site;                /* -1: the group's */
    int   group;               /* -1 = none */
    char  supervisor[ATT_CURP_MAX];   /* "": the group's */
};

struct att_reason {
    char  code[ATT_NAME_MAX];
    char  label[ATT_LABEL_MAX];         /* es-MX */
    char  label_en[ATT_LABEL_MAX];      /* English; "" = none given */
};

struct att_rules {
    char                time_zone[64];
    struct att_policy   policy;
    int                 test_clock;        /* TEST_NOW honoured */
    int                 only_mapped_kiosks;  /* a kiosk no site lists
                                                may not punch */
    int64_t             clock_offset_s;    /* added to the daemon's clock */
    int32_t             freeze_before;     /* days before it are frozen;
                                              ATT_NO_DAY = none */
    unsigned            throttle_threshold;  /* failures before waits */
    unsigned            throttle_delay_s;
    unsigned            disable_after;     /* consecutive failures of one
                                              person that disable their
                                              biometric punches */
    char                face_model[64];    /* "" = face punches refused */
    unsigned            face_dim;
    double              face_threshold;    /* cosine similarity */
    unsigned            max_attachment_bytes;
    unsigned            max_query_days;
    struct att_shift   *shifts;
    size_t              nshifts;
    struct att_site    *sites;
    size_t              nsites;
    struct att_group   *groups;
    size_t              ngroups;
    struct att_person  *people;
    size_t              npeople;
    struct att_reason  *reasons;
    size_t              nreasons;
    int32_t            *holidays;          /* sorted */
    size_t              nholidays;
};

void att_rules_defaults(struct att_rules *r);
void att_rules_free(struct att_rules *r);

const struct att_person *att_person_find(const struct att_rules *r,
    const char *curp);
const struct att_person *att_person_by_matricula(const struct att_rules *r,
    const char *matricula);
/* The person's effective shift (own, else the group's); NULL = none. */
const struct att_shift *att_person_shift(const struct att_rules *r,
    const struct att_person *p);
/* The person's effective site index, -1 = none. */
int att_person_site(const struct att_rules *r, const struct att_person *p);
/* The person's effective supervisor CURP ("" = none). */
const char *att_person_supervisor(const struct att_rules *r,
    const struct att_person *p);
/* 1 when `boss` is curp's supervisor, directly or further up the chain. */
int att_reports_to(const struct att_rules *r, const char *curp,
    const char *boss);
/* The site a kiosk belongs to, -1 = unknown kiosk. */
int att_site_of_kiosk(const struct att_rules *r, const char *kiosk);
int att_site_find(const struct att_rules *r, const char *id);
int att_shift_find(const struct att_rules *r, const char *name);
const struct att_reason *att_reason_find(const struct att_rules *r,
    const char *code);
/* The English label to show: label_en when one was given, else label (so
 * an English reader always has one to read). */
const char *att_shift_label_en(const struct att_shift *s);
const char *att_reason_label_en(const struct att_reason *rs);
int att_is_holiday(const struct att_rules *r, int32_t day);
/* The shift works on `day` (its weekday is one of the shift's days and
 * it is not a holiday). */
int att_scheduled(const struct att_rules *r, const struct att_shift *s,
    int32_t day);

/*
 * Which day a punch at local (day, minute) belongs to: yesterday when a
 * night shift that started yesterday is still within its exit window,
 * else today.  *minute_out is the minute relative to the chosen day.
 */
int32_t att_punch_day(const struct att_rules *r, const struct att_shift *s,
    int32_t day, int minute, int *minute_out);

/* ---- one day ------------------------------------------------------------ */

enum att_kind { ATT_KIND_NONE = 0, ATT_KIND_ENTRADA, ATT_KIND_SALIDA };

enum att_status {
    ATT_ST_A_TIEMPO = 0,
    ATT_ST_RETARDO,
    ATT_ST_FALTA,
    ATT_ST_SALIDA_ANTICIPADA,
    ATT_ST_DUPLICADA,
    ATT_ST_SIN_TURNO,          /* no shift that day (rest day, holiday) */
    ATT_ST_PERIODO_CERRADO     /* recorded after the day was frozen */
};

enum att_incident_kind {
    ATT_INC_RETARDO = 0,
    ATT_INC_FALTA,             /* no entry, or an entry past late_max */
    ATT_INC_SALIDA_ANTICIPADA,
    ATT_INC_OMISION_SALIDA,    /* an entry and no exit once the day is over */
    ATT_INC_COUNT
};

enum att_just_state {
    ATT_J_PENDIENTE = 0,
    ATT_J_JUSTIFICADA,         /* approved */
    ATT_J_RECHAZADA
};

/* A justification filed for the day: for one incident kind or all. */
struct att_just_in {
    int  kind;                 /* enum att_incident_kind, -1 = every one */
    int  state;                /* enum att_just_state */
};

struct att_day_in {
    const struct att_policy   *policy;
    const struct att_shift    *shift;       /* NULL: nobody assigned one */
    int                        scheduled;   /* the shift works this day */
    int                        holiday;
    int                        frozen;      /* before the freeze date */
    int                        now_min;     /* now, relative to this day */
    const int                 *punch_min;   /* ascending */
    const uint8_t             *punch_late;  /* 1: recorded after freezing;
                                               NULL = none */
    size_t                     npunches;    /* <= ATT_DAY_PUNCHES_MAX */
    const struct att_just_in  *justs;
    size_t                     njusts;
};

struct att_incident {
    int  kind;                 /* enum att_incident_kind */
    int  minutes;              /* late / early by; 0 for absences */
    int  state;                /* enum att_just_state */
};

struct att_day_out {
    uint8_t              kind[ATT_DAY_PUNCHES_MAX];    /* enum att_kind */
    uint8_t              status[ATT_DAY_PUNCHES_MAX];  /* enum att_status */
    int                  entries, exits;               /* counted punches */
    int                  entry_min, exit_min;          /* -1 = none */
    int                  worked;      /* came to work (a counted entry) */
    struct att_incident  incidents[ATT_INC_COUNT];
    unsigned             nincidents;
};

void att_day_compute(const struct att_day_in *in, struct att_day_out *out);

const char *att_kind_name(int kind);
const char *att_status_name(int status);
const char *att_incident_name(int kind);
/* -1 when unknown. */
int att_incident_parse(const char *name);
const char *att_just_state_name(int state);

#endif /* HUELLA_ATTENDANCE_RULES_H */
