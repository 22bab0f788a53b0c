/*
 * enrollment_jobs.h -- queued dedup jobs (issue 5, item 6): an enrollment
 * whose dedup search is too big for the request's deadline (more than
 * enrollment.dedup_sync_max_comparisons, or the client asked with
 * ASYNC) is stored whole as a job and answered at once; one background
 * thread runs the jobs in FIFO order and commits each outcome exactly as
 * the synchronous call would have (enrollment with receipt, or dedup
 * case); DEDUP_JOB_GET / DEDUP_JOB_LIST show them.
 *
 * Owns the job records ("j:" id), the FIFO queue ("J:" seq -> id), the
 * pending marker per CURP ("p:" CURP -> id), the job thread and the
 * in-memory progress of the running job.
 *
 * Durability: a job is stored in the same durable commit that answers
 * its enrollment; its outcome, the job's "done" state and its removal
 * from the queue are one more commit.  A kill -9 in between leaves it
 * queued, and it runs again from the start after the restart.
 */

#ifndef HUELLA_ENROLLMENT_JOBS_H
#define HUELLA_ENROLLMENT_JOBS_H

#include <lmdb.h>

#include "enrollment.h"

/* Starts the job thread (after the writer); it resumes queued jobs. */
int en_jobs_start(char *err, size_t errlen);
/* A job may have been queued: the thread looks at the queue. */
void en_jobs_wake(void);
/* The writer handled a job's DEDUP_JOB_FINISH (committed or not). */
void en_jobs_finish_done(void);

/* 0 and job_id filled when a job for curp is queued or running. */
int en_jobs_pending(MDB_txn *txn, const char *curp, char *job_id,
    size_t cap);

/* Writer: stores the accepted enrollment as a job; OK with JOB_ID, STATE,
 * QUEUE_POSITION and COMPARISONS. */
int en_jobs_write_queued(const struct en_fields *f, struct enroll_prep *p,
    const uint8_t *payload, size_t len, MDB_txn *txn,
    struct hipc_writer *w);
/* Writer: DEDUP_JOB_FINISH, the outcome of a scanned job. */
int en_jobs_write_finish(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);

/* DEDUP_JOB_GET and DEDUP_JOB_LIST (ring thread, read-only). */
void en_jobs_handle(struct hd_request *rq, struct hd_thread *th);

#endif /* HUELLA_ENROLLMENT_JOBS_H */
