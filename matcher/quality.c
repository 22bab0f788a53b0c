/*
 * quality.c -- the enrollment quality gate.
 *
 * Owns: hm_quality_gate().  A template is refused when it cannot carry a
 * reliable match later: too few minutiae, too few minutiae with a usable
 * (valid) cylinder, i.e. enough neighbours inside the print's area, or a
 * low quality declared by the capture device, or minutiae packed closer
 * than ridges allow (no print carries them; they only make comparisons
 * slow).  The thresholds sit well below what the FVC sets' genuine
 * templates have (25 minutiae and 15 valid cylinders at the 1st
 * percentile, a median spacing of 8 px at the least), so a sound capture
 * passes.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "match.h"

#define GATE_MIN_MINUTIAE    12
#define GATE_MIN_CYLINDERS   10
#define GATE_MIN_QUALITY     20
/* Median distance from a minutia to its nearest one, in pixels at the
 * matcher's 197 px/cm (500 dpi).  Ridges lie 8-10 px apart there; the most
 * compact FVC template (images squeezed to 47% of their width) has 8. */
#define GATE_MIN_SPACING     4.0

static int
by_value(const void *x, const void *y)
{
    double  a = *(const double *) x, b = *(const double *) y;

    return a < b ? -1 : a > b;
}

/* The median nearest-minutia distance, in 500 dpi pixels. */
static double
median_spacing(const struct hm_fingerprint *fp)
{
    double  nearest[HM_MAX_MINUTIAE];
    double  sx = 197.0 / fp->res_x, sy = 197.0 / fp->res_y;
    int     i, j, n = fp->count;

    for (i = 0; i < n; i++) {
        nearest[i] = HUGE_VAL;
        for (j = 0; j < n; j++) {
            double  dx = ((double) fp->m[i].x - fp->m[j].x) * sx;
            double  dy = ((double) fp->m[i].y - fp->m[j].y) * sy;
            double  d = sqrt(dx * dx + dy * dy);

            if (j != i && d < nearest[i]) {
                nearest[i] = d;
            }
        }
    }
    qsort(nearest, (size_t) n, sizeof(nearest[0]), by_value);
    return nearest[n / 2];
}

int
hm_quality_gate(const struct hm_fingerprint *fp, char *err, size_t errlen)
{
    uint8_t  *stored;
    long      len;
    unsigned  cylinders;
    double    spacing;

    if (fp == NULL) {
        snprintf(err, errlen, "no fingerprint");
        return -1;
    }
    if (fp->count < GATE_MIN_MINUTIAE) {
        snprintf(err, errlen, "only %u minutiae, at least %d are needed",
            fp->count, GATE_MIN_MINUTIAE);
        return -1;
    }
    if (fp->count > HM_MAX_MINUTIAE) {
        snprintf(err, errlen, "%u minutiae, at most %d are possible",
            fp->count, HM_MAX_MINUTIAE);
        return -1;
    }
    if (fp->finger_quality != 0 && fp->finger_quality < GATE_MIN_QUALITY) {
        snprintf(err, errlen, "finger quality %u is below %d",
            fp->finger_quality, GATE_MIN_QUALITY);
        return -1;
    }
    spacing = fp->res_x != 0 && fp->res_y != 0 ? median_spacing(fp)
        : HUGE_VAL;
    if (spacing < GATE_MIN_SPACING) {
        snprintf(err, errlen, "minutiae packed closer than ridges allow: "
            "median spacing %.1f px at 500 dpi, at least %.0f expected",
            spacing, GATE_MIN_SPACING);
        return -1;
    }
    stored = malloc(HM_STORED_MAX);
    if (stored == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    len = hm_encode(fp, stored, HM_STORED_MAX, err, errlen);
    if (len < 0) {
        free(stored);
        return -1;
    }
    cylinders = hm_stored_cylinders(stored, (size_t) len);
    free(stored);
    if (cylinders < GATE_MIN_CYLINDERS) {
        snprintf(err, errlen, "only %u of %u minutiae have enough "
            "neighbours inside the print, at least %d are needed",
            cylinders, fp->count, GATE_MIN_CYLINDERS);
        return -1;
    }
    return 0;
}
