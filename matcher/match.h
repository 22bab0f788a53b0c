/*
 * match.h -- the minutiae matcher's public face.
 *
 * Owns: the stored (searchable) template form, the prepared probe, the
 * similarity score and its calibration to a false match rate.  Callers
 * (huellad's verify/identify/import, huellactl compare, the benches) never
 * look inside a stored template: they keep the bytes hm_encode() produced
 * (in LMDB, read straight from the memory map) and hand them back to
 * hm_compare().
 *
 * Thread safety: every function is reentrant; a struct hm_probe is
 * read-only once prepared and may be shared by threads; a struct
 * hm_scratch belongs to one thread.
 */

#ifndef HUELLA_MATCH_H
#define HUELLA_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "fingerprint.h"

/* Upper bound of hm_encode()'s output for any fingerprint. */
#define HM_STORED_MAX  (64 * 1024)

struct hm_probe;
struct hm_scratch;

/* Encode a decoded fingerprint into the stored form.  Returns the number of
 * bytes written (> 0) or -1 with a reason in err (e.g. too few minutiae). */
long hm_encode(const struct hm_fingerprint *fp, uint8_t *out, size_t cap,
    char *err, size_t errlen);

/* Checks that stored bytes are a well-formed stored template (used on data
 * read back from disk); 0 or -1. */
int hm_stored_check(const uint8_t *stored, size_t len);

/* Minutiae count and 0..100 quality of a stored template. */
unsigned hm_stored_minutiae(const uint8_t *stored, size_t len);
unsigned hm_stored_quality(const uint8_t *stored, size_t len);

/* Minutiae of a stored template that carry a usable local descriptor (an
 * MCC cylinder): the ones a comparison can pair. */
unsigned hm_stored_cylinders(const uint8_t *stored, size_t len);

/* A probe, prepared once from stored bytes, compared against many. */
struct hm_probe *hm_probe_new(const uint8_t *stored, size_t len);
void hm_probe_free(struct hm_probe *probe);

struct hm_scratch *hm_scratch_new(void);
void hm_scratch_free(struct hm_scratch *scratch);

/* Similarity of probe and candidate: higher means more similar; 0 for
 * no evidence.  Symmetric enough that compare(a,b) ~ compare(b,a). */
double hm_compare(const struct hm_probe *probe, const uint8_t *candidate,
    size_t len, struct hm_scratch *scratch);

/* Calibration: the score threshold that yields the given false match rate
 * (e.g. 1e-4) for one comparison, and the FMR estimated for a score. */
double hm_threshold_for_fmr(double fmr);
double hm_fmr_for_score(double score);

/* Quality gate used at enrollment: 0 when acceptable, -1 with a reason. */
int hm_quality_gate(const struct hm_fingerprint *fp, char *err,
    size_t errlen);

#endif /* HUELLA_MATCH_H */
