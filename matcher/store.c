/*
 * store.c -- the LMDB layout behind store.h.
 *
 * Durability comes from LMDB's defaults, which this file keeps on purpose:
 * no MDB_NOSYNC/MDB_NOMETASYNC/MDB_MAPASYNC, so mdb_txn_commit() returns
 * only after fdatasync.  MDB_NOTLS lets a read transaction be used by any
 * one thread at a time (ring threads and search workers come and go).
 * MDB_WRITEMAP is left off so a stray pointer in a reader cannot scribble on
 * the database.
 */

#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "prefilter.h"
#include "sigblocks.h"

struct store {
    MDB_env  *env;
    MDB_dbi   subjects;
    MDB_dbi   subject_nss;    /* NSS -> CURP, see nss_index_check() */
    MDB_dbi   fingers;
    struct sigblock_dbs  sig; /* pre-filter signatures, sigblocks.h */
    MDB_dbi   meta;
    struct store_identity_dbs identity;
};

/* Value layouts; fixed 16-byte headers keep whatever alignment LMDB gave
 * the value for the bytes that follow. */
struct subject_value {
    uint8_t   version;
    uint8_t   nss_len;
    uint16_t  name_len;
    uint32_t  reserved;
    uint64_t  created;
    /* nss bytes, then name bytes */
};

struct finger_value {
    uint8_t   version;
    uint8_t   format;
    uint8_t   position;
    uint8_t   quality;
    uint16_t  minutiae;
    uint16_t  reserved;
    uint64_t  created;
    /* stored template bytes */
};

#define FINGER_KEY_MAX  (STORE_CURP_MAX + 2)

static int
mkdir_p(const char *path)
{
    char    buf[4096];
    size_t  i, len = strlen(path);

    if (len == 0 || len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char  c = buf[i];

            buf[i] = '\0';
            if (mkdir(buf, 0750) != 0 && errno != EEXIST) {
                return -1;
            }
            buf[i] = c;
        }
    }
    return 0;
}

static int finger_value_decode(const MDB_val *val, struct store_finger *out);

/* The pre-filter signature of a fingers value, in its lane's block. */
static int
signature_put(struct store *st, MDB_txn *txn, MDB_val *key,
    const uint8_t *stored, size_t stored_len)
{
    uint8_t  sig[HM_SIG_BYTES];

    if (hm_signature_from_stored(stored, stored_len, sig) != 0) {
        return sigblock_del(txn, &st->sig, key);    /* never searched */
    }
    return sigblock_put(txn, &st->sig, key, sig);
}

/* The rebuild's source: the fingers in key order, each signature taken
 * from the version-2 "signatures" database when it is current (a copy),
 * else computed from the stored template. */
struct sig_source {
    MDB_txn     *txn;
    MDB_cursor  *fingers;
    MDB_dbi      old;
    int          use_old;
    int          started;
};

static int
sig_source_next(void *arg, MDB_val *fkey, uint8_t *sig)
{
    struct sig_source    *src = arg;
    struct store_finger   f;
    MDB_val               v, ov;
    int                   rc;

    rc = mdb_cursor_get(src->fingers, fkey, &v,
        src->started ? MDB_NEXT : MDB_FIRST);
    src->started = 1;
    if (rc != 0) {
        return rc;
    }
    if (src->use_old) {
        MDB_val  k = *fkey;

        rc = mdb_get(src->txn, src->old, &k, &ov);
        if (rc == 0 && ov.mv_size == HM_SIG_BYTES) {
            memcpy(sig, ov.mv_data, HM_SIG_BYTES);
            return 0;
        }
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }
    }
    if (finger_value_decode(&v, &f) != 0
        || hm_signature_from_stored(f.stored, f.stored_len, sig) != 0)
    {
        return 1;       /* not searchable: no signature */
    }
    return 0;
}

/* Signatures are derived data: rebuilt from the fingers when their format
 * version or the block layout changed, or their count disagrees (a
 * database written before they existed).  Once, at open, in the open
 * transaction.  A version-2 database's per-finger "signatures" database
 * is copied into blocks, then deleted. */
static int
signatures_check(struct store *st, MDB_txn *txn)
{
    MDB_val            k = { 9, "sigformat" }, v;
    MDB_val            bk = { 9, "sigblocks" };
    MDB_stat           fs, ss;
    struct sig_source  src;
    uint32_t           version = HM_SIG_VERSION << 16 | HM_SIG_BYTES;
    uint32_t           layout = SIGBLOCK_SLOTS << 8 | SIGBLOCK_LANES;
    uint32_t           have = 0, have_layout = 0;
    int                rc, old_rc;

    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == 0 && v.mv_size == sizeof(have)) {
        memcpy(&have, v.mv_data, sizeof(have));
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    rc = mdb_get(txn, st->meta, &bk, &v);
    if (rc == 0 && v.mv_size == sizeof(have_layout)) {
        memcpy(&have_layout, v.mv_data, sizeof(have_layout));
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
    }
    if ((rc = mdb_stat(txn, st->fingers, &fs)) != 0
        || (rc = mdb_stat(txn, st->sig.slots, &ss)) != 0)
    {
        return rc;
    }
    memset(&src, 0, sizeof(src));
    src.txn = txn;
    old_rc = mdb_dbi_open(txn, "signatures", 0, &src.old);
    if (old_rc != 0 && old_rc != MDB_NOTFOUND) {
        return old_rc;
    }
    if (old_rc == MDB_NOTFOUND && have == version && have_layout == layout
        && fs.ms_entries == ss.ms_entries)
    {
        return 0;
    }
    src.use_old = old_rc == 0 && have == version;
    rc = mdb_cursor_open(txn, st->fingers, &src.fingers);
    if (rc == 0) {
        rc = sigblock_rebuild(txn, &st->sig, sig_source_next, &src);
        mdb_cursor_close(src.fingers);
    }
    if (rc == 0 && old_rc == 0) {
        rc = mdb_drop(txn, src.old, 1);
    }
    if (rc != 0) {
        return rc;
    }
    v.mv_data = &version;
    v.mv_size = sizeof(version);
    if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0) {
        return rc;
    }
    v.mv_data = &layout;
    v.mv_size = sizeof(layout);
    return mdb_put(txn, st->meta, &bk, &v, 0);
}

/*
 * The NSS index: one entry per subject, NSS -> CURP, so that a lookup by
 * NSS is a B-tree descent however many millions of workers are stored.
 * Duplicate NSS values are kept (the store does not make NSS unique; the
 * API's checks do), sorted by CURP.  A subject without an NSS is entered
 * under the one-byte key "\0" (never an NSS) so that the index always has
 * exactly as many entries as there are subjects: the count check at open
 * then catches an environment written before the index existed, or by an
 * older huellad, and the index is rebuilt from the subjects.
 */
static MDB_val
nss_index_key(const char *nss)
{
    MDB_val  k;

    k.mv_data = (void *) nss;
    k.mv_size = nss[0] != '\0' ? strlen(nss) : 1;
    return k;
}

static int
nss_index_put(struct store *st, MDB_txn *txn, const char *nss,
    const MDB_val *curp)
{
    MDB_val  k = nss_index_key(nss), v = *curp;
    int      rc;

    rc = mdb_put(txn, st->subject_nss, &k, &v, MDB_NODUPDATA);
    return rc == MDB_KEYEXIST ? 0 : rc;
}

/* The NSS of a subject record, NUL-terminated into nss_out. */
static int
subject_value_nss(const MDB_val *v, char nss_out[STORE_NSS_MAX])
{
    struct subject_value  h;

    if (v->mv_size < sizeof(h)) {
        return MDB_CORRUPTED;
    }
    memcpy(&h, v->mv_data, sizeof(h));
    if (h.version != 1 || h.nss_len >= STORE_NSS_MAX
        || v->mv_size < sizeof(h) + h.nss_len)
    {
        return MDB_CORRUPTED;
    }
    memcpy(nss_out, (const uint8_t *) v->mv_data + sizeof(h), h.nss_len);
    nss_out[h.nss_len] = '\0';
    return 0;
}

static int
nss_index_check(struct store *st, MDB_txn *txn)
{
    MDB_stat     subjects, index;
    MDB_cursor  *cur;
    MDB_val      k, v;
    char         nss[STORE_NSS_MAX];
    int          rc;

    if ((rc = mdb_stat(txn, st->subjects, &subjects)) != 0
        || (rc = mdb_stat(txn, st->subject_nss, &index)) != 0)
    {
        return rc;
    }
    if (subjects.ms_entries == index.ms_entries) {
        return 0;
    }
    if ((rc = mdb_drop(txn, st->subject_nss, 0)) != 0
        || (rc = mdb_cursor_open(txn, st->subjects, &cur)) != 0)
    {
        return rc;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        /* A record that does not decode stays out of the index, as it
         * stayed out of the scan this replaces; the next open rebuilds
         * again, which costs one pass over the subjects. */
        if (subject_value_nss(&v, nss) == 0
            && (rc = nss_index_put(st, txn, nss, &k)) != 0)
        {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
store_open(struct store **out, const char *dir, uint64_t map_size,
    unsigned max_readers, char *err, size_t errlen)
{
    struct store  *st;
    MDB_txn       *txn = NULL;
    MDB_val        k, v;
    uint32_t       schema = STORE_SCHEMA_VERSION;
    int            rc;

    if (mkdir_p(dir) != 0) {
        snprintf(err, errlen, "cannot create data directory %s: %s", dir,
            strerror(errno));
        return -1;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if ((rc = mdb_env_create(&st->env)) != 0
        || (rc = mdb_env_set_maxdbs(st->env, 32)) != 0
        || (rc = mdb_env_set_maxreaders(st->env, max_readers)) != 0
        || (rc = mdb_env_set_mapsize(st->env, (size_t) map_size)) != 0
        || (rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0640)) != 0)
    {
        snprintf(err, errlen, "cannot open LMDB environment %s: %s", dir,
            mdb_strerror(rc));
        goto fail;
    }
    /* Reader slots left by a process killed with -9 would pin old pages
     * (the file would only grow): clear them. */
    mdb_reader_check(st->env, NULL);
    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0
        || (rc = mdb_dbi_open(txn, "subjects", MDB_CREATE, &st->subjects)) != 0
        || (rc = mdb_dbi_open(txn, "subject_nss", MDB_CREATE | MDB_DUPSORT,
                &st->subject_nss)) != 0
        || (rc = mdb_dbi_open(txn, "fingers", MDB_CREATE, &st->fingers)) != 0
        || (rc = mdb_dbi_open(txn, "sigblocks", MDB_CREATE,
                &st->sig.blocks)) != 0
        || (rc = mdb_dbi_open(txn, "sigslots", MDB_CREATE,
                &st->sig.slots)) != 0
        || (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta)) != 0
        || (rc = mdb_dbi_open(txn, "accounts", MDB_CREATE,
                &st->identity.accounts)) != 0
        || (rc = mdb_dbi_open(txn, "account_index", MDB_CREATE,
                &st->identity.account_index)) != 0
        || (rc = mdb_dbi_open(txn, "tokens", MDB_CREATE,
                &st->identity.tokens)) != 0
        || (rc = mdb_dbi_open(txn, "nonces", MDB_CREATE,
                &st->identity.nonces)) != 0
        || (rc = mdb_dbi_open(txn, "recovery", MDB_CREATE,
                &st->identity.recovery)) != 0
        || (rc = mdb_dbi_open(txn, "throttle", MDB_CREATE,
                &st->identity.throttle)) != 0
        || (rc = mdb_dbi_open(txn, "audit", MDB_CREATE,
                &st->identity.audit)) != 0)
    {
        snprintf(err, errlen, "cannot open databases in %s: %s", dir,
            mdb_strerror(rc));
        goto fail;
    }
    k.mv_data = "schema";
    k.mv_size = 6;
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        v.mv_data = &schema;
        v.mv_size = sizeof(schema);
        rc = mdb_put(txn, st->meta, &k, &v, 0);
    } else if (rc == 0) {
        if (v.mv_size != sizeof(schema)) {
            rc = MDB_CORRUPTED;
        } else {
            memcpy(&schema, v.mv_data, sizeof(schema));
            if (schema != STORE_SCHEMA_VERSION) {
                snprintf(err, errlen, "%s holds schema version %u, this "
                    "huellad reads version %u", dir, schema,
                    STORE_SCHEMA_VERSION);
                goto fail;
            }
        }
    }
    if (rc == 0) {
        rc = signatures_check(st, txn);
    }
    if (rc == 0) {
        rc = nss_index_check(st, txn);
    }
    if (rc != 0 || (rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        snprintf(err, errlen, "cannot initialise %s: %s", dir,
            mdb_strerror(rc));
        goto fail;
    }
    *out = st;
    return 0;

fail:
    if (txn) {
        mdb_txn_abort(txn);
    }
    mdb_env_close(st->env);
    free(st);
    return -1;
}

void
store_close(struct store *st)
{
    if (st) {
        mdb_env_close(st->env);
        free(st);
    }
}

MDB_env *
store_env(struct store *st)
{
    return st->env;
}

const struct store_identity_dbs *
store_identity(struct store *st)
{
    st->identity.meta = st->meta;
    return &st->identity;
}

int
store_disk_full(struct store *st)
{
    const char     *path;
    struct statvfs  fs;

    if (mdb_env_get_path(st->env, &path) != 0 || statvfs(path, &fs) != 0) {
        return 0;
    }
    return (uint64_t) fs.f_bavail * fs.f_frsize < STORE_DISK_LOW;
}

int
store_read_begin(struct store *st, MDB_txn **txn)
{
    return mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
}

int
store_write_begin(struct store *st, MDB_txn *parent, MDB_txn **txn)
{
    return mdb_txn_begin(st->env, parent, 0, txn);
}

static MDB_val
curp_key(const char *curp)
{
    MDB_val  k = { strlen(curp), (void *) curp };

    return k;
}

/* CURP, a NUL (never part of a CURP, so one subject's keys form a prefix
 * range no other CURP shares), the position byte. */
static size_t
finger_key(uint8_t *buf, const char *curp, unsigned position)
{
    size_t  n = strlen(curp);

    if (n >= STORE_CURP_MAX) {
        n = STORE_CURP_MAX - 1;
    }
    memcpy(buf, curp, n);
    buf[n] = 0;
    buf[n + 1] = (uint8_t) position;
    return n + 2;
}

int
store_subject_get(struct store *st, MDB_txn *txn, const char *curp,
    struct store_subject *out)
{
    MDB_val               k = curp_key(curp), v;
    struct subject_value  h;
    int                   rc;

    rc = mdb_get(txn, st->subjects, &k, &v);
    if (rc != 0) {
        return rc;
    }
    if (v.mv_size < sizeof(h)) {
        return MDB_CORRUPTED;
    }
    memcpy(&h, v.mv_data, sizeof(h));
    if (h.version != 1 || h.nss_len >= STORE_NSS_MAX
        || h.name_len >= STORE_NAME_MAX
        || v.mv_size != sizeof(h) + h.nss_len + h.name_len)
    {
        return MDB_CORRUPTED;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->curp, sizeof(out->curp), "%s", curp);
    memcpy(out->nss, (uint8_t *) v.mv_data + sizeof(h), h.nss_len);
    memcpy(out->name, (uint8_t *) v.mv_data + sizeof(h) + h.nss_len,
        h.name_len);
    out->created = h.created;
    return 0;
}

int
store_subject_find_nss(struct store *st, MDB_txn *txn, const char *nss,
    char curp_out[STORE_CURP_MAX])
{
    MDB_val  k, v;
    int      rc;

    if (nss[0] == '\0') {
        return MDB_NOTFOUND;
    }
    k = nss_index_key(nss);
    rc = mdb_get(txn, st->subject_nss, &k, &v);
    if (rc != 0) {
        return rc;
    }
    if (v.mv_size == 0 || v.mv_size >= STORE_CURP_MAX) {
        return MDB_CORRUPTED;
    }
    memcpy(curp_out, v.mv_data, v.mv_size);
    curp_out[v.mv_size] = '\0';
    return 0;
}

int
store_subject_create(struct store *st, MDB_txn *txn,
    const struct store_subject *s)
{
    MDB_val               k = curp_key(s->curp), v;
    struct subject_value  h = { 0 };
    size_t                nss_len = strlen(s->nss), name_len = strlen(s->name);
    uint8_t               buf[sizeof(h) + STORE_NSS_MAX + STORE_NAME_MAX];
    int                   rc;

    if (nss_len >= STORE_NSS_MAX || name_len >= STORE_NAME_MAX) {
        return EINVAL;
    }
    h.version = 1;
    h.nss_len = (uint8_t) nss_len;
    h.name_len = (uint16_t) name_len;
    h.created = s->created ? s->created : (uint64_t) time(NULL);
    memcpy(buf, &h, sizeof(h));
    memcpy(buf + sizeof(h), s->nss, nss_len);
    memcpy(buf + sizeof(h) + nss_len, s->name, name_len);
    v.mv_data = buf;
    v.mv_size = sizeof(h) + nss_len + name_len;
    rc = mdb_put(txn, st->subjects, &k, &v, MDB_NOOVERWRITE);
    return rc != 0 ? rc : nss_index_put(st, txn, s->nss, &k);
}

int
store_subject_delete(struct store *st, MDB_txn *txn, const char *curp)
{
    MDB_val      k = curp_key(curp), fk, fv;
    MDB_cursor  *cur;
    uint8_t      prefix[FINGER_KEY_MAX];
    size_t       plen = finger_key(prefix, curp, 0) - 1;
    char         nss[STORE_NSS_MAX];
    int          rc;

    rc = mdb_get(txn, st->subjects, &k, &fv);
    if (rc != 0) {
        return rc;
    }
    if (subject_value_nss(&fv, nss) == 0) {
        MDB_val  nk = nss_index_key(nss);

        rc = mdb_del(txn, st->subject_nss, &nk, &k);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }
    }
    rc = mdb_del(txn, st->subjects, &k, NULL);
    if (rc != 0) {
        return rc;
    }
    rc = mdb_cursor_open(txn, st->fingers, &cur);
    if (rc != 0) {
        return rc;
    }
    fk.mv_data = prefix;
    fk.mv_size = plen;
    rc = mdb_cursor_get(cur, &fk, &fv, MDB_SET_RANGE);
    while (rc == 0 && fk.mv_size == plen + 1
           && memcmp(fk.mv_data, prefix, plen) == 0)
    {
        /* The signature first (another database: the cursor stays put),
         * then the finger. */
        rc = sigblock_del(txn, &st->sig, &fk);
        if (rc == 0) {
            rc = mdb_cursor_del(cur, 0);
        }
        if (rc != 0) {
            break;
        }
        /* Re-seek rather than rely on where a delete leaves the cursor:
         * a subject has at most ten fingers. */
        fk.mv_data = prefix;
        fk.mv_size = plen;
        rc = mdb_cursor_get(cur, &fk, &fv, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
store_finger_put(struct store *st, MDB_txn *txn, const char *curp,
    const struct store_finger *f)
{
    uint8_t              kbuf[FINGER_KEY_MAX];
    MDB_val              k, v;
    struct finger_value  h = { 0 };
    int                  rc;

    k.mv_data = kbuf;
    k.mv_size = finger_key(kbuf, curp, f->position);
    h.version = 1;
    h.format = f->format;
    h.position = f->position;
    h.quality = f->quality;
    h.minutiae = f->minutiae;
    h.created = f->created ? f->created : (uint64_t) time(NULL);
    v.mv_size = sizeof(h) + f->stored_len;
    /* MDB_RESERVE: one copy straight into the page. */
    rc = mdb_put(txn, st->fingers, &k, &v, MDB_RESERVE);
    if (rc != 0) {
        return rc;
    }
    memcpy(v.mv_data, &h, sizeof(h));
    memcpy((uint8_t *) v.mv_data + sizeof(h), f->stored, f->stored_len);
    return signature_put(st, txn, &k, f->stored, f->stored_len);
}

static int
finger_value_decode(const MDB_val *val, struct store_finger *out)
{
    struct finger_value  h;

    if (val->mv_size <= sizeof(h)) {
        return -1;
    }
    memcpy(&h, val->mv_data, sizeof(h));
    if (h.version != 1) {
        return -1;
    }
    out->position = h.position;
    out->format = h.format;
    out->quality = h.quality;
    out->minutiae = h.minutiae;
    out->created = h.created;
    out->stored = (const uint8_t *) val->mv_data + sizeof(h);
    out->stored_len = val->mv_size - sizeof(h);
    return 0;
}

int
store_finger_get(struct store *st, MDB_txn *txn, const char *curp,
    unsigned position, struct store_finger *out)
{
    uint8_t  kbuf[FINGER_KEY_MAX];
    MDB_val  k, v;
    int      rc;

    k.mv_data = kbuf;
    k.mv_size = finger_key(kbuf, curp, position);
    rc = mdb_get(txn, st->fingers, &k, &v);
    if (rc != 0) {
        return rc;
    }
    return finger_value_decode(&v, out) == 0 ? 0 : MDB_CORRUPTED;
}

int
store_finger_delete(struct store *st, MDB_txn *txn, const char *curp,
    unsigned position)
{
    uint8_t  kbuf[FINGER_KEY_MAX];
    MDB_val  k;

    int      rc;

    k.mv_data = kbuf;
    k.mv_size = finger_key(kbuf, curp, position);
    rc = sigblock_del(txn, &st->sig, &k);
    if (rc != 0) {
        return rc;
    }
    return mdb_del(txn, st->fingers, &k, NULL);
}

int
store_finger_each(struct store *st, MDB_txn *txn, const char *curp,
    int (*fn)(void *arg, const struct store_finger *finger), void *arg)
{
    MDB_cursor           *cur;
    MDB_val               k, v;
    uint8_t               prefix[FINGER_KEY_MAX];
    size_t                plen = finger_key(prefix, curp, 0) - 1;
    struct store_finger   f;
    int                   rc, out = 0;

    rc = mdb_cursor_open(txn, st->fingers, &cur);
    if (rc != 0) {
        return rc;
    }
    k.mv_data = prefix;
    k.mv_size = plen;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && k.mv_size == plen + 1
         && memcmp(k.mv_data, prefix, plen) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (finger_value_decode(&v, &f) != 0) {
            continue;
        }
        out = fn(arg, &f);
        if (out != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    if (out != 0) {
        return out;
    }
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

int
store_finger_cursor(struct store *st, MDB_txn *txn, MDB_cursor **cur)
{
    return mdb_cursor_open(txn, st->fingers, cur);
}

int
store_sigblock_cursor(struct store *st, MDB_txn *txn, MDB_cursor **cur)
{
    return mdb_cursor_open(txn, st->sig.blocks, cur);
}

int
store_finger_get_key(struct store *st, MDB_txn *txn, const MDB_val *key,
    char curp_out[STORE_CURP_MAX], struct store_finger *out)
{
    MDB_val  k = *key, v;
    int      rc;

    rc = mdb_get(txn, st->fingers, &k, &v);
    if (rc != 0) {
        return rc;
    }
    return store_finger_decode(&k, &v, curp_out, out) == 0 ? 0
        : MDB_CORRUPTED;
}

int
store_finger_decode(const MDB_val *key, const MDB_val *val,
    char curp_out[STORE_CURP_MAX], struct store_finger *out)
{
    const uint8_t  *kb = key->mv_data;
    size_t          n;

    if (key->mv_size < 3 || key->mv_size > STORE_CURP_MAX + 1
        || kb[key->mv_size - 2] != 0)
    {
        return -1;
    }
    n = key->mv_size - 2;
    memcpy(curp_out, kb, n);
    curp_out[n] = '\0';
    return finger_value_decode(val, out);
}

static uint64_t
count_entries(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_stat  s;

    return mdb_stat(txn, dbi, &s) == 0 ? (uint64_t) s.ms_entries : 0;
}

uint64_t
store_count_subjects(struct store *st, MDB_txn *txn)
{
    return count_entries(txn, st->subjects);
}

uint64_t
store_count_fingers(struct store *st, MDB_txn *txn)
{
    return count_entries(txn, st->fingers);
}

uint64_t
store_count_signatures(struct store *st, MDB_txn *txn)
{
    return count_entries(txn, st->sig.slots);
}

int
store_backup(struct store *st, const char *dir, char *err, size_t errlen)
{
    char  path[4096];
    int   rc;

    if (mkdir_p(dir) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (access(path, F_OK) == 0) {
        snprintf(err, errlen, "%s already holds a data.mdb", dir);
        return -1;
    }
    /* A compacting copy runs inside a read transaction: writers go on. */
    rc = mdb_env_copy2(st->env, dir, MDB_CP_COMPACT);
    if (rc != 0) {
        snprintf(err, errlen, "backup to %s failed: %s", dir,
            mdb_strerror(rc));
        return -1;
    }
    return 0;
}
