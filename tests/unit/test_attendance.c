/*
 * test_attendance.c -- the attendance ops end to end against a real
 * huellad (forked, so it can be killed with -9) loaded with the demo
 * institution (config/attendance-demo.yaml) and the test clock: punches
 * with real FVC2002 templates (1:N over the roster and the gallery, 1:1 by
 * matricula), entrada/salida and statuses, duplicate, night shift across
 * midnight, throttling, consultation and who may see it, justification
 * filed / refused / approved and the day recomputed, notifications,
 * reports in JSON and CSV, and an acknowledged punch surviving kill -9;
 * rules changed by an admin (applied at once, refused whole, replayed
 * after kill -9, swapped under concurrent readers), biometric punches
 * disabled after 50 failures and re-enabled, face fields refused.
 */

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attendance_rules.h"
#include "config.h"
#include "huella_ipc.h"
#include "ipc_client.h"
#include "ipc_server.h"
#include "ops.h"
#include "search.h"
#include "testd.h"
#include "testd_calls.h"

#define JUAN    "GARJ850312HDFRMN07"    /* supervisor, central, matutino */
#define MARIA   "LOHM900725MJCPRR00"    /* reports to Juan */
#define CARLOS  "MASC781104HNLRNR00"    /* reports to Juan */
#define JORGE   "GOTJ750121HGTNRR00"    /* vigilancia: nocturno */
#define KIOSK   "kiosk-central-1"

/* Local (America/Mexico_City, UTC-6 all year since 2022) to unix time. */
static uint64_t
at(int y, unsigned m, unsigned d, int hh, int mm)
{
    return (uint64_t) ((int64_t) att_days_from_civil(y, m, d) * 86400
                       + (hh * 60 + mm) * 60 + 6 * 3600);
}

/* The demo institution and the test clock, from a huella.yaml in dir. */
static void
configure(struct hd_config *cfg)
{
    char   err[512], path[128];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/huella.yaml", dir);
    f = fopen(path, "w");
    if (f == NULL) {
        _exit(1);
    }
    fprintf(f, "attendance:\n  test_clock: true\n"
        "  face:\n    model: face-api-128\n    dim: 4\n"
        "    threshold: 0.9\n"
        "  include: config/attendance-demo.yaml\n");
    fclose(f);
    if (config_load(path, cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "test server config: %s\n", err);
        _exit(1);
    }
    snprintf(cfg->enroll.receipt_key_file, PATH_MAX, "%s/receipt.pem", dir);
    snprintf(cfg->identity.outbox_dir, PATH_MAX, "%s/outbox", dir);
    snprintf(cfg->identity.registry_file, PATH_MAX, "config/registry.tsv");
}

/* The same, with the 1:N pre-filter on however small the gallery. */
static void
configure_prefiltered(struct hd_config *cfg)
{
    configure(cfg);
    search_set_prefilter_min(1);
}

static int prefiltered;

static void
start_server(void)
{
    testd_fork(prefiltered ? configure_prefiltered : configure);
    cl = testd_connect(300);
}


static uint32_t
rep_u32(uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n, v = 0;

    ck_assert_msg(hipc_find(rep, rep_len, tag, &d, &n) == 1, "tag %u absent",
        tag);
    ck_assert_int_eq(hipc_get_u32(d, n, &v), 0);
    return v;
}

static json_t *
rep_json(void)
{
    static char  buf[HIPC_PAYLOAD_MAX];
    json_t      *doc;

    rep_str(HIPC_F_JSON, buf, sizeof(buf));
    doc = json_loads(buf, 0, NULL);
    ck_assert_msg(doc != NULL, "reply is not JSON: %s", buf);
    return doc;
}

static size_t
read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE    *f = fopen(path, "rb");
    size_t   n;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void
enroll(const char *curp, int subject)
{
    uint8_t  t[8192];
    char     path[64];
    size_t   n;

    snprintf(path, sizeof(path), "config/demo/fingers/%d_1.iso", subject);
    n = read_file(path, t, sizeof(t));
    begin();
    s(HIPC_F_CURP, curp);
    ck_assert_int_eq(call(HIPC_OP_SUBJECT_CREATE), HIPC_ST_OK);
    begin();
    s(HIPC_F_CURP, curp);
    hipc_put_u32(&rw, HIPC_F_POSITION, 2);
    hipc_put_u32(&rw, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(&rw, HIPC_F_TEMPLATE, t, n);
    ck_assert_int_eq(call(HIPC_OP_FINGER_PUT), HIPC_ST_OK);
}

static void
setup(void)
{
    testd_mkdir("/tmp/huella-att-XXXXXX");
    start_server();
    enroll(JUAN, 101);
    enroll(MARIA, 102);
    enroll(CARLOS, 103);
    enroll(JORGE, 107);
}

static void
setup_prefiltered(void)
{
    prefiltered = 1;
    setup();
}

static void
teardown(void)
{
    kill_server();
    testd_rmdir();
}

/* A punch with the second impression of `subject`'s finger (impression 1
 * is enrolled) or, with impression 0, someone never enrolled. */
static int
punch(int subject, int impression, const char *matricula, const char *kiosk,
    uint64_t when)
{
    uint8_t  t[8192];
    char     path[64];
    size_t   n;

    snprintf(path, sizeof(path), "config/demo/fingers/%d_%d.iso", subject,
        impression);
    n = read_file(path, t, sizeof(t));
    begin();
    hipc_put_u32(&rw, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(&rw, HIPC_F_TEMPLATE, t, n);
    s(HIPC_F_DEVICE_ID, kiosk);
    if (matricula) {
        s(HIPC_F_MATRICULA, matricula);
    }
    hipc_put_u64(&rw, HIPC_F_TEST_NOW, when);
    return call(HIPC_OP_PUNCH);
}

static void
expect_punch(const char *curp, const char *kind, const char *st)
{
    char  got[256];

    ck_assert_msg(status == HIPC_ST_OK, "punch status %d", status);
    rep_str(HIPC_F_CURP, got, sizeof(got));
    ck_assert_str_eq(got, curp);
    rep_str(HIPC_F_KIND, got, sizeof(got));
    ck_assert_str_eq(got, kind);
    rep_str(HIPC_F_PUNCH_STATUS, got, sizeof(got));
    ck_assert_str_eq(got, st);
}

static int
query(const char *curp, const char *from, const char *to, const char *actor,
    const char *roles, uint64_t now)
{
    begin();
    s(HIPC_F_CURP, curp);
    s(HIPC_F_FROM, from);
    s(HIPC_F_TO, to);
    s(HIPC_F_ACTOR, actor);
    s(HIPC_F_ROLES, roles);
    hipc_put_u64(&rw, HIPC_F_TEST_NOW, now);
    return call(HIPC_OP_ATTENDANCE_QUERY);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(punch_entry_duplicate_exit)
{
    char  got[256];

    /* Monday 2025-03-10, 1:N over the central roster */
    ck_assert_int_eq(punch(101, 2, NULL, KIOSK, at(2025, 3, 10, 7, 55)),
        HIPC_ST_OK);
    expect_punch(JUAN, "entrada", "a_tiempo");
    rep_str(HIPC_F_AT, got, sizeof(got));
    ck_assert_str_eq(got, "2025-03-10T07:55:00-06:00");
    rep_str(HIPC_F_NAME, got, sizeof(got));
    rep_str(HIPC_F_FOLIO, got, sizeof(got));
    /* the folio is the receipt's (receipt.h), and the JWS comes along */
    ck_assert_msg(strncmp(got, "HUE-", 4) == 0, "folio %s", got);
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_RECEIPT,
        &(const uint8_t *){ 0 }, &(uint32_t){ 0 }), 1);
    rep_str(HIPC_F_SITE, got, sizeof(got));
    ck_assert_str_eq(got, "central");
    /* two minutes later: acknowledged, not counted */
    ck_assert_int_eq(punch(101, 2, NULL, KIOSK, at(2025, 3, 10, 7, 57)),
        HIPC_ST_OK);
    expect_punch(JUAN, "entrada", "duplicada");
    /* leaving at 15:00 of a shift ending at 16:00 */
    ck_assert_int_eq(punch(101, 2, NULL, KIOSK, at(2025, 3, 10, 15, 0)),
        HIPC_ST_OK);
    expect_punch(JUAN, "salida", "salida_anticipada");
    /* María, late by 20 minutes, found by 1:1 with her matricula */
    ck_assert_int_eq(punch(102, 2, "M0002", KIOSK, at(2025, 3, 10, 8, 20)),
        HIPC_ST_OK);
    expect_punch(MARIA, "entrada", "retardo");
    /* Carlos at the Norte kiosk (not his roster): the gallery finds him;
     * 08:45 is past late_max */
    ck_assert_int_eq(punch(103, 2, NULL, "kiosk-norte-1",
        at(2025, 3, 10, 8, 45)), HIPC_ST_OK);
    expect_punch(CARLOS, "entrada", "falta");
}
END_TEST

START_TEST(night_shift_across_midnight)
{
    json_t  *doc, *days, *d0, *d1;

    ck_assert_int_eq(punch(107, 2, NULL, "kiosk-hospital-1",
        at(2025, 3, 10, 21, 55)), HIPC_ST_OK);
    expect_punch(JORGE, "entrada", "a_tiempo");
    ck_assert_int_eq(punch(107, 2, NULL, "kiosk-hospital-1",
        at(2025, 3, 11, 6, 3)), HIPC_ST_OK);
    expect_punch(JORGE, "salida", "a_tiempo");

    ck_assert_int_eq(query(JORGE, "2025-03-10", "2025-03-11", JORGE,
        "worker", at(2025, 3, 11, 12, 0)), HIPC_ST_OK);
    doc = rep_json();
    days = json_object_get(doc, "days");
    ck_assert_int_eq(json_array_size(days), 2);
    d0 = json_array_get(days, 0);
    d1 = json_array_get(days, 1);
    /* both punches belong to Monday, the day the shift started */
    ck_assert_int_eq(json_array_size(json_object_get(d0, "punches")), 2);
    ck_assert_int_eq(json_array_size(json_object_get(d0, "entries")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(d0, "exits")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(d0, "incidents")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(d0, "shift")),
        "nocturno");
    /* Tuesday's shift has not started at noon: nothing yet */
    ck_assert_int_eq(json_array_size(json_object_get(d1, "punches")), 0);
    ck_assert_int_eq(json_array_size(json_object_get(d1, "incidents")), 0);
    json_decref(doc);
}
END_TEST

START_TEST(no_match_throttled)
{
    int  i;

    /* Carlos's finger typed with María's matricula: 1:1 fails */
    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(punch(103, 2, "M0002", KIOSK,
            at(2025, 3, 10, 9, 0) + (uint64_t) i), HIPC_ST_UNAUTHORIZED);
        ck_assert(rep_eq(HIPC_F_ERR_CODE, "no_match"));
        ck_assert_uint_eq(rep_u32(HIPC_F_ATTEMPTS_LEFT), 4u - (unsigned) i);
    }
    /* sixth try within 30 s: wait */
    ck_assert_int_eq(punch(102, 2, "M0002", KIOSK, at(2025, 3, 10, 9, 0) + 10),
        HIPC_ST_RATE_LIMITED);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "too_many_attempts"));
    ck_assert_uint_ge(rep_u32(HIPC_F_RETRY_AFTER), 20u);
    /* after the wait a good finger goes through and clears the counters */
    ck_assert_int_eq(punch(102, 2, "M0002", KIOSK, at(2025, 3, 10, 9, 1)),
        HIPC_ST_OK);
    expect_punch(MARIA, "entrada", "falta");
    /* an unknown finger at another kiosk: 1:N finds nobody */
    ck_assert_int_eq(punch(105, 2, NULL, "kiosk-norte-1",
        at(2025, 3, 10, 9, 2)), HIPC_ST_UNAUTHORIZED);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "no_match"));
}
END_TEST

START_TEST(consultation_rights)
{
    json_t  *doc, *day, *inc;

    ck_assert_int_eq(punch(102, 2, NULL, KIOSK, at(2025, 3, 10, 8, 20)),
        HIPC_ST_OK);
    /* herself */
    ck_assert_int_eq(query(MARIA, "2025-03-10", "2025-03-10", MARIA,
        "worker", at(2025, 3, 11, 9, 0)), HIPC_ST_OK);
    doc = rep_json();
    day = json_array_get(json_object_get(doc, "days"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(day, "date")),
        "2025-03-10");
    inc = json_object_get(day, "incidents");
    /* retardo (20 min) and, the day being over, omision_salida */
    ck_assert_int_eq(json_array_size(inc), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(inc,
        0), "kind")), "retardo");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(inc,
        0), "minutes")), 20);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(inc,
        0), "state")), "pendiente");
    json_decref(doc);
    /* her supervisor */
    ck_assert_int_eq(query(MARIA, "2025-03-10", "2025-03-10", JUAN,
        "worker,supervisor", at(2025, 3, 11, 9, 0)), HIPC_ST_OK);
    /* a colleague: forbidden; an admin: allowed */
    ck_assert_int_eq(query(MARIA, "2025-03-10", "2025-03-10", CARLOS,
        "worker", at(2025, 3, 11, 9, 0)), HIPC_ST_FORBIDDEN);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "not_your_report"));
    ck_assert_int_eq(query(MARIA, "2025-03-10", "2025-03-10", "admin",
        "admin", at(2025, 3, 11, 9, 0)), HIPC_ST_OK);
    /* the module's authorization check */
    begin();
    s(HIPC_F_CURP, JUAN);
    s(HIPC_F_ACTOR, MARIA);
    s(HIPC_F_ROLES, "worker");
    ck_assert_int_eq(call(HIPC_OP_SUPERVISOR_CHECK), HIPC_ST_FORBIDDEN);
    /* a too long period */
    ck_assert_int_eq(query(MARIA, "2025-01-01", "2025-12-31", MARIA,
        "worker", at(2025, 3, 11, 9, 0)), HIPC_ST_INVALID);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "range_too_long"));
}
END_TEST

START_TEST(justification_flow)
{
    char     id[32], buf[256];
    json_t  *doc, *inc, *arr;
    uint8_t  pdf[3000];

    memset(pdf, 'x', sizeof(pdf));
    ck_assert_int_eq(punch(102, 2, NULL, KIOSK, at(2025, 3, 10, 8, 20)),
        HIPC_ST_OK);
    /* filed by María for her retardo, with an attachment */
    begin();
    s(HIPC_F_CURP, MARIA);
    s(HIPC_F_DATE, "2025-03-10");
    s(HIPC_F_REASON, "cita_medica");
    s(HIPC_F_KIND, "retardo");
    s(HIPC_F_TEXT, "Cita en la UMF 20, comprobante adjunto");
    hipc_put(&rw, HIPC_F_ATTACHMENT, pdf, sizeof(pdf));
    s(HIPC_F_ATTACHMENT_TYPE, "application/pdf");
    s(HIPC_F_ACTOR, MARIA);
    s(HIPC_F_ROLES, "worker");
    hipc_put_u64(&rw, HIPC_F_TEST_NOW, at(2025, 3, 10, 18, 0));
    ck_assert_int_eq(call(HIPC_OP_JUSTIFY_CREATE), HIPC_ST_OK);
    rep_str(HIPC_F_JUST_ID, id, sizeof(id));
    /* an unknown reason, someone else's day */
    begin();
    s(HIPC_F_CURP, MARIA);
    s(HIPC_F_DATE, "2025-03-10");
    s(HIPC_F_REASON, "vacaciones_en_la_playa");
    s(HIPC_F_ACTOR, MARIA);
    s(HIPC_F_ROLES, "worker");
    ck_assert_int_eq(call(HIPC_OP_JUSTIFY_CREATE), HIPC_ST_INVALID);
    begin();
    s(HIPC_F_CURP, MARIA);
    s(HIPC_F_DATE, "2025-03-10");
    s(HIPC_F_REASON, "otro");
    s(HIPC_F_ACTOR, CARLOS);
    s(HIPC_F_ROLES, "worker");
    ck_assert_int_eq(call(HIPC_OP_JUSTIFY_CREATE), HIPC_ST_FORBIDDEN);

    /* Juan's inbox holds it, and a notification */
    begin();
    s(HIPC_F_SCOPE, "team");
    s(HIPC_F_ACTOR, JUAN);
    s(HIPC_F_ROLES, "supervisor");
    ck_assert_int_eq(call(HIPC_OP_JUSTIFY_LIST), HIPC_ST_OK);
    arr = rep_json();
    ck_assert_int_eq(json_array_size(arr), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr,
        0), "id")), id);
    json_decref(arr);
    begin();
    s(HIPC_F_ACTOR, JUAN);
    ck_assert_int_eq(call(HIPC_OP_NOTIFY_LIST), HIPC_ST_OK);
    arr = rep_json();
    ck_assert_int_eq(json_array_size(arr), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr,
        0), "kind")), "justification_filed");
    json_decref(arr);
    /* the attachment reads back */
    begin();
    s(HIPC_F_JUST_ID, id);
    s(HIPC_F_ACTOR, JUAN);
    s(HIPC_F_ROLES, "supervisor");
    ck_assert_int_eq(call(HIPC_OP_JUSTIFY_ATTACHMENT_GET), HIPC_ST_OK);
    ck_assert_uint_eq(rep_u32(HIPC_F_TOTAL), sizeof(pdf));

    /* Carlos is not her supervisor */
    begin();
    s(HIPC_F_JUST_ID, id);
    s(HIPC_F_DECISION, "approve");
    s(HIPC_F_ACTOR, CARLOS);
    s(HIPC_F_ROLES, "worker");
    ck_assert_int_eq(call(HIPC_OP_JUSTIFY_DECIDE), HIPC_ST_FORBIDDEN);
    /* Juan approves */
    begin();
    s(HIPC_F_JUST_ID, id);
    s(HIPC_F_DECISION, "approve");
    s(HIPC_F_COMMENT, "Comprobante correcto");
    s(HIPC_F_ACTOR, JUAN);
    s(HIPC_F_ROLES, "supervisor");
    ck_assert_int_eq(call(HIPC_OP_JUSTIFY_DECIDE), HIPC_ST_OK);
    doc = rep_json();
    ck_assert_str_eq(json_string_value(json_object_get(doc, "state")),
        "justificada");
    json_decref(doc);
    rep_str(HIPC_F_FOLIO, buf, sizeof(buf));
    /* once */
    ck_assert_int_eq(call(HIPC_OP_JUSTIFY_DECIDE), HIPC_ST_CONFLICT);

    /* the day is recomputed: the retardo is justified */
    ck_assert_int_eq(query(MARIA, "2025-03-10", "2025-03-10", MARIA,
        "worker", at(2025, 3, 10, 19, 0)), HIPC_ST_OK);
    doc = rep_json();
    inc = json_object_get(json_array_get(json_object_get(doc, "days"), 0),
        "incidents");
    ck_assert_int_eq(json_array_size(inc), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(inc,
        0), "state")), "justificada");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(inc,
        0), "justification")), id);
    json_decref(doc);
    /* María is notified */
    begin();
    s(HIPC_F_ACTOR, MARIA);
    ck_assert_int_eq(call(HIPC_OP_NOTIFY_LIST), HIPC_ST_OK);
    arr = rep_json();
    ck_assert_int_eq(json_array_size(arr), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr,
        0), "state")), "justificada");
    json_decref(arr);
}
END_TEST

START_TEST(reports)
{
    json_t  *doc, *people, *wd;
    char     csv[8192];
    size_t   i;
    int      found = 0;

    /* María: late Monday 10 and Tuesday 11; absent Wednesday 12 */
    ck_assert_int_eq(punch(102, 2, NULL, KIOSK, at(2025, 3, 10, 8, 15)),
        HIPC_ST_OK);
    ck_assert_int_eq(punch(102, 2, NULL, KIOSK, at(2025, 3, 10, 16, 5)),
        HIPC_ST_OK);
    ck_assert_int_eq(punch(102, 2, NULL, KIOSK, at(2025, 3, 11, 8, 25)),
        HIPC_ST_OK);
    ck_assert_int_eq(punch(102, 2, NULL, KIOSK, at(2025, 3, 11, 16, 1)),
        HIPC_ST_OK);
    begin();
    s(HIPC_F_SCOPE, "team");
    s(HIPC_F_FROM, "2025-03-10");
    s(HIPC_F_TO, "2025-03-12");
    s(HIPC_F_ACTOR, JUAN);
    s(HIPC_F_ROLES, "supervisor");
    hipc_put_u64(&rw, HIPC_F_TEST_NOW, at(2025, 3, 12, 23, 0));
    ck_assert_int_eq(call(HIPC_OP_REPORT), HIPC_ST_OK);
    doc = rep_json();
    people = json_object_get(doc, "people");
    /* Juan's reports, transitively: María, Carlos, Ana, Pedro, Elena, and
     * Ana's people (Luis, Sofía, Jorge, Lucía) */
    ck_assert_int_eq(json_array_size(people), 9);
    for (i = 0; i < json_array_size(people); i++) {
        json_t  *p = json_array_get(people, i);

        if (strcmp(json_string_value(json_object_get(p, "curp")), MARIA)) {
            continue;
        }
        found = 1;
        ck_assert_int_eq(json_integer_value(json_object_get(p,
            "scheduled_days")), 3);
        ck_assert_int_eq(json_integer_value(json_object_get(p,
            "days_worked")), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(p,
            "late_count")), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(p,
            "late_minutes")), 40);
        ck_assert_int_eq(json_integer_value(json_object_get(p,
            "absences")), 1);
        wd = json_object_get(p, "late_by_weekday");
        ck_assert_int_eq(json_integer_value(json_array_get(wd, 1)), 1);
        ck_assert_int_eq(json_integer_value(json_array_get(wd, 2)), 1);
    }
    ck_assert(found);
    json_decref(doc);

    /* CSV, one person */
    begin();
    s(HIPC_F_CURP, MARIA);
    s(HIPC_F_FROM, "2025-03-10");
    s(HIPC_F_TO, "2025-03-12");
    s(HIPC_F_ACTOR, JUAN);
    s(HIPC_F_ROLES, "supervisor");
    s(HIPC_F_OUTPUT, "csv");
    hipc_put_u64(&rw, HIPC_F_TEST_NOW, at(2025, 3, 12, 23, 0));
    ck_assert_int_eq(call(HIPC_OP_REPORT), HIPC_ST_OK);
    rep_str(HIPC_F_TEXT, csv, sizeof(csv));
    ck_assert_msg(strncmp(csv, "curp,nombre,", 12) == 0, "%s", csv);
    ck_assert_msg(strstr(csv, MARIA ",María López Hernández,3,2,2,40,1,")
        != NULL, "%s", csv);
    /* a worker cannot report on a colleague */
    begin();
    s(HIPC_F_CURP, MARIA);
    s(HIPC_F_FROM, "2025-03-10");
    s(HIPC_F_TO, "2025-03-12");
    s(HIPC_F_ACTOR, CARLOS);
    s(HIPC_F_ROLES, "worker");
    ck_assert_int_eq(call(HIPC_OP_REPORT), HIPC_ST_FORBIDDEN);
}
END_TEST

START_TEST(acknowledged_punch_survives_kill_9)
{
    char     folio[64];
    json_t  *doc, *punches;

    ck_assert_int_eq(punch(101, 2, NULL, KIOSK, at(2025, 3, 10, 7, 58)),
        HIPC_ST_OK);
    rep_str(HIPC_F_FOLIO, folio, sizeof(folio));
    kill_server();
    start_server();
    ck_assert_int_eq(query(JUAN, "2025-03-10", "2025-03-10", JUAN, "worker",
        at(2025, 3, 10, 9, 0)), HIPC_ST_OK);
    doc = rep_json();
    punches = json_object_get(json_array_get(json_object_get(doc, "days"),
        0), "punches");
    ck_assert_int_eq(json_array_size(punches), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        punches, 0), "folio")), folio);
    json_decref(doc);
}
END_TEST

START_TEST(bad_requests)
{
    /* TEST_NOW is only for test_clock; here it is on, so check fields */
    begin();
    s(HIPC_F_DEVICE_ID, KIOSK);
    ck_assert_int_eq(call(HIPC_OP_PUNCH), HIPC_ST_BAD_REQUEST);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "missing_field"));
    begin();
    hipc_put_u32(&rw, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(&rw, HIPC_F_TEMPLATE, "garbage", 7);
    s(HIPC_F_DEVICE_ID, KIOSK);
    ck_assert_int_eq(call(HIPC_OP_PUNCH), HIPC_ST_INVALID);
    ck_assert(rep_eq(HIPC_F_FIELD, "finger.data"));
    begin();
    s(HIPC_F_CURP, MARIA);
    s(HIPC_F_FROM, "2025-02-30");
    s(HIPC_F_TO, "2025-03-01");
    s(HIPC_F_ACTOR, MARIA);
    s(HIPC_F_ROLES, "worker");
    ck_assert_int_eq(call(HIPC_OP_ATTENDANCE_QUERY), HIPC_ST_INVALID);
    ck_assert(rep_eq(HIPC_F_FIELD, "from"));
    begin();
    ck_assert_int_eq(call(HIPC_OP_ATTENDANCE_RULES), HIPC_ST_OK);
    json_decref(rep_json());
}
END_TEST


/* ---- rules through the admin op, biometric disable, faces -------------- */

static int
change(const char *json, const char *roles)
{
    begin();
    hipc_put(&rw, HIPC_F_JSON, json, strlen(json));
    s(HIPC_F_ACTOR, "tok_admin");
    s(HIPC_F_ROLES, roles);
    return call(HIPC_OP_ATT_RULES_CHANGE);
}

static json_t *
rules_full(void)
{
    begin();
    s(HIPC_F_ACTOR, "tok_admin");
    s(HIPC_F_ROLES, "admin");
    ck_assert_int_eq(call(HIPC_OP_ATTENDANCE_RULES), HIPC_ST_OK);
    return rep_json();
}

START_TEST(rules_change_applied_refused_replayed)
{
    json_t  *doc;
    char    *text;

    /* María (matutino 08:00, tolerance 10): 08:12 is retardo */
    ck_assert_int_eq(punch(102, 2, "M0002", KIOSK, at(2025, 3, 10, 8, 12)),
        HIPC_ST_OK);
    expect_punch(MARIA, "entrada", "retardo");
    ck_assert_int_eq(change("{\"policy\":{\"tolerance_min\":15},"
        "\"kiosks\":{\"dev_0123456789abcdef\":\"norte\"}}", "admin"),
        HIPC_ST_OK);
    doc = rep_json();
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "change")), 1);
    json_decref(doc);
    /* at once: the next day's 08:12 is a_tiempo */
    ck_assert_int_eq(punch(102, 2, "M0002", KIOSK, at(2025, 3, 11, 8, 12)),
        HIPC_ST_OK);
    expect_punch(MARIA, "entrada", "a_tiempo");
    /* the registered kiosk is norte's: its 1:N answer names the site */
    ck_assert_int_eq(punch(103, 2, NULL, "dev_0123456789abcdef",
        at(2025, 3, 11, 8, 13)), HIPC_ST_OK);
    ck_assert(rep_eq(HIPC_F_SITE, "norte"));

    /* refused whole, naming the path; not an admin: forbidden */
    ck_assert_int_eq(change("{\"policy\":{\"tolerance_min\":20},"
        "\"shifts\":[{\"name\":\"x\",\"start\":\"8:00\",\"end\":\"9:00\","
        "\"days\":[\"mon\"]}]}", "admin"), HIPC_ST_INVALID);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "invalid_value"));
    ck_assert(rep_eq(HIPC_F_FIELD, "shifts[0].start"));
    ck_assert_int_eq(change("{\"people\":[{\"curp\":\"" MARIA "\","
        "\"site\":\"luna\"}]}", "admin"), HIPC_ST_INVALID);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "unknown_site"));
    ck_assert(rep_eq(HIPC_F_FIELD, "people[0].site"));
    ck_assert_int_eq(change("{}", "admin"), HIPC_ST_BAD_REQUEST);
    ck_assert_int_eq(change("[1]", "admin"), HIPC_ST_INVALID);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "invalid_json"));
    ck_assert_int_eq(change("{\"policy\":{\"tolerance_min\":12}}",
        "supervisor,worker"), HIPC_ST_FORBIDDEN);
    doc = rules_full();
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc,
        "policy"), "tolerance_min")), 15);
    json_decref(doc);

    /* a second change builds on the first; both replayed after kill -9 */
    ck_assert_int_eq(change("{\"holidays\":{\"add\":[\"2025-03-12\"]},"
        "\"people\":[{\"curp\":\"" MARIA "\",\"shift\":\"vespertino\"}]}",
        "admin"), HIPC_ST_OK);
    kill_server();
    start_server();
    doc = rules_full();
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc,
        "policy"), "tolerance_min")), 15);
    text = json_dumps(json_object_get(doc, "holidays"), 0);
    ck_assert_ptr_nonnull(strstr(text, "2025-03-12"));
    free(text);
    json_decref(doc);
    /* María is vespertino (14:00) now: 14:05 is a_tiempo */
    ck_assert_int_eq(punch(102, 2, "M0002", KIOSK, at(2025, 3, 13, 14, 5)),
        HIPC_ST_OK);
    expect_punch(MARIA, "entrada", "a_tiempo");
    /* the public view has no people */
    begin();
    ck_assert_int_eq(call(HIPC_OP_ATTENDANCE_RULES), HIPC_ST_OK);
    doc = rep_json();
    ck_assert_ptr_null(json_object_get(doc, "people"));
    json_decref(doc);
}
END_TEST

/* Readers on another connection while the rules are swapped: every query
 * answers (ASan would see a snapshot freed under a reader). */
static void *
reader(void *arg)
{
    struct hipc_client  *c = testd_connect(300);
    static uint8_t       q[4096], a[HIPC_PAYLOAD_MAX];
    struct hipc_writer   w;
    size_t               len;
    int                  i, st, *bad = arg;

    for (i = 0; i < 200; i++) {
        hipc_writer_init(&w, q, sizeof(q));
        hipc_put_str(&w, HIPC_F_CURP, MARIA);
        hipc_put_str(&w, HIPC_F_FROM, "2025-03-01");
        hipc_put_str(&w, HIPC_F_TO, "2025-03-31");
        hipc_put_str(&w, HIPC_F_ACTOR, MARIA);
        hipc_put_str(&w, HIPC_F_ROLES, "worker");
        hipc_put_u64(&w, HIPC_F_TEST_NOW, at(2025, 4, 1, 9, 0));
        if (hipc_client_call(c, HIPC_OP_ATTENDANCE_QUERY, q, w.len, a,
                sizeof(a), &len, &st, 30000) != 0 || st != HIPC_ST_OK)
        {
            (*bad)++;
        }
    }
    hipc_client_close(c);
    return NULL;
}

START_TEST(rules_swapped_under_readers)
{
    pthread_t  t;
    char       json[128];
    int        i, bad = 0;

    ck_assert_int_eq(punch(102, 2, "M0002", KIOSK, at(2025, 3, 10, 8, 12)),
        HIPC_ST_OK);
    ck_assert_int_eq(pthread_create(&t, NULL, reader, &bad), 0);
    for (i = 0; i < 60; i++) {
        snprintf(json, sizeof(json), "{\"policy\":{\"tolerance_min\":%d},"
            "\"shifts\":[{\"name\":\"s%d\",\"start\":\"07:00\","
            "\"end\":\"15:00\",\"days\":[\"mon\"]}]}", 5 + i % 20, i);
        ck_assert_int_eq(change(json, "admin"), HIPC_ST_OK);
    }
    pthread_join(t, NULL);
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(biometric_disabled_after_50)
{
    uint64_t  when = at(2025, 3, 10, 9, 0);
    json_t   *doc;
    int       i;

    /* Someone never enrolled (105) typing María's matricula, 50 times,
     * each past the 30 s throttle wait */
    for (i = 0; i < 50; i++) {
        when += 31;
        ck_assert_int_eq(punch(105, 2, "M0002", KIOSK, when),
            HIPC_ST_UNAUTHORIZED);
        ck_assert(rep_eq(HIPC_F_ERR_CODE, "no_match"));
    }
    /* María herself is refused now, 1:1 and 1:N */
    ck_assert_int_eq(punch(102, 2, "M0002", KIOSK, when + 31),
        HIPC_ST_LOCKED);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "biometric_disabled"));
    ck_assert_int_eq(punch(102, 2, NULL, "kiosk-norte-1", when + 32),
        HIPC_ST_LOCKED);
    /* the list */
    begin();
    s(HIPC_F_ACTOR, "aud");
    s(HIPC_F_ROLES, "auditor");
    ck_assert_int_eq(call(HIPC_OP_BIOMETRIC_LIST), HIPC_ST_OK);
    doc = rep_json();
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(doc, "disabled"), 0), "curp")), MARIA);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
        json_object_get(doc, "disabled"), 0), "failures")), 50);
    json_decref(doc);
    /* only an admin re-enables */
    begin();
    s(HIPC_F_CURP, MARIA);
    s(HIPC_F_ACTOR, "aud");
    s(HIPC_F_ROLES, "auditor");
    ck_assert_int_eq(call(HIPC_OP_BIOMETRIC_ENABLE), HIPC_ST_FORBIDDEN);
    begin();
    s(HIPC_F_CURP, MARIA);
    s(HIPC_F_ACTOR, "tok_admin");
    s(HIPC_F_ROLES, "admin");
    ck_assert_int_eq(call(HIPC_OP_BIOMETRIC_ENABLE), HIPC_ST_OK);
    ck_assert_int_eq(call(HIPC_OP_BIOMETRIC_ENABLE), HIPC_ST_CONFLICT);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "not_disabled"));
    ck_assert_int_eq(punch(102, 2, "M0002", KIOSK, when + 33), HIPC_ST_OK);
    expect_punch(MARIA, "entrada", "falta");      /* 09:26: too late */
}
END_TEST

static int
face_punch(const char *model, uint32_t dim, const float *v, size_t n)
{
    size_t  at_ = 0;

    begin();
    s(HIPC_F_DEVICE_ID, KIOSK);
    hipc_put_u64(&rw, HIPC_F_TEST_NOW, at(2025, 3, 10, 8, 0));
    at_ = hipc_open(&rw, HIPC_F_FACE);
    s(HIPC_F_FACE_MODEL, model);
    hipc_put_u32(&rw, HIPC_F_FACE_DIM, dim);
    hipc_put(&rw, HIPC_F_FACE_DATA, v, n * sizeof(float));
    hipc_close(&rw, at_);
    return call(HIPC_OP_PUNCH);
}

START_TEST(face_fields)
{
    float  v[4] = { 0.5f, 0.5f, 0.5f, 0.5f }, bad[4] = { 1, 0, 0, 0 };

    ck_assert_int_eq(face_punch("arcface", 4, v, 4), HIPC_ST_BAD_REQUEST);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "face_model_mismatch"));
    ck_assert(rep_eq(HIPC_F_FIELD, "face.model"));
    ck_assert_int_eq(face_punch("face-api-128", 3, v, 3),
        HIPC_ST_BAD_REQUEST);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "face_dim_mismatch"));
    ck_assert_int_eq(face_punch("face-api-128", 4, v, 3), HIPC_ST_INVALID);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "invalid_face_data"));
    bad[2] = 0.0f / 0.0f;
    ck_assert_int_eq(face_punch("face-api-128", 4, bad, 4), HIPC_ST_INVALID);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "invalid_face_data"));
    /* well formed, but nobody has a face here: no match, on the face */
    ck_assert_int_eq(face_punch("face-api-128", 4, v, 4),
        HIPC_ST_UNAUTHORIZED);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "no_match"));
    ck_assert(rep_eq(HIPC_F_FIELD, "face"));
}
END_TEST


/* The gallery fallback through search_run(): people of other sites found
 * after the roster misses, on the exhaustive and the pre-filtered path;
 * strangers still miss. */
START_TEST(gallery_fallback)
{
    /* Jorge (vigilancia, hospital) at a central kiosk: not in the roster */
    ck_assert_int_eq(punch(107, 2, NULL, KIOSK, at(2025, 3, 10, 21, 55)),
        HIPC_ST_OK);
    expect_punch(JORGE, "entrada", "a_tiempo");
    ck_assert(rep_eq(HIPC_F_SITE, "central"));
    /* Juan (central) at a kiosk of no site: the whole gallery */
    ck_assert_int_eq(punch(101, 2, NULL, "dev_nosite", at(2025, 3, 10, 7,
        55)), HIPC_ST_OK);
    expect_punch(JUAN, "entrada", "a_tiempo");
    /* nobody enrolled */
    ck_assert_int_eq(punch(106, 2, NULL, "kiosk-norte-1",
        at(2025, 3, 10, 9, 0)), HIPC_ST_UNAUTHORIZED);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "no_match"));
}
END_TEST

static Suite *
attendance_suite(void)
{
    Suite  *su = suite_create("attendance");
    TCase  *tc = tcase_create("ops");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, punch_entry_duplicate_exit);
    tcase_add_test(tc, night_shift_across_midnight);
    tcase_add_test(tc, no_match_throttled);
    tcase_add_test(tc, consultation_rights);
    tcase_add_test(tc, justification_flow);
    tcase_add_test(tc, reports);
    tcase_add_test(tc, acknowledged_punch_survives_kill_9);
    tcase_add_test(tc, bad_requests);
    tcase_add_test(tc, rules_change_applied_refused_replayed);
    tcase_add_test(tc, rules_swapped_under_readers);
    tcase_add_test(tc, biometric_disabled_after_50);
    tcase_add_test(tc, face_fields);
    tcase_add_test(tc, gallery_fallback);
    suite_add_tcase(su, tc);
    tc = tcase_create("prefiltered");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup_prefiltered, teardown);
    tcase_add_test(tc, gallery_fallback);
    suite_add_tcase(su, tc);
    return su;
}

int
main(void)
{
    SRunner  *sr = srunner_create(attendance_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
