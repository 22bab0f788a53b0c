/*
 * search.c -- the worker pool and the 1:N search (IDENTIFY) on it.
 *
 * The pool is a FIFO of tasks served by one thread per core (matcher.threads).
 * An IDENTIFY becomes one task per worker ("shard"); each shard opens its
 * own read transaction, walks the whole fingers database but compares only
 * the subjects that hash to it (so a subject's fingers stay in one shard and
 * every subject is compared exactly once even if a write lands between the
 * shards' snapshots), reading templates straight from the memory map.
 * Shards merge their top-k into the job under its lock; the last one to
 * finish replies.  Nothing ever waits for a shard, so identifies queued
 * behind each other cannot deadlock the pool.
 *
 * Large galleries (SEARCH_PREFILTER_MIN fingers and more) are searched in
 * two steps per shard (prefilter.h): the shard walks the signatures
 * database instead (512 bytes per finger, same keys, same CURP hash), keeps
 * its share of the K best pre-filter scores (K = hm_sig_default_k(), 5% of
 * the gallery), then fetches those fingers by key and re-ranks them with
 * hm_compare().  Rank-1 accuracy stays within 0.5 points of the exhaustive
 * search (bench/bench_identify.c), which remains for small galleries and
 * for callers that pass no signature query.
 */

#include "search.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc_server.h"
#include "prefilter.h"
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

struct candidate {
    char      curp[STORE_CURP_MAX];
    uint32_t  position;
    double    score;
};

struct identify_job {
    struct hd_request  *rq;
    struct hm_probe    *probe;
    struct hm_sigquery *sigq;         /* NULL: exhaustive */
    unsigned            k;
    double              threshold;
    unsigned            shards;
    pthread_mutex_t     lock;
    unsigned            remaining;
    uint64_t            searched;
    int                 failed;       /* an LMDB error, or the deadline */
    int                 expired;
    unsigned            n;            /* candidates held, best first */
    struct candidate    best[];
};

struct identify_shard {
    struct identify_job  *job;
    unsigned              index;
};

int
pool_submit(void (*fn)(void *arg, struct hd_thread *th), void *arg)
{
    struct pool_task  *t = malloc(sizeof(*t));

    if (t == NULL) {
        return -1;
    }
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&pool.lock);
    if (pool.tail) {
        pool.tail->next = t;
    } else {
        pool.head = t;
    }
    pool.tail = t;
    pthread_cond_signal(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    return 0;
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

/* Inserts into a best-first list of at most k, keeping one entry per CURP
 * (its best finger). */
static void
top_insert(struct candidate *list, unsigned *n, unsigned k,
    const struct candidate *c)
{
    unsigned  i, j;

    for (i = 0; i < *n; i++) {
        if (strcmp(list[i].curp, c->curp) == 0) {
            if (list[i].score >= c->score) {
                return;
            }
            memmove(&list[i], &list[i + 1], (*n - i - 1) * sizeof(*list));
            (*n)--;
            break;
        }
    }
    if (*n == k && list[k - 1].score >= c->score) {
        return;
    }
    for (j = *n < k ? *n : k - 1; j > 0 && list[j - 1].score < c->score;
         j--)
    {
        list[j] = list[j - 1];
    }
    list[j] = *c;
    if (*n < k) {
        (*n)++;
    }
}

static uint32_t
curp_hash(const uint8_t *s, size_t n)
{
    uint32_t  h = 2166136261u;

    while (n--) {
        h = (h ^ *s++) * 16777619u;
    }
    return h;
}

static void
identify_finish(struct identify_job *job, struct hd_thread *th)
{
    struct hipc_writer  w;
    unsigned            i;
    size_t              at;

    if (job->expired) {
        ops_reply_error(job->rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed during the search");
    } else if (job->failed) {
        ops_reply_error(job->rq, HIPC_ST_INTERNAL, "storage_error", NULL,
            "the search could not read the database");
    } else {
        hipc_writer_init(&w, th->reply, sizeof(th->reply));
        for (i = 0; i < job->n; i++) {
            at = hipc_open(&w, HIPC_F_CANDIDATE);
            hipc_put_str(&w, HIPC_F_CURP, job->best[i].curp);
            hipc_put_u32(&w, HIPC_F_POSITION, job->best[i].position);
            hipc_put_f64(&w, HIPC_F_SCORE, job->best[i].score);
            hipc_close(&w, at);
        }
        hipc_put_u64(&w, HIPC_F_SEARCHED, job->searched);
        hipc_put_f64(&w, HIPC_F_THRESHOLD, job->threshold);
        hd_reply(job->rq, HIPC_ST_OK, th->reply, w.len);
    }
    hd_request_free(job->rq);
    hm_probe_free(job->probe);
    hm_sigquery_free(job->sigq);
    pthread_mutex_destroy(&job->lock);
    free(job);
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

/* The pre-filtered shard: scan the signatures of this shard's subjects,
 * keep the best kk, re-rank them with hm_compare().  *searched counts the
 * fingers scanned (the gallery covered), *compared the hm_compare() calls.
 * 0, or an LMDB error (-1 for out of memory); *expired on the deadline. */
static int
shard_prefiltered(struct identify_shard *sh, MDB_txn *txn,
    struct hd_thread *th, struct candidate *local, unsigned *n,
    uint64_t *searched, uint64_t *compared, int *expired)
{
    struct identify_job  *job = sh->job;
    uint64_t              total = store_count_signatures(pool.store, txn);
    size_t                kk = hm_sig_default_k(total) / job->shards + 1;
    size_t                held = 0, klen, i;
    uint32_t              walked = 0;
    struct pf_entry      *heap, e;
    struct candidate      c;
    struct store_finger   f;
    MDB_cursor           *cur = NULL;
    MDB_val               k, v;
    int                   rc;

    heap = malloc(kk * sizeof(*heap));
    if (heap == NULL) {
        return -1;
    }
    rc = store_signature_cursor(pool.store, txn, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        uint32_t  score;

        klen = k.mv_size >= 2 ? k.mv_size - 2 : 0;
        if (curp_hash(k.mv_data, klen) % job->shards != sh->index) {
            continue;
        }
        if ((++walked & 4095) == 0 && hd_expired(job->rq)) {
            *expired = 1;
            break;
        }
        if (v.mv_size != HM_SIG_BYTES) {
            continue;
        }
        score = hm_sigquery_score(job->sigq, v.mv_data);
        (*searched)++;
        e.rank = (uint64_t) score << 32 | (uint32_t) ~walked;
        e.key = k;
        if (held < kk) {
            pf_push(heap, &held, &e);
        } else if (e.rank > heap[0].rank) {
            heap[0] = e;
            pf_sift_down(heap, held, 0);
        }
    }
    if (cur) {
        mdb_cursor_close(cur);
    }
    if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    for (i = 0; rc == 0 && !*expired && i < held; i++) {
        if ((i & 255) == 255 && hd_expired(job->rq)) {
            *expired = 1;
            break;
        }
        if (store_finger_get_key(pool.store, txn, &heap[i].key, c.curp, &f)
            != 0)
        {
            continue;       /* deleted between the two reads: impossible in
                             * one transaction, or corrupt: skipped */
        }
        c.score = hm_compare(job->probe, f.stored, f.stored_len,
            th->scratch);
        c.position = f.position;
        (*compared)++;
        if (c.score >= job->threshold) {
            top_insert(local, n, job->k, &c);
        }
    }
    free(heap);
    return rc;
}

static void
identify_shard_run(void *arg, struct hd_thread *th)
{
    struct identify_shard  *sh = arg;
    struct identify_job    *job = sh->job;
    struct candidate       *local;
    struct candidate        c;
    struct store_finger     f;
    MDB_txn                *txn = NULL;
    MDB_cursor             *cur = NULL;
    MDB_val                 k, v;
    unsigned                n = 0, i, last;
    uint64_t                searched = 0, walked = 0, compared = 0;
    size_t                  klen;
    int                     rc, failed = 0, expired = 0, prefiltered = 0;

    local = malloc(job->k * sizeof(*local));
    if (local == NULL) {
        failed = 1;
        goto merge;
    }
    if (hd_expired(job->rq)) {
        expired = 1;
        goto merge;
    }
    rc = store_read_begin(pool.store, &txn);
    if (rc == 0 && job->sigq != NULL
        && store_count_fingers(pool.store, txn) >= SEARCH_PREFILTER_MIN
        && store_count_signatures(pool.store, txn)
           == store_count_fingers(pool.store, txn))
    {
        prefiltered = 1;
        failed = shard_prefiltered(sh, txn, th, local, &n,
            &searched, &compared, &expired) != 0;
        goto merge;
    }
    if (rc == 0) {
        rc = store_finger_cursor(pool.store, txn, &cur);
    }
    if (rc != 0) {
        failed = 1;
        goto merge;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        /* The key is CURP \0 position: hash the CURP part only. */
        klen = k.mv_size >= 2 ? k.mv_size - 2 : 0;
        if (curp_hash(k.mv_data, klen) % job->shards != sh->index) {
            continue;
        }
        if ((++walked & 1023) == 0 && hd_expired(job->rq)) {
            expired = 1;
            break;
        }
        if (store_finger_decode(&k, &v, c.curp, &f) != 0) {
            continue;
        }
        c.score = hm_compare(job->probe, f.stored, f.stored_len,
            th->scratch);
        c.position = f.position;
        searched++;
        if (c.score >= job->threshold) {
            top_insert(local, &n, job->k, &c);
        }
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        failed = 1;
    }

merge:
    if (cur) {
        mdb_cursor_close(cur);
    }
    if (txn) {
        mdb_txn_abort(txn);
    }
    ops_count_comparisons(prefiltered ? compared : searched);
    pthread_mutex_lock(&job->lock);
    job->searched += searched;
    job->failed |= failed;
    job->expired |= expired;
    for (i = 0; i < n; i++) {
        top_insert(job->best, &job->n, job->k, &local[i]);
    }
    last = --job->remaining == 0;
    pthread_mutex_unlock(&job->lock);
    free(local);
    free(sh);
    if (last) {
        identify_finish(job, th);
    }
}

int
search_identify(struct hd_request *rq, struct hm_probe *probe,
    struct hm_sigquery *sigq, unsigned max_candidates, double threshold)
{
    struct identify_job    *job;
    struct identify_shard  *sh;
    unsigned                i, queued = 0, shards;

    job = calloc(1, sizeof(*job) + max_candidates * sizeof(job->best[0]));
    if (job == NULL) {
        goto busy;
    }
    job->rq = rq;
    job->probe = probe;
    job->sigq = sigq;
    job->k = max_candidates;
    job->threshold = threshold;
    job->shards = pool.nthreads;
    job->remaining = pool.nthreads;
    pthread_mutex_init(&job->lock, NULL);
    /* Once the last shard is queued the job may finish and be freed at any
     * moment: from here on use only locals. */
    shards = job->shards;
    for (i = 0; i < shards; i++) {
        sh = malloc(sizeof(*sh));
        if (sh == NULL) {
            break;
        }
        sh->job = job;
        sh->index = i;
        if (pool_submit(identify_shard_run, sh) != 0) {
            free(sh);
            break;
        }
        queued++;
    }
    if (queued == shards) {
        return 0;
    }
    /* Could not queue every shard: the missing ones count as failed. */
    pthread_mutex_lock(&job->lock);
    job->failed = 1;
    job->remaining -= shards - queued;
    i = job->remaining;
    pthread_mutex_unlock(&job->lock);
    if (i == 0) {
        struct hd_thread  *th = hd_thread_new();

        if (th) {
            identify_finish(job, th);
            hd_thread_free(th);
            return -1;
        }
    }
    return -1;

busy:
    ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
        "huellad cannot start the search");
    hd_request_free(rq);
    hm_probe_free(probe);
    hm_sigquery_free(sigq);
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
