/*
 * multi_finger.h -- the multi-finger ("fingers") form of VERIFY and
 * IDENTIFY: several probe fingers in one request, one fused decision.
 *
 * Owns: decoding the PROBE groups of a request, preparing one matcher probe
 * per finger, assigning a request's probes to one subject's enrolled
 * fingers (each enrolled finger serves at most one probe), the fused score
 * of that assignment (hm_fuse_scores(), fusion.h, through
 * mf_fused_score()) and the per-finger detail of the reply.  The
 * single-finger form stays in ops.c, untouched.
 */

#ifndef HUELLA_MULTI_FINGER_H
#define HUELLA_MULTI_FINGER_H

#include <stdint.h>

#include "ops.h"
#include "store.h"

#define MF_PROBES_MAX  10

struct hm_sigquery;

struct mf_probe {
    unsigned             position;    /* 1..10, 0: not given */
    struct hm_probe     *probe;
    struct hm_sigquery  *sigq;        /* IDENTIFY only, may be NULL */
};

struct mf_request {
    char             curp[STORE_CURP_MAX];   /* VERIFY */
    unsigned         max_candidates;         /* IDENTIFY, 0: not given */
    unsigned         n;
    struct mf_probe  probes[MF_PROBES_MAX];
};

/* One subject scored against a request's probes. */
struct mf_outcome {
    double    fused;                       /* mf_fused_score() */
    double    score[MF_PROBES_MAX];        /* 0 when no finger to compare */
    int       matched[MF_PROBES_MAX];      /* enrolled position, -1: none */
    uint8_t   drawn[MF_PROBES_MAX];        /* compared with any finger */
    uint64_t  compared;                    /* hm_compare() calls */
    unsigned  enrolled;                    /* fingers the subject has */
};

/* Whether a VERIFY/IDENTIFY payload uses the PROBE form.  A payload that
 * is not even well-formed TLV is left to the single-finger decoder. */
int mf_payload_has_probes(const uint8_t *payload, size_t len);

/* Decodes a PROBE-form request (identify: 0 for VERIFY, 1 for IDENTIFY)
 * and prepares its probes (and, for IDENTIFY, their pre-filter queries)
 * with th's buffers.  0, or -1 with e filled (nothing left to release). */
int mf_request_prepare(const struct hd_request *rq, struct hd_thread *th,
    int identify, struct mf_request *req, struct ops_err *e);
void mf_request_release(struct mf_request *req);

/* Scores req's probes against the enrolled fingers of curp, read in txn.
 * A probe with a position is compared with that finger only; the probes
 * without one share the remaining fingers in the assignment that gives
 * the highest fused score.  Returns 0; MDB_NOTFOUND when the subject does
 * not exist; another LMDB error.  When a probe's position is not enrolled,
 * that probe scores 0 and *missing (if not NULL) is its index, else -1. */
int mf_score_subject(const struct mf_request *req, MDB_txn *txn,
    const char *curp, struct hm_scratch *scratch, struct mf_outcome *out,
    int *missing);

/* The fused score of a subject: hm_fuse_scores() (fusion.h) over the
 * fingers that were drawn, i.e. compared with at least one enrolled finger
 * (drawn_from[i] nonzero), each such finger counting as one of the draws
 * even when it scored 0 or lost its partner to another finger (its FMR is
 * then 1); a finger whose given position is not enrolled is not drawn.
 * One drawn finger: its score, unchanged; none: 0. */
double mf_fused_score(const double *scores, const uint8_t *drawn_from,
    unsigned n);

/* FUSED and one PROBE_SCORE per probe, in request order. */
void mf_put_detail(struct hipc_writer *w, const struct mf_request *req,
    const struct mf_outcome *o);

/* The PROBE-form ops, called by op_verify()/op_identify() (ops.c). */
void mf_op_verify(struct hd_request *rq, struct hd_thread *th);
void mf_op_identify(struct hd_request *rq, struct hd_thread *th);

#endif /* HUELLA_MULTI_FINGER_H */
