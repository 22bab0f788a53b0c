
/*
 * The signature headers' grammar (RFC 8941 structured fields as profiled
 * in ngx_http_huella_signature.c and docs/devices.md) and the signature
 * base (RFC 9421 section 2.5).  Pure parsing over strings and a pool: no
 * request, no event, so that tests/fuzz/fuzz_signature_headers.c can
 * build it against nginx's headers alone.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_huella_sf.h"
#include "ngx_http_huella_json.h"


typedef struct {
    u_char                    *pos;
    u_char                    *last;
    char                      *error;       /* why it is malformed */
} ngx_http_huella_sf_t;


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



/*
 * LABEL=("c1" "c2" "c3");p1=v1;p2=v2...  as an RFC 8941 dictionary with
 * exactly one member
 */

ngx_int_t
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

ngx_int_t
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

ngx_int_t
ngx_http_huella_sig_base(ngx_pool_t *pool, ngx_http_huella_sig_input_t *in,
    ngx_str_t *method, ngx_str_t *path, ngx_str_t *digest, ngx_str_t *base)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    value;
    ngx_uint_t   i;

    len = 0;

    for (i = 0; i < in->ncomponents; i++) {
        len += in->components[i].len + 4 + method->len + path->len
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

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    base->data = p;

    for (i = 0; i < in->ncomponents; i++) {

        switch (in->components[i].data[1]) {
        case 'm':
            value = *method;
            break;
        case 'p':
            value = *path;
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
