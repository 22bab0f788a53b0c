/*
 * test_prefilter.c -- the 1:N pre-filter (prefilter.h) on the real FVC
 * templates and on garbage.
 *
 * Owns: checks that a template's signature scores its own finger's other
 * impressions above most impostors, that the top-K scan keeps the mate in a
 * gallery padded with synthetic distractors (huellactl synth's generator),
 * that the scan and the merge agree with one-by-one scoring, that the SIMD
 * kernel agrees with the scalar one, that the cheap re-rank score ranks
 * mates first, and that malformed stored bytes are refused.  No wall-clock assertions.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "fvc_data.h"
#include "match.h"
#include "prefilter.h"

#define SYNTH_N   2000

START_TEST(test_self_and_size)
{
    struct stored        st;
    uint8_t             *sig = malloc(hm_signature_size());
    struct hm_sigquery  *q;

    ck_assert_uint_eq(hm_signature_size(), HM_SIG_BYTES);
    ck_assert_uint_eq(HM_SIG_BYTES % 64, 0);
    fvc_load(0, 101, 1, &st);
    ck_assert_int_eq(hm_signature_from_stored(st.bytes, (size_t) st.len,
        sig), 0);
    q = hm_sigquery_new(st.bytes, (size_t) st.len);
    ck_assert_ptr_nonnull(q);
    /* Every probe cylinder finds itself: the top similarities are 1. */
    ck_assert_uint_eq(hm_sigquery_score(q, sig), 65536);
    hm_sigquery_free(q);
    free(st.bytes);
    free(sig);
}
END_TEST

/* Genuine impressions against impression 1 of the 10 fingers of a set:
 * the mate beats most impostors (FVC2002, the sets of ordinary quality). */
START_TEST(test_genuine_above_impostors)
{
    uint8_t   sigs[10][HM_SIG_BYTES];
    int       set, f, imp, g, probes = 0, above_most = 0;
    uint64_t  genuine = 0, impostor = 0;

    for (set = 0; set < 2; set++) {
        for (f = 0; f < 10; f++) {
            struct stored  st;

            fvc_load(set, 101 + f, 1, &st);
            ck_assert_int_eq(hm_signature_from_stored(st.bytes,
                (size_t) st.len, sigs[f]), 0);
            free(st.bytes);
        }
        for (f = 0; f < 10; f++) {
            for (imp = 2; imp <= 8; imp++) {
                struct stored        st;
                struct hm_sigquery  *q;
                uint32_t             mate;
                int                  beaten = 0;

                fvc_load(set, 101 + f, imp, &st);
                q = hm_sigquery_new(st.bytes, (size_t) st.len);
                ck_assert_ptr_nonnull(q);
                mate = hm_sigquery_score(q, sigs[f]);
                genuine += mate;
                for (g = 0; g < 10; g++) {
                    uint32_t  s = hm_sigquery_score(q, sigs[g]);

                    if (g != f) {
                        impostor += s;
                        beaten += mate > s;
                    }
                }
                above_most += beaten >= 7;      /* 7 of the 9 impostors */
                probes++;
                hm_sigquery_free(q);
                free(st.bytes);
            }
        }
    }
    ck_assert_int_eq(probes, 140);
    ck_assert_msg(above_most >= 126, "mate above 7 of 9 impostors for "
        "only %d of 140 probes", above_most);
    ck_assert_msg(genuine / 140 > impostor / (140 * 9) * 5 / 4,
        "mean genuine %llu vs impostor %llu",
        (unsigned long long) (genuine / 140),
        (unsigned long long) (impostor / (140 * 9)));
}
END_TEST

/* Gallery: impression 1 of the 40 real fingers + SYNTH_N synthetic ones;
 * the top 5% keeps the mate of (nearly) every FVC2002 probe, and the scan
 * agrees with one-by-one scoring and with a merge of two halves. */
START_TEST(test_topk_keeps_mate)
{
    char          dir[] = "/tmp/huella-test-prefilter-XXXXXX", path[1024];
    char          nbuf[16], *av[4];
    size_t        count = 40 + SYNTH_N, k = count / 20, i, n, na, nb, nm;
    uint8_t      *sigs = aligned_alloc(64, count * HM_SIG_BYTES);
    uint32_t     *idx = malloc(count * sizeof(uint32_t));
    uint32_t     *score = malloc(count * sizeof(uint32_t));
    uint32_t     *buf = malloc(6 * k * sizeof(uint32_t));
    int           set, f, imp, probes = 0, kept = 0, checked = 0;

    ck_assert_ptr_nonnull(sigs);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(nbuf, sizeof(nbuf), "%d", SYNTH_N);
    av[0] = "synth";
    av[1] = nbuf;
    av[2] = dir;
    av[3] = NULL;
    setenv("HUELLA_SHARED", shared_dir(), 1);
    ck_assert_int_eq(ctl_synth(3, av), 0);
    for (set = 0; set < 4; set++) {
        for (f = 0; f < 10; f++) {
            struct stored  st;

            fvc_load(set, 101 + f, 1, &st);
            hm_signature_from_stored(st.bytes, (size_t) st.len,
                sigs + (size_t) (set * 10 + f) * HM_SIG_BYTES);
            free(st.bytes);
        }
    }
    for (i = 0; i < SYNTH_N; i++) {
        struct stored  st;

        snprintf(path, sizeof(path), "%s/synth_%07zu.iso", dir, i);
        ck_assert_int_eq(load_path(path, &st), 0);
        ck_assert_int_eq(hm_signature_from_stored(st.bytes, (size_t) st.len,
            sigs + (40 + i) * HM_SIG_BYTES), 0);
        free(st.bytes);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
    unlink(path);
    rmdir(dir);

    for (set = 0; set < 2; set++) {
        for (f = 0; f < 10; f++) {
            for (imp = 2; imp <= 8; imp++) {
                struct stored        st;
                struct hm_sigquery  *q;
                uint32_t             mate = (uint32_t) (set * 10 + f);

                fvc_load(set, 101 + f, imp, &st);
                q = hm_sigquery_new(st.bytes, (size_t) st.len);
                n = hm_sig_topk(q, sigs, count, HM_SIG_BYTES, k, idx, score);
                ck_assert_uint_le(n, k);
                for (i = 0; i < n; i++) {
                    kept += idx[i] == mate;
                    ck_assert_uint_eq(score[i],
                        hm_sigquery_score(q, sigs + idx[i] * HM_SIG_BYTES));
                    if (i > 0) {
                        ck_assert(score[i - 1] > score[i]
                            || (score[i - 1] == score[i]
                                && idx[i - 1] < idx[i]));
                    }
                }
                /* Nothing left out scores above the last kept. */
                if (probes % 10 == 0 && n == k) {
                    uint8_t  *in = calloc(count, 1);
                    size_t    j;

                    for (j = 0; j < n; j++) {
                        in[idx[j]] = 1;
                    }
                    for (j = 0; j < count; j++) {
                        if (!in[j]) {
                            ck_assert_uint_le(hm_sigquery_score(q,
                                sigs + j * HM_SIG_BYTES), score[n - 1]);
                        }
                    }
                    free(in);
                    checked++;
                }
                /* Two halves merged = the whole. */
                na = hm_sig_topk(q, sigs, count / 2, HM_SIG_BYTES, k, buf,
                    buf + k);
                nb = hm_sig_topk(q, sigs + count / 2 * HM_SIG_BYTES,
                    count - count / 2, HM_SIG_BYTES, k, buf + 2 * k,
                    buf + 3 * k);
                for (i = 0; i < nb; i++) {
                    buf[2 * k + i] += (uint32_t) (count / 2);
                }
                nm = hm_sig_merge(buf, buf + k, na, buf + 2 * k, buf + 3 * k,
                    nb, k, buf + 4 * k, buf + 5 * k);
                ck_assert_uint_eq(nm, n);
                ck_assert_mem_eq(buf + 4 * k, idx, n * sizeof(uint32_t));
                ck_assert_mem_eq(buf + 5 * k, score, n * sizeof(uint32_t));
                probes++;
                hm_sigquery_free(q);
                free(st.bytes);
            }
        }
    }
    ck_assert_int_gt(checked, 0);
    /* Measured: 140 of 140; the exhaustive matcher itself misses some. */
    ck_assert_msg(kept >= 136, "top %zu of %zu kept the mate for %d of %d "
        "probes", k, count, kept, probes);
    free(sigs);
    free(idx);
    free(score);
    free(buf);
}
END_TEST

/* The SIMD kernel (which visits, per vector of probe cylinders, only the
 * signature cylinders in its direction range) against the scalar one,
 * which tries every pair: equal up to the last level of rounding (the
 * AVX-512 path's reciprocal), so no compatible pair is skipped.  The
 * scalar scores come from a child process started before this one chose
 * its kernel (HUELLA_PREFILTER_ISA is read once per process). */
START_TEST(test_simd_matches_scalar)
{
    enum { G = 40, P = 80 };
    static uint8_t   sigs[G][HM_SIG_BYTES];
    static uint32_t  simd[P][G], scalar[P][G];
    struct stored    probe[P];
    int              fd[2], g, p, status, exact = 0;
    pid_t            pid;
    size_t           got = 0;

    for (g = 0; g < G; g++) {
        struct stored  st;

        fvc_load(g / 10, 101 + g % 10, 1, &st);
        ck_assert_int_eq(hm_signature_from_stored(st.bytes, (size_t) st.len,
            sigs[g]), 0);
        free(st.bytes);
    }
    for (p = 0; p < P; p++) {
        fvc_load(p / 20, 101 + p % 10, 2 + p % 20 / 10, &probe[p]);
    }
    ck_assert_int_eq(pipe(fd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fd[0]);
        setenv("HUELLA_PREFILTER_ISA", "scalar", 1);
        for (p = 0; p < P; p++) {
            struct hm_sigquery  *q = hm_sigquery_new(probe[p].bytes,
                (size_t) probe[p].len);

            for (g = 0; g < G; g++) {
                scalar[p][g] = q ? hm_sigquery_score(q, sigs[g]) : 0;
            }
            hm_sigquery_free(q);
        }
        _exit(write(fd[1], scalar, sizeof(scalar)) == (ssize_t)
            sizeof(scalar) ? 0 : 1);
    }
    close(fd[1]);
    while (got < sizeof(scalar)) {
        ssize_t  n = read(fd[0], (uint8_t *) scalar + got,
            sizeof(scalar) - got);

        ck_assert_int_gt(n, 0);
        got += (size_t) n;
    }
    close(fd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (p = 0; p < P; p++) {
        struct hm_sigquery  *q = hm_sigquery_new(probe[p].bytes,
            (size_t) probe[p].len);

        ck_assert_ptr_nonnull(q);
        for (g = 0; g < G; g++) {
            simd[p][g] = hm_sigquery_score(q, sigs[g]);
            /* One level of one of the 12 averaged maxima: 65536 / (255 x
             * 12) ~ 21.4; two at most. */
            ck_assert_msg(abs((int) simd[p][g] - (int) scalar[p][g]) <= 43,
                "probe %d vs %d: %u (SIMD) vs %u (scalar)", p, g,
                simd[p][g], scalar[p][g]);
            exact += simd[p][g] == scalar[p][g];
        }
        hm_sigquery_free(q);
        free(probe[p].bytes);
    }
    ck_assert_msg(exact >= P * G * 9 / 10, "only %d of %d equal", exact,
        P * G);
}
END_TEST

/* The cheap re-rank score (hm_sigquery_rerank_score(), compare_lite.c):
 * 1 for the probe's own template, mates above impostors on average and
 * for most probes, 0 for malformed bytes. */
START_TEST(test_rerank_score)
{
    struct stored  gal[10], st;
    int            f, imp, g, probes = 0, above_most = 0;
    double         genuine = 0, impostor = 0;

    for (f = 0; f < 10; f++) {
        fvc_load(0, 101 + f, 1, &gal[f]);
    }
    for (f = 0; f < 10; f++) {
        struct hm_sigquery  *q = hm_sigquery_new(gal[f].bytes,
            (size_t) gal[f].len);

        ck_assert_ptr_nonnull(q);
        ck_assert(hm_sigquery_rerank_score(q, gal[f].bytes,
            (size_t) gal[f].len) == 1.0);
        ck_assert(hm_sigquery_rerank_score(q, gal[f].bytes,
            (size_t) gal[f].len - 1) == 0.0);
        ck_assert(hm_sigquery_rerank_score(q, NULL, 10) == 0.0);
        hm_sigquery_free(q);
    }
    ck_assert(hm_sigquery_rerank_score(NULL, gal[0].bytes,
        (size_t) gal[0].len) == 0.0);
    for (f = 0; f < 10; f++) {
        for (imp = 2; imp <= 8; imp++) {
            struct hm_sigquery  *q;
            double               mate;
            int                  beaten = 0;

            fvc_load(0, 101 + f, imp, &st);
            q = hm_sigquery_new(st.bytes, (size_t) st.len);
            ck_assert_ptr_nonnull(q);
            mate = hm_sigquery_rerank_score(q, gal[f].bytes,
                (size_t) gal[f].len);
            ck_assert(mate >= 0.0 && mate <= 1.0);
            genuine += mate;
            for (g = 0; g < 10; g++) {
                double  s = hm_sigquery_rerank_score(q, gal[g].bytes,
                    (size_t) gal[g].len);

                if (g != f) {
                    impostor += s;
                    beaten += mate > s;
                }
            }
            above_most += beaten >= 8;
            probes++;
            hm_sigquery_free(q);
            free(st.bytes);
        }
    }
    for (f = 0; f < 10; f++) {
        free(gal[f].bytes);
    }
    ck_assert_msg(above_most >= probes * 8 / 10, "mate above 8 of 9 "
        "impostors for only %d of %d probes", above_most, probes);
    ck_assert(genuine / probes > 1.2 * impostor / (probes * 9));
}
END_TEST

START_TEST(test_garbage_refused)
{
    uint8_t              sig[HM_SIG_BYTES], zero[HM_SIG_BYTES] = { 0 };
    uint8_t              junk[4096];
    struct stored        st;
    struct hm_sigquery  *q;
    uint32_t             idx[4], score[4];
    size_t               i;

    for (i = 0; i < sizeof(junk); i++) {
        junk[i] = (uint8_t) (i * 131 + 7);
    }
    memset(sig, 0xaa, sizeof(sig));
    ck_assert_int_eq(hm_signature_from_stored(junk, sizeof(junk), sig), -1);
    ck_assert_mem_eq(sig, zero, sizeof(sig));
    ck_assert_int_eq(hm_signature_from_stored(NULL, 100, sig), -1);
    ck_assert_int_eq(hm_signature_from_stored(junk, 0, sig), -1);
    ck_assert_ptr_null(hm_sigquery_new(junk, sizeof(junk)));
    ck_assert_ptr_null(hm_sigquery_new(NULL, 0));
    ck_assert_int_eq(hm_signature_from_fingerprint(NULL, sig), -1);

    fvc_load(0, 102, 1, &st);
    /* Truncated and extended stored bytes: the length must be exact. */
    ck_assert_int_eq(hm_signature_from_stored(st.bytes, (size_t) st.len - 1,
        sig), -1);
    ck_assert_ptr_null(hm_sigquery_new(st.bytes, (size_t) st.len + 1));
    st.bytes[0] ^= 0xff;        /* magic */
    ck_assert_ptr_null(hm_sigquery_new(st.bytes, (size_t) st.len));
    st.bytes[0] ^= 0xff;
    q = hm_sigquery_new(st.bytes, (size_t) st.len);
    ck_assert_ptr_nonnull(q);
    /* A free slot (all zero) and random bytes never crash; zero scores 0
     * and is never kept. */
    ck_assert_uint_eq(hm_sigquery_score(q, zero), 0);
    (void) hm_sigquery_score(q, junk);
    ck_assert_uint_eq(hm_sig_topk(q, zero, 1, HM_SIG_BYTES, 4, idx, score),
        0);
    ck_assert_uint_eq(hm_sig_topk(q, junk, 2, HM_SIG_BYTES - 1, 4, idx,
        score), 0);
    ck_assert_uint_eq(hm_sig_topk(NULL, junk, 2, HM_SIG_BYTES, 4, idx,
        score), 0);
    ck_assert_uint_eq(hm_sigquery_score(NULL, junk), 0);
    hm_sigquery_free(q);
    hm_sigquery_free(NULL);
    free(st.bytes);
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("prefilter");
    TCase    *tc = tcase_create("core");
    SRunner  *sr;
    int       failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_self_and_size);
    tcase_add_test(tc, test_genuine_above_impostors);
    tcase_add_test(tc, test_topk_keeps_mate);
    tcase_add_test(tc, test_simd_matches_scalar);
    tcase_add_test(tc, test_rerank_score);
    tcase_add_test(tc, test_garbage_refused);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
