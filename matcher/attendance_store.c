/*
 * attendance_store.c -- the `attendance` database's records (see
 * attendance_store.h for the key layout).
 */

#include "attendance_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX  (1 + ATT_CURP_MAX + 1 + 16 + ATT_NAME_MAX)

static void
be64(uint8_t *p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t) v;
        v >>= 8;
    }
}

static uint64_t
get_be64(const uint8_t *p)
{
    uint64_t  v = 0;
    int       i;

    for (i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* prefix | curp | 0 -> length */
static size_t
person_prefix(uint8_t *k, char prefix, const char *curp)
{
    size_t  n = strlen(curp);

    k[0] = (uint8_t) prefix;
    memcpy(k + 1, curp, n);
    k[1 + n] = 0;
    return n + 2;
}

int
atts_open(MDB_env *env, MDB_dbi *dbi)
{
    MDB_txn  *txn;
    int       rc;

    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
        return rc;
    }
    if ((rc = mdb_dbi_open(txn, "attendance", MDB_CREATE, dbi)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

int
atts_counter_next(MDB_txn *txn, MDB_dbi dbi, const char *name,
    uint64_t *out)
{
    uint8_t   k[64];
    MDB_val   key, val;
    uint64_t  v = 0;
    size_t    n = strlen(name);
    int       rc;

    if (n + 1 > sizeof(k)) {
        return EINVAL;
    }
    k[0] = 'C';
    memcpy(k + 1, name, n);
    key.mv_data = k;
    key.mv_size = n + 1;
    rc = mdb_get(txn, dbi, &key, &val);
    if (rc == 0 && val.mv_size == sizeof(v)) {
        memcpy(&v, val.mv_data, sizeof(v));
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    v++;
    val.mv_data = &v;
    val.mv_size = sizeof(v);
    if ((rc = mdb_put(txn, dbi, &key, &val, 0)) != 0) {
        return rc;
    }
    *out = v;
    return 0;
}

/* ---- punches ------------------------------------------------------------ */

int
atts_punch_put(MDB_txn *txn, MDB_dbi dbi, const char *curp,
    const struct att_punch_rec *p)
{
    uint8_t   k[KEY_MAX], fk[1 + ATT_FOLIO_MAX];
    MDB_val   key, val, fkey;
    size_t    n = person_prefix(k, 'P', curp), fn = strlen(p->folio);
    int       rc;

    be64(k + n, p->at);
    be64(k + n + 8, p->seq);
    key.mv_data = k;
    key.mv_size = n + 16;
    val.mv_data = (void *) p;
    val.mv_size = sizeof(*p);
    if ((rc = mdb_put(txn, dbi, &key, &val, MDB_NOOVERWRITE)) != 0) {
        return rc;
    }
    fk[0] = 'F';
    memcpy(fk + 1, p->folio, fn);
    fkey.mv_data = fk;
    fkey.mv_size = fn + 1;
    return mdb_put(txn, dbi, &fkey, &key, MDB_NOOVERWRITE);
}

int
atts_punch_each(MDB_txn *txn, MDB_dbi dbi, const char *curp, uint64_t from,
    uint64_t to, int (*fn)(void *arg, const struct att_punch_rec *p),
    void *arg)
{
    uint8_t               k[KEY_MAX];
    MDB_val               key, val;
    MDB_cursor           *cur;
    struct att_punch_rec  p;
    size_t                n = person_prefix(k, 'P', curp);
    int                   rc, stop = 0;

    be64(k + n, from);
    be64(k + n + 8, 0);
    key.mv_data = k;
    key.mv_size = n + 16;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        return rc;
    }
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != n + 16 || memcmp(key.mv_data, k, n) != 0
            || get_be64((const uint8_t *) key.mv_data + n) >= to)
        {
            break;
        }
        if (val.mv_size != sizeof(p)) {
            continue;       /* not a record this version reads */
        }
        memcpy(&p, val.mv_data, sizeof(p));
        if ((stop = fn(arg, &p)) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return stop ? stop : (rc == MDB_NOTFOUND || rc == 0) ? 0 : rc;
}

int
atts_punch_by_folio(MDB_txn *txn, MDB_dbi dbi, const char *folio,
    char curp[ATT_CURP_MAX], struct att_punch_rec *out)
{
    uint8_t   fk[1 + ATT_FOLIO_MAX];
    MDB_val   key, val;
    size_t    fn = strlen(folio), cn;
    int       rc;

    if (fn >= ATT_FOLIO_MAX) {
        return MDB_NOTFOUND;
    }
    fk[0] = 'F';
    memcpy(fk + 1, folio, fn);
    key.mv_data = fk;
    key.mv_size = fn + 1;
    if ((rc = mdb_get(txn, dbi, &key, &val)) != 0) {
        return rc;
    }
    key = val;
    cn = key.mv_size > 18 ? key.mv_size - 18 : 0;
    if (cn == 0 || cn >= ATT_CURP_MAX) {
        return MDB_CORRUPTED;
    }
    memcpy(curp, (const uint8_t *) key.mv_data + 1, cn);
    curp[cn] = '\0';
    if ((rc = mdb_get(txn, dbi, &key, &val)) != 0) {
        return rc;
    }
    if (val.mv_size != sizeof(*out)) {
        return MDB_CORRUPTED;
    }
    memcpy(out, val.mv_data, sizeof(*out));
    return 0;
}

/* ---- justifications ----------------------------------------------------- */

int
atts_just_put(MDB_txn *txn, MDB_dbi dbi, const struct att_just *j)
{
    uint8_t              k[KEY_MAX], *buf;
    MDB_val              key, val;
    struct att_just_rec  r = j->r;
    size_t               n;
    int                  rc;

    r.text_len = (uint16_t) strlen(j->text);
    r.comment_len = (uint16_t) strlen(j->comment);
    k[0] = 'J';
    be64(k + 1, r.id);
    key.mv_data = k;
    key.mv_size = 9;
    val.mv_size = sizeof(r) + r.text_len + r.comment_len;
    val.mv_data = NULL;
    if ((rc = mdb_put(txn, dbi, &key, &val, MDB_RESERVE)) != 0) {
        return rc;
    }
    buf = val.mv_data;
    memcpy(buf, &r, sizeof(r));
    memcpy(buf + sizeof(r), j->text, r.text_len);
    memcpy(buf + sizeof(r) + r.text_len, j->comment, r.comment_len);

    n = person_prefix(k, 'j', r.curp);
    be64(k + n, r.id);
    key.mv_size = n + 8;
    val.mv_data = "";
    val.mv_size = 0;
    return mdb_put(txn, dbi, &key, &val, 0);
}

static int
just_decode(const MDB_val *val, struct att_just *out)
{
    const uint8_t  *b = val->mv_data;

    if (val->mv_size < sizeof(out->r)) {
        return MDB_CORRUPTED;
    }
    memcpy(&out->r, b, sizeof(out->r));
    if (out->r.version != 1 || out->r.text_len >= sizeof(out->text)
        || out->r.comment_len >= sizeof(out->comment)
        || val->mv_size != sizeof(out->r) + out->r.text_len
                           + out->r.comment_len)
    {
        return MDB_CORRUPTED;
    }
    memcpy(out->text, b + sizeof(out->r), out->r.text_len);
    out->text[out->r.text_len] = '\0';
    memcpy(out->comment, b + sizeof(out->r) + out->r.text_len,
        out->r.comment_len);
    out->comment[out->r.comment_len] = '\0';
    return 0;
}

int
atts_just_get(MDB_txn *txn, MDB_dbi dbi, uint64_t id, struct att_just *out)
{
    uint8_t  k[9];
    MDB_val  key = { 9, k }, val;
    int      rc;

    k[0] = 'J';
    be64(k + 1, id);
    if ((rc = mdb_get(txn, dbi, &key, &val)) != 0) {
        return rc;
    }
    return just_decode(&val, out);
}

int
atts_just_each(MDB_txn *txn, MDB_dbi dbi, const char *curp,
    int (*fn)(void *arg, const struct att_just *j), void *arg)
{
    uint8_t          k[KEY_MAX];
    MDB_val          key, val;
    MDB_cursor      *cur;
    struct att_just *j;
    size_t           n;
    int              rc, stop = 0;

    j = malloc(sizeof(*j));
    if (j == NULL) {
        return ENOMEM;
    }
    if (curp) {
        n = person_prefix(k, 'j', curp);
    } else {
        k[0] = 'J';
        n = 1;
    }
    key.mv_data = k;
    key.mv_size = n;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        free(j);
        return rc;
    }
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != n + (curp ? 8 : 8)
            || memcmp(key.mv_data, k, n) != 0)
        {
            if (key.mv_size < n || memcmp(key.mv_data, k, n) != 0) {
                break;
            }
            continue;
        }
        if (curp) {
            if (atts_just_get(txn, dbi, get_be64((const uint8_t *)
                    key.mv_data + n), j) != 0)
            {
                continue;
            }
        } else if (just_decode(&val, j) != 0) {
            continue;
        }
        if ((stop = fn(arg, j)) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    free(j);
    return stop ? stop : (rc == MDB_NOTFOUND || rc == 0) ? 0 : rc;
}

int
atts_attachment_get(MDB_txn *txn, MDB_dbi dbi, uint64_t id, MDB_val *out)
{
    uint8_t  k[9];
    MDB_val  key = { 9, k };

    k[0] = 'A';
    be64(k + 1, id);
    return mdb_get(txn, dbi, &key, out);
}

int
atts_attachment_put(MDB_txn *txn, MDB_dbi dbi, uint64_t id,
    const void *data, size_t len)
{
    uint8_t  k[9];
    MDB_val  key = { 9, k }, val = { len, (void *) data };

    k[0] = 'A';
    be64(k + 1, id);
    return mdb_put(txn, dbi, &key, &val, 0);
}

/* ---- notifications ------------------------------------------------------ */

int
atts_notify_put(MDB_txn *txn, MDB_dbi dbi, const char *curp,
    const char *json)
{
    uint8_t   k[KEY_MAX];
    MDB_val   key, val;
    uint64_t  seq;
    size_t    n;
    int       rc;

    if ((rc = atts_counter_next(txn, dbi, "notify", &seq)) != 0) {
        return rc;
    }
    n = person_prefix(k, 'N', curp);
    be64(k + n, seq);
    key.mv_data = k;
    key.mv_size = n + 8;
    val.mv_data = (void *) json;
    val.mv_size = strlen(json);
    return mdb_put(txn, dbi, &key, &val, 0);
}

int
atts_notify_latest(MDB_txn *txn, MDB_dbi dbi, const char *curp,
    unsigned max, int (*fn)(void *arg, const char *json, size_t len),
    void *arg)
{
    uint8_t      k[KEY_MAX];
    MDB_val      key, val;
    MDB_cursor  *cur;
    size_t       n = person_prefix(k, 'N', curp);
    unsigned     got = 0;
    int          rc;

    /* position after the person's last entry, then walk back */
    be64(k + n, UINT64_MAX);
    key.mv_data = k;
    key.mv_size = n + 8;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        return rc;
    }
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    rc = rc == 0 ? mdb_cursor_get(cur, &key, &val, MDB_PREV)
                 : mdb_cursor_get(cur, &key, &val, MDB_LAST);
    for (; rc == 0 && got < max;
         rc = mdb_cursor_get(cur, &key, &val, MDB_PREV))
    {
        if (key.mv_size != n + 8 || memcmp(key.mv_data, k, n) != 0) {
            break;
        }
        got++;
        if (fn(arg, val.mv_data, val.mv_size) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- throttle ----------------------------------------------------------- */

static size_t
throttle_key(uint8_t *k, size_t cap, const char *name)
{
    size_t  n = strlen(name);

    if (n + 1 > cap) {
        n = cap - 1;
    }
    k[0] = 'T';
    memcpy(k + 1, name, n);
    return n + 1;
}

int
atts_throttle_get(MDB_txn *txn, MDB_dbi dbi, const char *name,
    struct att_throttle *out)
{
    uint8_t  k[KEY_MAX];
    MDB_val  key, val;
    int      rc;

    key.mv_data = k;
    key.mv_size = throttle_key(k, sizeof(k), name);
    memset(out, 0, sizeof(*out));
    rc = mdb_get(txn, dbi, &key, &val);
    if (rc == 0 && val.mv_size == sizeof(*out)) {
        memcpy(out, val.mv_data, sizeof(*out));
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
atts_throttle_put(MDB_txn *txn, MDB_dbi dbi, const char *name,
    const struct att_throttle *t)
{
    uint8_t  k[KEY_MAX];
    MDB_val  key, val = { sizeof(*t), (void *) t };

    key.mv_data = k;
    key.mv_size = throttle_key(k, sizeof(k), name);
    return mdb_put(txn, dbi, &key, &val, 0);
}

int
atts_throttle_clear(MDB_txn *txn, MDB_dbi dbi, const char *name)
{
    uint8_t  k[KEY_MAX];
    MDB_val  key;
    int      rc;

    key.mv_data = k;
    key.mv_size = throttle_key(k, sizeof(k), name);
    rc = mdb_del(txn, dbi, &key, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Calls fn for each throttle counter whose name starts with `prefix`. */
int
atts_throttle_each(MDB_txn *txn, MDB_dbi dbi, const char *prefix,
    int (*fn)(void *arg, const char *name, const struct att_throttle *t),
    void *arg)
{
    uint8_t              k[KEY_MAX];
    char                 name[KEY_MAX];
    MDB_cursor          *cur;
    MDB_val              key, val;
    struct att_throttle  t;
    size_t               n;
    int                  rc;

    key.mv_data = k;
    key.mv_size = n = throttle_key(k, sizeof(k), prefix);
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        return rc;
    }
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size < n || memcmp(key.mv_data, k, n) != 0
            || key.mv_size - 1 >= sizeof(name))
        {
            break;
        }
        if (val.mv_size != sizeof(t)) {
            continue;
        }
        memcpy(&t, val.mv_data, sizeof(t));
        memcpy(name, (const char *) key.mv_data + 1, key.mv_size - 1);
        name[key.mv_size - 1] = '\0';
        if (fn(arg, name, &t) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* ---- rules changes ------------------------------------------------------ */

int
atts_change_put(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, const char *json)
{
    uint8_t  k[9];
    MDB_val  key = { sizeof(k), k }, val = { strlen(json), (void *) json };

    k[0] = 'R';
    be64(k + 1, seq);
    return mdb_put(txn, dbi, &key, &val, 0);
}

int
atts_change_each(MDB_txn *txn, MDB_dbi dbi,
    int (*fn)(void *arg, uint64_t seq, const char *json, size_t len),
    void *arg)
{
    uint8_t      k[1] = { 'R' };
    MDB_cursor  *cur;
    MDB_val      key = { 1, k }, val;
    int          rc;

    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        return rc;
    }
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    {
        if (key.mv_size != 9 || ((const uint8_t *) key.mv_data)[0] != 'R') {
            break;
        }
        if (fn(arg, get_be64((const uint8_t *) key.mv_data + 1),
                val.mv_data, val.mv_size) != 0)
        {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}
