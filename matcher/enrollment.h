/*
 * enrollment.h -- employer enrollment with deduplication (issue 5):
 * ENROLL, DEDUP_LIST, DEDUP_RESOLVE, EXCEPTION_LIST, SUBJECT_LOOKUP, and
 * what enrollment.c shares with the queued dedup jobs
 * (enrollment_jobs.c).
 *
 * Owns the quality gate per finger, the 1:N dedup search of every enrolled
 * finger against all other subjects (strict threshold,
 * enrollment.dedup_fmr), dedup cases, exception records, the subject's
 * biometric status and face template, the enrollment journal, and the one
 * write transaction that stores a whole enrollment with its receipt
 * (kill -9 leaves all of it or none of it).
 *
 * Threads: decoding on the ring thread; template parsing and a
 * synchronous dedup scan on a pool thread (a queued one on the job
 * thread); the writes on the writer.  Scans run concurrently on read
 * snapshots; what closes the race between two enrollments of one finger
 * under two CURPs is the enrollment journal ("e:" seq -> CURP, written in
 * the enrollment's own transaction): at commit, inside the writer's
 * transaction, the fingers of every subject enrolled after the scan's
 * snapshot are compared too, so of two such enrollments the second to
 * commit always sees the first.
 */

#ifndef HUELLA_ENROLLMENT_H
#define HUELLA_ENROLLMENT_H

#include <lmdb.h>
#include <stdatomic.h>

#include "enroll_ops.h"
#include "ops.h"

#define EN_HITS_MAX  16

struct en_prepared_finger {
    uint32_t  position, format;
    uint16_t  minutiae;
    uint8_t   quality;
    size_t    off, len;
    char      sha256[65];
};

struct en_finger_error {
    unsigned  index, position;
    char      code[24];
    char      msg[160];
};

struct en_hit {
    char      curp[STORE_CURP_MAX];
    unsigned  probe_position, position;
    double    score;
};

/* Everything an ENROLL, a DEDUP_RESOLVE or a job's completion carries
 * from its preparation to the writer. */
struct enroll_prep {
    struct en_prepared_finger  fingers[EN_FINGERS_MAX];
    unsigned                   nfingers;
    uint8_t                   *blob;
    size_t                     blob_len;
    struct en_finger_error     errs[EN_FINGERS_MAX];
    unsigned                   nerr;
    int                        low_quality;
    char                       face_sha256[65];
    struct en_hit              hits[EN_HITS_MAX];
    unsigned                   nhits;
    uint64_t                   searched;
    double                     threshold;
    uint64_t                   snapshot;     /* journal seq the scan saw */
    uint64_t                   comparisons;  /* estimated: queue or not */
    int                        queue;        /* accept as a dedup job */
    int                        job_finish;   /* DEDUP_JOB_FINISH */
    uint8_t                   *payload;      /* a case's or job's request */
    size_t                     payload_len;
};

/* Scan progress a job's status shows (NULL for a synchronous scan). */
struct en_progress {
    _Atomic uint64_t  compared;
    unsigned          pause_ms;              /* tests: after each chunk */
};

int enrollment_init(char *err, size_t errlen);
void enrollment_handle(struct hd_request *rq, struct hd_thread *th);
int enrollment_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);

/* ---- shared with enrollment_jobs.c ------------------------------------- */

extern const uint16_t en_enroll_allowed[];
extern const uint16_t en_enroll_required[];

void en_prep_free(void *prep);
/* Parses, gates and encodes every finger into p (errors in p->errs). */
int en_prepare_fingers(struct hd_thread *th, const struct en_fields *f,
    struct enroll_prep *p);
/* Every prepared finger against every finger of every other subject in
 * txn's snapshot; p->snapshot gets the journal sequence it saw. */
int en_dedup_scan(struct hd_thread *th, MDB_txn *txn, const char *curp,
    struct enroll_prep *p, struct en_progress *progress);
/* Writer: the fingers of subjects enrolled after p->snapshot. */
int en_dedup_recheck(MDB_txn *txn, const char *curp, struct enroll_prep *p);
/* Writer: the subject's own state (enrolled, flagged, open case). */
int en_subject_preconditions(MDB_txn *txn, const struct en_fields *f,
    struct en_err *e);
/* Writer: opens a dedup case (CONFLICT|OPS_WRITE_KEEP, CASE_ID in w). */
int en_write_case(const struct en_fields *f, struct enroll_prep *p,
    const uint8_t *payload, size_t len, MDB_txn *txn, struct hipc_writer *w);
/* Writer: the whole enrollment with its receipt (OK, FOLIO, RECEIPT). */
int en_store_enrollment(const struct en_fields *f, struct enroll_prep *p,
    const char *case_id, MDB_txn *txn, struct hipc_writer *w);

#endif /* HUELLA_ENROLLMENT_H */
