
/*
 * Signed captures (RFC 9421 HTTP Message Signatures, RFC 9530
 * Content-Digest): strict parsers for the three headers, the signature
 * base (RFC 9421 section 2.5), the clock window, the body digest, the
 * nonce cache (ngx_http_huella_nonce.c) and huellad's DEVICE_VERIFY, which
 * holds the device keys and checks the signature itself.
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


#define NGX_HTTP_HUELLA_SIG_MAX_COMPONENTS  3
#define NGX_HTTP_HUELLA_SIG_MAX_PARAMS      6
#define NGX_HTTP_HUELLA_SIG_KEYID_MAX       64
#define NGX_HTTP_HUELLA_SIG_NONCE_MIN       8
#define NGX_HTTP_HUELLA_SIG_NONCE_MAX       128
#define NGX_HTTP_HUELLA_SIG_B64_MAX         1024
#define NGX_HTTP_HUELLA_SIG_HEADER_MAX      4096


typedef struct {
    u_char                    *pos;
    u_char                    *last;
    char                      *error;       /* why it is malformed */
} ngx_http_huella_sf_t;


/* a parsed Signature-Input member */
typedef struct {
    ngx_str_t                  label;
    ngx_str_t                  components[NGX_HTTP_HUELLA_SIG_MAX_COMPONENTS];
    ngx_uint_t                 ncomponents;

    ngx_str_t                  pname[NGX_HTTP_HUELLA_SIG_MAX_PARAMS];
    ngx_str_t                  pstr[NGX_HTTP_HUELLA_SIG_MAX_PARAMS];
    int64_t                    pint[NGX_HTTP_HUELLA_SIG_MAX_PARAMS];
    ngx_uint_t                 pisint[NGX_HTTP_HUELLA_SIG_MAX_PARAMS];
    ngx_uint_t                 nparams;

    int64_t                    created;
    int64_t                    expires;
    ngx_str_t                  keyid;
    ngx_str_t                  nonce;
    ngx_str_t                  alg;
    unsigned                   has_created:1;
    unsigned                   has_expires:1;
} ngx_http_huella_sig_input_t;


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
static ngx_int_t ngx_http_huella_sig_parse_input(ngx_str_t *value,
    ngx_http_huella_sig_input_t *in, char **error);
static ngx_int_t ngx_http_huella_sig_parse_bytes(ngx_pool_t *pool,
    ngx_str_t *value, ngx_str_t *label, ngx_str_t *out, char **error);
static ngx_int_t ngx_http_huella_sf_key(ngx_http_huella_sf_t *sf,
    ngx_str_t *key);
static ngx_int_t ngx_http_huella_sf_string(ngx_http_huella_sf_t *sf,
    ngx_str_t *s);
static ngx_int_t ngx_http_huella_sf_integer(ngx_http_huella_sf_t *sf,
    int64_t *n);
static ngx_int_t ngx_http_huella_sf_bytes(ngx_http_huella_sf_t *sf,
    ngx_str_t *b64);
static size_t ngx_http_huella_sf_string_len(ngx_str_t *s);
static u_char *ngx_http_huella_sf_string_out(u_char *p, ngx_str_t *s);
static ngx_int_t ngx_http_huella_sig_base(ngx_http_huella_ctx_t *ctx,
    ngx_http_huella_sig_input_t *in, ngx_str_t *digest, ngx_str_t *base);
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
    u_char                        hash[SHA256_DIGEST_LENGTH];
    time_t                        now, window;
    ngx_int_t                     rc;
    ngx_str_t                     input, signature, digest, sig, want;
    ngx_str_t                     base, label;
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

    if (ngx_http_huella_sig_base(ctx, &in, &digest, &base) != NGX_OK) {
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


/*
 * LABEL=("c1" "c2" "c3");p1=v1;p2=v2...  as an RFC 8941 dictionary with
 * exactly one member
 */

static ngx_int_t
ngx_http_huella_sig_parse_input(ngx_str_t *value,
    ngx_http_huella_sig_input_t *in, char **error)
{
    int64_t                n;
    ngx_str_t              s, key;
    ngx_uint_t             i, j, seen;
    ngx_http_huella_sf_t   sf;

    static char  *required[] = { "@method", "@path", "content-digest" };

    sf.pos = value->data;
    sf.last = value->data + value->len;
    sf.error = "syntax error";

    if (ngx_http_huella_sf_key(&sf, &in->label) != NGX_OK) {
        goto invalid;
    }

    if (sf.pos == sf.last || *sf.pos++ != '=') {
        sf.error = "the label must be followed by \"=(\"";
        goto invalid;
    }

    if (sf.pos == sf.last || *sf.pos++ != '(') {
        sf.error = "the covered components must be an inner list";
        goto invalid;
    }

    for ( ;; ) {
        while (sf.pos < sf.last && *sf.pos == ' ') {
            sf.pos++;
        }

        if (sf.pos == sf.last) {
            sf.error = "unterminated inner list";
            goto invalid;
        }

        if (*sf.pos == ')') {
            sf.pos++;
            break;
        }

        if (sf.pos > value->data && sf.pos[-1] != ' ' && sf.pos[-1] != '(') {
            sf.error = "components must be separated by a space";
            goto invalid;
        }

        if (ngx_http_huella_sf_string(&sf, &s) != NGX_OK) {
            goto invalid;
        }

        if (sf.pos < sf.last && *sf.pos == ';') {
            sf.error = "component parameters are not accepted";
            goto invalid;
        }

        if (in->ncomponents == NGX_HTTP_HUELLA_SIG_MAX_COMPONENTS) {
            sf.error = "exactly \"@method\" \"@path\" \"content-digest\" "
                       "must be covered";
            goto invalid;
        }

        in->components[in->ncomponents++] = s;
    }

    seen = 0;

    for (i = 0; i < in->ncomponents; i++) {
        for (j = 0; j < 3; j++) {
            if (in->components[i].len == ngx_strlen(required[j])
                && ngx_strncmp(in->components[i].data, required[j],
                               in->components[i].len) == 0)
            {
                seen |= 1 << j;
                break;
            }
        }
    }

    if (in->ncomponents != 3 || seen != 7) {
        sf.error = "exactly \"@method\" \"@path\" \"content-digest\" must "
                   "be covered";
        goto invalid;
    }

    /* parameters */

    while (sf.pos < sf.last && *sf.pos == ';') {
        sf.pos++;

        while (sf.pos < sf.last && *sf.pos == ' ') {
            sf.pos++;
        }

        if (ngx_http_huella_sf_key(&sf, &key) != NGX_OK) {
            goto invalid;
        }

        for (i = 0; i < in->nparams; i++) {
            if (in->pname[i].len == key.len
                && ngx_strncmp(in->pname[i].data, key.data, key.len) == 0)
            {
                sf.error = "a parameter is repeated";
                goto invalid;
            }
        }

        if (in->nparams == NGX_HTTP_HUELLA_SIG_MAX_PARAMS) {
            sf.error = "too many parameters";
            goto invalid;
        }

        if (sf.pos == sf.last || *sf.pos != '=') {
            sf.error = "parameters need a value";
            goto invalid;
        }

        sf.pos++;
        i = in->nparams;
        in->pname[i] = key;

        if (key.len == 7 && ngx_strncmp(key.data, "created", 7) == 0) {
            if (ngx_http_huella_sf_integer(&sf, &n) != NGX_OK) {
                goto invalid;
            }

            in->pint[i] = n;
            in->pisint[i] = 1;
            in->created = n;
            in->has_created = 1;

        } else if (key.len == 7 && ngx_strncmp(key.data, "expires", 7) == 0) {
            if (ngx_http_huella_sf_integer(&sf, &n) != NGX_OK) {
                goto invalid;
            }

            in->pint[i] = n;
            in->pisint[i] = 1;
            in->expires = n;
            in->has_expires = 1;

        } else if ((key.len == 5 && ngx_strncmp(key.data, "keyid", 5) == 0)
                   || (key.len == 5
                       && ngx_strncmp(key.data, "nonce", 5) == 0)
                   || (key.len == 3 && ngx_strncmp(key.data, "alg", 3) == 0)
                   || (key.len == 3 && ngx_strncmp(key.data, "tag", 3) == 0))
        {
            if (ngx_http_huella_sf_string(&sf, &s) != NGX_OK) {
                goto invalid;
            }

            in->pstr[i] = s;

            if (key.data[0] == 'k') {
                in->keyid = s;

            } else if (key.data[0] == 'n') {
                in->nonce = s;

            } else if (key.data[0] == 'a') {
                in->alg = s;
            }

        } else {
            sf.error = "unknown parameter (created, expires, keyid, nonce, "
                       "alg and tag are accepted)";
            goto invalid;
        }

        in->nparams++;
    }

    if (sf.pos != sf.last) {
        sf.error = (*sf.pos == ',')
                   ? "only one signature is accepted"
                   : "unexpected characters after the parameters";
        goto invalid;
    }

    if (!in->has_created || in->keyid.len == 0 || in->nonce.data == NULL) {
        sf.error = "the parameters created, keyid and nonce are required";
        goto invalid;
    }

    if (in->created < 0) {
        sf.error = "created must be a positive UNIX time";
        goto invalid;
    }

    if (in->keyid.len > NGX_HTTP_HUELLA_SIG_KEYID_MAX) {
        sf.error = "keyid is too long";
        goto invalid;
    }

    if (in->nonce.len < NGX_HTTP_HUELLA_SIG_NONCE_MIN
        || in->nonce.len > NGX_HTTP_HUELLA_SIG_NONCE_MAX)
    {
        sf.error = "nonce must be 8 to 128 characters";
        goto invalid;
    }

    if (in->alg.data
        && !(in->alg.len == 17
             && ngx_strncmp(in->alg.data, "ecdsa-p256-sha256", 17) == 0)
        && !(in->alg.len == 7 && ngx_strncmp(in->alg.data, "ed25519", 7) == 0))
    {
        sf.error = "alg must be \"ecdsa-p256-sha256\" or \"ed25519\"";
        goto invalid;
    }

    return NGX_OK;

invalid:

    *error = sf.error;

    return NGX_DECLINED;
}


/*
 * LABEL=:base64: as an RFC 8941 dictionary with exactly that one member;
 * out is decoded.  NGX_OK, NGX_DECLINED (error set), NGX_ERROR.
 */

static ngx_int_t
ngx_http_huella_sig_parse_bytes(ngx_pool_t *pool, ngx_str_t *value,
    ngx_str_t *label, ngx_str_t *out, char **error)
{
    ngx_int_t              rc;
    ngx_str_t              key, b64, err;
    ngx_http_huella_sf_t   sf;

    sf.pos = value->data;
    sf.last = value->data + value->len;
    sf.error = "syntax error";

    if (ngx_http_huella_sf_key(&sf, &key) != NGX_OK) {
        goto invalid;
    }

    if (key.len != label->len
        || ngx_strncmp(key.data, label->data, key.len) != 0)
    {
        sf.error = (label->len == 7
                    && ngx_strncmp(label->data, "sha-256", 7) == 0)
                   ? "only sha-256 is accepted"
                   : "its label differs from Signature-Input's";
        goto invalid;
    }

    if (sf.pos == sf.last || *sf.pos++ != '=') {
        sf.error = "the label must be followed by \"=:\"";
        goto invalid;
    }

    if (ngx_http_huella_sf_bytes(&sf, &b64) != NGX_OK) {
        goto invalid;
    }

    if (sf.pos != sf.last) {
        sf.error = (*sf.pos == ',' || *sf.pos == ' ')
                   ? "only one member is accepted"
                   : (*sf.pos == ';') ? "parameters are not accepted"
                   : "unexpected characters after the value";
        goto invalid;
    }

    rc = ngx_http_huella_base64_decode(pool, &b64, out, &err);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        sf.error = "invalid base64 in the byte sequence";
        goto invalid;
    }

    return NGX_OK;

invalid:

    *error = sf.error;

    return NGX_DECLINED;
}


/* key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */

static ngx_int_t
ngx_http_huella_sf_key(ngx_http_huella_sf_t *sf, ngx_str_t *key)
{
    u_char  c;

    key->data = sf->pos;

    if (sf->pos == sf->last
        || !((*sf->pos >= 'a' && *sf->pos <= 'z') || *sf->pos == '*'))
    {
        sf->error = "a key must start with a lower case letter";
        return NGX_DECLINED;
    }

    while (sf->pos < sf->last) {
        c = *sf->pos;

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
              || c == '-' || c == '.' || c == '*'))
        {
            break;
        }

        sf->pos++;
    }

    key->len = sf->pos - key->data;

    if (key->len > 64) {
        sf->error = "a key is too long";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* sf-string, escapes kept as they are (see sf_string_len/out) */

static ngx_int_t
ngx_http_huella_sf_string(ngx_http_huella_sf_t *sf, ngx_str_t *s)
{
    u_char  c;

    if (sf->pos == sf->last || *sf->pos != '"') {
        sf->error = "a string was expected";
        return NGX_DECLINED;
    }

    sf->pos++;
    s->data = sf->pos;

    while (sf->pos < sf->last) {
        c = *sf->pos;

        if (c == '"') {
            s->len = sf->pos - s->data;
            sf->pos++;
            return NGX_OK;
        }

        if (c == '\\') {
            if (sf->pos + 1 == sf->last
                || (sf->pos[1] != '"' && sf->pos[1] != '\\'))
            {
                sf->error = "invalid escape in a string";
                return NGX_DECLINED;
            }

            sf->pos += 2;
            continue;
        }

        if (c < 0x20 || c > 0x7e) {
            sf->error = "a string holds a non-printable character";
            return NGX_DECLINED;
        }

        sf->pos++;
    }

    sf->error = "unterminated string";

    return NGX_DECLINED;
}


/* sf-integer = ["-"] 1*15DIGIT */

static ngx_int_t
ngx_http_huella_sf_integer(ngx_http_huella_sf_t *sf, int64_t *n)
{
    int64_t     v, sign;
    ngx_uint_t  digits;

    sign = 1;

    if (sf->pos < sf->last && *sf->pos == '-') {
        sign = -1;
        sf->pos++;
    }

    v = 0;
    digits = 0;

    while (sf->pos < sf->last && *sf->pos >= '0' && *sf->pos <= '9') {
        if (++digits > 15) {
            sf->error = "an integer has more than 15 digits";
            return NGX_DECLINED;
        }

        v = v * 10 + (*sf->pos++ - '0');
    }

    if (digits == 0) {
        sf->error = "an integer was expected";
        return NGX_DECLINED;
    }

    if (sf->pos < sf->last && *sf->pos == '.') {
        sf->error = "an integer was expected, not a decimal";
        return NGX_DECLINED;
    }

    *n = sign * v;

    return NGX_OK;
}


/* sf-binary = ":" *(base64) ":" */

static ngx_int_t
ngx_http_huella_sf_bytes(ngx_http_huella_sf_t *sf, ngx_str_t *b64)
{
    u_char  c;

    if (sf->pos == sf->last || *sf->pos != ':') {
        sf->error = "a byte sequence \":...:\" was expected";
        return NGX_DECLINED;
    }

    sf->pos++;
    b64->data = sf->pos;

    while (sf->pos < sf->last) {
        c = *sf->pos;

        if (c == ':') {
            b64->len = sf->pos - b64->data;
            sf->pos++;

            if (b64->len == 0 || b64->len > NGX_HTTP_HUELLA_SIG_B64_MAX) {
                sf->error = "empty or too long byte sequence";
                return NGX_DECLINED;
            }

            return NGX_OK;
        }

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
        {
            sf->error = "a byte sequence holds a non-base64 character";
            return NGX_DECLINED;
        }

        sf->pos++;
    }

    sf->error = "unterminated byte sequence";

    return NGX_DECLINED;
}


/* the serialized length of a parsed (still escaped) string */

static size_t
ngx_http_huella_sf_string_len(ngx_str_t *s)
{
    return s->len + 2;
}


static u_char *
ngx_http_huella_sf_string_out(u_char *p, ngx_str_t *s)
{
    *p++ = '"';
    p = ngx_cpymem(p, s->data, s->len);
    *p++ = '"';

    return p;
}


/*
 * RFC 9421 section 2.5, one line per covered component in the order
 * listed, then "@signature-params" re-serialized canonically (RFC 8941
 * section 4.1: single spaces, integers without leading zeros):
 *
 *   "@method": POST
 *   "@path": /api/v1/subjects/.../enrollment
 *   "content-digest": sha-256=:...:
 *   "@signature-params": ("@method" "@path" "content-digest");created=...
 */

static ngx_int_t
ngx_http_huella_sig_base(ngx_http_huella_ctx_t *ctx,
    ngx_http_huella_sig_input_t *in, ngx_str_t *digest, ngx_str_t *base)
{
    u_char              *p, *q;
    size_t               len;
    ngx_str_t            path, value;
    ngx_uint_t           i;
    ngx_http_request_t  *r;

    r = ctx->request;

    /* the path as sent, without the query; never the normalized r->uri */

    path = r->unparsed_uri;
    q = ngx_strlchr(path.data, path.data + path.len, '?');

    if (q) {
        path.len = q - path.data;
    }

    if (path.len == 0) {
        ngx_str_set(&path, "/");
    }

    len = 0;

    for (i = 0; i < in->ncomponents; i++) {
        len += in->components[i].len + 4 + r->method_name.len + path.len
               + digest->len + 2;
    }

    len += sizeof("\"@signature-params\": ()") + 8;

    for (i = 0; i < in->ncomponents; i++) {
        len += ngx_http_huella_sf_string_len(&in->components[i]) + 1;
    }

    for (i = 0; i < in->nparams; i++) {
        len += 2 + in->pname[i].len
               + (in->pisint[i] ? NGX_INT64_LEN
                                : ngx_http_huella_sf_string_len(&in->pstr[i]));
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    base->data = p;

    for (i = 0; i < in->ncomponents; i++) {

        switch (in->components[i].data[1]) {
        case 'm':
            value = r->method_name;
            break;
        case 'p':
            value = path;
            break;
        default:
            value = *digest;
        }

        p = ngx_http_huella_sf_string_out(p, &in->components[i]);
        p = ngx_sprintf(p, ": %V\n", &value);
    }

    p = ngx_cpymem(p, "\"@signature-params\": (",
                   sizeof("\"@signature-params\": (") - 1);

    for (i = 0; i < in->ncomponents; i++) {
        if (i) {
            *p++ = ' ';
        }

        p = ngx_http_huella_sf_string_out(p, &in->components[i]);
    }

    *p++ = ')';

    for (i = 0; i < in->nparams; i++) {
        p = ngx_sprintf(p, ";%V=", &in->pname[i]);

        if (in->pisint[i]) {
            p = ngx_sprintf(p, "%L", in->pint[i]);

        } else {
            p = ngx_http_huella_sf_string_out(p, &in->pstr[i]);
        }
    }

    base->len = p - base->data;

    return NGX_OK;
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
