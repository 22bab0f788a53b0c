/*
 * writer.c -- the one thread that writes LMDB, with group commit.
 *
 * Why one thread: LMDB allows one write transaction at a time, and an fsync
 * costs far more than the work inside it.  So the writer takes every write
 * that queued while the previous commit was syncing, runs each in its own
 * nested transaction (a failing request rolls back alone), commits the
 * batch once (one durable sync) and only then replies to all of them: no
 * request is acknowledged before its data is on disk.
 */

#include "writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enroll_ops.h"
#include "identity.h"
#include "ipc_server.h"
#include "store.h"

/* Bounds a batch so one commit's replies are not held back too long. */
#define WRITER_BATCH_MAX  256

struct writer_item {
    struct hd_request   *rq;
    int                  status;
    size_t               len;
    uint8_t             *reply;
};

static struct {
    struct store        *store;
    pthread_t            thread;
    pthread_mutex_t      lock;
    pthread_cond_t       wake;
    struct hd_request  **queue;       /* ring of pending requests */
    size_t               head, count, cap;
    int                  stopping;
    int                  running;
} w = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

void
writer_submit(struct hd_request *rq)
{
    pthread_mutex_lock(&w.lock);
    if (w.count == w.cap) {
        size_t               cap = w.cap ? w.cap * 2 : 256, i;
        struct hd_request  **q = malloc(cap * sizeof(*q));

        if (q == NULL) {
            pthread_mutex_unlock(&w.lock);
            ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
                "huellad is out of memory");
            hd_request_free(rq);
            return;
        }
        for (i = 0; i < w.count; i++) {
            q[i] = w.queue[(w.head + i) % w.cap];
        }
        free(w.queue);
        w.queue = q;
        w.head = 0;
        w.cap = cap;
    }
    w.queue[(w.head + w.count) % w.cap] = rq;
    w.count++;
    pthread_cond_signal(&w.wake);
    pthread_mutex_unlock(&w.lock);
}

static void
run_one(MDB_txn *parent, struct writer_item *it)
{
    struct hipc_writer  hw;
    MDB_txn            *txn;
    int                 rc;

    hipc_writer_init(&hw, it->reply, HIPC_PAYLOAD_MAX);
    if (hd_expired(it->rq)) {
        ops_error(&hw, "deadline_exceeded", NULL,
            "the deadline passed before the write started; nothing stored");
        it->status = HIPC_ST_EXPIRED;
        it->len = hw.len;
        return;
    }
    rc = store_write_begin(ops_store(), parent, &txn);
    if (rc != 0) {
        it->status = ops_storage_error(&hw, rc);
    } else {
        int  keep;

        it->status = ops_write(it->rq, txn, &hw);
        /* OPS_WRITE_KEEP: an error reply whose changes still commit (a
         * failed login counts and is audited). */
        keep = (it->status & OPS_WRITE_KEEP) != 0;
        it->status &= ~OPS_WRITE_KEEP;
        if (it->status == HIPC_ST_OK || keep) {
            rc = mdb_txn_commit(txn);     /* nested: no sync yet */
            if (rc != 0) {
                hipc_writer_init(&hw, it->reply, HIPC_PAYLOAD_MAX);
                it->status = ops_storage_error(&hw, rc);
            }
        } else {
            mdb_txn_abort(txn);
        }
    }
    it->len = hw.overflow ? 0 : hw.len;
}

static void *
writer_main(void *arg)
{
    struct writer_item   items[WRITER_BATCH_MAX];
    struct hipc_writer   hw;
    MDB_txn             *txn;
    size_t               n, i;
    int                  rc;

    (void) arg;
    for (i = 0; i < WRITER_BATCH_MAX; i++) {
        items[i].reply = malloc(HIPC_PAYLOAD_MAX);
        if (items[i].reply == NULL) {
            fprintf(stderr, "huellad: writer: out of memory\n");
            abort();
        }
    }
    for (;;) {
        pthread_mutex_lock(&w.lock);
        while (w.count == 0 && !w.stopping) {
            pthread_cond_wait(&w.wake, &w.lock);
        }
        if (w.count == 0 && w.stopping) {
            pthread_mutex_unlock(&w.lock);
            /* a clean stop keeps what batches write only now and then */
            if (store_write_begin(w.store, NULL, &txn) == 0) {
                enroll_writer_stopping(txn);
                rc = mdb_txn_commit(txn);
                if (rc != 0) {
                    fprintf(stderr, "huellad: last commit failed: %s\n",
                        mdb_strerror(rc));
                }
            }
            break;
        }
        for (n = 0; n < WRITER_BATCH_MAX && w.count > 0; n++) {
            items[n].rq = w.queue[w.head];
            w.head = (w.head + 1) % w.cap;
            w.count--;
        }
        pthread_mutex_unlock(&w.lock);

        rc = store_write_begin(w.store, NULL, &txn);
        for (i = 0; i < n; i++) {
            if (rc == 0) {
                run_one(txn, &items[i]);
            }
        }
        if (rc == 0) {
            enroll_batch_end(txn);        /* batched device last use */
            rc = mdb_txn_commit(txn);     /* the durable sync */
        }
        for (i = 0; i < n; i++) {
            if (rc != 0) {
                hipc_writer_init(&hw, items[i].reply, HIPC_PAYLOAD_MAX);
                items[i].status = ops_storage_error(&hw, rc);
                items[i].len = hw.len;
            }
            if (items[i].status != HIPC_ST_OK) {
                ops_count_error();
            }
            if (rc == 0) {
                ops_committed(items[i].rq, items[i].status);
            }
            hd_reply(items[i].rq, items[i].status, items[i].reply,
                items[i].len);
            hd_request_free(items[i].rq);
        }
        if (rc != 0) {
            fprintf(stderr, "huellad: commit failed: %s\n",
                mdb_strerror(rc));
        }
    }
    for (i = 0; i < WRITER_BATCH_MAX; i++) {
        free(items[i].reply);
    }
    return NULL;
}

int
writer_start(struct store *st, char *err, size_t errlen)
{
    w.store = st;
    w.stopping = 0;
    if (pthread_create(&w.thread, NULL, writer_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        return -1;
    }
    w.running = 1;
    return 0;
}

void
writer_stop(void)
{
    if (!w.running) {
        return;
    }
    pthread_mutex_lock(&w.lock);
    w.stopping = 1;
    pthread_cond_signal(&w.wake);
    pthread_mutex_unlock(&w.lock);
    pthread_join(w.thread, NULL);
    w.running = 0;
}
