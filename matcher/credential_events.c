/*
 * credential_events.c -- the credential-event log and the
 * CREDENTIAL_EVENTS op (credential_events.h): what changed whose
 * credential, in commit order, for every nginx to end the sessions the
 * change outdated.
 */

#include "credential_events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "huella_ipc.h"
#include "ipc_server.h"

#define RECORD_VERSION  1u
#define RECORD_HEAD     (1 + 1 + 8)     /* version, kind, at */
#define PRUNE_PER_APPEND 2u

/* The largest encoded CRED_EVENT: the nest, SEQ, CURP, EVENT_KIND, AT. */
#define EVENT_WIRE_MAX  (4 * HIPC_TLV_HDR + 8 + STORE_CURP_MAX + 16 + 8 \
                         + HIPC_TLV_HDR)

static struct {
    MDB_dbi   dbi;
    uint64_t  keep;
    int       ready;
} evg;

struct credev_query {
    uint64_t  since;
    int       has_since;
    uint32_t  max;
};

const char *
credev_kind_name(enum credev_kind kind)
{
    switch (kind) {
    case CREDEV_PASSWORD: return "password";
    case CREDEV_ROLES: return "roles";
    case CREDEV_TOKEN: return "token";
    }
    return "unknown";
}

static void
key_encode(uint8_t k[8], uint64_t seq)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        k[i] = (uint8_t) seq;
        seq >>= 8;
    }
}

static uint64_t
key_decode(const uint8_t *k)
{
    uint64_t  v = 0;
    int       i;

    for (i = 0; i < 8; i++) {
        v = v << 8 | k[i];
    }
    return v;
}

int
credev_open(MDB_env *env, MDB_dbi *dbi)
{
    MDB_txn  *txn;
    int       rc;

    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
        return rc;
    }
    if ((rc = mdb_dbi_open(txn, "credential_events", MDB_CREATE, dbi)) != 0)
    {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

static int
head_get(MDB_txn *txn, MDB_dbi dbi, uint64_t *head)
{
    uint8_t  k[8];
    MDB_val  key = { sizeof(k), k }, val;
    int      rc;

    key_encode(k, 0);
    *head = 0;
    rc = mdb_get(txn, dbi, &key, &val);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    if (val.mv_size != sizeof(*head)) {
        return MDB_CORRUPTED;
    }
    memcpy(head, val.mv_data, sizeof(*head));
    return 0;
}

/* The first retained event's sequence number; MDB_NOTFOUND when none. */
static int
oldest_get(MDB_txn *txn, MDB_dbi dbi, uint64_t *oldest)
{
    MDB_cursor  *cur;
    uint8_t      k[8];
    MDB_val      key = { sizeof(k), k }, val;
    int          rc;

    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        return rc;
    }
    key_encode(k, 1);
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (rc == 0) {
        if (key.mv_size != 8) {
            rc = MDB_CORRUPTED;
        } else {
            *oldest = key_decode(key.mv_data);
        }
    }
    mdb_cursor_close(cur);
    return rc;
}

int
credev_append(MDB_txn *txn, MDB_dbi dbi, const char *subject,
    enum credev_kind kind, uint64_t at_ms, uint64_t keep, uint64_t *seq)
{
    uint8_t   k[8], rec[RECORD_HEAD + STORE_CURP_MAX];
    size_t    n = strlen(subject);
    uint64_t  head, oldest;
    MDB_val   key = { sizeof(k), k }, val;
    unsigned  pruned;
    int       rc;

    if (n == 0 || n >= STORE_CURP_MAX || keep == 0) {
        return EINVAL;
    }
    if ((rc = head_get(txn, dbi, &head)) != 0) {
        return rc;
    }
    head++;
    rec[0] = RECORD_VERSION;
    rec[1] = (uint8_t) kind;
    memcpy(rec + 2, &at_ms, 8);
    memcpy(rec + RECORD_HEAD, subject, n);
    key_encode(k, head);
    val.mv_data = rec;
    val.mv_size = RECORD_HEAD + n;
    /* sequence numbers only grow: append at the end of the tree */
    if ((rc = mdb_put(txn, dbi, &key, &val, MDB_APPEND)) != 0) {
        return rc;
    }
    key_encode(k, 0);
    val.mv_data = &head;
    val.mv_size = sizeof(head);
    if ((rc = mdb_put(txn, dbi, &key, &val, 0)) != 0) {
        return rc;
    }
    for (pruned = 0; pruned < PRUNE_PER_APPEND; pruned++) {
        rc = oldest_get(txn, dbi, &oldest);
        if (rc != 0) {
            return rc;
        }
        if (head - oldest + 1 <= keep) {
            break;
        }
        key_encode(k, oldest);
        key.mv_data = k;
        key.mv_size = sizeof(k);
        if ((rc = mdb_del(txn, dbi, &key, NULL)) != 0) {
            return rc;
        }
    }
    if (seq) {
        *seq = head;
    }
    return 0;
}

int
credev_range(MDB_txn *txn, MDB_dbi dbi, uint64_t *head, uint64_t *oldest)
{
    int  rc;

    if ((rc = head_get(txn, dbi, head)) != 0) {
        return rc;
    }
    rc = oldest_get(txn, dbi, oldest);
    if (rc == MDB_NOTFOUND) {
        *oldest = *head + 1;
        return 0;
    }
    return rc;
}

static int
event_decode(const MDB_val *key, const MDB_val *val, struct credev_event *ev)
{
    const uint8_t  *v = val->mv_data;
    size_t          n;

    if (key->mv_size != 8 || val->mv_size <= RECORD_HEAD
        || val->mv_size - RECORD_HEAD >= STORE_CURP_MAX
        || v[0] != RECORD_VERSION
        || v[1] < CREDEV_PASSWORD || v[1] > CREDEV_TOKEN)
    {
        return MDB_CORRUPTED;
    }
    ev->seq = key_decode(key->mv_data);
    ev->kind = (enum credev_kind) v[1];
    memcpy(&ev->at_ms, v + 2, 8);
    n = val->mv_size - RECORD_HEAD;
    memcpy(ev->subject, v + RECORD_HEAD, n);
    ev->subject[n] = '\0';
    return 0;
}

int
credev_get(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, struct credev_event *ev)
{
    uint8_t  k[8];
    MDB_val  key = { sizeof(k), k }, val;
    int      rc;

    if (seq == 0) {
        return MDB_NOTFOUND;        /* key 0 is the head, not an event */
    }
    key_encode(k, seq);
    if ((rc = mdb_get(txn, dbi, &key, &val)) != 0) {
        return rc;
    }
    return event_decode(&key, &val, ev);
}

int
credev_each(MDB_txn *txn, MDB_dbi dbi, uint64_t since,
    int (*fn)(void *arg, const struct credev_event *ev), void *arg)
{
    MDB_cursor          *cur;
    struct credev_event  ev;
    uint8_t              k[8];
    MDB_val              key = { sizeof(k), k }, val;
    int                  rc;

    if (since == UINT64_MAX) {
        return 0;
    }
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        return rc;
    }
    key_encode(k, since + 1 > 1 ? since + 1 : 1);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if ((rc = event_decode(&key, &val, &ev)) != 0) {
            break;
        }
        if (fn(arg, &ev) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- huellad ------------------------------------------------------------- */

int
credev_init(struct store *st, uint64_t keep, char *err, size_t errlen)
{
    int  rc;

    if ((rc = credev_open(store_env(st), &evg.dbi)) != 0) {
        snprintf(err, errlen, "cannot open the credential-event log: %s",
            mdb_strerror(rc));
        return -1;
    }
    evg.keep = keep ? keep : CREDEV_KEEP_DEFAULT;
    evg.ready = 1;
    return 0;
}

int
credev_record(MDB_txn *txn, const char *subject, enum credev_kind kind,
    uint64_t at_ms)
{
    if (!evg.ready) {
        return EINVAL;
    }
    return credev_append(txn, evg.dbi, subject, kind, at_ms, evg.keep,
        NULL);
}

int
credev_owns(unsigned op)
{
    return op == HIPC_OP_CREDENTIAL_EVENTS;
}

static const char *
tag_name(unsigned tag)
{
    switch (tag) {
    case HIPC_F_SINCE: return "since";
    case HIPC_F_MAX_EVENTS: return "max_events";
    }
    return "?";
}

/* The strict walk: SINCE (u64) and MAX_EVENTS (u32, 1..4096), each at
 * most once, nothing else. */
static int
query_decode(const struct hd_request *rq, struct credev_query *q,
    struct ops_err *e)
{
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n;
    uint16_t            tag;
    int                 rc, has_max = 0;

    memset(q, 0, sizeof(*q));
    q->max = CREDEV_MAX_DEFAULT;
    hipc_reader_init(&r, rq->payload, rq->len);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        if (tag != HIPC_F_SINCE && tag != HIPC_F_MAX_EVENTS) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", NULL,
                "field tag %u is not part of this request", tag);
        }
        if ((tag == HIPC_F_SINCE && q->has_since)
            || (tag == HIPC_F_MAX_EVENTS && has_max))
        {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "duplicate_field",
                tag_name(tag), "field %s given twice", tag_name(tag));
        }
        if (tag == HIPC_F_SINCE) {
            if (hipc_get_u64(d, n, &q->since) != 0) {
                return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
                    "since", "since must be a u64 (8 bytes), got %u bytes",
                    n);
            }
            q->has_since = 1;
            continue;
        }
        if (hipc_get_u32(d, n, &q->max) != 0) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_field",
                "max_events", "max_events must be a u32 (4 bytes), got %u "
                "bytes", n);
        }
        has_max = 1;
        if (q->max < 1 || q->max > CREDEV_MAX_LIMIT) {
            return ops_fail(e, HIPC_ST_INVALID, "invalid_max_events",
                "max_events", "max_events must be 1 to %u, got %u",
                CREDEV_MAX_LIMIT, q->max);
        }
    }
    if (rc < 0) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_request", NULL,
            "malformed TLV at byte %zu of %zu", r.pos, r.len);
    }
    return 0;
}

struct feed_walk {
    struct hipc_writer  *w;
    uint32_t             left;
};

static int
feed_put(void *arg, const struct credev_event *ev)
{
    struct feed_walk  *fw = arg;
    size_t             at;

    if (fw->left == 0 || fw->w->cap - fw->w->len < EVENT_WIRE_MAX) {
        return 1;                /* the rest comes with the next call */
    }
    at = hipc_open(fw->w, HIPC_F_CRED_EVENT);
    hipc_put_u64(fw->w, HIPC_F_SEQ, ev->seq);
    hipc_put_str(fw->w, ev->kind == CREDEV_TOKEN ? HIPC_F_TOKEN_ID
        : HIPC_F_CURP, ev->subject);
    hipc_put_str(fw->w, HIPC_F_EVENT_KIND, credev_kind_name(ev->kind));
    hipc_put_u64(fw->w, HIPC_F_EVENT_AT, ev->at_ms);
    hipc_close(fw->w, at);
    fw->left--;
    return 0;
}

/* A pool thread: one read transaction, never the writer's lock. */
static void
feed_run(void *arg, struct hd_thread *th)
{
    struct hd_request    *rq = arg;
    struct credev_query  *q = rq->prep;
    struct hipc_writer    w;
    struct feed_walk      fw;
    struct credev_event   at_since;
    MDB_txn              *txn;
    uint64_t              head, oldest;
    int                   rc;

    if (hd_expired(rq)) {
        ops_reply_error(rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed before the work started");
        hd_request_free(rq);
        return;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    rc = store_read_begin(ops_store(), &txn);
    if (rc == 0) {
        rc = credev_range(txn, evg.dbi, &head, &oldest);
        if (rc == 0) {
            hipc_put_u64(&w, HIPC_F_HEAD, head);
            hipc_put_u64(&w, HIPC_F_OLDEST, oldest);
            if (q->has_since) {
                /* lets the caller tell this log from another one with the
                 * same numbers (huellad restored from a backup, then new
                 * changes) */
                rc = credev_get(txn, evg.dbi, q->since, &at_since);
                if (rc == 0) {
                    hipc_put_u64(&w, HIPC_F_SINCE_AT, at_since.at_ms);
                }
                if (rc == 0 || rc == MDB_NOTFOUND) {
                    fw.w = &w;
                    fw.left = q->max;
                    rc = credev_each(txn, evg.dbi, q->since, feed_put, &fw);
                }
            }
        }
        mdb_txn_abort(txn);
    }
    if (rc != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
    } else {
        hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
    }
    hd_request_free(rq);
}

void
credev_handle(struct hd_request *rq, struct hd_thread *th)
{
    struct credev_query  *q;
    struct hd_request    *copy;
    struct ops_err        e;

    (void) th;
    if (!evg.ready) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "events_unavailable", NULL,
            "the credential-event log is not open");
        return;
    }
    q = malloc(sizeof(*q));
    if (q == NULL) {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    if (query_decode(rq, q, &e) != 0) {
        free(q);
        ops_reply_err(rq, &e);
        return;
    }
    copy = hd_request_dup(rq);
    if (copy == NULL) {
        free(q);
    } else {
        copy->prep = q;
        copy->prep_free = free;
    }
    ops_dispatch(rq, copy, feed_run);
}
