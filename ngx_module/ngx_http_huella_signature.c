
/*
 * Signed captures (RFC 9421 HTTP Message Signatures, RFC 9530
 * Content-Digest): the three headers (parsed, with the signature base
 * of RFC 9421 section 2.5, in ngx_http_huella_sf.c), the clock window,
 * the body digest, the nonce cache (ngx_http_huella_nonce.c) and
 * huellad's DEVICE_VERIFY, which holds the device keys and checks the
 * signature itself.
 *
 * Only this profile is accepted (docs/devices.md):
 *
 *   Content-Digest: sha-256=:<base64 of SHA-256(body)>:
 *   Signature-Input: LABEL=("@method" "@path" "content-digest")
 *       ;created=UNIX;keyid="dev_...";nonce="...";[alg="..."]
 *       [;expires=UNIX][;tag="..."]
 *   Signature: LABEL=:<base64 of the signature>:
 *
 * one member in each dictionary, each component once (any order) and
 * without parameters, each parameter once.  The order of the checks:
 * signature_missing, signature_invalid, signature_expired,
 * content_digest_mismatch, nonce_replayed, then huellad's codes.  The
 * nonce is only recorded once huellad accepted the signature, atomically
 * (two copies of one request in flight: the second is nonce_replayed).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/sha.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_signature.h"
#include "ngx_http_huella_sf.h"


/* the state of one check while huellad verifies */
typedef struct {
    ngx_http_huella_call_t     call;
    ngx_http_huella_ctx_t     *ctx;
    ngx_http_huella_signed_pt  handler;
    char                      *purpose;
    ngx_str_t                  alg;
    ngx_str_t                  keyid;
    ngx_str_t                  nonce;
    time_t                     created;
    u_char                     nonce_key[NGX_HTTP_HUELLA_HASH_LEN];
} ngx_http_huella_sig_state_t;


static ngx_int_t ngx_http_huella_sig_header(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static ngx_int_t ngx_http_huella_sig_invalid(ngx_http_huella_ctx_t *ctx,
    const char *what, char *why);
static void ngx_http_huella_sig_nonce_key(ngx_str_t *keyid,
    ngx_str_t *nonce, u_char *key);
static void ngx_http_huella_device_verified(ngx_http_huella_call_t *call);
static ngx_int_t ngx_http_huella_sig_verified(ngx_http_huella_sig_state_t *st,
    ngx_http_huella_call_t *call);


static char  *ngx_http_huella_device_codes[] = {
    "device_unknown",
    "device_suspended",
    "device_revoked",
    "device_purpose_mismatch",
    "signature_invalid",
    NULL
};


ngx_int_t
ngx_http_huella_signature_check(ngx_http_huella_ctx_t *ctx, char *purpose,
    ngx_str_t *body, ngx_http_huella_signed_pt handler)
{
    u_char                        hash[SHA256_DIGEST_LENGTH], *q;
    time_t                        now, window;
    ngx_int_t                     rc;
    ngx_str_t                     input, signature, digest, sig, want;
    ngx_str_t                     base, label, path;
    struct hipc_writer            w;
    ngx_http_request_t           *r;
    ngx_http_huella_sig_input_t   in;
    ngx_http_huella_sig_state_t  *st;
    ngx_http_huella_loc_conf_t   *hlcf;
    ngx_http_huella_main_conf_t  *hmcf;
    char                         *error;

    r = ctx->request;
    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    /* signature_missing */

    rc = ngx_http_huella_sig_header(r, "Signature-Input", &input);
    if (rc == NGX_DECLINED) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "signature_missing", NULL,
                                      "this request must be signed by a "
                                      "registered %s device: the "
                                      "Signature-Input header is missing",
                                      purpose);
    }

    if (rc == NGX_ABORT) {
        return ngx_http_huella_sig_invalid(ctx, "Signature-Input",
                                           "repeated or too long");
    }

    rc = ngx_http_huella_sig_header(r, "Signature", &signature);
    if (rc == NGX_DECLINED) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "signature_missing", NULL,
                                      "this request must be signed by a "
                                      "registered %s device: the "
                                      "Signature header is missing",
                                      purpose);
    }

    if (rc == NGX_ABORT) {
        return ngx_http_huella_sig_invalid(ctx, "Signature",
                                           "repeated or too long");
    }

    /* signature_invalid: the headers themselves */

    ngx_memzero(&in, sizeof(ngx_http_huella_sig_input_t));

    if (ngx_http_huella_sig_parse_input(&input, &in, &error) != NGX_OK) {
        return ngx_http_huella_sig_invalid(ctx, "Signature-Input", error);
    }

    label = in.label;

    rc = ngx_http_huella_sig_parse_bytes(r->pool, &signature, &label, &sig,
                                         &error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_huella_sig_invalid(ctx, "Signature", error);
    }

    rc = ngx_http_huella_sig_header(r, "Content-Digest", &digest);
    if (rc == NGX_DECLINED) {
        return ngx_http_huella_sig_invalid(ctx, "Content-Digest",
                                           "the header is missing, yet "
                                           "\"content-digest\" is covered");
    }

    if (rc == NGX_ABORT) {
        return ngx_http_huella_sig_invalid(ctx, "Content-Digest",
                                           "repeated or too long");
    }

    ngx_str_set(&label, "sha-256");

    rc = ngx_http_huella_sig_parse_bytes(r->pool, &digest, &label, &want,
                                         &error);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_huella_sig_invalid(ctx, "Content-Digest", error);
    }

    if (want.len != SHA256_DIGEST_LENGTH) {
        return ngx_http_huella_sig_invalid(ctx, "Content-Digest",
                                           "a sha-256 digest is 32 bytes");
    }

    /* signature_expired */

    now = ngx_time();
    window = hmcf->signature_window;

    if (in.created > (int64_t) now + window
        || in.created < (int64_t) now - window)
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "signature_expired", NULL,
                                      "the signature was created at %L, "
                                      "%L s from the server's clock %T; "
                                      "at most %T s are accepted",
                                      in.created,
                                      in.created - (int64_t) now, now,
                                      window);
    }

    /*
     * The nonce cache began empty when nginx started: a nonce accepted
     * before (by the nginx that was killed or restarted) is not in it, so
     * a signature created before then might be a replay.  Refused, as a
     * full cache refuses (fail closed); the device signs again.  (Whole
     * seconds: one created in the second nginx started still goes.)
     */

    if (in.created < (int64_t) ngx_http_huella_nonce_since(r)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "signature_expired", NULL,
                                      "the signature was created at %L, "
                                      "before this server's nonce cache "
                                      "began at %T; sign again",
                                      in.created,
                                      ngx_http_huella_nonce_since(r));
    }

    if (in.has_expires && in.expires < (int64_t) now) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "signature_expired", NULL,
                                      "the signature expired at %L",
                                      in.expires);
    }

    /* content_digest_mismatch */

    ngx_http_huella_sha256(body->data, body->len, hash);

    if (CRYPTO_memcmp(hash, want.data, SHA256_DIGEST_LENGTH) != 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "content_digest_mismatch", NULL,
                                      "the Content-Digest sha-256 does not "
                                      "match the %uz bytes of the body",
                                      body->len);
    }

    /* nonce_replayed, checked again once the signature is known good */

    st = ngx_pcalloc(r->pool, sizeof(ngx_http_huella_sig_state_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    ngx_http_huella_sig_nonce_key(&in.keyid, &in.nonce, st->nonce_key);

    rc = ngx_http_huella_nonce_seen(r, st->nonce_key);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_ABORT) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal_error", NULL,
                                      "signed requests need "
                                      "\"huella_signature_nonce_zone\"");
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "nonce_replayed", NULL,
                                      "nonce \"%V\" of device \"%V\" was "
                                      "already used", &in.nonce, &in.keyid);
    }

    /* huellad: the device, its purpose and the signature itself */

    /* the path as sent, without the query; never the normalized r->uri */

    path = r->unparsed_uri;
    q = ngx_strlchr(path.data, path.data + path.len, '?');

    if (q) {
        path.len = q - path.data;
    }

    if (path.len == 0) {
        ngx_str_set(&path, "/");
    }

    if (ngx_http_huella_sig_base(r->pool, &in, &r->method_name, &path,
                                 &digest, &base)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    hipc_writer_init(&w, ngx_pnalloc(r->pool, base.len + sig.len + 256),
                     base.len + sig.len + 256);
    if (w.buf == NULL) {
        return NGX_ERROR;
    }

    hipc_put(&w, HIPC_F_DEVICE_ID, in.keyid.data, in.keyid.len);
    hipc_put(&w, HIPC_F_SIG_BASE, base.data, base.len);
    hipc_put(&w, HIPC_F_SIGNATURE, sig.data, sig.len);
    hipc_put_str(&w, HIPC_F_PURPOSE, purpose);

    if (w.overflow || w.len > HIPC_PAYLOAD_MAX) {
        return ngx_http_huella_sig_invalid(ctx, "Signature-Input",
                                           "too large");
    }

    st->ctx = ctx;
    st->handler = handler;
    st->purpose = purpose;
    st->alg = in.alg;
    st->keyid = in.keyid;
    st->nonce = in.nonce;
    st->created = (time_t) in.created;
    st->call.request = r;
    st->call.handler = ngx_http_huella_device_verified;
    st->call.data = st;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_huella_module);

    rc = ngx_http_huella_link_call(&st->call, HIPC_OP_DEVICE_VERIFY,
                                   w.buf, w.len, hlcf->deadline);

    switch (rc) {

    case NGX_OK:
        return NGX_AGAIN;

    case NGX_DECLINED:
        return ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "matcher_unavailable", NULL,
                                      "the device signature cannot be "
                                      "checked now, retry shortly");

    case NGX_BUSY:
        return ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "matcher_busy", NULL,
                                      "too many requests in flight to the "
                                      "matcher, retry shortly");

    default:
        return NGX_ERROR;
    }
}


/* NGX_OK, NGX_DECLINED if absent, NGX_ABORT if repeated or too long */

static ngx_int_t
ngx_http_huella_sig_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    size_t            len;
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    n = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || h[i].key.len != len
            || ngx_strncasecmp(h[i].key.data, (u_char *) name, len) != 0)
        {
            continue;
        }

        *value = h[i].value;
        n++;
    }

    if (n == 0) {
        return NGX_DECLINED;
    }

    if (n > 1 || value->len > NGX_HTTP_HUELLA_SIG_HEADER_MAX) {
        return NGX_ABORT;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_sig_invalid(ngx_http_huella_ctx_t *ctx, const char *what,
    char *why)
{
    return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                  "signature_invalid", NULL,
                                  "malformed %s header: %s", what, why);
}



/* SHA-256(keyid NUL nonce): the nonce cache's key */

static void
ngx_http_huella_sig_nonce_key(ngx_str_t *keyid, ngx_str_t *nonce,
    u_char *key)
{
    SHA256_CTX  sha;

    SHA256_Init(&sha);
    SHA256_Update(&sha, keyid->data, keyid->len);
    SHA256_Update(&sha, "", 1);
    SHA256_Update(&sha, nonce->data, nonce->len);
    SHA256_Final(key, &sha);
}


static void
ngx_http_huella_device_verified(ngx_http_huella_call_t *call)
{
    ngx_int_t                     rc;
    ngx_http_huella_sig_state_t  *st;

    st = call->data;

    rc = ngx_http_huella_sig_verified(st, call);

    st->handler(st->ctx, rc);
}


static ngx_int_t
ngx_http_huella_sig_verified(ngx_http_huella_sig_state_t *st,
    ngx_http_huella_call_t *call)
{
    char                      **c;
    uint16_t                    tag;
    uint32_t                    len;
    ngx_int_t                   rc;
    ngx_str_t                   code, message, *v;
    const uint8_t              *data;
    ngx_http_request_t         *r;
    struct hipc_reader          rd;
    ngx_http_huella_ctx_t      *ctx;
    ngx_http_huella_device_t   *dev;

    ctx = st->ctx;
    r = ctx->request;

    switch (call->rc) {

    case NGX_HTTP_HUELLA_REPLY:
        break;

    case NGX_HTTP_HUELLA_TIMEOUT:
        return ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "matcher_timeout", NULL,
                                      "the device signature was not checked "
                                      "within the deadline, retry shortly");

    case NGX_HTTP_HUELLA_DOWN:
        return ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "matcher_unavailable", NULL,
                                      "the matcher went away before "
                                      "checking the signature, retry");

    default:
        return ngx_http_huella_reject(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal_error", NULL,
                                      "the matcher sent a malformed reply");
    }

    hipc_reader_init(&rd, call->reply, call->reply_len);

    if (call->status != HIPC_ST_OK) {
        ngx_str_null(&code);
        ngx_str_null(&message);

        while (hipc_next(&rd, &tag, &data, &len) == 1) {
            if (tag == HIPC_F_ERR_CODE) {
                code.data = (u_char *) data;
                code.len = len;

            } else if (tag == HIPC_F_MESSAGE) {
                message.data = (u_char *) data;
                message.len = len;
            }
        }

        if (call->status == HIPC_ST_BUSY || call->status == HIPC_ST_EXPIRED) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "matcher_busy", NULL,
                                          "the matcher is overloaded, "
                                          "retry shortly");
        }

        if (call->status == HIPC_ST_INTERNAL) {
            return ngx_http_huella_reject(ctx,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR,
                                          "internal_error", NULL,
                                          "the matcher failed to check the "
                                          "signature");
        }

        /* UNAUTHORIZED and anything else: a 401 with a known code */

        for (c = ngx_http_huella_device_codes; *c; c++) {
            if (code.len == ngx_strlen(*c)
                && ngx_strncmp(code.data, *c, code.len) == 0)
            {
                break;
            }
        }

        if (*c == NULL) {
            c = &ngx_http_huella_device_codes[4];   /* signature_invalid */
        }

        if (message.len == 0) {
            ngx_str_set(&message, "the device signature was refused");
        }

        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED, *c, NULL,
                                      "%V (device \"%V\")", &message,
                                      &st->keyid);
    }

    dev = ngx_pcalloc(r->pool, sizeof(ngx_http_huella_device_t));
    if (dev == NULL) {
        return NGX_ERROR;
    }

    while (hipc_next(&rd, &tag, &data, &len) == 1) {

        switch (tag) {
        case HIPC_F_DEVICE_ID:
            v = &dev->id;
            break;
        case HIPC_F_RFC:
            v = &dev->rfc;
            break;
        case HIPC_F_PURPOSE:
            v = &dev->purpose;
            break;
        case HIPC_F_KEY_ALG:
            v = &dev->key_alg;
            break;
        default:
            continue;
        }

        v->data = ngx_pnalloc(r->pool, len + 1);
        if (v->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(v->data, data, len);
        v->data[len] = '\0';
        v->len = len;
    }

    if (dev->id.len == 0 || dev->rfc.len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "huella: malformed DEVICE_VERIFY reply");

        return ngx_http_huella_reject(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal_error", NULL,
                                      "the matcher sent a malformed reply");
    }

    if (dev->purpose.len != ngx_strlen(st->purpose)
        || ngx_strncmp(dev->purpose.data, st->purpose, dev->purpose.len) != 0)
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "device_purpose_mismatch", NULL,
                                      "device \"%V\" is registered for "
                                      "\"%V\", this request needs \"%s\"",
                                      &dev->id, &dev->purpose, st->purpose);
    }

    /* an alg parameter, when present, must name the key's algorithm */

    if (st->alg.len
        && !((st->alg.len == 7 && dev->key_alg.len == 7
              && ngx_strncasecmp(dev->key_alg.data, (u_char *) "ed25519", 7)
                 == 0)
             || (st->alg.len == 17 && dev->key_alg.len == 5
                 && ngx_strncmp(dev->key_alg.data, "ES256", 5) == 0)))
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "signature_invalid", NULL,
                                      "alg \"%V\" is not the algorithm of "
                                      "device \"%V\" (%V)", &st->alg,
                                      &dev->id, &dev->key_alg);
    }

    rc = ngx_http_huella_nonce_add(r, st->nonce_key);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "nonce_replayed", NULL,
                                      "nonce \"%V\" of device \"%V\" was "
                                      "already used", &st->nonce, &dev->id);
    }

    if (rc == NGX_BUSY) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "nonce_cache_full", NULL,
                                      "too many signed requests in the "
                                      "window, retry shortly");
    }

    if (rc == NGX_ABORT) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal_error", NULL,
                                      "signed requests need "
                                      "\"huella_signature_nonce_zone\"");
    }

    dev->nonce = st->nonce;
    dev->created = st->created;
    ctx->device = dev;

    return NGX_OK;
}
