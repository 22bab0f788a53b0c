/*
 * fuzz_signature_headers.c -- libFuzzer target for the module's RFC 9421
 * header parsers (ngx_module/ngx_http_huella_sf.c): Signature-Input,
 * Signature and Content-Digest as the module reads them, then the
 * signature base built from them.
 *
 * The input is up to four lines: the Signature-Input value, the
 * Signature value, the Content-Digest value and the request path
 * (missing lines are empty).  Each value is copied to a buffer of its own
 * exact size, as long as the module accepts (NGX_HTTP_HUELLA_SIG_HEADER_
 * MAX).  Besides memory errors it checks the profile's limits on an
 * accepted Signature-Input and that the canonical "@signature-params" it
 * serializes parses back to the same signature base.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_huella_sf.h"
#include "ngx_stubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#define PARAMS  "\"@signature-params\": "


static ngx_str_t
line(const uint8_t **data, size_t *size)
{
    ngx_str_t       s;
    const uint8_t  *nl;

    nl = memchr(*data, '\n', *size);
    s.len = nl ? (size_t) (nl - *data) : *size;
    if (s.len > NGX_HTTP_HUELLA_SIG_HEADER_MAX) {
        s.len = NGX_HTTP_HUELLA_SIG_HEADER_MAX;
    }

    /* a pool copy of its own: ASan sees any read past the value */
    s.data = ngx_pnalloc(NULL, s.len);
    memcpy(s.data, *data, s.len);

    if (nl) {
        *size -= nl + 1 - *data;
        *data = nl + 1;

    } else {
        *data += *size;
        *size = 0;
    }

    return s;
}


static void
check_input(ngx_http_huella_sig_input_t *in)
{
    if (in->ncomponents != 3 || !in->has_created || in->created < 0
        || in->keyid.len == 0
        || in->keyid.len > NGX_HTTP_HUELLA_SIG_KEYID_MAX
        || in->nonce.len < NGX_HTTP_HUELLA_SIG_NONCE_MIN
        || in->nonce.len > NGX_HTTP_HUELLA_SIG_NONCE_MAX
        || in->nparams > NGX_HTTP_HUELLA_SIG_MAX_PARAMS)
    {
        abort();
    }
}


/* LABEL= + the serialized parameters parses back to the same base */

static void
round_trip(ngx_http_huella_sig_input_t *in, ngx_str_t *method,
    ngx_str_t *path, ngx_str_t *digest, ngx_str_t *base)
{
    u_char                       *p;
    char                         *error;
    ngx_str_t                     value, base2;
    ngx_http_huella_sig_input_t   in2;

    /* the last line, as no value holds a line feed */
    p = memrchr(base->data, '\n', base->len);
    if (p == NULL
        || (size_t) (base->data + base->len - p) < sizeof(PARAMS)
        || memcmp(p + 1, PARAMS, sizeof(PARAMS) - 1) != 0)
    {
        abort();
    }

    p += sizeof(PARAMS);

    value.len = in->label.len + 1 + (base->data + base->len - p);
    value.data = ngx_pnalloc(NULL, value.len);
    memcpy(value.data, in->label.data, in->label.len);
    value.data[in->label.len] = '=';
    memcpy(value.data + in->label.len + 1, p, base->data + base->len - p);

    memset(&in2, 0, sizeof(in2));

    if (ngx_http_huella_sig_parse_input(&value, &in2, &error) != NGX_OK) {
        fprintf(stderr, "canonical Signature-Input rejected: %s: %.*s\n",
                error, (int) value.len, value.data);
        abort();
    }

    if (ngx_http_huella_sig_base(NULL, &in2, method, path, digest, &base2)
        != NGX_OK
        || base2.len != base->len
        || memcmp(base2.data, base->data, base->len) != 0)
    {
        fprintf(stderr, "signature base differs once re-parsed\n");
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                         *error;
    ngx_int_t                     rc;
    ngx_str_t                     input, signature, digest, path, label;
    ngx_str_t                     sig, want, base, method;
    ngx_http_huella_sig_input_t   in;

    input = line(&data, &size);
    signature = line(&data, &size);
    digest = line(&data, &size);
    path = line(&data, &size);

    if (path.len == 0) {
        ngx_str_set(&path, "/");
    }

    ngx_str_set(&method, "POST");

    /* the Content-Digest and a Signature are parsed whatever the input */

    ngx_str_set(&label, "sha-256");
    rc = ngx_http_huella_sig_parse_bytes(NULL, &digest, &label, &want,
                                         &error);
    if (rc == NGX_DECLINED && error == NULL) {
        abort();
    }

    memset(&in, 0, sizeof(in));

    if (ngx_http_huella_sig_parse_input(&input, &in, &error) != NGX_OK) {
        if (error == NULL) {
            abort();
        }

        ngx_str_set(&label, "sig1");
        (void) ngx_http_huella_sig_parse_bytes(NULL, &signature, &label,
                                               &sig, &error);
        goto done;
    }

    check_input(&in);

    label = in.label;
    (void) ngx_http_huella_sig_parse_bytes(NULL, &signature, &label, &sig,
                                           &error);

    if (ngx_http_huella_sig_base(NULL, &in, &method, &path, &digest, &base)
        != NGX_OK)
    {
        abort();
    }

    round_trip(&in, &method, &path, &digest, &base);

done:

    ngx_fuzz_pool_reset();

    return 0;
}
