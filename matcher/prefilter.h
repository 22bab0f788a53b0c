/*
 * prefilter.h -- the 1:N pre-filter: a fixed-size signature per stored
 * template and a very fast probe-vs-signature score, used to pick the few
 * candidates that hm_compare() then re-ranks.
 *
 * Owns: the signature bytes (layout private to prefilter.c, versioned by
 * HM_SIG_VERSION), the prepared query and the top-K scan over a contiguous
 * array of signatures.  Signatures are plain bytes with no pointers and no
 * alignment requirement (64-byte alignment is faster): they are meant to
 * live contiguously in the LMDB map and be scanned in place.
 *
 * Thread safety: every function is reentrant; a struct hm_sigquery is
 * read-only once built and may be shared by threads.
 */

#ifndef HUELLA_PREFILTER_H
#define HUELLA_PREFILTER_H

#include <stddef.h>
#include <stdint.h>

#include "fingerprint.h"

/* Bumped whenever the signature bytes of a given template change: stored
 * signatures of another version must be recomputed (from the stored
 * templates, hm_signature_from_stored()). */
#define HM_SIG_VERSION  1u

/* Signature size in bytes (a multiple of 64). */
#define HM_SIG_BYTES    512u

struct hm_sigquery;

/* HM_SIG_BYTES, for callers that prefer a function. */
size_t hm_signature_size(void);

/* Signature of a stored template (hm_encode() bytes).  0, or -1 for bytes
 * that are not a well-formed stored template (sig is then zeroed). */
int hm_signature_from_stored(const uint8_t *stored, size_t len,
    uint8_t *sig);

/* The same from a decoded fingerprint (encodes it first); 0 or -1. */
int hm_signature_from_fingerprint(const struct hm_fingerprint *fp,
    uint8_t *sig);

/* A probe prepared for scoring signatures; NULL for malformed bytes or
 * out of memory.  Free with hm_sigquery_free(). */
struct hm_sigquery *hm_sigquery_new(const uint8_t *probe_stored, size_t len);
void hm_sigquery_free(struct hm_sigquery *q);

/* Pre-filter score of one signature: higher = more likely the same finger;
 * 0 for no evidence (also for an all-zero signature, i.e. a free slot). */
uint32_t hm_sigquery_score(const struct hm_sigquery *q, const uint8_t *sig);

/* The first re-rank stage: a cheap score of a stored template (hm_encode()
 * bytes) against the probe the query was made from (compare_lite.h: MCC
 * local similarities only, ~0.3x an hm_compare()), used to pick the
 * hm_sig_default_rerank() candidates that hm_compare() scores.  0 for
 * malformed bytes. */
double hm_sigquery_rerank_score(const struct hm_sigquery *q,
    const uint8_t *stored, size_t len);

/* Scores count signatures laid out every stride bytes from sigs and keeps
 * the k best: out_idx[] / out_score[] receive them best first (ties by
 * lower index).  Returns how many were kept (min(k, count) minus the
 * zero scores, which are never kept).  Thread-safe: callers shard the
 * array and merge with hm_sig_merge(). */
size_t hm_sig_topk(const struct hm_sigquery *q, const uint8_t *sigs,
    size_t count, size_t stride, size_t k, uint32_t *out_idx,
    uint32_t *out_score);

/* Merges two best-first lists (a: na entries, b: nb) into out (at most k,
 * best first); out may not alias a or b.  Returns the entries written. */
size_t hm_sig_merge(const uint32_t *a_idx, const uint32_t *a_score,
    size_t na, const uint32_t *b_idx, const uint32_t *b_score, size_t nb,
    size_t k, uint32_t *out_idx, uint32_t *out_score);

/* Candidates to re-rank with hm_compare() for a gallery of n signatures:
 * the tuned K (see docs/matcher.md, "1:N pre-filter"). */
size_t hm_sig_default_k(uint64_t gallery);

/* Of k pre-filter candidates, how many the cheap first re-rank stage
 * (hm_sigquery_rerank_score()) passes on to hm_compare(): the tuned M
 * (docs/matcher.md, "1:N pre-filter"); k itself when k is small. */
size_t hm_sig_default_rerank(size_t k);

#endif /* HUELLA_PREFILTER_H */
