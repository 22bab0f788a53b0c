/*
 * quality.c -- the enrollment quality gate.
 *
 * Owns: hm_quality_gate().  A template is refused when it cannot carry a
 * reliable match later: too few minutiae, too few minutiae with a usable
 * (valid) cylinder, i.e. enough neighbours inside the print's area, or a
 * low quality declared by the capture device.  The thresholds sit well
 * below what the FVC sets' genuine templates have (25 minutiae and 15 valid
 * cylinders at the 1st percentile), so a sound capture passes.
 */

#include <stdio.h>
#include <stdlib.h>

#include "match.h"

#define GATE_MIN_MINUTIAE    12
#define GATE_MIN_CYLINDERS   10
#define GATE_MIN_QUALITY     20

int
hm_quality_gate(const struct hm_fingerprint *fp, char *err, size_t errlen)
{
    uint8_t  *stored;
    long      len;
    unsigned  cylinders;

    if (fp == NULL) {
        snprintf(err, errlen, "no fingerprint");
        return -1;
    }
    if (fp->count < GATE_MIN_MINUTIAE) {
        snprintf(err, errlen, "only %u minutiae, at least %d are needed",
            fp->count, GATE_MIN_MINUTIAE);
        return -1;
    }
    if (fp->finger_quality != 0 && fp->finger_quality < GATE_MIN_QUALITY) {
        snprintf(err, errlen, "finger quality %u is below %d",
            fp->finger_quality, GATE_MIN_QUALITY);
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
