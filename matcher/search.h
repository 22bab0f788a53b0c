/*
 * search.h -- the worker pool and the generic 1:N search that runs on it.
 *
 * search_run() is the one 1:N engine: IDENTIFY (search_identify()), the
 * kiosk's punch fallback and multi-finger fusion all describe what they
 * want in a struct search_spec and receive the hits in done().
 */

#ifndef HUELLA_SEARCH_H
#define HUELLA_SEARCH_H

#include <stdint.h>

#include "ops.h"
#include "store.h"

struct hm_probe;
struct hm_sigquery;

int search_start(unsigned threads, struct store *st, char *err,
    size_t errlen);
void search_stop(void);
unsigned search_threads(void);

/* Runs fn(arg, th) on a pool thread, FIFO with the search shards. */
int pool_submit(void (*fn)(void *arg, struct hd_thread *th), void *arg);

#define SEARCH_PROBES_MAX 10

struct search_probe {
    struct hm_probe    *probe;     /* hm_probe_new(); caller-owned */
    struct hm_sigquery *sigq;      /* hm_sigquery_new() or NULL: not
                                    * pre-filtered */
    unsigned            position;  /* 0: any gallery finger; 1-10: only
                                    * that one */
};

struct search_hit {
    char      curp[STORE_CURP_MAX];
    uint32_t  position;            /* gallery finger of the best single
                                    * score */
    double    score;               /* fused over the probes:
                                    * hm_fuse_scores() */
    double    probe_scores[SEARCH_PROBES_MAX]; /* best per probe, 0 if
                                    * none */
};

struct search_result {
    int failed, expired;           /* storage error / deadline passed */
    uint64_t searched, compared;   /* fingers covered / hm_compare() calls */
    unsigned n;                    /* hits, best first, fused score >=
                                    * threshold */
    const struct search_hit *hits; /* valid only during done() */
    int prefiltered;               /* 1: the pre-filter picked the
                                    * candidates; 0: every finger */
};

/* Per subject (CURP), each probe is compared with that subject's fingers
 * (only the probe's position when it is nonzero) and its best score kept;
 * the hit's score fuses those bests.  Subjects none of whose fingers any
 * probe could be compared with give no hit.  On large galleries, when
 * every probe has a sigq and exhaustive is 0, the pre-filter nominates
 * candidates per probe; when they are many, a cheap score of every
 * nominated subject's fingers keeps each probe's rerank_k best; a subject
 * kept by any probe is then scored with all probes. */
struct search_spec {
    const struct search_probe *probes; unsigned nprobes;   /* 1..
                                    * SEARCH_PROBES_MAX */
    unsigned k;                    /* max hits */
    double threshold;              /* on the fused score */
    int exhaustive;                /* 1: never pre-filter (dedup audits) */
    int (*skip)(void *ctx, const char *curp);  /* optional; nonzero leaves
                                    * the subject out; called from pool
                                    * threads, once per subject and shard */
    const struct hd_request *deadline;  /* hd_expired() on it; NULL: none */
    void (*done)(void *ctx, struct hd_thread *th,
        const struct search_result *r);
    void *ctx;
    size_t prefilter_k;            /* candidates per probe kept by the
                                    * pre-filter over the whole gallery;
                                    * 0: hm_sig_default_k() */
    size_t rerank_k;               /* of those, about how many subjects
                                    * per probe hm_compare() scores after
                                    * the cheap stage
                                    * (hm_sigquery_rerank_score()): each
                                    * shard keeps rerank_k / shards + 1;
                                    * the stage is skipped when no more
                                    * are nominated; 0:
                                    * hm_sig_default_rerank() */
};

/* 0: done() will be called exactly once, on a pool thread; -1: not started
 * (done() is not called): bad spec, no pool or out of memory.
 * probes/sigqs/ctx stay caller-owned and must live until done(). */
int search_run(const struct search_spec *spec);

/* Galleries of at least this many fingers are pre-filtered (default
 * SEARCH_PREFILTER_MIN, 20000); tests lower it to exercise the pre-filter
 * on a small gallery.  Set before searches run. */
void search_set_prefilter_min(uint64_t fingers);

/* IDENTIFY over search_run(): takes ownership of rq, probe and sigq; the
 * reply (candidates, searched, threshold) is sent from done().  sigq
 * (hm_sigquery_new() of the same probe, prefilter.h) enables the
 * pre-filtered search on large galleries; NULL keeps it exhaustive.  On
 * failure the request is answered and everything freed; returns -1. */
int search_identify(struct hd_request *rq, struct hm_probe *probe,
    struct hm_sigquery *sigq, unsigned max_candidates, double threshold);

#endif /* HUELLA_SEARCH_H */
