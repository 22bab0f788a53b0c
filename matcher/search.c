/*
 * search.c -- the worker pool and the generic 1:N search (search_run())
 * on it; IDENTIFY is a thin wrapper (search_identify()).
 *
 * The pool is a FIFO of tasks served by one thread per core (matcher.threads).
 * A search becomes one task per worker ("shard"), all queued at once; each
 * shard opens its own read transaction, walks the whole fingers database
 * but compares only the subjects that hash to it (so a subject's fingers
 * stay in one shard and every subject is scored exactly once even if a
 * write lands between the shards' snapshots), reading templates straight
 * from the memory map.  Keys are CURP \0 position, so a subject's fingers
 * are adjacent: a shard scores one subject at a time (each probe's best
 * over the subject's fingers, then hm_fuse_scores()).  Shards merge their
 * top-k into the job under its lock; the last one to finish calls done().
 * Nothing ever waits for a shard, so searches queued behind each other
 * cannot deadlock the pool.
 *
 * Large galleries (search_set_prefilter_min(), SEARCH_PREFILTER_MIN
 * fingers by default) are searched in two steps per shard (prefilter.h):
 * the shard scans the signature blocks of its lanes (sigblocks.h: 128
 * signatures per LMDB value, read in place; a subject's fingers share a
 * lane, lanes are dealt to shards, and the exhaustive walk splits subjects
 * the same way) and keeps, per probe, its share of the K best pre-filter
 * scores (K = hm_sig_default_k()); a cheap score of the nominated
 * subjects' fingers (hm_sigquery_rerank_score(), MCC local similarities
 * only) keeps each probe's share of M = hm_sig_default_rerank(K) of them,
 * and every subject kept by some probe is then scored like above with
 * hm_compare().  Rank-1 accuracy stays
 * within 0.5 points of the exhaustive search (bench/bench_identify.c),
 * which remains for small galleries and for exhaustive callers.
 */

#include "search.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion.h"
#include "ipc_server.h"
#include "prefilter.h"
#include "sigblocks.h"
#include "store.h"

/* Below this many fingers the exhaustive search is already fast (20k x
 * ~8 us / 2 cores = 80 ms) and the pre-filter would keep most of them. */
#ifndef SEARCH_PREFILTER_MIN
#define SEARCH_PREFILTER_MIN  20000
#endif

struct pool_task {
    void              (*fn)(void *arg, struct hd_thread *th);
    void               *arg;
    struct pool_task   *next;
};

static struct {
    struct store       *store;
    pthread_t          *threads;
    unsigned            nthreads;
    pthread_mutex_t     lock;
    pthread_cond_t      wake;
    struct pool_task   *head, *tail;
    int                 stopping;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER,
           .wake = PTHREAD_COND_INITIALIZER };

static _Atomic uint64_t  prefilter_min = SEARCH_PREFILTER_MIN;

void
search_set_prefilter_min(uint64_t fingers)
{
    atomic_store(&prefilter_min, fingers);
}

/* Queues n tasks together: all of them or (-1, out of memory) none. */
static int
pool_submit_all(void (*fn)(void *arg, struct hd_thread *th), void **args,
    unsigned n)
{
    struct pool_task  *first = NULL, *last = NULL, *t;
    unsigned           i;

    for (i = 0; i < n; i++) {
        t = malloc(sizeof(*t));
        if (t == NULL) {
            while (first) {
                t = first->next;
                free(first);
                first = t;
            }
            return -1;
        }
        t->fn = fn;
        t->arg = args[i];
        t->next = NULL;
        if (last) {
            last->next = t;
        } else {
            first = t;
        }
        last = t;
    }
    if (first == NULL) {
        return 0;
    }
    pthread_mutex_lock(&pool.lock);
    if (pool.tail) {
        pool.tail->next = first;
    } else {
        pool.head = first;
    }
    pool.tail = last;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    return 0;
}

int
pool_submit(void (*fn)(void *arg, struct hd_thread *th), void *arg)
{
    return pool_submit_all(fn, &arg, 1);
}

static void *
pool_main(void *arg)
{
    struct hd_thread  *th = arg;
    struct pool_task  *t;

    for (;;) {
        pthread_mutex_lock(&pool.lock);
        while (pool.head == NULL && !pool.stopping) {
            pthread_cond_wait(&pool.wake, &pool.lock);
        }
        if (pool.head == NULL) {
            pthread_mutex_unlock(&pool.lock);
            break;
        }
        t = pool.head;
        pool.head = t->next;
        if (pool.head == NULL) {
            pool.tail = NULL;
        }
        pthread_mutex_unlock(&pool.lock);
        t->fn(t->arg, th);
        free(t);
    }
    hd_thread_free(th);
    return NULL;
}

struct search_job {
    struct search_spec  spec;         /* the caller's, copied */
    unsigned            shards;
    pthread_mutex_t     lock;
    unsigned            remaining;
    uint64_t            searched, compared;
    int                 failed, expired, prefiltered;
    unsigned            n;            /* hits held, best first */
    struct search_hit   hits[];       /* spec.k of them */
};

struct search_shard {
    struct search_job  *job;
    unsigned            index;
};

/* One shard's running state: the subject being scored and the shard's own
 * best-first hit list. */
struct shard_state {
    struct search_job   *job;
    struct hd_thread    *th;
    struct search_hit    subject;     /* curp, per-probe bests so far */
    double               best_single;
    int                  compared_any;
    int                  skipped;     /* spec.skip() said so */
    struct search_hit   *hits;
    unsigned             n;
    uint64_t             searched, compared;
};

/* Inserts h into a best-first list of at most k (ties keep the earlier). */
static void
hit_insert(struct search_hit *list, unsigned *n, unsigned k,
    const struct search_hit *h)
{
    unsigned  j;

    if (k == 0 || (*n == k && list[k - 1].score >= h->score)) {
        return;
    }
    for (j = *n < k ? *n : k - 1; j > 0 && list[j - 1].score < h->score;
         j--)
    {
        list[j] = list[j - 1];
    }
    list[j] = *h;
    if (*n < k) {
        (*n)++;
    }
}

/* The shard that owns a subject: whole signature lanes per shard, and the
 * exhaustive walk splits subjects the same way. */
static unsigned
subject_shard(const void *curp, size_t len, unsigned shards)
{
    return sigblock_lane(curp, len) % shards;
}

static int
spec_expired(const struct search_spec *spec)
{
    return spec->deadline != NULL && hd_expired(spec->deadline);
}

/* The CURP part of a fingers/signatures key (CURP \0 position). */
static size_t
key_curp_len(const MDB_val *k)
{
    return k->mv_size >= 2 ? k->mv_size - 2 : 0;
}

/* Closes the subject being scored: its fused score becomes a hit when
 * some probe could be compared with it and it reaches the threshold. */
static void
subject_close(struct shard_state *s)
{
    const struct search_spec  *spec = &s->job->spec;

    if (s->subject.curp[0] != '\0' && !s->skipped && s->compared_any) {
        s->subject.score = hm_fuse_scores(s->subject.probe_scores,
            spec->nprobes);
        if (s->subject.score >= spec->threshold) {
            hit_insert(s->hits, &s->n, spec->k, &s->subject);
        }
    }
    s->subject.curp[0] = '\0';
}

/* Starts scoring the subject whose CURP is the first len bytes of curp;
 * ask: whether spec.skip() still has to be asked about it. */
static void
subject_open(struct shard_state *s, const void *curp, size_t len, int ask)
{
    const struct search_spec  *spec = &s->job->spec;

    memset(&s->subject, 0, sizeof(s->subject));
    memcpy(s->subject.curp, curp, len);
    s->subject.curp[len] = '\0';
    s->best_single = -1.0;
    s->compared_any = 0;
    s->skipped = ask && spec->skip != NULL && spec->skip(spec->ctx, s->subject.curp);
}

static int
subject_is(const struct shard_state *s, const void *curp, size_t len)
{
    return s->subject.curp[0] != '\0' && s->subject.curp[len] == '\0'
        && memcmp(s->subject.curp, curp, len) == 0;
}

/* Compares one finger of the open subject with every probe that may see
 * its position. */
static void
subject_finger(struct shard_state *s, const struct store_finger *f)
{
    const struct search_spec  *spec = &s->job->spec;
    const struct search_probe *p;
    unsigned                   i;
    double                     score;

    for (i = 0; i < spec->nprobes; i++) {
        p = &spec->probes[i];
        if (p->position != 0 && p->position != f->position) {
            continue;
        }
        score = hm_compare(p->probe, f->stored, f->stored_len,
            s->th->scratch);
        s->compared++;
        s->compared_any = 1;
        if (score > s->subject.probe_scores[i]) {
            s->subject.probe_scores[i] = score;
        }
        if (score > s->best_single) {
            s->best_single = score;
            s->subject.position = f->position;
        }
    }
}

/* Whether some probe may be compared with a finger at this position. */
static int
position_wanted(const struct search_spec *spec, unsigned position)
{
    unsigned  i;

    for (i = 0; i < spec->nprobes; i++) {
        if (spec->probes[i].position == 0
            || spec->probes[i].position == position)
        {
            return 1;
        }
    }
    return 0;
}

/* The exhaustive shard: every finger of this shard's subjects.  0 or an
 * LMDB error; *expired on the deadline. */
static int
shard_exhaustive(struct shard_state *s, unsigned index, MDB_txn *txn,
    int *expired)
{
    struct search_job    *job = s->job;
    struct store_finger   f;
    char                  curp[STORE_CURP_MAX];
    MDB_cursor           *cur = NULL;
    MDB_val               k, v;
    uint64_t              walked = 0;
    size_t                klen;
    int                   rc;

    rc = store_finger_cursor(pool.store, txn, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        klen = key_curp_len(&k);
        if (klen == 0 || klen >= STORE_CURP_MAX
            || subject_shard(k.mv_data, klen, job->shards) != index)
        {
            continue;
        }
        if ((++walked & 1023) == 0 && spec_expired(&job->spec)) {
            *expired = 1;
            break;
        }
        if (!subject_is(s, k.mv_data, klen)) {
            subject_close(s);
            subject_open(s, k.mv_data, klen, 1);
        }
        if (s->skipped) {
            continue;
        }
        s->searched++;
        if (!position_wanted(&job->spec,
                ((const uint8_t *) k.mv_data)[k.mv_size - 1])
            || store_finger_decode(&k, &v, curp, &f) != 0)
        {
            continue;
        }
        subject_finger(s, &f);
    }
    if (!*expired) {
        subject_close(s);
    }
    if (cur) {
        mdb_cursor_close(cur);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Min-heap of pre-filter candidates: the root is the weakest kept.  The
 * key points into the map (valid while the read transaction lasts). */
struct pf_entry {
    uint64_t     rank;              /* score << 32 | ~walk order */
    MDB_val      key;
};

static void
pf_sift_down(struct pf_entry *h, size_t n, size_t i)
{
    struct pf_entry  v = h[i];

    for (;;) {
        size_t  c = 2 * i + 1;

        if (c >= n) {
            break;
        }
        if (c + 1 < n && h[c + 1].rank < h[c].rank) {
            c++;
        }
        if (h[c].rank >= v.rank) {
            break;
        }
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static void
pf_push(struct pf_entry *h, size_t *n, const struct pf_entry *e)
{
    size_t  i = (*n)++;

    while (i > 0 && h[(i - 1) / 2].rank > e->rank) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = *e;
}

static void
pf_offer(struct pf_entry *h, size_t *held, size_t kk,
    const struct pf_entry *e)
{
    if (*held < kk) {
        pf_push(h, held, e);
    } else if (e->rank > h[0].rank) {
        h[0] = *e;
        pf_sift_down(h, *held, 0);
    }
}

/* Orders candidate keys by their CURP part, so duplicates are adjacent. */
static int
pf_curp_cmp(const void *a, const void *b)
{
    const MDB_val  *x = &((const struct pf_entry *) a)->key;
    const MDB_val  *y = &((const struct pf_entry *) b)->key;
    size_t          lx = key_curp_len(x), ly = key_curp_len(y);
    int             c = memcmp(x->mv_data, y->mv_data, lx < ly ? lx : ly);

    return c != 0 ? c : (lx > ly) - (lx < ly);
}

/* Scores every finger of one subject (curp: its first len key bytes) by
 * positioning a fingers cursor at CURP \0. */
static int
shard_score_subject(struct shard_state *s, MDB_cursor *fcur,
    const void *curp, size_t len)
{
    uint8_t               kbuf[STORE_CURP_MAX + 2];
    char                  name[STORE_CURP_MAX];
    struct store_finger   f;
    MDB_val               k, v;
    int                   rc;

    /* The scan already left skipped subjects out. */
    subject_open(s, curp, len, 0);
    memcpy(kbuf, curp, len);
    kbuf[len] = 0;
    k.mv_data = kbuf;
    k.mv_size = len + 1;
    for (rc = mdb_cursor_get(fcur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(fcur, &k, &v, MDB_NEXT))
    {
        if (k.mv_size != len + 2 || memcmp(k.mv_data, curp, len) != 0
            || ((const uint8_t *) k.mv_data)[len] != 0)
        {
            break;
        }
        if (position_wanted(&s->job->spec,
                ((const uint8_t *) k.mv_data)[len + 1])
            && store_finger_decode(&k, &v, name, &f) == 0)
        {
            subject_finger(s, &f);
        }
    }
    subject_close(s);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* The first re-rank stage (prefilter.h, hm_sigquery_rerank_score()):
 * every finger of each nominated subject (cand: ncand keys sorted by CURP,
 * duplicates adjacent) scored cheaply by every probe that may see it;
 * each probe keeps its mm best subjects (best finger) in heap + p * mm.
 * 0 or an LMDB error; *expired on the deadline. */
static int
shard_rerank_lite(struct shard_state *s, MDB_cursor *fcur,
    const struct pf_entry *cand, size_t ncand, size_t mm,
    struct pf_entry *heap, size_t *held, int *expired)
{
    const struct search_spec  *spec = &s->job->spec;
    uint8_t                    kbuf[STORE_CURP_MAX + 2];
    char                       name[STORE_CURP_MAX];
    double                     best[SEARCH_PROBES_MAX];
    struct store_finger        f;
    struct pf_entry            e;
    MDB_val                    k, v;
    size_t                     i, len;
    unsigned                   p, position;
    int                        rc = 0;

    for (i = 0; rc == 0 && i < ncand; i++) {
        if (i > 0 && pf_curp_cmp(&cand[i - 1], &cand[i]) == 0) {
            continue;
        }
        if ((i & 255) == 255 && spec_expired(spec)) {
            *expired = 1;
            break;
        }
        len = key_curp_len(&cand[i].key);
        memcpy(kbuf, cand[i].key.mv_data, len);
        kbuf[len] = 0;
        k.mv_data = kbuf;
        k.mv_size = len + 1;
        for (p = 0; p < spec->nprobes; p++) {
            best[p] = -1.0;
        }
        for (rc = mdb_cursor_get(fcur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(fcur, &k, &v, MDB_NEXT))
        {
            if (k.mv_size != len + 2 || memcmp(k.mv_data, kbuf, len) != 0
                || ((const uint8_t *) k.mv_data)[len] != 0)
            {
                break;
            }
            position = ((const uint8_t *) k.mv_data)[len + 1];
            if (store_finger_decode(&k, &v, name, &f) != 0) {
                continue;
            }
            for (p = 0; p < spec->nprobes; p++) {
                double  lite;

                if (spec->probes[p].position != 0
                    && spec->probes[p].position != position)
                {
                    continue;
                }
                lite = hm_sigquery_rerank_score(spec->probes[p].sigq,
                    f.stored, f.stored_len);
                best[p] = lite > best[p] ? lite : best[p];
            }
        }
        rc = rc == MDB_NOTFOUND ? 0 : rc;
        e.key = cand[i].key;
        for (p = 0; p < spec->nprobes; p++) {
            if (best[p] < 0.0) {
                continue;
            }
            /* Ties keep the earlier subject (lower CURP). */
            e.rank = (uint64_t) (best[p] * 4294967295.0) << 32
                | (uint32_t) ~(uint32_t) i;
            pf_offer(heap + p * mm, &held[p], mm, &e);
        }
    }
    return rc;
}

/* The pre-filtered shard: scan the signature blocks of this shard's lanes
 * in place, keep each probe's best kk, narrow the nominated subjects to
 * each probe's mm best by the cheap score when mm < kk
 * (shard_rerank_lite()), then score every subject left with all probes.  searched counts the signatures scanned (the gallery
 * covered).  0, or an LMDB error (-1 for out of memory); *expired on the
 * deadline. */
static int
shard_prefiltered(struct shard_state *s, unsigned index, MDB_txn *txn,
    int *expired)
{
    struct search_job         *job = s->job;
    const struct search_spec  *spec = &job->spec;
    uint64_t                   total = store_count_signatures(pool.store,
                                   txn);
    size_t                     k_all = spec->prefilter_k
                                   ? spec->prefilter_k
                                   : hm_sig_default_k(total);
    size_t                     kk = k_all / job->shards + 1;
    size_t                     mm = (spec->rerank_k ? spec->rerank_k
                                   : hm_sig_default_rerank(k_all))
                                   / job->shards + 1;
    size_t                     held[SEARCH_PROBES_MAX] = { 0 };
    size_t                     klen, i, ncand, nsubj, skip_len = 0;
    uint32_t                   walked = 0;
    uint8_t                    lane_key[SIGBLOCK_KEY_BYTES];
    struct pf_entry           *heap, *cand, *lite, e;
    struct sigblock_view       b;
    MDB_cursor                *cur = NULL;
    const void                *skip_curp = NULL;
    MDB_val                    k, v, fk;
    unsigned                   p, position, lane, slot;
    int                        rc, skipped = 0, any_position = 1;

    heap = malloc(kk * spec->nprobes * sizeof(*heap));
    if (heap == NULL) {
        return -1;
    }
    for (p = 0; p < spec->nprobes; p++) {
        any_position &= spec->probes[p].position == 0;
    }
    rc = store_sigblock_cursor(pool.store, txn, &cur);
    for (lane = index; rc == 0 && lane < SIGBLOCK_LANES; lane += job->shards)
    {
        sigblock_lane_key(lane, lane_key);
        k.mv_data = lane_key;
        k.mv_size = sizeof(lane_key);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
             rc == 0 && ((const uint8_t *) k.mv_data)[0] == lane;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        {
            if (sigblock_decode(&k, &v, &b) != 0) {
                continue;
            }
            if ((++walked & 31) == 0 && spec_expired(spec)) {
                *expired = 1;
                break;
            }
            for (slot = 0; slot < b.used; slot++) {
                const uint8_t  *sig = b.sigs + (size_t) slot * HM_SIG_BYTES;

                fk = sigblock_slot_key(&b, slot);
                klen = fk.mv_size >= 2 ? fk.mv_size - 2 : 0;
                if (klen == 0 || klen >= STORE_CURP_MAX) {
                    continue;       /* corrupt: never written so */
                }
                if (spec->skip != NULL && (skip_curp == NULL
                        || skip_len != klen
                        || memcmp(skip_curp, fk.mv_data, klen) != 0))
                {
                    /* Once per run of a subject's adjacent fingers. */
                    char  name[STORE_CURP_MAX];

                    memcpy(name, fk.mv_data, klen);
                    name[klen] = '\0';
                    skipped = spec->skip(spec->ctx, name) != 0;
                    skip_curp = fk.mv_data;
                    skip_len = klen;
                }
                if (skipped) {
                    continue;
                }
                s->searched++;
                position = ((const uint8_t *) fk.mv_data)[klen + 1];
                e.key = fk;
                for (p = 0; p < spec->nprobes; p++) {
                    if (!any_position && spec->probes[p].position != 0
                        && spec->probes[p].position != position)
                    {
                        continue;
                    }
                    e.rank = (uint64_t) hm_sigquery_score(
                        spec->probes[p].sigq, sig) << 32
                        | (uint32_t) ~(s->searched);
                    pf_offer(heap + p * kk, &held[p], kk, &e);
                }
            }
        }
        if (rc == MDB_NOTFOUND) {
            rc = 0;             /* the last lane ends the database */
        }
        if (*expired) {
            break;
        }
    }
    if (cur) {
        mdb_cursor_close(cur);
        cur = NULL;
    }
    if (rc != 0 || *expired) {
        free(heap);
        return rc;
    }
    /* The union of the probes' candidates, one entry per subject. */
    cand = heap;
    ncand = 0;
    for (p = 0; p < spec->nprobes; p++) {
        for (i = 0; i < held[p]; i++) {
            cand[ncand++] = heap[p * kk + i];
        }
    }
    qsort(cand, ncand, sizeof(*cand), pf_curp_cmp);
    rc = store_finger_cursor(pool.store, txn, &cur);
    /* When K is large (mm < kk), the cheap stage picks each probe's mm
     * best of the nominated subjects first. */
    for (i = 0, nsubj = 0; i < ncand; i++) {
        nsubj += i == 0 || pf_curp_cmp(&cand[i - 1], &cand[i]) != 0;
    }
    if (rc == 0 && mm < kk && nsubj > mm) {
        lite = malloc(mm * spec->nprobes * sizeof(*lite));
        if (lite == NULL) {
            rc = -1;
        } else {
            memset(held, 0, sizeof(held));
            rc = shard_rerank_lite(s, cur, cand, ncand, mm, lite, held,
                expired);
            ncand = 0;
            for (p = 0; p < spec->nprobes; p++) {
                for (i = 0; i < held[p]; i++) {
                    lite[ncand++] = lite[p * mm + i];
                }
            }
            free(heap);
            heap = cand = lite;
            qsort(cand, ncand, sizeof(*cand), pf_curp_cmp);
        }
    }
    for (i = 0; rc == 0 && !*expired && i < ncand; i++) {
        if (i > 0 && pf_curp_cmp(&cand[i - 1], &cand[i]) == 0) {
            continue;
        }
        if ((i & 255) == 255 && spec_expired(spec)) {
            *expired = 1;
            break;
        }
        rc = shard_score_subject(s, cur, cand[i].key.mv_data,
            key_curp_len(&cand[i].key));
    }
    if (cur) {
        mdb_cursor_close(cur);
    }
    free(heap);
    return rc;
}

/* Whether this search reads the signatures instead of every template. */
static int
search_prefiltered(const struct search_spec *spec, MDB_txn *txn)
{
    uint64_t  fingers;
    unsigned  i;

    if (spec->exhaustive) {
        return 0;
    }
    for (i = 0; i < spec->nprobes; i++) {
        if (spec->probes[i].sigq == NULL) {
            return 0;
        }
    }
    fingers = store_count_fingers(pool.store, txn);
    return fingers >= atomic_load(&prefilter_min)
        && store_count_signatures(pool.store, txn) == fingers;
}

static void
search_finish(struct search_job *job, struct hd_thread *th)
{
    struct search_result  r;

    memset(&r, 0, sizeof(r));
    r.failed = job->failed;
    r.expired = job->expired;
    r.searched = job->searched;
    r.compared = job->compared;
    r.prefiltered = job->prefiltered;
    r.n = job->n;
    r.hits = job->hits;
    job->spec.done(job->spec.ctx, th, &r);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

static void
search_shard_run(void *arg, struct hd_thread *th)
{
    struct search_shard  *sh = arg;
    struct search_job    *job = sh->job;
    struct shard_state    s;
    MDB_txn              *txn = NULL;
    unsigned              i, last;
    int                   rc, failed = 0, expired = 0, prefiltered = 0;

    memset(&s, 0, sizeof(s));
    s.job = job;
    s.th = th;
    s.hits = malloc((job->spec.k ? job->spec.k : 1) * sizeof(*s.hits));
    if (s.hits == NULL) {
        failed = 1;
    } else if (spec_expired(&job->spec)) {
        expired = 1;
    } else if ((rc = store_read_begin(pool.store, &txn)) != 0) {
        failed = 1;
    } else if (search_prefiltered(&job->spec, txn)) {
        prefiltered = 1;
        failed = shard_prefiltered(&s, sh->index, txn, &expired) != 0;
    } else {
        failed = shard_exhaustive(&s, sh->index, txn, &expired) != 0;
    }
    if (txn) {
        mdb_txn_abort(txn);
    }
    ops_count_comparisons(s.compared);
    pthread_mutex_lock(&job->lock);
    job->searched += s.searched;
    job->compared += s.compared;
    job->failed |= failed;
    job->expired |= expired;
    job->prefiltered |= prefiltered;
    for (i = 0; i < s.n; i++) {
        hit_insert(job->hits, &job->n, job->spec.k, &s.hits[i]);
    }
    last = --job->remaining == 0;
    pthread_mutex_unlock(&job->lock);
    free(s.hits);
    free(sh);
    if (last) {
        search_finish(job, th);
    }
}

int
search_run(const struct search_spec *spec)
{
    struct search_job    *job;
    struct search_shard  *sh[SIGBLOCK_LANES];
    unsigned              i, shards;

    /* A shard owns whole signature lanes: more shards than lanes would
     * leave the extra ones idle, so large pools search with one shard per
     * lane (matcher.threads allows up to 256). */
    shards = pool.nthreads < SIGBLOCK_LANES ? pool.nthreads : SIGBLOCK_LANES;
    if (spec == NULL || spec->probes == NULL || spec->nprobes == 0
        || spec->nprobes > SEARCH_PROBES_MAX || spec->done == NULL
        || shards == 0)
    {
        return -1;
    }
    for (i = 0; i < spec->nprobes; i++) {
        if (spec->probes[i].probe == NULL || spec->probes[i].position > 10) {
            return -1;
        }
    }
    job = calloc(1, sizeof(*job) + spec->k * sizeof(job->hits[0]));
    if (job == NULL) {
        return -1;
    }
    job->spec = *spec;
    job->shards = shards;
    job->remaining = shards;
    pthread_mutex_init(&job->lock, NULL);
    for (i = 0; i < shards; i++) {
        sh[i] = malloc(sizeof(*sh[i]));
        if (sh[i] == NULL) {
            break;
        }
        sh[i]->job = job;
        sh[i]->index = i;
    }
    /* All shards are queued together or none is: a search either runs
     * whole (done() once) or not at all.  Once queued, the job may finish
     * and be freed at any moment. */
    if (i == shards && pool_submit_all(search_shard_run, (void **) sh,
            shards) == 0)
    {
        return 0;
    }
    while (i-- > 0) {
        free(sh[i]);
    }
    pthread_mutex_destroy(&job->lock);
    free(job);
    return -1;
}

/* ---- IDENTIFY ------------------------------------------------------------ */

struct identify_ctx {
    struct hd_request    *rq;
    struct search_probe   probe;
    double                threshold;
};

static void
identify_free(struct identify_ctx *ic)
{
    hd_request_free(ic->rq);
    hm_probe_free(ic->probe.probe);
    hm_sigquery_free(ic->probe.sigq);
    free(ic);
}

static void
identify_done(void *ctx, struct hd_thread *th, const struct search_result *r)
{
    struct identify_ctx  *ic = ctx;
    struct hipc_writer    w;
    unsigned              i;
    size_t                at;

    if (r->expired) {
        ops_reply_error(ic->rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed during the search");
    } else if (r->failed) {
        ops_reply_error(ic->rq, HIPC_ST_INTERNAL, "storage_error", NULL,
            "the search could not read the database");
    } else {
        hipc_writer_init(&w, th->reply, sizeof(th->reply));
        for (i = 0; i < r->n; i++) {
            at = hipc_open(&w, HIPC_F_CANDIDATE);
            hipc_put_str(&w, HIPC_F_CURP, r->hits[i].curp);
            hipc_put_u32(&w, HIPC_F_POSITION, r->hits[i].position);
            hipc_put_f64(&w, HIPC_F_SCORE, r->hits[i].score);
            hipc_close(&w, at);
        }
        hipc_put_u64(&w, HIPC_F_SEARCHED, r->searched);
        hipc_put_f64(&w, HIPC_F_THRESHOLD, ic->threshold);
        hd_reply(ic->rq, HIPC_ST_OK, th->reply, w.len);
    }
    identify_free(ic);
}

int
search_identify(struct hd_request *rq, struct hm_probe *probe,
    struct hm_sigquery *sigq, unsigned max_candidates, double threshold)
{
    struct identify_ctx  *ic = calloc(1, sizeof(*ic));
    struct search_spec    spec;

    if (ic != NULL) {
        ic->rq = rq;
        ic->probe.probe = probe;
        ic->probe.sigq = sigq;
        ic->probe.position = 0;
        ic->threshold = threshold;
        memset(&spec, 0, sizeof(spec));
        spec.probes = &ic->probe;
        spec.nprobes = 1;
        spec.k = max_candidates;
        spec.threshold = threshold;
        spec.deadline = rq;
        spec.done = identify_done;
        spec.ctx = ic;
        if (search_run(&spec) == 0) {
            return 0;
        }
    }
    ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
        "huellad cannot start the search");
    if (ic != NULL) {
        identify_free(ic);
    } else {
        hd_request_free(rq);
        hm_probe_free(probe);
        hm_sigquery_free(sigq);
    }
    return -1;
}

int
search_start(unsigned threads, struct store *st, char *err, size_t errlen)
{
    unsigned           i;
    struct hd_thread  *th;

    pool.store = st;
    pool.threads = calloc(threads, sizeof(*pool.threads));
    if (pool.threads == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < threads; i++) {
        th = hd_thread_new();
        if (th == NULL
            || pthread_create(&pool.threads[i], NULL, pool_main, th) != 0)
        {
            hd_thread_free(th);
            snprintf(err, errlen, "cannot start worker thread %u", i);
            return -1;
        }
        pool.nthreads++;
    }
    return 0;
}

unsigned
search_threads(void)
{
    return pool.nthreads;
}

void
search_stop(void)
{
    unsigned  i;

    pthread_mutex_lock(&pool.lock);
    pool.stopping = 1;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (i = 0; i < pool.nthreads; i++) {
        pthread_join(pool.threads[i], NULL);
    }
    free(pool.threads);
    pool.threads = NULL;
    pool.nthreads = 0;
}
