/*
 * calibration.c -- from similarity score to false match rate and back.
 *
 * Owns: hm_fmr_for_score() and hm_threshold_for_fmr().  The impostor score
 * distribution of the four FVC sets (11,520 impostor pairs) was fitted with
 * a smooth tail: log10 FMR is piecewise linear in the score between the
 * knots below; beyond the last measured knot it continues on an
 * exponential tail (log-linear), where too few impostors exist to count.  One curve for all sets: see docs/matcher.md for the
 * table and how it was derived.
 */

#include <math.h>

#include "match.h"

struct knot {
    double  score;
    double  log10_fmr;
};

/* Monotone: score rises, FMR falls.  Knots at the measured impostor
 * quantiles of all four sets pooled (FMR 50%, 10%, 1%, 0.1%), rounded;
 * past the last knot the last segment's slope (-24.4 decades per unit
 * score; with the overlap floor it was -21.3, shallower than the -27.6 of
 * a least-squares fit over 1e-3..1e-1) continues.
 * Re-fitted for the score S_MCC^0.4 S_G^0.4 S_NB^0.2 (stored form 2) with
 * every comparable cylinder kept (min_VC = min_ME), single-anchor
 * placements when the fitted one fails, the score the same whichever
 * template is the probe, the affine refit's extra pairs counted three
 * quarters (align.c) and S_G's overlaps with a pseudo-count of 2. */
static const struct knot calibration[] = {
    { 0.000,  0.0 },
    { 0.028, -0.30103 },
    { 0.051, -1.0 },
    { 0.082, -2.0 },
    { 0.123, -3.0 },
};

#define KNOTS        (sizeof(calibration) / sizeof(calibration[0]))
#define MIN_LOG_FMR  (-12.0)

double
hm_fmr_for_score(double score)
{
    const struct knot  *a, *b;
    double              slope, log_fmr;
    size_t              i;

    if (!(score > calibration[0].score)) {
        return 1.0;
    }
    for (i = 1; i < KNOTS; i++) {
        if (score <= calibration[i].score) {
            a = &calibration[i - 1];
            b = &calibration[i];
            log_fmr = a->log10_fmr + (score - a->score)
                * (b->log10_fmr - a->log10_fmr) / (b->score - a->score);
            return pow(10.0, log_fmr);
        }
    }
    a = &calibration[KNOTS - 2];
    b = &calibration[KNOTS - 1];
    slope = (b->log10_fmr - a->log10_fmr) / (b->score - a->score);
    log_fmr = b->log10_fmr + (score - b->score) * slope;
    return pow(10.0, log_fmr < MIN_LOG_FMR ? MIN_LOG_FMR : log_fmr);
}

double
hm_threshold_for_fmr(double fmr)
{
    const struct knot  *a, *b;
    double              target, slope;
    size_t              i;

    if (!(fmr < 1.0)) {
        return calibration[0].score;
    }
    target = log10(fmr > 1e-12 ? fmr : 1e-12);
    for (i = 1; i < KNOTS; i++) {
        if (target >= calibration[i].log10_fmr) {
            a = &calibration[i - 1];
            b = &calibration[i];
            return a->score + (target - a->log10_fmr)
                * (b->score - a->score) / (b->log10_fmr - a->log10_fmr);
        }
    }
    a = &calibration[KNOTS - 2];
    b = &calibration[KNOTS - 1];
    slope = (b->log10_fmr - a->log10_fmr) / (b->score - a->score);
    return b->score + (target - b->log10_fmr) / slope;
}
