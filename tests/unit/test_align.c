/*
 * test_align.c -- the global step's vector pairing paths (align.c) against
 * its scalar code, on the real FVC templates.
 *
 * Owns: checks that hm_compare() scores every ordered pair of the four
 * sets, and templates dense enough to overflow the candidate list, the
 * same to the last bit with the pairing on every path (scalar, AVX2,
 * AVX-512; under every path of the local step), and that
 * align_consolidate() under many placements (random anchors, a turned and
 * stretched copy, a dense grid) leaves the same result and the same pairs
 * every way.  A path the CPU lacks falls back to a lower one, which then
 * agrees trivially (the test says so).
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "fvc_data.h"
#include "match.h"
#include "mcc.h"

#define PER_SET  80
#define DENSE    2
#define ALL      (PER_SET + DENSE)

/* Minutiae 2 px apart, nearly parallel: every minutia has far more
 * pairing candidates than the list keeps (ALIGN_CANDS_MAX), so the SIMD
 * scan gives up and the scalar scan keeping the first runs. */
static void
dense_stored(int side, int count, int shift, unsigned seed, struct stored *st)
{
    static struct hm_fingerprint  fp;
    char                          err[256];
    int                           i;

    memset(&fp, 0, sizeof(fp));
    fp.width = 300;
    fp.height = 400;
    fp.res_x = fp.res_y = 197;
    fp.count = (uint16_t) count;
    for (i = 0; i < count; i++) {
        seed = seed * 1103515245u + 12345u;
        fp.m[i].x = (uint16_t) (100 + shift + 2 * (i % side));
        fp.m[i].y = (uint16_t) (150 + shift + 2 * (i / side));
        fp.m[i].angle = (uint8_t) (60 + (seed >> 16) % 8);
        fp.m[i].type = (uint8_t) (1 + (seed >> 20) % 2);
    }
    st->bytes = malloc(HM_STORED_MAX);
    ck_assert_ptr_nonnull(st->bytes);
    st->len = hm_encode(&fp, st->bytes, HM_STORED_MAX, err, sizeof(err));
    ck_assert_msg(st->len > 0, "%s", err);
}

/* Every minutia of a stored template, as compare.c reads them. */
static int
points_of(const struct stored *st, struct mcc_point *pt)
{
    struct mcc_header  h;
    int                i;

    ck_assert_int_eq(mcc_header_read(st->bytes, (size_t) st->len, &h), 0);
    for (i = 0; i < h.minutiae; i++) {
        mcc_point_decode(st->bytes + MCC_HEADER_BYTES
            + (size_t) h.cylinders * MCC_CYL_BYTES
            + (size_t) i * MCC_MINUTIA_BYTES, &pt[i]);
    }
    return h.minutiae;
}

START_TEST(scores_same_on_every_path)
{
    static struct stored  t[ALL];
    static double         scalar[ALL][ALL];
    struct hm_scratch    *scratch = hm_scratch_new();
    int                   s, i, j, local, way, differ = 0, nonzero = 0;
    int                   local_default = mcc_compare_isa(-1);
    int                   pairing_default = align_pairing_isa(-1);

    ck_assert_ptr_nonnull(scratch);
    for (i = 0; i < DENSE; i++) {
        dense_stored(16, 200, 3 * i, 7 + (unsigned) i, &t[PER_SET + i]);
    }
    for (s = 0; s < 4; s++) {
        for (i = 0; i < PER_SET; i++) {
            fvc_load(s, 101 + i / 8, 1 + i % 8, &t[i]);
        }
        for (local = HM_ISA_SCALAR; local <= HM_ISA_AVX512; local++) {
            mcc_compare_isa(local);
            for (way = HM_ISA_SCALAR; way <= HM_ISA_AVX512; way++) {
                align_pairing_isa(way);
                for (i = 0; i < ALL; i++) {
                    struct hm_probe  *probe = hm_probe_new(t[i].bytes,
                        (size_t) t[i].len);

                    ck_assert_ptr_nonnull(probe);
                    for (j = 0; j < ALL; j++) {
                        double  v = hm_compare(probe, t[j].bytes,
                            (size_t) t[j].len, scratch);

                        if (way == HM_ISA_SCALAR) {
                            scalar[i][j] = v;
                            nonzero += v > 0.0;
                        } else if (memcmp(&v, &scalar[i][j], sizeof(v))
                                   != 0 && differ++ < 5)
                        {
                            fprintf(stderr, "%s %d %d (local step %s): "
                                "%.17g pairing %s, %.17g scalar\n",
                                fvc_set(s), i, j, mcc_isa_name(local), v,
                                mcc_isa_name(way), scalar[i][j]);
                        }
                    }
                    hm_probe_free(probe);
                }
            }
        }
        for (i = 0; i < PER_SET; i++) {
            free(t[i].bytes);
        }
    }
    for (i = 0; i < DENSE; i++) {
        free(t[PER_SET + i].bytes);
    }
    for (way = HM_ISA_AVX2; way <= HM_ISA_AVX512; way++) {
        if (align_pairing_isa(way) != way) {
            fprintf(stderr, "scores_same_on_every_path: no %s pairing "
                "here\n", mcc_isa_name(way));
        }
    }
#if defined(__x86_64__) && defined(__GNUC__)
    /* Every x86-64 build has the AVX2 pairing: a CPU with AVX2 takes it
     * when asked (HUELLA_ALIGN_ISA caps only the default). */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        ck_assert_int_eq(align_pairing_isa(HM_ISA_AVX2), HM_ISA_AVX2);
    }
#endif
    mcc_compare_isa(local_default);
    align_pairing_isa(pairing_default);
    ck_assert_int_eq(differ, 0);
    ck_assert_int_gt(nonzero, 3 * 4 * PER_SET * (PER_SET - 1) / 2);
    hm_scratch_free(scratch);
}
END_TEST

static unsigned
rng(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

/* align_consolidate() of b on a's grid with the k anchors given, on every
 * path: the same result and the same last pairing as the scalar code, bit
 * for bit.  Returns the pairs found. */
static int
consolidate_every_way(const struct mcc_point *a, int na,
    const struct mcc_point *b, int nb, const struct mcc_point *pa,
    const struct mcc_point *pb, const float *w, int k)
{
    static struct align_grid  g;
    static struct align_work  wk[HM_ISA_AVX512 + 1];
    struct align_result       res[HM_ISA_AVX512 + 1];
    int                       way;

    align_grid_build(a, na, &g);
    for (way = HM_ISA_SCALAR; way <= HM_ISA_AVX512; way++) {
        align_pairing_isa(way);
        memset(&wk[way], 0, sizeof(wk[way]));
        memset(&res[way], 0, sizeof(res[way]));
        align_consolidate(&g, b, nb, pa, pb, w, k, &wk[way], &res[way]);
    }
    for (way = HM_ISA_AVX2; way <= HM_ISA_AVX512; way++) {
        const char  *name = mcc_isa_name(way);

        ck_assert_int_eq(res[way].paired, res[0].paired);
        ck_assert_int_eq(res[way].overlap_a, res[0].overlap_a);
        ck_assert_int_eq(res[way].overlap_b, res[0].overlap_b);
        ck_assert_msg(memcmp(&res[way].weighted, &res[0].weighted,
            sizeof(float)) == 0, "weighted %.9g %s, %.9g scalar",
            res[way].weighted, name, res[0].weighted);
        ck_assert_msg(memcmp(&wk[way].weighted, &wk[0].weighted,
            sizeof(float)) == 0, "last pairing %.9g %s, %.9g scalar",
            wk[way].weighted, name, wk[0].weighted);
        ck_assert(memcmp(wk[way].pair_a, wk[0].pair_a,
            sizeof(wk[0].pair_a)) == 0);
        ck_assert(memcmp(wk[way].pair_b, wk[0].pair_b,
            sizeof(wk[0].pair_b)) == 0);
    }
    return res[0].paired;
}

START_TEST(consolidation_same_on_every_path)
{
    static struct mcc_point  a[HM_MAX_MINUTIAE], b[HM_MAX_MINUTIAE];
    struct mcc_point         pa[8], pb[8];
    float                    w[8];
    struct stored            sa, sb;
    unsigned                 seed = 1;
    int                      s, f, trial, i, k, na, nb, paired = 0;
    int                      pairing_default = align_pairing_isa(-1);

    /* Genuine and impostor pairs, placed by random anchors: mostly poor
     * placements, so the single-anchor fallbacks run too. */
    for (s = 0; s < 4; s++) {
        for (f = 0; f < 10; f++) {
            fvc_load(s, 101 + f, 1, &sa);
            fvc_load(s, 101 + (f + f % 2) % 10, 2 + f % 7, &sb);
            na = points_of(&sa, a);
            nb = points_of(&sb, b);
            for (trial = 0; trial < 20; trial++) {
                k = 1 + (int) (rng(&seed) % 6);
                for (i = 0; i < k; i++) {
                    pa[i] = a[rng(&seed) % (unsigned) na];
                    pb[i] = b[rng(&seed) % (unsigned) nb];
                    w[i] = (float) (1 + rng(&seed) % 100) / 100.0f;
                }
                consolidate_every_way(a, na, b, nb, pa, pb, w, k);
            }
            /* A turned, stretched and shifted copy of a, anchored on true
             * pairs: many pairs, so the affine refit and the pairing
             * under a stretching placement run. */
            for (i = 0; i < na; i++) {
                float  x = a[i].x - 150.0f, y = a[i].y - 200.0f;

                b[i] = a[i];
                b[i].x = 1.12f * (0.94f * x - 0.34f * y) + 170.0f
                    + (float) (rng(&seed) % 5) - 2.0f;
                b[i].y = 0.9f * (0.34f * x + 0.94f * y) + 190.0f
                    + (float) (rng(&seed) % 5) - 2.0f;
                b[i].angle_units = (uint8_t) (a[i].angle_units + 14);
            }
            for (k = 1; k <= 6; k++) {
                for (i = 0; i < k; i++) {
                    int  c = (int) (rng(&seed) % (unsigned) na);

                    pa[i] = a[c];
                    pb[i] = b[c];
                    w[i] = 1.0f;
                }
                paired += consolidate_every_way(a, na, b, na, pa, pb, w,
                    k);
            }
            free(sa.bytes);
            free(sb.bytes);
        }
    }
    /* The copies pair most of their minutiae (the refit has run). */
    ck_assert_int_gt(paired, 4 * 10 * 6 * 10);
    /* Dense grids: the candidate list overflows. */
    dense_stored(16, 255, 0, 1, &sa);
    dense_stored(14, 196, 3, 2, &sb);
    na = points_of(&sa, a);
    nb = points_of(&sb, b);
    for (k = 1; k <= 3; k++) {
        pa[k - 1] = a[k * 40];
        pb[k - 1] = b[k * 30];
        w[k - 1] = 1.0f;
        consolidate_every_way(a, na, b, nb, pa, pb, w, k);
        consolidate_every_way(b, nb, a, na, pb, pa, w, k);
    }
    free(sa.bytes);
    free(sb.bytes);
    align_pairing_isa(pairing_default);
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("align");
    TCase    *tc = tcase_create("pairing");
    SRunner  *sr;
    int       failed;

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, scores_same_on_every_path);
    tcase_add_test(tc, consolidation_same_on_every_path);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
