/*
 * search.h -- the worker pool and the 1:N search that runs on it.
 */

#ifndef HUELLA_SEARCH_H
#define HUELLA_SEARCH_H

#include <stdint.h>

#include "ops.h"

int search_start(unsigned threads, struct store *st, char *err,
    size_t errlen);
void search_stop(void);
unsigned search_threads(void);

/* Runs fn(arg, th) on a pool thread, FIFO with the search shards. */
int pool_submit(void (*fn)(void *arg, struct hd_thread *th), void *arg);

/* Starts an identify: takes ownership of rq, probe and sigq; the reply is
 * sent by whichever shard finishes last.  sigq (hm_sigquery_new() of the
 * same probe, prefilter.h) enables the pre-filtered search on large
 * galleries; NULL keeps it exhaustive (deduplication audits). */
struct hm_sigquery;
int search_identify(struct hd_request *rq, struct hm_probe *probe,
    struct hm_sigquery *sigq, unsigned max_candidates, double threshold);

#endif /* HUELLA_SEARCH_H */
