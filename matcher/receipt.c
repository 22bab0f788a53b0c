/*
 * receipt.c -- receipts: signing key, JWS, folios, JWKS, verification
 * (see receipt.h).
 */

#include "receipt.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "enroll_ops.h"
#include "ipc_server.h"

#define RECEIPT_ISSUER  "huella"

static struct {
    EVP_PKEY  *key;
    char       kid[64];
    char       x[64], y[64];       /* base64url coordinates */
} rg;

/* ---- base64url ------------------------------------------------------------- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
b64url_encode(const uint8_t *in, size_t len, char *out)
{
    size_t    i, o = 0;
    uint32_t  v;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

long
b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    size_t    i, o = 0;
    uint32_t  acc = 0;
    int       bits = 0;
    const char *p;

    if (len % 4 == 1) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (in[i] == '\0' || (p = strchr(b64url_alphabet, in[i])) == NULL) {
            return -1;
        }
        acc = (acc << 6) | (uint32_t) (p - b64url_alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap) {
                return -1;
            }
            out[o++] = (uint8_t) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        return -1;      /* non-canonical trailing bits */
    }
    return (long) o;
}

/* ---- the key --------------------------------------------------------------- */

/*
 * Creates the directories of the key's path: the key's own directory
 * private (0700), the ones above it searchable (0755, less the umask), as
 * the run directory var/ it usually sits in must stay open to nginx's
 * unprivileged workers (they connect to var/huellad.sock).
 */
static int
mkdir_parents(const char *path)
{
    char        buf[PATH_MAX];
    const char *slash;
    size_t      i, len = strlen(path), last;

    if (len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    slash = strrchr(buf, '/');
    last = slash ? (size_t) (slash - buf) : 0;
    for (i = 1; i < len; i++) {
        if (buf[i] == '/') {
            buf[i] = '\0';
            if (mkdir(buf, i == last ? 0700 : 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            buf[i] = '/';
        }
    }
    return 0;
}

static int
generate_key(const char *path, char *err, size_t errlen)
{
    EVP_PKEY  *key = EVP_EC_gen("P-256");
    FILE      *f;
    int        fd, ok;

    if (key == NULL) {
        snprintf(err, errlen, "cannot generate the receipt key");
        return -1;
    }
    if (mkdir_parents(path) != 0
        || (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600))
           < 0)
    {
        snprintf(err, errlen, "receipts.key_file %s: %s", path,
            strerror(errno));
        EVP_PKEY_free(key);
        return -1;
    }
    f = fdopen(fd, "w");
    ok = f && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (f == NULL) {
        close(fd);
    }
    if (f == NULL || fflush(f) != 0 || fsync(fd) != 0) {
        ok = 0;
    }
    if (f) {
        fclose(f);
    }
    EVP_PKEY_free(key);
    if (!ok) {
        unlink(path);
        snprintf(err, errlen, "receipts.key_file %s: cannot write the key",
            path);
        return -1;
    }
    return 0;
}

static int
is_p256(EVP_PKEY *key)
{
    char    group[64];
    size_t  n;

    return EVP_PKEY_get_base_id(key) == EVP_PKEY_EC
           && EVP_PKEY_get_utf8_string_param(key,
                  OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &n) == 1
           && strcmp(group, "prime256v1") == 0;
}

/* x and y (32 bytes each) of a P-256 key. */
static int
ec_xy(EVP_PKEY *key, uint8_t xy[64])
{
    uint8_t  pt[65];
    size_t   n;

    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt,
            sizeof(pt), &n) != 1 || n != 65 || pt[0] != 0x04)
    {
        /* compressed form stored: ask for the uncompressed encoding */
        if (EVP_PKEY_set_utf8_string_param(key,
                OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                "uncompressed") != 1
            || EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY,
                pt, sizeof(pt), &n) != 1 || n != 65)
        {
            return -1;
        }
    }
    memcpy(xy, pt + 1, 64);
    return 0;
}

int
receipt_init(const char *path, char *err, size_t errlen)
{
    FILE     *f;
    uint8_t   xy[64], digest[32];
    char      thumb[256];

    if (access(path, F_OK) != 0 && generate_key(path, err, errlen) != 0) {
        return -1;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "receipts.key_file %s: %s", path,
            strerror(errno));
        return -1;
    }
    EVP_PKEY_free(rg.key);
    rg.key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (rg.key == NULL || !is_p256(rg.key) || ec_xy(rg.key, xy) != 0) {
        snprintf(err, errlen, "receipts.key_file %s: not a PEM EC P-256 "
            "private key (ES256)", path);
        return -1;
    }
    b64url_encode(xy, 32, rg.x);
    b64url_encode(xy + 32, 32, rg.y);
    /* RFC 7638: members in lexicographic order, no whitespace. */
    snprintf(thumb, sizeof(thumb),
        "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
        rg.x, rg.y);
    SHA256((const uint8_t *) thumb, strlen(thumb), digest);
    b64url_encode(digest, 32, rg.kid);
    return 0;
}

char *
receipt_jwks(void)
{
    json_t  *set;
    char    *text;

    set = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s}]}", "keys",
        "kty", "EC", "crv", "P-256", "x", rg.x, "y", rg.y, "kid", rg.kid,
        "use", "sig", "alg", "ES256");
    text = set ? json_dumps(set, JSON_COMPACT) : NULL;
    json_decref(set);
    return text;
}

/* ---- signing --------------------------------------------------------------- */

/* ES256 over input: raw r||s into sig[64]. */
static int
sign_es256(const uint8_t *input, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX     *ctx = EVP_MD_CTX_new();
    uint8_t         der[80];
    size_t          der_len = sizeof(der);
    const uint8_t  *p = der;
    ECDSA_SIG      *es = NULL;
    const BIGNUM   *r, *s;
    int             ok;

    ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, rg.key) == 1
         && EVP_DigestSign(ctx, der, &der_len, input, len) == 1
         && (es = d2i_ECDSA_SIG(NULL, &p, (long) der_len)) != NULL;
    if (ok) {
        ECDSA_SIG_get0(es, &r, &s);
        ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32)
             == 32;
    }
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static char *
jws_compact(json_t *payload)
{
    json_t  *hdr;
    char    *h = NULL, *pl = NULL, *out = NULL;
    size_t   hl, pll, at;
    uint8_t  sig[64];

    hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "typ", "JWT", "kid",
        rg.kid);
    h = hdr ? json_dumps(hdr, JSON_COMPACT) : NULL;
    pl = json_dumps(payload, JSON_COMPACT);
    json_decref(hdr);
    if (h == NULL || pl == NULL) {
        goto done;
    }
    hl = strlen(h);
    pll = strlen(pl);
    out = malloc(4 * ((hl + 2) / 3) + 4 * ((pll + 2) / 3) + 90 + 3);
    if (out == NULL) {
        goto done;
    }
    at = b64url_encode((const uint8_t *) h, hl, out);
    out[at++] = '.';
    at += b64url_encode((const uint8_t *) pl, pll, out + at);
    if (sign_es256((const uint8_t *) out, at, sig) != 0) {
        free(out);
        out = NULL;
        goto done;
    }
    out[at++] = '.';
    b64url_encode(sig, 64, out + at);
done:
    free(h);
    free(pl);
    return out;
}

int
receipt_issue(MDB_txn *txn, const char *type, json_t *payload,
    const char *rfc, const char *curp, char folio[RECEIPT_FOLIO_MAX],
    char **jws)
{
    MDB_val             k = { 5, (void *) "m:seq" }, v;
    uint64_t            seq = 0;
    struct tm           tm;
    time_t              now = time(NULL);
    json_t             *p;
    uint8_t             rec[HIPC_PAYLOAD_MAX];
    struct hipc_writer  w;
    int                 rc;

    rc = mdb_get(txn, en_db_receipts(), &k, &v);
    if (rc == 0 && v.mv_size == sizeof(seq)) {
        memcpy(&seq, v.mv_data, sizeof(seq));
    } else if (rc != MDB_NOTFOUND) {
        return rc ? rc : MDB_CORRUPTED;
    }
    seq++;
    v.mv_data = &seq;
    v.mv_size = sizeof(seq);
    if ((rc = mdb_put(txn, en_db_receipts(), &k, &v, 0)) != 0) {
        return rc;
    }
    gmtime_r(&now, &tm);
    snprintf(folio, RECEIPT_FOLIO_MAX, "HUE-%04d-%09llu", tm.tm_year + 1900,
        (unsigned long long) seq);
    p = json_deep_copy(payload);
    if (p == NULL) {
        return -1;
    }
    json_object_set_new(p, "folio", json_string(folio));
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "iat", json_integer((json_int_t) now));
    json_object_set_new(p, "iss", json_string(RECEIPT_ISSUER));
    *jws = jws_compact(p);
    json_decref(p);
    if (*jws == NULL) {
        return -1;
    }
    hipc_writer_init(&w, rec, sizeof(rec));
    hipc_put_str(&w, HIPC_F_FOLIO, folio);
    hipc_put_str(&w, HIPC_F_RECEIPT, *jws);
    if (rfc && rfc[0]) {
        hipc_put_str(&w, HIPC_F_RFC, rfc);
    }
    if (curp && curp[0]) {
        hipc_put_str(&w, HIPC_F_CURP, curp);
    }
    hipc_put_u64(&w, HIPC_F_CREATED, (uint64_t) now);
    rc = en_record_put(txn, en_db_receipts(), "r:", folio, &w);
    if (rc != 0) {
        free(*jws);
        *jws = NULL;
    }
    return rc;
}

/* ---- verification ---------------------------------------------------------- */

EVP_PKEY *
receipt_key_from_jwk(json_t *jwk, char *err, size_t errlen)
{
    const char      *kty, *crv, *x, *y;
    uint8_t          pt[65];
    EVP_PKEY        *key = NULL;
    EVP_PKEY_CTX    *ctx = NULL;
    OSSL_PARAM_BLD  *bld = NULL;
    OSSL_PARAM      *params = NULL;

    if (json_unpack(jwk, "{s:s, s:s, s:s, s:s}", "kty", &kty, "crv", &crv,
            "x", &x, "y", &y) != 0 || strcmp(kty, "EC") != 0
        || strcmp(crv, "P-256") != 0)
    {
        snprintf(err, errlen, "the JWK is not an EC P-256 key");
        return NULL;
    }
    pt[0] = 0x04;
    if (b64url_decode(x, strlen(x), pt + 1, 32) != 32
        || b64url_decode(y, strlen(y), pt + 33, 32) != 32)
    {
        snprintf(err, errlen, "the JWK's x or y is not 32 bytes of "
            "base64url");
        return NULL;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL
        || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
               "prime256v1", 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
               pt, sizeof(pt))
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        snprintf(err, errlen, "the JWK's point is not on P-256");
        key = NULL;
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

int
receipt_verify(const char *jws, EVP_PKEY *pub, json_t **payload, char *kid,
    size_t kidcap, char *err, size_t errlen)
{
    const char     *dot1, *dot2;
    size_t          len = strlen(jws);
    uint8_t        *buf = NULL, sig[64], der[80], *dp = der;
    long            n;
    json_t         *hdr = NULL;
    json_error_t    je;
    const char     *alg = NULL, *k = NULL;
    ECDSA_SIG      *es = NULL;
    BIGNUM         *r = NULL, *s = NULL;
    EVP_MD_CTX     *ctx = NULL;
    int             der_len, rc = -1;

    *payload = NULL;
    dot1 = strchr(jws, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL) {
        snprintf(err, errlen, "not a JWS compact serialization (three "
            "base64url parts separated by dots)");
        return -1;
    }
    buf = malloc(len + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n = b64url_decode(jws, (size_t) (dot1 - jws), buf, len);
    if (n < 0 || (hdr = json_loadb((char *) buf, (size_t) n, 0, &je)) == NULL
        || json_unpack(hdr, "{s:s}", "alg", &alg) != 0)
    {
        snprintf(err, errlen, "the JWS header is not base64url JSON with "
            "\"alg\"");
        goto done;
    }
    if (strcmp(alg, "ES256") != 0) {
        snprintf(err, errlen, "alg %s is not ES256", alg);
        goto done;
    }
    if (kid && kidcap) {
        kid[0] = '\0';
        if (json_unpack(hdr, "{s:s}", "kid", &k) == 0) {
            snprintf(kid, kidcap, "%s", k);
        }
    }
    if (b64url_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig)) != 64) {
        snprintf(err, errlen, "the signature is not 64 bytes (r||s)");
        goto done;
    }
    /* JWS carries r||s; OpenSSL verifies DER. */
    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    s = BN_bin2bn(sig + 32, 32, NULL);
    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    der_len = i2d_ECDSA_SIG(es, &dp);
    ctx = EVP_MD_CTX_new();
    if (der_len <= 0 || ctx == NULL
        || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) != 1
        || EVP_DigestVerify(ctx, der, (size_t) der_len,
               (const uint8_t *) jws, (size_t) (dot2 - jws)) != 1)
    {
        snprintf(err, errlen, "the signature does not verify with this key");
        goto done;
    }
    n = b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), buf, len);
    if (n < 0
        || (*payload = json_loadb((char *) buf, (size_t) n, 0, &je)) == NULL
        || !json_is_object(*payload))
    {
        json_decref(*payload);
        *payload = NULL;
        snprintf(err, errlen, "the payload is not a JSON object");
        goto done;
    }
    rc = 0;
done:
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    ECDSA_SIG_free(es);
    json_decref(hdr);
    free(buf);
    return rc;
}

/* ---- ops ------------------------------------------------------------------- */

static void
op_receipt_get(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  tags[] = { HIPC_F_FOLIO, 0 };
    struct en_fields       f;
    struct en_err          e;
    struct hipc_writer     w;
    MDB_txn               *txn;
    const uint8_t         *rec, *d;
    size_t                 len;
    uint32_t               n;
    int                    rc;
    char                  *jws;
    json_t                *payload;
    char                   err[128], *text;

    if (en_decode(rq->payload, rq->len, tags, tags, &f, &e) != 0) {
        en_reply_err(rq, &e);
        return;
    }
    if ((rc = store_read_begin(ops_store(), &txn)) != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return;
    }
    rc = en_record_get(txn, en_db_receipts(), "r:", f.folio, &rec, &len);
    if (rc != 0 || hipc_find(rec, len, HIPC_F_RECEIPT, &d, &n) != 1) {
        mdb_txn_abort(txn);
        ops_reply_error(rq, rc == MDB_NOTFOUND ? HIPC_ST_NOT_FOUND
            : HIPC_ST_INTERNAL, rc == MDB_NOTFOUND ? "receipt_not_found"
            : "storage_error", "folio", "no receipt with folio %s",
            f.folio);
        return;
    }
    jws = strndup((const char *) d, n);
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put_str(&w, HIPC_F_FOLIO, f.folio);
    hipc_put(&w, HIPC_F_RECEIPT, d, n);
    if (hipc_find(rec, len, HIPC_F_RFC, &d, &n) == 1) {
        hipc_put(&w, HIPC_F_RFC, d, n);
    }
    if (hipc_find(rec, len, HIPC_F_CURP, &d, &n) == 1) {
        hipc_put(&w, HIPC_F_CURP, d, n);
    }
    mdb_txn_abort(txn);
    if (jws && receipt_verify(jws, rg.key, &payload, NULL, 0, err,
            sizeof(err)) == 0)
    {
        text = json_dumps(payload, JSON_COMPACT);
        if (text) {
            hipc_put_str(&w, HIPC_F_JSON, text);
        }
        free(text);
        json_decref(payload);
    }
    free(jws);
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

void
receipt_ops_handle(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  none[] = { 0 };
    struct en_fields       f;
    struct en_err          e;

    if (rq->op == HIPC_OP_RECEIPT_GET) {
        op_receipt_get(rq, th);
        return;
    }
    if (en_decode(rq->payload, rq->len, none, none, &f, &e) != 0) {
        en_reply_err(rq, &e);
        return;
    }
    en_reply_json(rq, th, receipt_jwks());
}
