/*
 * test_match.c -- the MCC matcher through its public API (match.h).
 *
 * Owns: behaviour checks on the real FVC templates (self match, genuine
 * above impostor, the same score whichever template is the probe), the stored form's integrity check
 * against garbage and corruption, which minutiae keep a cylinder,
 * calibration monotonicity, the enrollment quality gate, and the SIMD
 * comparison scoring exactly as the scalar one.
 */

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "mcc.h"

#define FILE_MAX 65536

struct stored {
    uint8_t  bytes[HM_STORED_MAX];
    long     len;
};

static const char *
shared_dir(void)
{
    const char  *dir = getenv("HUELLA_SHARED");

    return dir != NULL && dir[0] != '\0' ? dir : "../shared";
}

static void
load_fp(const char *set, int finger, int imp, struct hm_fingerprint *fp)
{
    char     path[1024], err[256];
    uint8_t  buf[FILE_MAX];
    FILE    *f;
    size_t   n;

    snprintf(path, sizeof(path), "%s/data/%s/%d_%d.iso", shared_dir(), set,
        finger, imp);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (set HUELLA_SHARED)", path);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ck_assert_msg(hm_parse(1, buf, n, fp, err, sizeof(err)) == 0, "%s: %s",
        path, err);
}

static void
load_stored(const char *set, int finger, int imp, struct stored *st)
{
    struct hm_fingerprint  fp;
    char                   err[256];

    load_fp(set, finger, imp, &fp);
    st->len = hm_encode(&fp, st->bytes, sizeof(st->bytes), err, sizeof(err));
    ck_assert_msg(st->len > 0, "%s %d_%d: %s", set, finger, imp, err);
}

static double
score(const struct stored *a, const struct stored *b,
    struct hm_scratch *scratch)
{
    struct hm_probe  *probe = hm_probe_new(a->bytes, (size_t) a->len);
    double            s;

    ck_assert_ptr_nonnull(probe);
    s = hm_compare(probe, b->bytes, (size_t) b->len, scratch);
    hm_probe_free(probe);
    return s;
}

START_TEST(encode_is_checked_and_deterministic)
{
    static struct stored  a, b;

    load_stored("fvc2002/DB1_B", 101, 1, &a);
    load_stored("fvc2002/DB1_B", 101, 1, &b);
    ck_assert_int_eq(a.len, b.len);
    ck_assert_mem_eq(a.bytes, b.bytes, (size_t) a.len);
    ck_assert_int_eq(hm_stored_check(a.bytes, (size_t) a.len), 0);
    ck_assert_uint_eq(hm_stored_minutiae(a.bytes, (size_t) a.len), 25);
    ck_assert_uint_le(hm_stored_cylinders(a.bytes, (size_t) a.len), 25);
    ck_assert_uint_gt(hm_stored_cylinders(a.bytes, (size_t) a.len), 10);
    ck_assert_uint_le(hm_stored_quality(a.bytes, (size_t) a.len), 100);
    ck_assert_uint_gt(hm_stored_quality(a.bytes, (size_t) a.len), 0);
    /* Version byte and magic. */
    ck_assert_int_eq(a.bytes[0], 'H');
    ck_assert_int_eq(a.bytes[1], 'M');
}
END_TEST

START_TEST(stored_check_rejects_garbage)
{
    static struct stored  a;
    static uint8_t        buf[HM_STORED_MAX];
    unsigned              seed = 7, i, accepted = 0;
    size_t                cut;

    load_stored("fvc2004/DB2_B", 104, 2, &a);
    ck_assert_int_eq(hm_stored_check(NULL, 0), -1);
    for (cut = 0; cut < (size_t) a.len; cut++) {
        ck_assert_int_eq(hm_stored_check(a.bytes, cut), -1);
    }
    memcpy(buf, a.bytes, (size_t) a.len);
    buf[2]++;                                  /* unknown version */
    ck_assert_int_eq(hm_stored_check(buf, (size_t) a.len), -1);
    memcpy(buf, a.bytes, (size_t) a.len);
    buf[0] = 'X';
    ck_assert_int_eq(hm_stored_check(buf, (size_t) a.len), -1);
    memcpy(buf, a.bytes, (size_t) a.len);
    buf[6]++;                                  /* cylinder count */
    ck_assert_int_eq(hm_stored_check(buf, (size_t) a.len), -1);
    /* Neighbour records (the last section): a distance of 0, beyond
     * 120 px, nearest not first, a neighbour after an absent one. */
    {
        unsigned  cyl = hm_stored_cylinders(a.bytes, (size_t) a.len);
        size_t    nb = (size_t) a.len - cyl * 18, last = (size_t) a.len - 18;

        ck_assert_int_eq(a.bytes[nb] != 0xff && a.bytes[nb + 3] != 0xff, 1);
        memcpy(buf, a.bytes, (size_t) a.len);
        buf[nb] = 0;
        ck_assert_int_eq(hm_stored_check(buf, (size_t) a.len), -1);
        memcpy(buf, a.bytes, (size_t) a.len);
        buf[nb] = 241;
        ck_assert_int_eq(hm_stored_check(buf, (size_t) a.len), -1);
        memcpy(buf, a.bytes, (size_t) a.len);
        buf[nb] = (uint8_t) (a.bytes[nb + 3] + 1);
        ck_assert_int_eq(hm_stored_check(buf, (size_t) a.len), -1);
        memcpy(buf, a.bytes, (size_t) a.len);
        buf[last] = 0xff;
        buf[last + 1] = buf[last + 2] = 0;
        ck_assert_int_eq(hm_stored_check(buf, (size_t) a.len), -1);
    }
    for (i = 0; i < 1000; i++) {
        size_t  j;

        for (j = 0; j < (size_t) a.len; j++) {
            seed = seed * 1103515245 + 12345;
            buf[j] = (uint8_t) (seed >> 16);
        }
        accepted += hm_stored_check(buf, (size_t) a.len) == 0;
    }
    ck_assert_uint_eq(accepted, 0);
    /* Garbage handed to compare and probe_new anyway must not crash. */
    ck_assert_ptr_null(hm_probe_new(buf, (size_t) a.len));
    {
        struct hm_probe    *probe = hm_probe_new(a.bytes, (size_t) a.len);
        struct hm_scratch  *scratch = hm_scratch_new();

        ck_assert_double_eq(hm_compare(probe, buf, (size_t) a.len, scratch),
            0.0);
        ck_assert_double_eq(hm_compare(probe, a.bytes, 3, scratch), 0.0);
        hm_probe_free(probe);
        hm_scratch_free(scratch);
    }
}
END_TEST

START_TEST(encode_refuses_too_few_minutiae)
{
    struct hm_fingerprint  fp;
    static uint8_t         out[HM_STORED_MAX];
    char                   err[256] = "";

    load_fp("fvc2002/DB1_B", 101, 1, &fp);
    fp.count = 2;
    ck_assert_int_eq(hm_encode(&fp, out, sizeof(out), err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "minutiae"));
    load_fp("fvc2002/DB1_B", 101, 1, &fp);
    ck_assert_int_eq(hm_encode(&fp, out, 100, err, sizeof(err)), -1);
}
END_TEST

START_TEST(self_match_high_and_symmetric)
{
    static struct stored  a, b;
    struct hm_scratch    *scratch = hm_scratch_new();
    double                self, ab, ba;

    load_stored("fvc2002/DB2_B", 106, 1, &a);
    load_stored("fvc2002/DB2_B", 106, 3, &b);
    self = score(&a, &a, scratch);
    ab = score(&a, &b, scratch);
    ba = score(&b, &a, scratch);
    ck_assert_double_gt(self, 0.5);
    ck_assert_double_le(self, 1.0);
    ck_assert_double_gt(self, ab);
    ck_assert_double_lt(fabs(ab - ba), 0.25 * (ab > ba ? ab : ba) + 0.01);
    hm_scratch_free(scratch);
}
END_TEST

/* Which template is the probe does not matter: every step treats the two
 * alike (docs/matcher.md, "One score both ways").  Bit for bit, but for a
 * pair whose affine placement pairs a minutia on the edge of the tolerance
 * one way and not the other (float rounding: 1 of the 12,640 FVC pairs). */
START_TEST(score_same_both_ways)
{
    static const char    *sets[] = { "fvc2002/DB1_B", "fvc2002/DB2_B",
        "fvc2004/DB1_B", "fvc2004/DB2_B" };
    static struct stored  t[16];
    struct hm_scratch    *scratch = hm_scratch_new();
    int                   s, i, j, pairs = 0, exact = 0;

    for (s = 0; s < 4; s++) {
        for (i = 0; i < 16; i++) {
            load_stored(sets[s], 101 + i / 4, 1 + i % 4, &t[i]);
        }
        for (i = 0; i < 16; i++) {
            for (j = i + 1; j < 16; j++) {
                double  ab = score(&t[i], &t[j], scratch);
                double  ba = score(&t[j], &t[i], scratch);

                ck_assert_msg(fabs(ab - ba) < 0.01, "%s %d_%d %d_%d: %.6f "
                    "one way, %.6f the other", sets[s], 101 + i / 4,
                    1 + i % 4, 101 + j / 4, 1 + j % 4, ab, ba);
                exact += ab == ba;
                pairs++;
            }
        }
    }
    ck_assert_msg(exact >= pairs - pairs / 100, "%d of %d pairs score the "
        "same both ways", exact, pairs);
    hm_scratch_free(scratch);
}
END_TEST

/* A template denser than ridges allow: minutiae on a 2 px grid, all
 * pointing nearly the same way, so that every minutia of one has far more
 * candidates within the pairing tolerance than the global step keeps
 * (ALIGN_CANDS_MAX).  What it keeps must not depend on which print is
 * the probe. */
static void
dense_grid(struct hm_fingerprint *fp, int side, int count, int shift,
    unsigned seed)
{
    int  i;

    memset(fp, 0, sizeof(*fp));
    fp->width = 300;
    fp->height = 400;
    fp->res_x = fp->res_y = 197;
    fp->count = (uint16_t) count;
    for (i = 0; i < count; i++) {
        seed = seed * 1103515245u + 12345u;
        fp->m[i].x = (uint16_t) (100 + shift + 2 * (i % side));
        fp->m[i].y = (uint16_t) (150 + shift + 2 * (i / side));
        fp->m[i].angle = (uint8_t) (60 + (seed >> 16) % 8);
        fp->m[i].type = (uint8_t) (1 + (seed >> 20) % 2);
    }
}

START_TEST(dense_templates_score_the_same_both_ways)
{
    static struct stored   a, b;
    struct hm_fingerprint  fp;
    struct hm_scratch     *scratch = hm_scratch_new();
    char                   err[256];
    double                 ab, ba;

    dense_grid(&fp, 16, 255, 0, 1);
    a.len = hm_encode(&fp, a.bytes, sizeof(a.bytes), err, sizeof(err));
    ck_assert_msg(a.len > 0, "%s", err);
    dense_grid(&fp, 14, 196, 3, 2);
    b.len = hm_encode(&fp, b.bytes, sizeof(b.bytes), err, sizeof(err));
    ck_assert_msg(b.len > 0, "%s", err);
    ab = score(&a, &b, scratch);
    ba = score(&b, &a, scratch);
    ck_assert_msg(fabs(ab - ba) < 1e-4, "%.6f one way, %.6f the other", ab,
        ba);
    hm_scratch_free(scratch);
}
END_TEST

/* On every set: genuine pairs outscore impostor pairs on average by far,
 * and most fingers' impression 2 ranks its own impression 1 first. */
START_TEST(genuine_above_impostor)
{
    static const char    *sets[] = { "fvc2002/DB1_B", "fvc2002/DB2_B",
        "fvc2004/DB1_B", "fvc2004/DB2_B" };
    static struct stored  enrolled[10], probe_st;
    struct hm_scratch    *scratch = hm_scratch_new();
    int                   s, f, g, rank1;

    for (s = 0; s < 4; s++) {
        double  genuine = 0.0, impostor = 0.0;

        rank1 = 0;
        for (f = 0; f < 10; f++) {
            load_stored(sets[s], 101 + f, 1, &enrolled[f]);
        }
        for (f = 0; f < 10; f++) {
            struct hm_probe  *probe;
            double            best = -1.0, sc;
            int               best_g = -1;

            load_stored(sets[s], 101 + f, 2, &probe_st);
            probe = hm_probe_new(probe_st.bytes, (size_t) probe_st.len);
            for (g = 0; g < 10; g++) {
                sc = hm_compare(probe, enrolled[g].bytes,
                    (size_t) enrolled[g].len, scratch);
                if (g == f) {
                    genuine += sc / 10;
                } else {
                    impostor += sc / 90;
                }
                if (sc > best) {
                    best = sc;
                    best_g = g;
                }
            }
            rank1 += best_g == f;
            hm_probe_free(probe);
        }
        /* 2.5: the score is a geometric mean (MCC x pairing), which
         * narrows ratios. */
        ck_assert_msg(genuine > 2.5 * impostor, "%s: genuine %.4f impostor "
            "%.4f", sets[s], genuine, impostor);
        ck_assert_msg(rank1 >= 6, "%s: rank-1 %d of 10", sets[s], rank1);
    }
    hm_scratch_free(scratch);
}
END_TEST

/* The same impression turned and stretched unevenly (as two impressions
 * of one finger turned differently, then resized ignoring aspect ratio,
 * differ): still far above the 1e-4 threshold, thanks to the global step's
 * affine refit; and far above an impostor. */
static void
warp(struct hm_fingerprint *fp, double degrees, double sx, double sy)
{
    double  c = cos(degrees * M_PI / 180.0), s = sin(degrees * M_PI / 180.0);
    double  cx = fp->width / 2.0, cy = fp->height / 2.0;
    int     i;

    for (i = 0; i < fp->count; i++) {
        struct hm_minutia  *m = &fp->m[i];
        double  x = m->x - cx, y = m->y - cy;
        double  t = m->angle * (2.0 * M_PI / 256.0);
        /* ISO angles turn counter-clockwise with y pointing down. */
        double  dx = cos(t), dy = -sin(t);
        double  rx = c * x - s * y, ry = s * x + c * y;
        double  ex = c * dx - s * dy, ey = s * dx + c * dy;

        m->x = (uint16_t) lround(cx + sx * rx + 200.0);
        m->y = (uint16_t) lround(cy + sy * ry + 200.0);
        t = atan2(-sy * ey, sx * ex);
        m->angle = (uint8_t) ((long) lround(t * 256.0 / (2.0 * M_PI)) & 255);
    }
}

START_TEST(turned_and_stretched_copy_matches)
{
    static struct stored   a, b, other;
    struct hm_fingerprint  fp;
    struct hm_scratch     *scratch = hm_scratch_new();
    double                 threshold = hm_threshold_for_fmr(1e-4), sc, imp;
    char                   err[256];

    load_stored("fvc2002/DB1_B", 103, 1, &a);
    load_stored("fvc2002/DB1_B", 105, 1, &other);
    load_fp("fvc2002/DB1_B", 103, 1, &fp);
    warp(&fp, 20.0, 1.2, 0.85);
    b.len = hm_encode(&fp, b.bytes, sizeof(b.bytes), err, sizeof(err));
    ck_assert_msg(b.len > 0, "%s", err);
    sc = score(&a, &b, scratch);
    imp = score(&other, &b, scratch);
    ck_assert_msg(sc > 2 * threshold, "score %.4f, threshold %.4f", sc,
        threshold);
    ck_assert_msg(sc > 4 * imp, "score %.4f, impostor %.4f", sc, imp);
    hm_scratch_free(scratch);
}
END_TEST

START_TEST(calibration_monotone_and_inverse)
{
    double  fmr, prev = 2.0, s;

    for (s = 0.0; s <= 1.0; s += 0.01) {
        fmr = hm_fmr_for_score(s);
        ck_assert_double_le(fmr, prev);
        ck_assert_double_ge(fmr, 0.0);
        ck_assert_double_le(fmr, 1.0);
        prev = fmr;
    }
    for (fmr = 1e-1; fmr >= 1e-8; fmr /= 10) {
        double  t = hm_threshold_for_fmr(fmr);

        ck_assert_double_lt(fabs(log10(hm_fmr_for_score(t)) - log10(fmr)),
            1e-6);
        ck_assert_double_gt(hm_threshold_for_fmr(fmr / 10), t);
    }
}
END_TEST

/* The score -> FMR table of docs/matcher.md ("Calibration") is what the
 * code computes, row for row (to its 3 decimals): recalibrating means
 * changing both. */
START_TEST(calibration_matches_documented_table)
{
    static const struct { double score, fmr; } table[] = {
        { 0.028, 0.5 }, { 0.051, 1e-1 }, { 0.082, 1e-2 }, { 0.123, 1e-3 },
        { 0.164, 1e-4 }, { 0.205, 1e-5 }, { 0.246, 1e-6 },
    };
    size_t  i;

    ck_assert_double_eq(hm_fmr_for_score(0.0), 1.0);
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        ck_assert_msg(fabs(hm_threshold_for_fmr(table[i].fmr)
                - table[i].score) < 0.0005, "FMR %g: threshold %.4f, the "
            "table says %.3f", table[i].fmr,
            hm_threshold_for_fmr(table[i].fmr), table[i].score);
    }
}
END_TEST

/* A sliver of a print (one row of minutiae, as at the edge of a partial
 * capture): the two at its ends see less than 75% of their disk inside the
 * print, but enough to be compared (60%): they keep their cylinders. */
START_TEST(edge_minutiae_keep_their_cylinders)
{
    static struct hm_fingerprint  fp;
    static struct stored          st;
    char                          err[256];
    int                           i;

    memset(&fp, 0, sizeof(fp));
    fp.width = fp.height = 400;
    fp.res_x = fp.res_y = 197;
    for (i = 0; i < 14; i++) {
        fp.m[i].x = (uint16_t) (60 + 20 * i);
        fp.m[i].y = 200;
        fp.m[i].angle = (uint8_t) (i * 37);
        fp.m[i].type = (uint8_t) (1 + i % 2);
    }
    fp.count = 14;
    st.len = hm_encode(&fp, st.bytes, sizeof(st.bytes), err, sizeof(err));
    ck_assert_msg(st.len > 0, "%s", err);
    ck_assert_uint_eq(hm_stored_cylinders(st.bytes, (size_t) st.len), 14);
}
END_TEST

START_TEST(quality_gate)
{
    struct hm_fingerprint  fp;
    char                   err[256] = "";

    load_fp("fvc2002/DB2_B", 101, 1, &fp);
    ck_assert_msg(hm_quality_gate(&fp, err, sizeof(err)) == 0, "%s", err);
    fp.count = 8;
    ck_assert_int_eq(hm_quality_gate(&fp, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "minutiae"));
    load_fp("fvc2002/DB2_B", 101, 1, &fp);
    fp.finger_quality = 5;
    ck_assert_int_eq(hm_quality_gate(&fp, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "quality"));
    /* Every real template passes; minutiae 2 px apart cannot be a print. */
    load_fp("fvc2004/DB1_B", 106, 5, &fp);
    ck_assert_msg(hm_quality_gate(&fp, err, sizeof(err)) == 0, "%s", err);
    dense_grid(&fp, 16, 255, 0, 1);
    ck_assert_int_eq(hm_quality_gate(&fp, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "closer than ridges allow"));
}
END_TEST

/* hm_compare()'s vector paths (AVX2, AVX-512) against its scalar path:
 * every ordered pair of the four FVC sets, and the dense templates that
 * fill every list, score the same to the last bit (the local step and
 * the relaxation's compatibilities of both; a one-ulp change in the AVX2
 * arc tangent's polynomial, or one operand of its carry-save adders,
 * makes it fail).  A path the CPU lacks
 * falls back to a lower one, which agrees trivially (the test says so). */
START_TEST(isa_scores_as_scalar)
{
    static const char    *sets[] = { "fvc2002/DB1_B", "fvc2002/DB2_B",
        "fvc2004/DB1_B", "fvc2004/DB2_B" };
    static struct stored  t[82];
    static double         scalar[82][82];
    struct hm_fingerprint fp;
    struct hm_scratch    *scratch = hm_scratch_new();
    char                  err[256];
    int                   s, i, j, way, differ = 0, nonzero = 0;
    int                   isa_default = mcc_compare_isa(-1);

    for (s = 0; s < 4; s++) {
        for (i = 0; i < 80; i++) {
            load_stored(sets[s], 101 + i / 8, 1 + i % 8, &t[i]);
        }
        for (i = 0; i < 2; i++) {
            dense_grid(&fp, 16, 200, 3 * i, 7 + (unsigned) i);
            t[80 + i].len = hm_encode(&fp, t[80 + i].bytes,
                sizeof(t[80 + i].bytes), err, sizeof(err));
            ck_assert_msg(t[80 + i].len > 0, "%s", err);
        }
        for (way = HM_ISA_SCALAR; way <= HM_ISA_AVX512; way++) {
            mcc_compare_isa(way);
            for (i = 0; i < 82; i++) {
                struct hm_probe  *probe = hm_probe_new(t[i].bytes,
                    (size_t) t[i].len);

                ck_assert_ptr_nonnull(probe);
                for (j = 0; j < 82; j++) {
                    double  v = hm_compare(probe, t[j].bytes,
                        (size_t) t[j].len, scratch);

                    if (way == HM_ISA_SCALAR) {
                        scalar[i][j] = v;
                        nonzero += v > 0.0;
                    } else if (memcmp(&v, &scalar[i][j], sizeof(v)) != 0) {
                        if (differ++ < 5) {
                            fprintf(stderr, "%s %d %d: %.17g %s, %.17g "
                                "scalar\n", sets[s], i, j, v,
                                mcc_isa_name(way), scalar[i][j]);
                        }
                    }
                }
                hm_probe_free(probe);
            }
        }
    }
    for (way = HM_ISA_AVX2; way <= HM_ISA_AVX512; way++) {
        if (mcc_compare_isa(way) != way) {
            fprintf(stderr, "isa_scores_as_scalar: no %s path here\n",
                mcc_isa_name(way));
        }
    }
#if defined(__x86_64__) && defined(__GNUC__)
    /* A CPU with AVX2 must get the AVX2 path (not silently the scalar
     * one, which would agree trivially). */
    if (__builtin_cpu_supports("avx2")) {
        ck_assert_int_eq(mcc_compare_isa(HM_ISA_AVX2), HM_ISA_AVX2);
    }
#endif
    mcc_compare_isa(isa_default);
    ck_assert_int_eq(differ, 0);
    ck_assert_int_gt(nonzero, 4 * 80 * 79 / 2);
    hm_scratch_free(scratch);
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("match");
    TCase    *tc = tcase_create("mcc");
    SRunner  *sr;
    int       failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, encode_is_checked_and_deterministic);
    tcase_add_test(tc, stored_check_rejects_garbage);
    tcase_add_test(tc, encode_refuses_too_few_minutiae);
    tcase_add_test(tc, self_match_high_and_symmetric);
    tcase_add_test(tc, score_same_both_ways);
    tcase_add_test(tc, dense_templates_score_the_same_both_ways);
    tcase_add_test(tc, genuine_above_impostor);
    tcase_add_test(tc, turned_and_stretched_copy_matches);
    tcase_add_test(tc, calibration_monotone_and_inverse);
    tcase_add_test(tc, calibration_matches_documented_table);
    tcase_add_test(tc, edge_minutiae_keep_their_cylinders);
    tcase_add_test(tc, quality_gate);
    tcase_add_test(tc, isa_scores_as_scalar);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
