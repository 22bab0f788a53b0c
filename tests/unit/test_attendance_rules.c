/*
 * test_attendance_rules.c -- the pure rules of attendance_rules.c: the
 * calendar, which day a punch belongs to, and one test per rule of the day
 * computation (on time, late, absent, night shift across midnight,
 * duplicate punch, frozen period, holiday, early exit, missing exit,
 * approved / rejected justification).
 */

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "attendance_rules.h"

#define H(h, m)  ((h) * 60 + (m))

static struct att_rules   rules;
static struct att_shift   day_shift, night_shift;

static void
setup(void)
{
    att_rules_defaults(&rules);
    memset(&day_shift, 0, sizeof(day_shift));
    strcpy(day_shift.name, "matutino");
    day_shift.start_min = H(8, 0);
    day_shift.end_min = H(16, 0);
    day_shift.days = 0x3e;                 /* Monday .. Friday */
    memset(&night_shift, 0, sizeof(night_shift));
    strcpy(night_shift.name, "nocturno");
    night_shift.start_min = H(22, 0);
    night_shift.end_min = H(24 + 6, 0);    /* 06:00 next morning */
    night_shift.days = 0x7f;
}

static void
compute(const struct att_shift *s, const int *mins, size_t n, int now_min,
    const struct att_just_in *justs, size_t nj, struct att_day_out *out)
{
    struct att_day_in  in = { 0 };

    in.policy = &rules.policy;
    in.shift = s;
    in.scheduled = 1;
    in.now_min = now_min;
    in.punch_min = mins;
    in.npunches = n;
    in.justs = justs;
    in.njusts = nj;
    att_day_compute(&in, out);
}

START_TEST(calendar)
{
    int       y;
    unsigned  m, d;
    char      buf[11];
    int32_t   day = att_parse_date("2025-03-10", 10);

    ck_assert_int_eq(att_days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(att_weekday(0), 4);                 /* Thursday */
    ck_assert_int_eq(att_weekday(day), 1);               /* Monday */
    ck_assert_int_eq(att_weekday(-1), 3);
    att_civil_from_days(day, &y, &m, &d);
    ck_assert(y == 2025 && m == 3 && d == 10);
    att_format_date(day + 22, buf);
    ck_assert_str_eq(buf, "2025-04-01");
    ck_assert_int_eq(att_parse_date("2024-02-29", 10),
        att_days_from_civil(2024, 2, 29));
    ck_assert_int_eq(att_parse_date("2025-02-29", 10), ATT_NO_DAY);
    ck_assert_int_eq(att_parse_date("2025-13-01", 10), ATT_NO_DAY);
    ck_assert_int_eq(att_parse_date("2025-1-01", 9), ATT_NO_DAY);
    ck_assert_int_eq(att_parse_hhmm("22:30"), H(22, 30));
    ck_assert_int_eq(att_parse_hhmm("24:00"), -1);
}
END_TEST

START_TEST(on_time_and_normal_exit)
{
    int                 p[] = { H(7, 50), H(16, 2) };
    struct att_day_out  o;

    compute(&day_shift, p, 2, H(23, 0), NULL, 0, &o);
    ck_assert_int_eq(o.kind[0], ATT_KIND_ENTRADA);
    ck_assert_int_eq(o.status[0], ATT_ST_A_TIEMPO);
    ck_assert_int_eq(o.kind[1], ATT_KIND_SALIDA);
    ck_assert_int_eq(o.status[1], ATT_ST_A_TIEMPO);
    ck_assert_int_eq(o.nincidents, 0);
    ck_assert_int_eq(o.worked, 1);
}
END_TEST

START_TEST(tolerance_late_and_falta)
{
    int                 tol[] = { H(8, 10) }, late[] = { H(8, 11) },
                        edge[] = { H(8, 30) }, falta[] = { H(8, 31) };
    struct att_day_out  o;

    compute(&day_shift, tol, 1, H(9, 0), NULL, 0, &o);
    ck_assert_int_eq(o.status[0], ATT_ST_A_TIEMPO);
    ck_assert_int_eq(o.nincidents, 0);

    compute(&day_shift, late, 1, H(9, 0), NULL, 0, &o);
    ck_assert_int_eq(o.status[0], ATT_ST_RETARDO);
    ck_assert_int_eq(o.nincidents, 1);
    ck_assert_int_eq(o.incidents[0].kind, ATT_INC_RETARDO);
    ck_assert_int_eq(o.incidents[0].minutes, 11);
    ck_assert_int_eq(o.incidents[0].state, ATT_J_PENDIENTE);

    compute(&day_shift, edge, 1, H(9, 0), NULL, 0, &o);
    ck_assert_int_eq(o.status[0], ATT_ST_RETARDO);

    compute(&day_shift, falta, 1, H(9, 0), NULL, 0, &o);
    ck_assert_int_eq(o.status[0], ATT_ST_FALTA);
    ck_assert_int_eq(o.incidents[0].kind, ATT_INC_FALTA);
    ck_assert_int_eq(o.incidents[0].minutes, 31);
}
END_TEST

START_TEST(absent_only_after_the_window)
{
    struct att_day_out  o;

    compute(&day_shift, NULL, 0, H(8, 20), NULL, 0, &o);
    ck_assert_int_eq(o.nincidents, 0);     /* may still arrive (retardo) */
    compute(&day_shift, NULL, 0, H(8, 31), NULL, 0, &o);
    ck_assert_int_eq(o.nincidents, 1);
    ck_assert_int_eq(o.incidents[0].kind, ATT_INC_FALTA);
    ck_assert_int_eq(o.incidents[0].minutes, 0);
    ck_assert_int_eq(o.worked, 0);
    /* a future day has nothing */
    compute(&day_shift, NULL, 0, -H(10, 0), NULL, 0, &o);
    ck_assert_int_eq(o.nincidents, 0);
}
END_TEST

START_TEST(night_shift_across_midnight)
{
    /* entry 21:55, exit 06:03 the next morning: one day, no incident */
    int                 p[] = { H(21, 55), H(24 + 6, 3) };
    struct att_day_out  o;
    int                 m;
    int32_t             mon = att_parse_date("2025-03-10", 10), d;

    compute(&night_shift, p, 2, H(24 + 12, 0), NULL, 0, &o);
    ck_assert_int_eq(o.kind[0], ATT_KIND_ENTRADA);
    ck_assert_int_eq(o.status[0], ATT_ST_A_TIEMPO);
    ck_assert_int_eq(o.kind[1], ATT_KIND_SALIDA);
    ck_assert_int_eq(o.status[1], ATT_ST_A_TIEMPO);
    ck_assert_int_eq(o.nincidents, 0);

    /* the 06:03 punch on Tuesday belongs to Monday's shift */
    d = att_punch_day(&rules, &night_shift, mon + 1, H(6, 3), &m);
    ck_assert_int_eq(d, mon);
    ck_assert_int_eq(m, H(24 + 6, 3));
    /* 21:55 on Tuesday opens Tuesday's shift */
    d = att_punch_day(&rules, &night_shift, mon + 1, H(21, 55), &m);
    ck_assert_int_eq(d, mon + 1);
    ck_assert_int_eq(m, H(21, 55));
    /* past the exit window (06:00 + 4 h): today's */
    d = att_punch_day(&rules, &night_shift, mon + 1, H(10, 30), &m);
    ck_assert_int_eq(d, mon + 1);
    /* a day shift never reaches back */
    d = att_punch_day(&rules, &day_shift, mon + 1, H(1, 0), &m);
    ck_assert_int_eq(d, mon + 1);

    /* leaving at 05:00 is an early exit of Monday's shift */
    p[1] = H(24 + 5, 0);
    compute(&night_shift, p, 2, H(24 + 12, 0), NULL, 0, &o);
    ck_assert_int_eq(o.status[1], ATT_ST_SALIDA_ANTICIPADA);
    ck_assert_int_eq(o.incidents[0].kind, ATT_INC_SALIDA_ANTICIPADA);
    ck_assert_int_eq(o.incidents[0].minutes, 60);
}
END_TEST

START_TEST(duplicate_punch)
{
    int                 p[] = { H(7, 58), H(8, 1), H(16, 5), H(16, 7) };
    struct att_day_out  o;

    compute(&day_shift, p, 4, H(23, 0), NULL, 0, &o);
    ck_assert_int_eq(o.kind[0], ATT_KIND_ENTRADA);
    ck_assert_int_eq(o.status[1], ATT_ST_DUPLICADA);
    ck_assert_int_eq(o.kind[1], ATT_KIND_ENTRADA);
    ck_assert_int_eq(o.kind[2], ATT_KIND_SALIDA);
    ck_assert_int_eq(o.status[3], ATT_ST_DUPLICADA);
    ck_assert_int_eq(o.entries, 1);
    ck_assert_int_eq(o.exits, 1);
    ck_assert_int_eq(o.nincidents, 0);
}
END_TEST

START_TEST(early_exit_and_missing_exit)
{
    int                 p[] = { H(8, 0), H(15, 0) }, only[] = { H(8, 0) };
    struct att_day_out  o;

    compute(&day_shift, p, 2, H(23, 0), NULL, 0, &o);
    ck_assert_int_eq(o.status[1], ATT_ST_SALIDA_ANTICIPADA);
    ck_assert_int_eq(o.nincidents, 1);
    ck_assert_int_eq(o.incidents[0].kind, ATT_INC_SALIDA_ANTICIPADA);
    ck_assert_int_eq(o.incidents[0].minutes, 60);

    compute(&day_shift, only, 1, H(19, 0), NULL, 0, &o);
    ck_assert_int_eq(o.nincidents, 0);   /* exit window still open */
    compute(&day_shift, only, 1, H(20, 1), NULL, 0, &o);
    ck_assert_int_eq(o.nincidents, 1);
    ck_assert_int_eq(o.incidents[0].kind, ATT_INC_OMISION_SALIDA);
}
END_TEST

START_TEST(holiday_and_rest_day)
{
    struct att_day_in   in = { 0 };
    struct att_day_out  o;
    int                 p[] = { H(9, 0) };
    int32_t             holiday = att_parse_date("2025-03-17", 10);

    rules.holidays = &holiday;
    rules.nholidays = 1;
    ck_assert(!att_scheduled(&rules, &day_shift, holiday));
    ck_assert(att_scheduled(&rules, &day_shift, holiday + 1));
    ck_assert(!att_scheduled(&rules, &day_shift, holiday - 1)); /* Sunday */
    rules.holidays = NULL;
    rules.nholidays = 0;

    in.policy = &rules.policy;
    in.shift = &day_shift;
    in.scheduled = 1;
    in.holiday = 1;
    in.now_min = H(23, 0);
    compute(&day_shift, NULL, 0, 0, NULL, 0, &o);
    att_day_compute(&in, &o);
    ck_assert_int_eq(o.nincidents, 0);             /* no absence */
    in.punch_min = p;
    in.npunches = 1;
    att_day_compute(&in, &o);
    ck_assert_int_eq(o.status[0], ATT_ST_SIN_TURNO);
    ck_assert_int_eq(o.nincidents, 0);
}
END_TEST

START_TEST(frozen_period)
{
    struct att_day_in   in = { 0 };
    struct att_day_out  o;
    int                 p[] = { H(8, 0), H(16, 0) };
    uint8_t             late[] = { 0, 1 };
    struct att_just_in  ok = { ATT_INC_OMISION_SALIDA, ATT_J_JUSTIFICADA };

    in.policy = &rules.policy;
    in.shift = &day_shift;
    in.scheduled = 1;
    in.frozen = 1;
    in.now_min = 5 * 1440;
    in.punch_min = p;
    in.punch_late = late;
    in.npunches = 2;
    att_day_compute(&in, &o);
    /* the exit recorded after the freeze does not count */
    ck_assert_int_eq(o.status[1], ATT_ST_PERIODO_CERRADO);
    ck_assert_int_eq(o.exits, 0);
    ck_assert_int_eq(o.nincidents, 1);
    ck_assert_int_eq(o.incidents[0].kind, ATT_INC_OMISION_SALIDA);
    ck_assert_int_eq(o.incidents[0].state, ATT_J_PENDIENTE);
    /* only an approved justification changes the frozen day */
    in.justs = &ok;
    in.njusts = 1;
    att_day_compute(&in, &o);
    ck_assert_int_eq(o.incidents[0].state, ATT_J_JUSTIFICADA);
    /* the same punch on an open day counts */
    in.frozen = 0;
    att_day_compute(&in, &o);
    ck_assert_int_eq(o.exits, 1);
    ck_assert_int_eq(o.nincidents, 0);
}
END_TEST

START_TEST(justification_states)
{
    int                 p[] = { H(8, 20), H(16, 0) };
    struct att_day_out  o;
    struct att_just_in  rej = { -1, ATT_J_RECHAZADA },
                        two[] = { { ATT_INC_RETARDO, ATT_J_RECHAZADA },
                                  { ATT_INC_RETARDO, ATT_J_JUSTIFICADA } },
                        other = { ATT_INC_FALTA, ATT_J_JUSTIFICADA },
                        reopen[] = { { -1, ATT_J_RECHAZADA },
                                     { -1, ATT_J_PENDIENTE } };

    compute(&day_shift, p, 2, H(23, 0), &rej, 1, &o);
    ck_assert_int_eq(o.incidents[0].state, ATT_J_RECHAZADA);
    compute(&day_shift, p, 2, H(23, 0), two, 2, &o);
    ck_assert_int_eq(o.incidents[0].state, ATT_J_JUSTIFICADA);
    compute(&day_shift, p, 2, H(23, 0), &other, 1, &o);
    ck_assert_int_eq(o.incidents[0].state, ATT_J_PENDIENTE);
    compute(&day_shift, p, 2, H(23, 0), reopen, 2, &o);
    ck_assert_int_eq(o.incidents[0].state, ATT_J_PENDIENTE);
}
END_TEST

START_TEST(supervisor_chain)
{
    struct att_person  people[3];

    memset(people, 0, sizeof(people));
    strcpy(people[0].curp, "A");
    strcpy(people[0].supervisor, "B");
    strcpy(people[1].curp, "B");
    strcpy(people[1].supervisor, "C");
    strcpy(people[2].curp, "C");
    strcpy(people[2].supervisor, "A");     /* a cycle must not hang */
    people[0].group = people[1].group = people[2].group = -1;
    rules.people = people;
    rules.npeople = 3;
    ck_assert(att_reports_to(&rules, "A", "B"));
    ck_assert(att_reports_to(&rules, "A", "C"));
    ck_assert(!att_reports_to(&rules, "A", "Z"));
    ck_assert(!att_reports_to(&rules, "Z", "A"));
    rules.people = NULL;
    rules.npeople = 0;
}
END_TEST

static Suite *
rules_suite(void)
{
    Suite  *s = suite_create("attendance_rules");
    TCase  *tc = tcase_create("rules");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, calendar);
    tcase_add_test(tc, on_time_and_normal_exit);
    tcase_add_test(tc, tolerance_late_and_falta);
    tcase_add_test(tc, absent_only_after_the_window);
    tcase_add_test(tc, night_shift_across_midnight);
    tcase_add_test(tc, duplicate_punch);
    tcase_add_test(tc, early_exit_and_missing_exit);
    tcase_add_test(tc, holiday_and_rest_day);
    tcase_add_test(tc, frozen_period);
    tcase_add_test(tc, justification_states);
    tcase_add_test(tc, supervisor_chain);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner  *sr = srunner_create(rules_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
