/*
 * identity_store.c -- the identity databases' records (identity_store.h).
 */

#include "identity_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "huella_ipc.h"

#define RECORD_VERSION  1u
#define RECORD_MAX      4096

static const struct store_identity_dbs *
dbs(struct store *st)
{
    return store_identity(st);
}

static MDB_val
str_val(const char *s)
{
    MDB_val  v = { strlen(s), (void *) s };

    return v;
}

/* ---- TLV records ---------------------------------------------------------- */

static void
put_text(struct hipc_writer *w, uint16_t tag, const char *s)
{
    if (s[0]) {
        hipc_put_str(w, tag, s);
    }
}

/* Copies a string field into a fixed buffer; -1 when it does not fit. */
static int
take_text(const uint8_t *d, uint32_t n, char *out, size_t cap)
{
    if (n >= cap || memchr(d, 0, n)) {
        return -1;
    }
    memcpy(out, d, n);
    out[n] = '\0';
    return 0;
}

static int
put_record(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, struct hipc_writer *w,
    unsigned flags)
{
    MDB_val  v;

    if (w->overflow) {
        return MDB_BAD_VALSIZE;
    }
    v.mv_data = w->buf;
    v.mv_size = w->len;
    return mdb_put(txn, dbi, key, &v, flags);
}

static int
account_encode(const struct ids_account *a, struct hipc_writer *w,
    uint8_t *buf)
{
    buf[0] = RECORD_VERSION;
    hipc_writer_init(w, buf + 1, RECORD_MAX - 1);
    put_text(w, HIPC_F_CURP, a->curp);
    put_text(w, HIPC_F_NSS, a->nss);
    put_text(w, HIPC_F_MATRICULA, a->matricula);
    put_text(w, HIPC_F_EMAIL, a->email);
    put_text(w, HIPC_F_NAME, a->name);
    put_text(w, HIPC_F_PASSWORD, a->password_hash);
    put_text(w, HIPC_F_QUESTION, a->question);
    put_text(w, HIPC_F_ANSWER, a->answer_hash);
    put_text(w, HIPC_F_ROLES, a->roles);
    put_text(w, HIPC_F_ACCOUNT_RFC, a->account_rfc);
    hipc_put_u64(w, HIPC_F_CREATED, a->created);
    if (a->password_changed) {
        hipc_put_u64(w, HIPC_F_PASSWORD_CHANGED, a->password_changed);
    }
    /* the version byte is part of the value */
    w->buf = buf;
    w->len += 1;
    w->cap = RECORD_MAX;
    return w->overflow ? -1 : 0;
}

static int
account_decode(const MDB_val *v, struct ids_account *a)
{
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n;
    uint16_t            tag;
    int                 rc, bad = 0;

    memset(a, 0, sizeof(*a));
    if (v->mv_size < 1 || ((const uint8_t *) v->mv_data)[0] != RECORD_VERSION)
    {
        return MDB_CORRUPTED;
    }
    hipc_reader_init(&r, (const uint8_t *) v->mv_data + 1, v->mv_size - 1);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        switch (tag) {
        case HIPC_F_CURP: bad |= take_text(d, n, a->curp, sizeof(a->curp));
            break;
        case HIPC_F_NSS: bad |= take_text(d, n, a->nss, sizeof(a->nss));
            break;
        case HIPC_F_MATRICULA:
            bad |= take_text(d, n, a->matricula, sizeof(a->matricula));
            break;
        case HIPC_F_EMAIL: bad |= take_text(d, n, a->email, sizeof(a->email));
            break;
        case HIPC_F_NAME: bad |= take_text(d, n, a->name, sizeof(a->name));
            break;
        case HIPC_F_PASSWORD:
            bad |= take_text(d, n, a->password_hash,
                sizeof(a->password_hash));
            break;
        case HIPC_F_QUESTION:
            bad |= take_text(d, n, a->question, sizeof(a->question));
            break;
        case HIPC_F_ANSWER:
            bad |= take_text(d, n, a->answer_hash, sizeof(a->answer_hash));
            break;
        case HIPC_F_ROLES: bad |= take_text(d, n, a->roles, sizeof(a->roles));
            break;
        case HIPC_F_ACCOUNT_RFC:
            bad |= take_text(d, n, a->account_rfc, sizeof(a->account_rfc));
            break;
        case HIPC_F_CREATED: bad |= hipc_get_u64(d, n, &a->created); break;
        case HIPC_F_PASSWORD_CHANGED:
            bad |= hipc_get_u64(d, n, &a->password_changed);
            break;
        default: break;     /* a newer field: ignored */
        }
    }
    return rc < 0 || bad || a->curp[0] == '\0' ? MDB_CORRUPTED : 0;
}

int
ids_account_get(struct store *st, MDB_txn *txn, const char *curp,
    struct ids_account *out)
{
    MDB_val  k = str_val(curp), v;
    int      rc;

    if (k.mv_size == 0) {
        return MDB_NOTFOUND;
    }
    rc = mdb_get(txn, dbs(st)->accounts, &k, &v);
    return rc ? rc : account_decode(&v, out);
}

static int
account_store(struct store *st, MDB_txn *txn, const struct ids_account *a,
    unsigned flags)
{
    uint8_t             buf[RECORD_MAX];
    struct hipc_writer  w;
    MDB_val             k = str_val(a->curp);

    if (account_encode(a, &w, buf) != 0) {
        return MDB_BAD_VALSIZE;
    }
    return put_record(txn, dbs(st)->accounts, &k, &w, flags);
}

int
ids_account_put(struct store *st, MDB_txn *txn, const struct ids_account *a)
{
    return account_store(st, txn, a, 0);
}

static int
index_put(struct store *st, MDB_txn *txn, const char *prefix,
    const char *value, const char *curp)
{
    char     key[128];
    MDB_val  k, v = str_val(curp);

    snprintf(key, sizeof(key), "%s%s", prefix, value);
    k = str_val(key);
    return mdb_put(txn, dbs(st)->account_index, &k, &v, MDB_NOOVERWRITE);
}

int
ids_account_insert(struct store *st, MDB_txn *txn,
    const struct ids_account *a, const char **which)
{
    int  rc;

    *which = "curp";
    rc = account_store(st, txn, a, MDB_NOOVERWRITE);
    if (rc == 0 && a->nss[0]) {
        *which = "nss";
        rc = index_put(st, txn, "nss:", a->nss, a->curp);
    }
    if (rc == 0 && a->matricula[0]) {
        *which = "matricula";
        rc = index_put(st, txn, "mat:", a->matricula, a->curp);
    }
    return rc;
}

int
ids_account_resolve(struct store *st, MDB_txn *txn, const char *user,
    struct ids_account *out)
{
    char     key[128], curp[STORE_CURP_MAX];
    size_t   len = strlen(user), i;
    MDB_val  k, v;
    int      rc;

    if (len == 18) {
        /* CURPs are stored upper case; the API accepts them in any case
         * (docs/api.md), so a login as "garj850312..." is that account. */
        for (i = 0; i < len; i++) {
            curp[i] = (user[i] >= 'a' && user[i] <= 'z')
                      ? (char) (user[i] - 'a' + 'A') : user[i];
        }
        curp[len] = '\0';
        rc = ids_account_get(st, txn, curp, out);
        if (rc != MDB_NOTFOUND) {
            return rc;
        }
    }
    snprintf(key, sizeof(key), "%s%s",
        len == 11 && strspn(user, "0123456789") == 11 ? "nss:" : "mat:",
        user);
    k = str_val(key);
    rc = mdb_get(txn, dbs(st)->account_index, &k, &v);
    if (rc != 0) {
        return rc;
    }
    if (v.mv_size == 0 || v.mv_size >= sizeof(curp)) {
        return MDB_CORRUPTED;
    }
    memcpy(curp, v.mv_data, v.mv_size);
    curp[v.mv_size] = '\0';
    return ids_account_get(st, txn, curp, out);
}

/* ---- throttle ------------------------------------------------------------- */

int
ids_throttle_get(struct store *st, MDB_txn *txn, const char *key,
    struct ids_throttle *out)
{
    MDB_val  k = str_val(key), v;
    int      rc;

    memset(out, 0, sizeof(*out));
    rc = mdb_get(txn, dbs(st)->throttle, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc == 0) {
        if (v.mv_size != sizeof(*out)) {
            return MDB_CORRUPTED;
        }
        memcpy(out, v.mv_data, sizeof(*out));
    }
    return rc;
}

int
ids_throttle_put(struct store *st, MDB_txn *txn, const char *key,
    const struct ids_throttle *t)
{
    MDB_val  k = str_val(key), v = { sizeof(*t), (void *) t };

    return mdb_put(txn, dbs(st)->throttle, &k, &v, 0);
}

int
ids_throttle_clear(struct store *st, MDB_txn *txn, const char *key)
{
    MDB_val  k = str_val(key);
    int      rc = mdb_del(txn, dbs(st)->throttle, &k, NULL);

    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- service tokens ------------------------------------------------------- */

static int
token_decode(const MDB_val *v, struct ids_token *t)
{
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n;
    uint16_t            tag;
    int                 rc, bad = 0;

    memset(t, 0, sizeof(*t));
    if (v->mv_size < 1 || ((const uint8_t *) v->mv_data)[0] != RECORD_VERSION)
    {
        return MDB_CORRUPTED;
    }
    hipc_reader_init(&r, (const uint8_t *) v->mv_data + 1, v->mv_size - 1);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        switch (tag) {
        case HIPC_F_TOKEN_ID: bad |= take_text(d, n, t->id, sizeof(t->id));
            break;
        case HIPC_F_NAME: bad |= take_text(d, n, t->name, sizeof(t->name));
            break;
        case HIPC_F_ROLES: bad |= take_text(d, n, t->roles, sizeof(t->roles));
            break;
        case HIPC_F_ACCOUNT_RFC:
            bad |= take_text(d, n, t->account_rfc, sizeof(t->account_rfc));
            break;
        case HIPC_F_ACTOR:
            bad |= take_text(d, n, t->created_by, sizeof(t->created_by));
            break;
        case HIPC_F_CREATED: bad |= hipc_get_u64(d, n, &t->created); break;
        default: break;
        }
    }
    return rc < 0 || bad || t->id[0] == '\0' ? MDB_CORRUPTED : 0;
}

int
ids_token_get(struct store *st, MDB_txn *txn, const uint8_t hash[32],
    struct ids_token *out)
{
    MDB_val  k = { 32, (void *) hash }, v;
    int      rc = mdb_get(txn, dbs(st)->tokens, &k, &v);

    return rc ? rc : token_decode(&v, out);
}

int
ids_token_put(struct store *st, MDB_txn *txn, const uint8_t hash[32],
    const struct ids_token *t)
{
    uint8_t             buf[RECORD_MAX];
    struct hipc_writer  w;
    MDB_val             k = { 32, (void *) hash };

    buf[0] = RECORD_VERSION;
    hipc_writer_init(&w, buf + 1, sizeof(buf) - 1);
    put_text(&w, HIPC_F_TOKEN_ID, t->id);
    put_text(&w, HIPC_F_NAME, t->name);
    put_text(&w, HIPC_F_ROLES, t->roles);
    put_text(&w, HIPC_F_ACCOUNT_RFC, t->account_rfc);
    put_text(&w, HIPC_F_ACTOR, t->created_by);
    hipc_put_u64(&w, HIPC_F_CREATED, t->created);
    w.buf = buf;
    w.len += 1;
    return put_record(txn, dbs(st)->tokens, &k, &w, 0);
}

int
ids_token_delete_id(struct store *st, MDB_txn *txn, const char *id)
{
    MDB_cursor       *cur;
    MDB_val           k, v;
    struct ids_token  t;
    int               rc, found = 0;

    rc = mdb_cursor_open(txn, dbs(st)->tokens, &cur);
    if (rc != 0) {
        return rc;
    }
    /* A handful of service accounts: a scan is simpler than an index. */
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (token_decode(&v, &t) == 0 && strcmp(t.id, id) == 0) {
            rc = mdb_cursor_del(cur, 0);
            if (rc != 0) {
                break;
            }
            found = 1;
            rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
            if (rc == 0) {
                continue;
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        return rc;
    }
    return found ? 0 : MDB_NOTFOUND;
}

int
ids_token_each(struct store *st, MDB_txn *txn,
    int (*fn)(void *arg, const struct ids_token *t), void *arg)
{
    MDB_cursor       *cur;
    MDB_val           k, v;
    struct ids_token  t;
    int               rc;

    rc = mdb_cursor_open(txn, dbs(st)->tokens, &cur);
    if (rc != 0) {
        return rc;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (token_decode(&v, &t) == 0 && (rc = fn(arg, &t)) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- nonces and recovery tokens --------------------------------------------- */

int
ids_nonce_put(struct store *st, MDB_txn *txn, const char *nonce,
    uint64_t expires)
{
    MDB_val  k = str_val(nonce), v = { sizeof(expires), &expires };

    return mdb_put(txn, dbs(st)->nonces, &k, &v, MDB_NOOVERWRITE);
}

int
ids_nonce_take(struct store *st, MDB_txn *txn, const char *nonce,
    uint64_t now)
{
    MDB_val   k = str_val(nonce), v;
    uint64_t  expires = 0;
    int       rc;

    if (k.mv_size == 0 || k.mv_size > 511) {
        return MDB_NOTFOUND;
    }
    rc = mdb_get(txn, dbs(st)->nonces, &k, &v);
    if (rc != 0) {
        return rc;
    }
    if (v.mv_size == sizeof(expires)) {
        memcpy(&expires, v.mv_data, sizeof(expires));
    }
    rc = mdb_del(txn, dbs(st)->nonces, &k, NULL);
    if (rc != 0) {
        return rc;
    }
    return now <= expires ? 0 : MDB_NOTFOUND;
}

struct recovery_value {
    uint64_t  expires;
    char      curp[STORE_CURP_MAX];
};

int
ids_recovery_put(struct store *st, MDB_txn *txn, const uint8_t hash[32],
    const char *curp, uint64_t expires)
{
    struct recovery_value  rv;
    MDB_val                k = { 32, (void *) hash }, v = { sizeof(rv), &rv };

    memset(&rv, 0, sizeof(rv));
    rv.expires = expires;
    snprintf(rv.curp, sizeof(rv.curp), "%s", curp);
    return mdb_put(txn, dbs(st)->recovery, &k, &v, 0);
}

int
ids_recovery_get(struct store *st, MDB_txn *txn, const uint8_t hash[32],
    char curp[STORE_CURP_MAX], uint64_t *expires)
{
    struct recovery_value  rv;
    MDB_val                k = { 32, (void *) hash }, v;
    int                    rc = mdb_get(txn, dbs(st)->recovery, &k, &v);

    if (rc != 0) {
        return rc;
    }
    if (v.mv_size != sizeof(rv)) {
        return MDB_CORRUPTED;
    }
    memcpy(&rv, v.mv_data, sizeof(rv));
    rv.curp[STORE_CURP_MAX - 1] = '\0';
    memcpy(curp, rv.curp, STORE_CURP_MAX);
    *expires = rv.expires;
    return 0;
}

int
ids_recovery_delete(struct store *st, MDB_txn *txn, const uint8_t hash[32])
{
    MDB_val  k = { 32, (void *) hash };

    return mdb_del(txn, dbs(st)->recovery, &k, NULL);
}

static void
prune_db(MDB_txn *txn, MDB_dbi dbi, uint64_t now, unsigned max)
{
    MDB_cursor  *cur;
    MDB_val      k, v;
    uint64_t     expires;
    unsigned     seen = 0;
    int          rc;

    if (mdb_cursor_open(txn, dbi, &cur) != 0) {
        return;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
         rc == 0 && seen < max; seen++)
    {
        /* both layouts start with the u64 expiry */
        if (v.mv_size >= sizeof(expires)) {
            memcpy(&expires, v.mv_data, sizeof(expires));
            if (expires < now) {
                if (mdb_cursor_del(cur, 0) != 0) {
                    break;
                }
                rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
                if (rc == 0) {
                    continue;
                }
            }
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
}

void
ids_prune(struct store *st, MDB_txn *txn, uint64_t now, unsigned max)
{
    prune_db(txn, dbs(st)->nonces, now, max);
    prune_db(txn, dbs(st)->recovery, now, max);
}

int
ids_secret(struct store *st, MDB_txn *txn, uint8_t out[32])
{
    MDB_val  k = str_val("identity_secret"), v;
    int      rc = mdb_get(txn, dbs(st)->meta, &k, &v);

    if (rc == 0 && v.mv_size == 32) {
        memcpy(out, v.mv_data, 32);
        return 0;
    }
    if (rc != MDB_NOTFOUND && rc != 0) {
        return rc;
    }
    if (getrandom(out, 32, 0) != 32) {
        return MDB_PANIC;
    }
    v.mv_data = out;
    v.mv_size = 32;
    return mdb_put(txn, dbs(st)->meta, &k, &v, 0);
}

/* ---- audit chain ---------------------------------------------------------- */

static void
seq_key(uint64_t seq, uint8_t out[8])
{
    int  i;

    for (i = 7; i >= 0; i--) {
        out[i] = (uint8_t) seq;
        seq >>= 8;
    }
}

int
ids_audit_append(struct store *st, MDB_txn *txn, int64_t time_ms,
    const char *actor, const char *action, const char *target,
    const char *detail, uint64_t *seq)
{
    struct audit_record  rec;
    struct audit_view    tail;
    MDB_cursor          *cur;
    MDB_val              k, v;
    uint8_t              key[8], prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
    char                 err[128];
    size_t               size;
    int                  rc;

    memset(prev, 0, sizeof(prev));
    rec.seq = 1;
    rc = mdb_cursor_open(txn, dbs(st)->audit, &cur);
    if (rc != 0) {
        return rc;
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    mdb_cursor_close(cur);
    if (rc == 0) {
        if (audit_entry_decode(v.mv_data, v.mv_size, &tail, err,
                sizeof(err)) != 0)
        {
            return MDB_CORRUPTED;
        }
        rec.seq = tail.seq + 1;
        memcpy(prev, tail.hash, sizeof(prev));
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    rec.time_ms = time_ms;
    rec.actor = actor && actor[0] ? actor : "system";
    rec.action = action;
    rec.target = target ? target : "";
    rec.detail = detail;
    size = audit_entry_size(&rec);
    if (size == 0) {
        return MDB_BAD_VALSIZE;
    }
    seq_key(rec.seq, key);
    k.mv_data = key;
    k.mv_size = sizeof(key);
    v.mv_size = size;
    rc = mdb_put(txn, dbs(st)->audit, &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
    if (rc != 0) {
        return rc;
    }
    if (audit_entry_encode(&rec, prev, v.mv_data, size, hash, err,
            sizeof(err)) < 0)
    {
        return MDB_BAD_VALSIZE;
    }
    if (seq) {
        *seq = rec.seq;
    }
    return 0;
}

struct audit_walk {
    MDB_cursor  *cur;
    int          started;
};

static int
audit_walk_next(void *ctx, const uint8_t **entry, size_t *len)
{
    struct audit_walk  *aw = ctx;
    MDB_val             k, v;
    int                 rc;

    rc = mdb_cursor_get(aw->cur, &k, &v, aw->started ? MDB_NEXT : MDB_FIRST);
    aw->started = 1;
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return -1;
    }
    *entry = v.mv_data;
    *len = v.mv_size;
    return 1;
}

int
ids_audit_verify(MDB_txn *txn, MDB_dbi audit, struct audit_report *out)
{
    struct audit_walk  aw = { NULL, 0 };
    int                rc;

    rc = mdb_cursor_open(txn, audit, &aw.cur);
    if (rc != 0) {
        memset(out, 0, sizeof(*out));
        out->verdict = AUDIT_READ_ERROR;
        snprintf(out->message, sizeof(out->message), "%s",
            mdb_strerror(rc));
        return -1;
    }
    rc = audit_chain_verify(audit_walk_next, &aw, NULL, out);
    mdb_cursor_close(aw.cur);
    return rc;
}

int
ids_audit_latest(struct store *st, MDB_txn *txn, unsigned max,
    int (*fn)(void *arg, const struct audit_view *v), void *arg)
{
    struct audit_view  view;
    MDB_cursor        *cur;
    MDB_val            k, v;
    char               err[128];
    unsigned           n = 0;
    int                rc;

    rc = mdb_cursor_open(txn, dbs(st)->audit, &cur);
    if (rc != 0) {
        return rc;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST); rc == 0 && n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_PREV), n++)
    {
        if (audit_entry_decode(v.mv_data, v.mv_size, &view, err,
                sizeof(err)) != 0)
        {
            continue;
        }
        if (fn(arg, &view) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}
