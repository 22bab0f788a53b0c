/*
 * fusion.c -- score-level fusion of independent fingers (fusion.h).
 *
 * Works in log10 FMR so that ten strong fingers do not underflow a double
 * before the product reaches the calibration's floor.
 */

#include "fusion.h"

#include <math.h>

#include "match.h"

double
hm_fuse_scores(const double *scores, unsigned n)
{
    double    log_fmr = 0.0, fmr;
    unsigned  i;

    if (n == 0) {
        return 0.0;
    }
    if (n == 1) {
        /* A single finger keeps its own score exactly: mapping it through
         * the calibration and back would round it. */
        return scores[0];
    }
    for (i = 0; i < n; i++) {
        /* !(x > 0) also catches NaN: no evidence, FMR 1. */
        if (!(scores[i] > 0.0)) {
            continue;
        }
        fmr = hm_fmr_for_score(scores[i]);
        if (fmr < 1.0) {
            log_fmr += log10(fmr);
        }
    }
    /* hm_threshold_for_fmr() clamps to its floor (the highest calibrated
     * score); FMR 1 gives its lowest, 0. */
    return hm_threshold_for_fmr(pow(10.0, log_fmr < -300.0 ? -300.0
        : log_fmr));
}
