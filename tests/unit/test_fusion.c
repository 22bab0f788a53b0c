/*
 * test_fusion.c -- multi-finger verify/identify (multi_finger.h): the
 * fused score (hm_fuse_scores() over the fingers drawn: n = 1 unchanged,
 * the closed form, which fingers count, and that n independent impostor
 * fingers are accepted at the target rate, where the bare product of
 * FMRs is not), then the PROBE form of VERIFY and
 * IDENTIFY through a real huellad (testd.h): strict decoding with precise
 * fields, the reply's per-finger detail, distinct enrolled fingers.
 */

#include <check.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "huella_ipc.h"
#include "ipc_client.h"
#include "match.h"
#include "multi_finger.h"
#include "testd.h"

#define CURP_A  "GARJ850312HDFRMN07"
#define CURP_B  "LOHM900725MJCPRR00"

static uint8_t  rep[HIPC_PAYLOAD_MAX];
static size_t   rep_len;
static int      status;

/* ---- the rule ------------------------------------------------------------ */

START_TEST(test_single_finger_unchanged)
{
    double  s[] = { 0.0, 0.0123456789, 0.176, 0.3141592653589793, 0.9 };
    size_t  i;

    for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        uint8_t  drawn = 1;
        double   f = mf_fused_score(&s[i], &drawn, 1);

        ck_assert(memcmp(&f, &s[i], sizeof(f)) == 0);
    }
}
END_TEST

START_TEST(test_closed_form)
{
    static const uint8_t  all[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const uint8_t  first[2] = { 1, 0 };
    double  zero[10] = { 0 }, two[2], f, p, want;
    double  scores[] = { 0.03, 0.06, 0.1, 0.12, 0.15 };
    size_t  i;

    ck_assert(mf_fused_score(zero, all, 10) == 0.0);
    ck_assert(mf_fused_score(scores, all, 0) == 0.0);
    for (i = 0; i < sizeof(scores) / sizeof(scores[0]); i++) {
        two[0] = two[1] = scores[i];
        f = hm_fmr_for_score(scores[i]);
        p = f * f;
        want = p * (1.0 - log(p));
        ck_assert_msg(fabs(hm_fmr_for_score(mf_fused_score(two, all, 2))
            / want - 1.0) < 1e-6, "score %g: fused FMR %g, want %g",
            scores[i], hm_fmr_for_score(mf_fused_score(two, all, 2)), want);
        /* a second finger compared without evidence is a draw all the
         * same: it costs evidence ... */
        two[1] = 0.0;
        ck_assert(mf_fused_score(two, all, 2) < scores[i]);
        /* ... one never compared (its position not enrolled) does not */
        ck_assert(mf_fused_score(two, first, 2) == scores[i]);
    }
    /* monotone in each finger */
    for (i = 0; i < 20; i++) {
        double  lo[2] = { 0.1, 0.01 * (double) i };
        double  hi[2] = { 0.1, 0.01 * (double) (i + 1) };

        ck_assert(mf_fused_score(lo, all, 2) <= mf_fused_score(hi, all, 2));
    }
}
END_TEST

/* What thresholding the bare product of the FMRs would give. */
static double
plain_product(const double *s, unsigned n)
{
    double    p = 1.0;
    unsigned  i;

    for (i = 0; i < n; i++) {
        p *= hm_fmr_for_score(s[i]);
    }
    return hm_threshold_for_fmr(p);
}

static uint64_t  rng = 0x9E3779B97F4A7C15ull;

static double
uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double) (rng >> 11) + 0.5) / 9007199254740992.0;
}

/* n independent impostor fingers: each FMR uniform, hence each score
 * hm_threshold_for_fmr(u).  The fused decision at the threshold for FMR t
 * must accept about a fraction t of them; the plain product accepts many
 * more (Fisher: t * sum_{k<n} (-ln t)^k / k!). */
START_TEST(test_impostor_rate_is_calibrated)
{
    static const uint8_t  all[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    const unsigned  trials = 200000, ns[] = { 2, 3, 5, 10 };
    const double    t = 1e-2;
    double          thr = hm_threshold_for_fmr(t), s[10];
    unsigned        k, i, j, fused, naive;

    for (k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
        fused = naive = 0;
        for (i = 0; i < trials; i++) {
            for (j = 0; j < ns[k]; j++) {
                s[j] = hm_threshold_for_fmr(uniform());
            }
            fused += mf_fused_score(s, all, ns[k]) >= thr;
            naive += plain_product(s, ns[k]) >= thr;
        }
        ck_assert_msg(fused > 0.85 * t * trials && fused < 1.15 * t * trials,
            "%u fingers: %u of %u impostors accepted at FMR %g", ns[k],
            fused, trials, t);
        ck_assert_msg(naive > 4 * fused, "%u fingers: product %u, fused %u",
            ns[k], naive, fused);
    }
}
END_TEST

/* ---- through huellad ----------------------------------------------------- */

static void
setup(void)
{
    testd_mkdir("/tmp/huella-fusion-XXXXXX");
    testd_fork(NULL);
    hipc_client_close(testd_connect(200));
}

static void
teardown(void)
{
    testd_kill();
    testd_rmdir();
}

static void
call(struct hipc_client *c, uint16_t op, const void *req, size_t len)
{
    ck_assert_msg(hipc_client_call(c, op, req, len, rep, sizeof(rep),
        &rep_len, &status, 10000) == 0, "call failed: %s", strerror(errno));
}

static size_t
load_template(const char *name, uint8_t *buf, size_t cap)
{
    const char  *shared = getenv("HUELLA_SHARED");
    char         path[512];
    FILE        *f;
    size_t       n;

    snprintf(path, sizeof(path), "%s/data/fvc2002/DB1_B/%s",
        shared ? shared : "../shared", name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "template %s not found (set HUELLA_SHARED)",
        path);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void
enroll(struct hipc_client *c, const char *curp, unsigned pos,
    const char *file)
{
    uint8_t             req[8192], t[4096];
    struct hipc_writer  w;
    size_t              n = load_template(file, t, sizeof(t));

    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, curp);
    if (pos == 1) {
        call(c, HIPC_OP_SUBJECT_CREATE, req, w.len);
        ck_assert_int_eq(status, HIPC_ST_OK);
        hipc_writer_init(&w, req, sizeof(req));
        hipc_put_str(&w, HIPC_F_CURP, curp);
    }
    hipc_put_u32(&w, HIPC_F_POSITION, pos);
    hipc_put_u32(&w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(&w, HIPC_F_TEMPLATE, t, n);
    call(c, HIPC_OP_FINGER_PUT, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_OK);
}

/* One PROBE group; position 0 leaves POSITION out. */
static void
put_probe(struct hipc_writer *w, unsigned pos, const char *file)
{
    uint8_t  t[4096];
    size_t   n = load_template(file, t, sizeof(t)), at;

    at = hipc_open(w, HIPC_F_PROBE);
    if (pos) {
        hipc_put_u32(w, HIPC_F_POSITION, pos);
    }
    hipc_put_u32(w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(w, HIPC_F_TEMPLATE, t, n);
    hipc_close(w, at);
}

static void
expect_error(int want_status, const char *code, const char *field)
{
    const uint8_t  *d;
    uint32_t        n;

    ck_assert_int_eq(status, want_status);
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_ERR_CODE, &d, &n), 1);
    ck_assert_msg(n == strlen(code) && memcmp(d, code, n) == 0,
        "code %.*s, want %s", (int) n, d, code);
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_MESSAGE, &d, &n), 1);
    ck_assert_uint_gt(n, 0);
    if (field) {
        ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_FIELD, &d, &n), 1);
        ck_assert_msg(n == strlen(field) && memcmp(d, field, n) == 0,
            "field %.*s, want %s", (int) n, d, field);
    } else {
        ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_FIELD, &d, &n), 0);
    }
}

START_TEST(test_decoding_is_strict)
{
    struct hipc_client  *c = testd_connect(200);
    static uint8_t       req[HIPC_PAYLOAD_MAX];
    struct hipc_writer   w;
    unsigned             i;
    size_t               at;

    enroll(c, CURP_A, 1, "101_1.iso");

    /* finger and fingers together */
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    put_probe(&w, 1, "101_2.iso");
    hipc_put_u32(&w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    call(c, HIPC_OP_VERIFY, req, w.len);
    expect_error(HIPC_ST_BAD_REQUEST, "conflicting_fields", "fingers");

    /* eleven fingers */
    hipc_writer_init(&w, req, sizeof(req));
    for (i = 0; i < 11; i++) {
        put_probe(&w, 0, "101_2.iso");
    }
    call(c, HIPC_OP_IDENTIFY, req, w.len);
    expect_error(HIPC_ST_INVALID, "invalid_fingers", "fingers");

    /* VERIFY needs its CURP; IDENTIFY takes none */
    hipc_writer_init(&w, req, sizeof(req));
    put_probe(&w, 1, "101_2.iso");
    call(c, HIPC_OP_VERIFY, req, w.len);
    expect_error(HIPC_ST_BAD_REQUEST, "missing_field", "curp");
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    call(c, HIPC_OP_IDENTIFY, req, w.len);
    expect_error(HIPC_ST_BAD_REQUEST, "unexpected_field", NULL);

    /* inside a probe: missing, repeated, out of range, wrong size, alien,
     * truncated TLV, empty template */
    hipc_writer_init(&w, req, sizeof(req));
    put_probe(&w, 1, "101_2.iso");
    at = hipc_open(&w, HIPC_F_PROBE);
    hipc_put_u32(&w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_close(&w, at);
    call(c, HIPC_OP_IDENTIFY, req, w.len);
    expect_error(HIPC_ST_BAD_REQUEST, "missing_field", "fingers[1].data");

    hipc_writer_init(&w, req, sizeof(req));
    at = hipc_open(&w, HIPC_F_PROBE);
    hipc_put_u32(&w, HIPC_F_POSITION, 1);
    hipc_put_u32(&w, HIPC_F_POSITION, 2);
    hipc_close(&w, at);
    call(c, HIPC_OP_IDENTIFY, req, w.len);
    expect_error(HIPC_ST_BAD_REQUEST, "duplicate_field",
        "fingers[0].position");

    hipc_writer_init(&w, req, sizeof(req));
    put_probe(&w, 0, "101_2.iso");
    put_probe(&w, 11, "101_3.iso");
    call(c, HIPC_OP_IDENTIFY, req, w.len);
    expect_error(HIPC_ST_INVALID, "invalid_position", "fingers[1].position");

    hipc_writer_init(&w, req, sizeof(req));
    at = hipc_open(&w, HIPC_F_PROBE);
    hipc_put_u64(&w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_close(&w, at);
    call(c, HIPC_OP_IDENTIFY, req, w.len);
    expect_error(HIPC_ST_BAD_REQUEST, "malformed_field", "fingers[0].format");

    hipc_writer_init(&w, req, sizeof(req));
    at = hipc_open(&w, HIPC_F_PROBE);
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    hipc_close(&w, at);
    call(c, HIPC_OP_IDENTIFY, req, w.len);
    expect_error(HIPC_ST_BAD_REQUEST, "unexpected_field", "fingers[0]");

    hipc_writer_init(&w, req, sizeof(req));
    at = hipc_open(&w, HIPC_F_PROBE);
    hipc_put_u32(&w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_close(&w, at);
    w.buf[w.len++] = 0;             /* the probe claims one byte more */
    at = 4;
    {
        uint32_t  len;

        memcpy(&len, w.buf + at, 4);
        len++;
        memcpy(w.buf + at, &len, 4);
    }
    call(c, HIPC_OP_IDENTIFY, req, w.len);
    expect_error(HIPC_ST_BAD_REQUEST, "malformed_request", "fingers[0]");

    hipc_writer_init(&w, req, sizeof(req));
    at = hipc_open(&w, HIPC_F_PROBE);
    hipc_put_u32(&w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(&w, HIPC_F_TEMPLATE, NULL, 0);
    hipc_close(&w, at);
    call(c, HIPC_OP_IDENTIFY, req, w.len);
    expect_error(HIPC_ST_INVALID, "invalid_template", "fingers[0].data");

    /* the same position twice */
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    put_probe(&w, 2, "101_2.iso");
    put_probe(&w, 0, "102_2.iso");
    put_probe(&w, 2, "103_2.iso");
    call(c, HIPC_OP_VERIFY, req, w.len);
    expect_error(HIPC_ST_INVALID, "duplicate_position",
        "fingers[2].position");

    /* a position the subject lacks */
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    put_probe(&w, 1, "101_2.iso");
    put_probe(&w, 6, "102_2.iso");
    call(c, HIPC_OP_VERIFY, req, w.len);
    expect_error(HIPC_ST_NOT_FOUND, "finger_not_found",
        "fingers[1].position");
    hipc_client_close(c);
}
END_TEST

/* The i-th PROBE_SCORE of buf: probe position, score, matched (-1). */
static void
probe_score(const uint8_t *buf, size_t len, unsigned i, uint32_t *pos,
    double *score, int *matched)
{
    struct hipc_reader  r;
    const uint8_t      *d, *fd;
    uint32_t            n, fn, v;
    uint16_t            tag;
    unsigned            seen = 0;

    hipc_reader_init(&r, buf, len);
    while (hipc_next(&r, &tag, &d, &n) == 1) {
        if (tag != HIPC_F_PROBE_SCORE || seen++ != i) {
            continue;
        }
        ck_assert_int_eq(hipc_find(d, n, HIPC_F_POSITION, &fd, &fn), 1);
        ck_assert_int_eq(hipc_get_u32(fd, fn, pos), 0);
        ck_assert_int_eq(hipc_find(d, n, HIPC_F_SCORE, &fd, &fn), 1);
        ck_assert_int_eq(hipc_get_f64(fd, fn, score), 0);
        *matched = -1;
        if (hipc_find(d, n, HIPC_F_MATCHED_POSITION, &fd, &fn) == 1) {
            ck_assert_int_eq(hipc_get_u32(fd, fn, &v), 0);
            *matched = (int) v;
        }
        return;
    }
    ck_abort_msg("no PROBE_SCORE %u", i);
}

START_TEST(test_fused_verify_and_identify)
{
    struct hipc_client  *c = testd_connect(200);
    static uint8_t       req[HIPC_PAYLOAD_MAX];
    struct hipc_writer   w;
    const uint8_t       *d;
    uint32_t             n, pos, v;
    double               score, fused, s[2];
    int                  matched;
    static const uint8_t both[2] = { 1, 1 };

    enroll(c, CURP_A, 1, "101_1.iso");
    enroll(c, CURP_A, 2, "102_1.iso");
    enroll(c, CURP_B, 1, "103_1.iso");
    enroll(c, CURP_B, 2, "104_1.iso");

    /* positions not given, in the other order: each finds its own */
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    put_probe(&w, 0, "102_3.iso");
    put_probe(&w, 0, "101_3.iso");
    call(c, HIPC_OP_VERIFY, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_FUSED, &d, &n), 1);
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_POSITION, &d, &n), 0);
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_SCORE, &d, &n), 1);
    hipc_get_f64(d, n, &fused);
    probe_score(rep, rep_len, 0, &pos, &s[0], &matched);
    ck_assert_uint_eq(pos, 0);
    ck_assert_int_eq(matched, 2);
    probe_score(rep, rep_len, 1, &pos, &s[1], &matched);
    ck_assert_int_eq(matched, 1);
    ck_assert(fused == mf_fused_score(s, both, 2));
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_MATCH, &d, &n), 1);
    hipc_get_u32(d, n, &v);
    ck_assert_uint_eq(v, 1);

    /* one finger twice: the second copy has only the other finger left */
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    put_probe(&w, 0, "101_3.iso");
    put_probe(&w, 0, "101_4.iso");
    put_probe(&w, 0, "101_5.iso");
    call(c, HIPC_OP_VERIFY, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_OK);
    {
        int  m[3], i, none = 0, at1 = 0, at2 = 0;

        for (i = 0; i < 3; i++) {
            probe_score(rep, rep_len, (unsigned) i, &pos, &score, &m[i]);
            none += m[i] < 0;
            at1 += m[i] == 1;
            at2 += m[i] == 2;
            if (m[i] < 0) {
                ck_assert(score == 0.0);
            }
        }
        ck_assert_int_eq(none, 1);
        ck_assert_int_eq(at1, 1);
        ck_assert_int_eq(at2, 1);
    }

    /* IDENTIFY: CURP_A first, its candidate carries the detail */
    hipc_writer_init(&w, req, sizeof(req));
    put_probe(&w, 1, "101_3.iso");
    put_probe(&w, 2, "102_3.iso");
    hipc_put_u32(&w, HIPC_F_MAX_CANDIDATES, 3);
    call(c, HIPC_OP_IDENTIFY, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_FUSED, &d, &n), 1);
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_SEARCHED, &d, &n), 1);
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_CANDIDATE, &d, &n), 1);
    {
        const uint8_t  *cd;
        uint32_t        cn;

        ck_assert_int_eq(hipc_find(d, n, HIPC_F_CURP, &cd, &cn), 1);
        ck_assert(cn == 18 && memcmp(cd, CURP_A, 18) == 0);
        probe_score(d, n, 0, &pos, &s[0], &matched);
        ck_assert_uint_eq(pos, 1);
        ck_assert_int_eq(matched, 1);
        probe_score(d, n, 1, &pos, &s[1], &matched);
        ck_assert_uint_eq(pos, 2);
        ck_assert_int_eq(matched, 2);
        ck_assert_int_eq(hipc_find(d, n, HIPC_F_SCORE, &cd, &cn), 1);
        hipc_get_f64(cd, cn, &score);
        ck_assert(score == mf_fused_score(s, both, 2));
    }
    hipc_client_close(c);
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("fusion");
    TCase    *rule = tcase_create("rule");
    TCase    *ops = tcase_create("ops");
    SRunner  *sr;
    int       failed;

    signal(SIGPIPE, SIG_IGN);
    tcase_add_test(rule, test_single_finger_unchanged);
    tcase_add_test(rule, test_closed_form);
    tcase_add_test(rule, test_impostor_rate_is_calibrated);
    tcase_set_timeout(rule, 60);
    suite_add_tcase(s, rule);
    tcase_set_timeout(ops, 60);
    tcase_add_checked_fixture(ops, setup, teardown);
    tcase_add_test(ops, test_decoding_is_strict);
    tcase_add_test(ops, test_fused_verify_and_identify);
    suite_add_tcase(s, ops);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
