/*
 * devices.c -- registered capture devices (see devices.h).
 */

#include "devices.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enroll_ops.h"
#include "identity.h"
#include "ipc_server.h"
#include "receipt.h"

#define T(x) HIPC_F_##x
#define CACHE_BUCKETS  4096u
#define CACHE_MAX      100000u

enum key_alg { ALG_ES256 = 1, ALG_ED25519 = 2 };

struct cached_key {
    struct cached_key  *next;
    char                id[EN_ID_MAX];
    EVP_PKEY           *key;
    int                 alg;
    uint64_t            last_used;
    uint64_t            flushed;       /* last_used as last written */
};

static struct {
    pthread_mutex_t     lock;
    struct cached_key  *buckets[CACHE_BUCKETS];
    unsigned            count;
    uint64_t            last_flush;
} dc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *
alg_name(int alg)
{
    return alg == ALG_ES256 ? "ES256" : "Ed25519";
}

/* ---- keys ------------------------------------------------------------------ */

/*
 * Strict: exactly one "PUBLIC KEY" PEM block (SubjectPublicKeyInfo) and
 * nothing but whitespace around it; EC on P-256 or Ed25519.  On success
 * *out is the key and *alg its algorithm.
 */
static int
parse_public_key(const char *pem, size_t len, EVP_PKEY **out, int *alg,
    struct en_err *e)
{
    static const char  begin[] = "-----BEGIN PUBLIC KEY-----";
    static const char  end[] = "-----END PUBLIC KEY-----";
    const char        *p = pem, *stop = pem + len, *tail;
    BIO               *bio;
    EVP_PKEY          *key;
    char               group[64];
    size_t             n;

    *out = NULL;
    if (memchr(pem, '\0', len)) {
        return en_fail(e, HIPC_ST_INVALID, "invalid_public_key",
            "public_key_pem", "the PEM text holds a NUL byte");
    }
    while (p < stop && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
    }
    if (memmem(pem, len, "PRIVATE KEY", 11)) {
        return en_fail(e, HIPC_ST_INVALID, "invalid_public_key",
            "public_key_pem", "this is a private key: register only the "
            "public key, the private key never leaves the device");
    }
    if ((size_t) (stop - p) < sizeof(begin) - 1
        || memcmp(p, begin, sizeof(begin) - 1) != 0)
    {
        return en_fail(e, HIPC_ST_INVALID, "invalid_public_key",
            "public_key_pem", "expected one PEM block starting with %s "
            "(SubjectPublicKeyInfo)", begin);
    }
    tail = memmem(p, (size_t) (stop - p), end, sizeof(end) - 1);
    if (tail == NULL) {
        return en_fail(e, HIPC_ST_INVALID, "invalid_public_key",
            "public_key_pem", "the PEM block has no %s line", end);
    }
    for (tail += sizeof(end) - 1; tail < stop; tail++) {
        if (*tail != ' ' && *tail != '\n' && *tail != '\r' && *tail != '\t') {
            return en_fail(e, HIPC_ST_INVALID, "invalid_public_key",
                "public_key_pem", "only one PEM block is accepted, with "
                "nothing after it");
        }
    }
    bio = BIO_new_mem_buf(p, (int) (stop - p));
    key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (key == NULL) {
        return en_fail(e, HIPC_ST_INVALID, "invalid_public_key",
            "public_key_pem", "the PEM block is not a valid public key "
            "(bad base64, DER or point)");
    }
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
        *alg = ALG_ED25519;
    } else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
                group, sizeof(group), &n) != 1
            || strcmp(group, "prime256v1") != 0)
        {
            EVP_PKEY_free(key);
            return en_fail(e, HIPC_ST_INVALID, "unsupported_key_type",
                "public_key_pem", "EC keys must be on P-256 (prime256v1)");
        }
        *alg = ALG_ES256;
    } else {
        en_fail(e, HIPC_ST_INVALID, "unsupported_key_type", "public_key_pem",
            "%s keys are not accepted: use ECDSA P-256 or Ed25519",
            EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key)
            : "these");
        EVP_PKEY_free(key);
        return -1;
    }
    *out = key;
    return 0;
}

static int
verify_signature(EVP_PKEY *key, int alg, const uint8_t *base, size_t len,
    const uint8_t *sig, size_t sig_len)
{
    EVP_MD_CTX  *ctx;
    ECDSA_SIG   *es = NULL;
    BIGNUM      *r, *s;
    uint8_t      der[80], *dp = der;
    int          der_len, ok = 0;

    if (sig_len != 64) {
        return 0;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return 0;
    }
    if (alg == ALG_ED25519) {
        ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1
             && EVP_DigestVerify(ctx, sig, 64, base, len) == 1;
    } else {
        /* RFC 9421 3.3.4: ecdsa-p256-sha256 is r||s, 32 bytes each. */
        es = ECDSA_SIG_new();
        r = BN_bin2bn(sig, 32, NULL);
        s = BN_bin2bn(sig + 32, 32, NULL);
        if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
            der_len = i2d_ECDSA_SIG(es, &dp);
            ok = der_len > 0
                 && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key)
                    == 1
                 && EVP_DigestVerify(ctx, der, (size_t) der_len, base, len)
                    == 1;
        } else {
            BN_free(r);
            BN_free(s);
        }
        ECDSA_SIG_free(es);
    }
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

/* ---- the cache ------------------------------------------------------------- */

static unsigned
bucket_of(const char *id)
{
    unsigned  h = 2166136261u;

    for (; *id; id++) {
        h = (h ^ (uint8_t) *id) * 16777619u;
    }
    return h % CACHE_BUCKETS;
}

static struct cached_key *
cache_find(const char *id)
{
    struct cached_key  *c;

    for (c = dc.buckets[bucket_of(id)]; c; c = c->next) {
        if (strcmp(c->id, id) == 0) {
            return c;
        }
    }
    return NULL;
}

/* A reference to the device's key (caller frees), parsed once. */
static EVP_PKEY *
cache_key(const char *id, const char *pem, int *alg)
{
    struct cached_key  *c;
    struct en_err       e;
    EVP_PKEY           *key;

    pthread_mutex_lock(&dc.lock);
    c = cache_find(id);
    if (c && EVP_PKEY_up_ref(c->key) == 1) {
        *alg = c->alg;
        key = c->key;
        pthread_mutex_unlock(&dc.lock);
        return key;
    }
    pthread_mutex_unlock(&dc.lock);
    if (parse_public_key(pem, strlen(pem), &key, alg, &e) != 0) {
        return NULL;
    }
    pthread_mutex_lock(&dc.lock);
    if (cache_find(id) == NULL && dc.count < CACHE_MAX
        && (c = calloc(1, sizeof(*c))) != NULL && EVP_PKEY_up_ref(key) == 1)
    {
        snprintf(c->id, sizeof(c->id), "%s", id);
        c->key = key;
        c->alg = *alg;
        c->next = dc.buckets[bucket_of(id)];
        dc.buckets[bucket_of(id)] = c;
        dc.count++;
    }
    pthread_mutex_unlock(&dc.lock);
    return key;
}

static void
cache_touch(const char *id, uint64_t now)
{
    struct cached_key  *c;

    pthread_mutex_lock(&dc.lock);
    c = cache_find(id);
    if (c && now > c->last_used) {
        c->last_used = now;
    }
    pthread_mutex_unlock(&dc.lock);
}

static uint64_t
cache_last_used(const char *id)
{
    struct cached_key  *c;
    uint64_t            t = 0;

    pthread_mutex_lock(&dc.lock);
    c = cache_find(id);
    if (c) {
        t = c->last_used;
    }
    pthread_mutex_unlock(&dc.lock);
    return t;
}

void
devices_flush_last_used(MDB_txn *parent, int force)
{
    struct cached_key  *c;
    MDB_txn            *txn;
    uint64_t            now = (uint64_t) time(NULL);
    char                kb[64];
    MDB_val             k, v;
    unsigned            i;
    int                 rc = 0;

    if (!force && now - dc.last_flush < en_cfg()->last_used_flush_s) {
        return;
    }
    dc.last_flush = now;
    if (mdb_txn_begin(mdb_txn_env(parent), parent, 0, &txn) != 0) {
        return;
    }
    pthread_mutex_lock(&dc.lock);
    for (i = 0; i < CACHE_BUCKETS && rc == 0; i++) {
        for (c = dc.buckets[i]; c && rc == 0; c = c->next) {
            if (c->last_used <= c->flushed) {
                continue;
            }
            k = en_key(kb, sizeof(kb), "u:", c->id);
            v.mv_data = &c->last_used;
            v.mv_size = sizeof(c->last_used);
            rc = mdb_put(txn, en_db_devices(), &k, &v, 0);
        }
    }
    if (rc == 0 && mdb_txn_commit(txn) == 0) {
        /* Counted as flushed once inside the batch; a failed batch commit
         * only delays them to the next flush after a restart's use. */
        for (i = 0; i < CACHE_BUCKETS; i++) {
            for (c = dc.buckets[i]; c; c = c->next) {
                c->flushed = c->last_used;
            }
        }
    } else if (rc != 0) {
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&dc.lock);
}

int
devices_init(char *err, size_t errlen)
{
    (void) err;
    (void) errlen;
    dc.last_flush = (uint64_t) time(NULL);
    return 0;
}

/* ---- records --------------------------------------------------------------- */

struct device {
    char      id[EN_ID_MAX];
    char      rfc[EN_RFC_MAX];
    char      pem[EN_PEM_MAX + 1];
    char      alg[16];
    char      make[EN_TEXT_MAX], model[EN_TEXT_MAX], serial[EN_TEXT_MAX];
    char      purpose[EN_WORD_MAX], state[EN_WORD_MAX];
    char      actor[IDS_ACTOR_MAX];
    char      folio[EN_FOLIO_MAX];
    uint64_t  created;
};

static void
device_decode(const uint8_t *rec, size_t len, struct device *d)
{
    en_record_str(rec, len, T(DEVICE_ID), d->id, sizeof(d->id));
    en_record_str(rec, len, T(RFC), d->rfc, sizeof(d->rfc));
    en_record_str(rec, len, T(PUBLIC_KEY), d->pem, sizeof(d->pem));
    en_record_str(rec, len, T(KEY_ALG), d->alg, sizeof(d->alg));
    en_record_str(rec, len, T(MAKE), d->make, sizeof(d->make));
    en_record_str(rec, len, T(MODEL), d->model, sizeof(d->model));
    en_record_str(rec, len, T(SERIAL), d->serial, sizeof(d->serial));
    en_record_str(rec, len, T(PURPOSE), d->purpose, sizeof(d->purpose));
    en_record_str(rec, len, T(STATE), d->state, sizeof(d->state));
    en_record_str(rec, len, T(ACTOR), d->actor, sizeof(d->actor));
    en_record_str(rec, len, T(FOLIO), d->folio, sizeof(d->folio));
    d->created = en_record_u64(rec, len, T(CREATED));
}

static int
device_get(MDB_txn *txn, const char *id, struct device *d)
{
    const uint8_t  *rec;
    size_t          len;
    int             rc = en_record_get(txn, en_db_devices(), "d:", id, &rec,
                             &len);

    if (rc == 0) {
        device_decode(rec, len, d);
    }
    return rc;
}

static int
device_put(MDB_txn *txn, const struct device *d)
{
    uint8_t             buf[EN_PEM_MAX + 2048];
    struct hipc_writer  w;

    hipc_writer_init(&w, buf, sizeof(buf));
    hipc_put_str(&w, T(DEVICE_ID), d->id);
    hipc_put_str(&w, T(RFC), d->rfc);
    hipc_put_str(&w, T(PUBLIC_KEY), d->pem);
    hipc_put_str(&w, T(KEY_ALG), d->alg);
    hipc_put_str(&w, T(MAKE), d->make);
    hipc_put_str(&w, T(MODEL), d->model);
    hipc_put_str(&w, T(SERIAL), d->serial);
    hipc_put_str(&w, T(PURPOSE), d->purpose);
    hipc_put_str(&w, T(STATE), d->state);
    hipc_put_str(&w, T(ACTOR), d->actor);
    hipc_put_str(&w, T(FOLIO), d->folio);
    hipc_put_u64(&w, T(CREATED), d->created);
    return en_record_put(txn, en_db_devices(), "d:", d->id, &w);
}

int
devices_check(MDB_txn *txn, const char *device_id, const char *rfc,
    const char *purpose, struct en_err *e)
{
    struct device  d;
    int            rc = device_get(txn, device_id, &d);

    if (rc == MDB_NOTFOUND) {
        return en_fail(e, HIPC_ST_UNAUTHORIZED, "device_unknown",
            "device_id", "no device %s is registered", device_id);
    }
    if (rc != 0) {
        return en_fail(e, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
    }
    if (strcmp(d.state, "active") != 0) {
        return en_fail(e, HIPC_ST_UNAUTHORIZED, strcmp(d.state, "revoked")
            == 0 ? "device_revoked" : "device_suspended", "device_id",
            "device %s is %s", device_id, d.state);
    }
    if (strcmp(d.purpose, purpose) != 0) {
        return en_fail(e, HIPC_ST_UNAUTHORIZED, "device_purpose_mismatch",
            "device_id", "device %s is registered for %s, not %s",
            device_id, d.purpose, purpose);
    }
    if (rfc && strcmp(d.rfc, rfc) != 0) {
        return en_fail(e, HIPC_ST_FORBIDDEN, "device_employer_mismatch",
            "device_id", "device %s belongs to another employer",
            device_id);
    }
    return 0;
}

/* ---- DEVICE_REGISTER ------------------------------------------------------- */

struct register_prep {
    char     id[EN_ID_MAX];
    int      alg;
    uint8_t  spki_hash[32];
    char     pem[EN_PEM_MAX + 1];   /* normalized */
};

static const uint16_t register_allowed[] = { T(RFC), T(PUBLIC_KEY), T(MAKE),
    T(MODEL), T(SERIAL), T(PURPOSE), T(ACTOR), T(CLIENT), 0 };
static const uint16_t register_required[] = { T(RFC), T(PUBLIC_KEY),
    T(MAKE), T(MODEL), T(SERIAL), T(PURPOSE), T(ACTOR), 0 };

static int
purpose_valid(const char *p)
{
    return strcmp(p, "enrollment") == 0 || strcmp(p, "kiosk") == 0;
}

static void
op_register(struct hd_request *rq)
{
    struct en_fields       f;
    struct en_err          e;
    struct register_prep  *p;
    EVP_PKEY              *key;
    BIO                   *bio;
    uint8_t               *der = NULL;
    int                    der_len;
    long                   n;
    char                  *mem;

    if (en_decode(rq->payload, rq->len, register_allowed, register_required,
            &f, &e) != 0)
    {
        en_reply_err(rq, &e);
        return;
    }
    if (!purpose_valid(f.purpose)) {
        ops_reply_error(rq, HIPC_ST_INVALID, "invalid_purpose", "purpose",
            "the purpose is enrollment or kiosk");
        return;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        ops_reply_error(rq, HIPC_ST_BUSY, "out_of_memory", NULL,
            "huellad is out of memory");
        return;
    }
    if (parse_public_key(f.pem, f.pem_len, &key, &p->alg, &e) != 0) {
        free(p);
        en_reply_err(rq, &e);
        return;
    }
    der_len = i2d_PUBKEY(key, &der);
    bio = BIO_new(BIO_s_mem());
    if (der_len <= 0 || bio == NULL || PEM_write_bio_PUBKEY(bio, key) != 1
        || (n = BIO_get_mem_data(bio, &mem)) <= 0 || n > EN_PEM_MAX
        || en_random_id("dev_", p->id, sizeof(p->id)) != 0)
    {
        BIO_free(bio);
        OPENSSL_free(der);
        EVP_PKEY_free(key);
        free(p);
        ops_reply_error(rq, HIPC_ST_INTERNAL, "key_encoding_failed", NULL,
            "cannot re-encode the public key");
        return;
    }
    memcpy(p->pem, mem, (size_t) n);
    p->pem[n] = '\0';
    SHA256(der, (size_t) der_len, p->spki_hash);
    BIO_free(bio);
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    en_dispatch(rq, p, free, NULL);
}

static int
write_register(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct register_prep  *p = rq->prep;
    struct en_fields       f;
    struct en_err          e;
    struct device          d;
    char                   kb[80], hex[65], folio[RECEIPT_FOLIO_MAX];
    char                  *jws = NULL;
    MDB_val                k, v;
    json_t                *payload;
    unsigned               i;
    int                    rc;

    if (en_decode(rq->payload, rq->len, register_allowed, register_required,
            &f, &e) != 0)
    {
        return en_put_err(w, &e);
    }
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", p->spki_hash[i]);
    }
    k = en_key(kb, sizeof(kb), "k:", hex);
    rc = mdb_get(txn, en_db_devices(), &k, &v);
    if (rc == 0) {
        ops_error(w, "device_key_registered", "public_key_pem", "this public "
            "key is already registered to a device");
        return HIPC_ST_CONFLICT;
    }
    memset(&d, 0, sizeof(d));
    snprintf(d.id, sizeof(d.id), "%s", p->id);
    snprintf(d.rfc, sizeof(d.rfc), "%s", f.rfc);
    snprintf(d.pem, sizeof(d.pem), "%s", p->pem);
    snprintf(d.alg, sizeof(d.alg), "%s", alg_name(p->alg));
    snprintf(d.make, sizeof(d.make), "%s", f.make);
    snprintf(d.model, sizeof(d.model), "%s", f.model);
    snprintf(d.serial, sizeof(d.serial), "%s", f.serial);
    snprintf(d.purpose, sizeof(d.purpose), "%s", f.purpose);
    snprintf(d.state, sizeof(d.state), "active");
    snprintf(d.actor, sizeof(d.actor), "%s", f.actor);
    d.created = (uint64_t) time(NULL);
    payload = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
        "employer_rfc", d.rfc, "device", d.id, "key_alg", d.alg,
        "key_sha256", hex, "purpose", d.purpose, "make", d.make, "model",
        d.model, "serial", d.serial);
    rc = payload ? receipt_issue(txn, "device_registration", payload, d.rfc,
        NULL, folio, &jws) : -1;
    json_decref(payload);
    if (rc == 0) {
        snprintf(d.folio, sizeof(d.folio), "%s", folio);
        v.mv_data = d.id;
        v.mv_size = strlen(d.id);
        rc = mdb_put(txn, en_db_devices(), &k, &v, MDB_NOOVERWRITE);
    }
    if (rc == 0) {
        rc = device_put(txn, &d);
    }
    if (rc == 0) {
        rc = id_audit(txn, f.actor, "device_register", d.id, f.client,
            "employer_rfc", d.rfc, "purpose", d.purpose, "key_alg", d.alg,
            "folio", folio, NULL);
    }
    if (rc != 0) {
        free(jws);
        ops_error(w, "storage_error", NULL, "%s", rc == -1
            ? "cannot sign the receipt" : mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    hipc_put_str(w, T(DEVICE_ID), d.id);
    hipc_put_str(w, T(KEY_ALG), d.alg);
    hipc_put_str(w, T(PURPOSE), d.purpose);
    hipc_put_str(w, T(RFC), d.rfc);
    hipc_put_str(w, T(FOLIO), folio);
    hipc_put_str(w, T(RECEIPT), jws);
    free(jws);
    return HIPC_ST_OK;
}

/* ---- DEVICE_SET_STATUS ----------------------------------------------------- */

static const uint16_t status_allowed[] = { T(DEVICE_ID), T(STATE), T(ACTOR),
    T(RFC), T(CLIENT), 0 };
static const uint16_t status_required[] = { T(DEVICE_ID), T(STATE),
    T(ACTOR), 0 };

static int
state_valid(const char *s)
{
    return strcmp(s, "active") == 0 || strcmp(s, "suspended") == 0
           || strcmp(s, "revoked") == 0;
}

static void
op_set_status(struct hd_request *rq)
{
    struct en_fields  f;
    struct en_err     e;

    if (en_decode(rq->payload, rq->len, status_allowed, status_required, &f,
            &e) != 0)
    {
        en_reply_err(rq, &e);
        return;
    }
    if (!state_valid(f.state)) {
        ops_reply_error(rq, HIPC_ST_INVALID, "invalid_status", "status",
            "the status is active, suspended or revoked");
        return;
    }
    en_dispatch(rq, NULL, NULL, NULL);
}

static int
write_set_status(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct en_fields  f;
    struct en_err     e;
    struct device     d;
    char              before[EN_WORD_MAX];
    int               rc;

    if (en_decode(rq->payload, rq->len, status_allowed, status_required, &f,
            &e) != 0)
    {
        return en_put_err(w, &e);
    }
    rc = device_get(txn, f.device_id, &d);
    if (rc == MDB_NOTFOUND) {
        ops_error(w, "device_not_found", "device_id", "no device %s",
            f.device_id);
        return HIPC_ST_NOT_FOUND;
    }
    if (rc != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    if (f.rfc[0] && strcmp(f.rfc, d.rfc) != 0) {
        /* An employer acting on another's device: as if it did not exist
         * would hide nothing useful; say it is not theirs. */
        ops_error(w, "device_not_owned", "device_id", "device %s belongs to "
            "another employer", f.device_id);
        return HIPC_ST_FORBIDDEN;
    }
    if (strcmp(d.state, "revoked") == 0 && strcmp(f.state, "revoked") != 0) {
        ops_error(w, "device_revoked", "status", "device %s is revoked; "
            "revocation is final (register the device again with a new "
            "key)", f.device_id);
        return HIPC_ST_CONFLICT;
    }
    snprintf(before, sizeof(before), "%s", d.state);
    snprintf(d.state, sizeof(d.state), "%s", f.state);
    rc = device_put(txn, &d);
    if (rc == 0 && strcmp(before, f.state) != 0) {
        rc = id_audit(txn, f.actor, "device_status", d.id, f.client,
            "from", before, "to", f.state, "employer_rfc", d.rfc, NULL);
    }
    if (rc != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    hipc_put_str(w, T(DEVICE_ID), d.id);
    hipc_put_str(w, T(STATE), d.state);
    hipc_put_str(w, T(RFC), d.rfc);
    return HIPC_ST_OK;
}

/* ---- DEVICE_LIST ----------------------------------------------------------- */

static void
op_list(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  tags[] = { T(RFC), 0 };
    struct en_fields       f;
    struct device          d;
    MDB_txn               *txn = NULL;
    MDB_cursor            *cur = NULL;
    MDB_val                k = { 2, (void *) "d:" }, v, uk, uv;
    json_t                *arr;
    uint64_t               last, cached;
    char                   kb[64];
    int                    rc;

    if (en_list_open(rq, tags, en_db_devices(), &f, &txn, &cur) != 0) {
        return;
    }
    arr = json_array();
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (k.mv_size < 2 || memcmp(k.mv_data, "d:", 2) != 0) {
            break;
        }
        if (v.mv_size < 1) {
            continue;
        }
        device_decode((const uint8_t *) v.mv_data + 1, v.mv_size - 1, &d);
        if (f.rfc[0] && strcmp(f.rfc, d.rfc) != 0) {
            continue;
        }
        last = 0;
        uk = en_key(kb, sizeof(kb), "u:", d.id);
        if (mdb_get(txn, en_db_devices(), &uk, &uv) == 0
            && uv.mv_size == sizeof(last))
        {
            memcpy(&last, uv.mv_data, sizeof(last));
        }
        cached = cache_last_used(d.id);
        if (cached > last) {
            last = cached;
        }
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s,"
            " s:s, s:s, s:I, s:s, s:s, s:o}", "device_id", d.id,
            "employer_rfc", d.rfc, "make", d.make, "model", d.model,
            "serial", d.serial, "purpose", d.purpose, "key_alg", d.alg,
            "status", d.state, "created", (json_int_t) d.created,
            "registered_by", d.actor, "folio", d.folio, "last_used",
            last ? json_integer((json_int_t) last) : json_null()));
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    en_reply_json(rq, th, json_dumps(arr, JSON_COMPACT));
    json_decref(arr);
}

/* ---- DEVICE_VERIFY --------------------------------------------------------- */

static void
op_verify(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  tags[] = { T(DEVICE_ID), T(SIG_BASE),
        T(SIGNATURE), T(PURPOSE), 0 };
    struct en_fields       f;
    struct en_err          e;
    struct device          d;
    struct hipc_writer     w;
    EVP_PKEY              *key;
    MDB_txn               *txn;
    int                    rc, alg, ok;

    if (en_decode(rq->payload, rq->len, tags, tags, &f, &e) != 0) {
        en_reply_err(rq, &e);
        return;
    }
    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return;
    }
    rc = device_get(txn, f.device_id, &d);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND) {
        ops_reply_error(rq, HIPC_ST_UNAUTHORIZED, "device_unknown", "keyid",
            "no device %s is registered", f.device_id);
        return;
    }
    if (rc != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return;
    }
    if (strcmp(d.state, "active") != 0) {
        ops_reply_error(rq, HIPC_ST_UNAUTHORIZED, strcmp(d.state, "revoked")
            == 0 ? "device_revoked" : "device_suspended", "keyid",
            "device %s is %s", d.id, d.state);
        return;
    }
    if (strcmp(d.purpose, f.purpose) != 0) {
        ops_reply_error(rq, HIPC_ST_UNAUTHORIZED, "device_purpose_mismatch",
            "keyid", "device %s is registered for %s, not %s", d.id,
            d.purpose, f.purpose);
        return;
    }
    key = cache_key(d.id, d.pem, &alg);
    if (key == NULL) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "device_key_unreadable", NULL,
            "the stored key of device %s does not parse", d.id);
        return;
    }
    ok = verify_signature(key, alg, f.sig_base, f.sig_base_len, f.sig,
        f.sig_len);
    EVP_PKEY_free(key);
    if (!ok) {
        ops_reply_error(rq, HIPC_ST_UNAUTHORIZED, "signature_invalid",
            "signature", "the signature does not verify with device %s's "
            "%s key", d.id, alg_name(alg));
        return;
    }
    cache_touch(d.id, (uint64_t) time(NULL));
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put_str(&w, T(DEVICE_ID), d.id);
    hipc_put_str(&w, T(RFC), d.rfc);
    hipc_put_str(&w, T(PURPOSE), d.purpose);
    hipc_put_str(&w, T(KEY_ALG), alg_name(alg));
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

/* ---- entry points ---------------------------------------------------------- */

void
devices_handle(struct hd_request *rq, struct hd_thread *th)
{
    switch (rq->op) {
    case HIPC_OP_DEVICE_REGISTER:
        op_register(rq);
        break;
    case HIPC_OP_DEVICE_SET_STATUS:
        op_set_status(rq);
        break;
    case HIPC_OP_DEVICE_LIST:
        op_list(rq, th);
        break;
    default:
        op_verify(rq, th);
        break;
    }
}

int
devices_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    if (rq->op == HIPC_OP_DEVICE_REGISTER) {
        return write_register(rq, txn, w);
    }
    return write_set_status(rq, txn, w);
}
