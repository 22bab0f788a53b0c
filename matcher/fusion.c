/*
 * fusion.c -- score-level fusion of independent fingers (fusion.h).
 *
 * The fused false match rate is Fisher's combination of the per-finger
 * rates, not their bare product: for an impostor each calibrated FMR is
 * uniform on (0,1), and a product of m uniforms falls below t with
 * probability t * sum_{k<m} (-ln t)^k / k!, so thresholding the product at
 * the target rate would multiply the real false match rate by that sum
 * (about 10x for two fingers at 1e-4, and over half of all impostors for
 * ten fingers).  Fisher's tail gives the exact rate under independence.
 * Worked in natural logs so ten strong fingers do not underflow.
 */

#include "fusion.h"

#include <math.h>

#include "match.h"

double
hm_fuse_scores(const double *scores, unsigned n)
{
    double    neg_log = 0.0, term = 1.0, tail = 1.0, log_fmr, fmr;
    unsigned  i, m = 0;

    if (n == 0) {
        return 0.0;
    }
    if (n == 1) {
        /* A single finger keeps its own score exactly: mapping it through
         * the calibration and back would round it. */
        return scores[0];
    }
    for (i = 0; i < n; i++) {
        /* !(x > 0) also catches NaN: no evidence, not counted. */
        if (!(scores[i] > 0.0)) {
            continue;
        }
        m++;
        fmr = hm_fmr_for_score(scores[i]);
        if (fmr < 1.0) {
            neg_log -= log(fmr);
        }
    }
    if (m == 0) {
        return hm_threshold_for_fmr(1.0);
    }
    /* P(chi^2 with 2m degrees of freedom >= 2 * neg_log) */
    for (i = 1; i < m; i++) {
        term *= neg_log / i;
        tail += term;
    }
    log_fmr = -neg_log + log(tail);
    if (log_fmr > 0.0) {
        log_fmr = 0.0;
    }
    /* hm_threshold_for_fmr() clamps to its floor (the highest calibrated
     * score); FMR 1 gives its lowest, 0. */
    return hm_threshold_for_fmr(exp(log_fmr < -690.0 ? -690.0 : log_fmr));
}
