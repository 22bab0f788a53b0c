/*
 * enrollment.h -- employer enrollment with deduplication (issue 5):
 * ENROLL, DEDUP_LIST, DEDUP_RESOLVE, EXCEPTION_LIST, SUBJECT_LOOKUP.
 *
 * Owns the quality gate per finger, the 1:N dedup search of every enrolled
 * finger against all other subjects (strict threshold,
 * enrollment.dedup_fmr), dedup cases, exception records, the subject's
 * biometric status and face template, and the one write transaction that
 * stores a whole enrollment with its receipt (kill -9 leaves all of it or
 * none of it).
 *
 * Threads: decoding on the ring thread; template parsing and the dedup
 * scan on a pool thread; the writes on the writer.  Enrollments are
 * serialized from the start of their dedup scan to their commit (a
 * semaphore), so two enrollments of the same finger under two CURPs can
 * never both miss each other; an enrollment is a supervised act taking
 * seconds, so the serialization costs nothing that matters.
 */

#ifndef HUELLA_ENROLLMENT_H
#define HUELLA_ENROLLMENT_H

#include <lmdb.h>

#include "ops.h"

int enrollment_init(char *err, size_t errlen);
void enrollment_handle(struct hd_request *rq, struct hd_thread *th);
int enrollment_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);

#endif /* HUELLA_ENROLLMENT_H */
