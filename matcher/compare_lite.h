/*
 * compare_lite.h -- a cheap probe-vs-template score (MCC local similarity
 * sort only) for the first re-rank stage of a 1:N search.
 *
 * Not a decision score: it orders the pre-filter's candidates so that
 * hm_compare() (match.h) scores only the best of them.  Thread safety: a
 * struct hm_lite_probe is read-only once built and may be shared.
 */

#ifndef HUELLA_COMPARE_LITE_H
#define HUELLA_COMPARE_LITE_H

#include <stddef.h>
#include <stdint.h>

struct hm_lite_probe;

/* From hm_encode() bytes; NULL for malformed bytes or out of memory. */
struct hm_lite_probe *hm_lite_probe_new(const uint8_t *stored, size_t len);
void hm_lite_probe_free(struct hm_lite_probe *p);

/* The mean of the n_P best local similarities, in [0, 1]; 0 for a
 * malformed candidate. */
double hm_lite_score(const struct hm_lite_probe *p, const uint8_t *cand,
    size_t len);

#endif /* HUELLA_COMPARE_LITE_H */
