/*
 * fuzz_json_fields.c -- libFuzzer target for the JSON API's request
 * decoding (ngx_module/ngx_http_huella_fields.c): the body parsed as the
 * API parses it (jansson, duplicates rejected, an object), then the
 * decoders the endpoints run on it: the CURP, a finger template at the
 * top level and under "finger" (format, position, strict base64), typed
 * strings and integers.  The input is the request body.
 *
 * Besides memory errors and leaks (the body is freed by its pool
 * cleanup), it checks that a rejection always carries a status, a code
 * and a message that fits, and that accepted values keep their limits.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_ident.h"
#include "ngx_stubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static char  *strings[] = {
    "name", "email", "password", "nss", "employer_rfc", "reason", "text",
    "date", "type", "value", NULL
};


static void
check(ngx_http_huella_ctx_t *ctx, ngx_int_t rc)
{
    if (rc == NGX_DECLINED) {
        if (ctx->status < 400 || ctx->status > 599 || ctx->code.len == 0
            || ctx->message.len == 0 || ctx->message.len > NGX_MAX_ERROR_STR)
        {
            abort();
        }

    } else if (rc != NGX_OK) {
        abort();
    }

    ctx->status = 0;
    ngx_str_null(&ctx->code);
    ngx_str_null(&ctx->message);
    ngx_str_null(&ctx->field);
}


static void
check_finger(ngx_http_huella_ctx_t *ctx, ngx_int_t rc,
    ngx_http_huella_finger_t *finger)
{
    if (rc == NGX_OK
        && (finger->format == 0 || finger->position > 10
            || finger->data.len == 0
            || finger->data.len > HIPC_PAYLOAD_MAX))
    {
        abort();
    }

    check(ctx, rc);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                  rc, n;
    ngx_str_t                  s;
    ngx_uint_t                 i;
    ngx_pool_t                 pool;
    ngx_http_request_t         r;
    ngx_http_huella_ctx_t      ctx;
    ngx_http_huella_finger_t   finger;

    if (size == 0) {
        return 0;
    }

    ngx_memzero(&pool, sizeof(ngx_pool_t));
    ngx_memzero(&r, sizeof(ngx_http_request_t));
    ngx_memzero(&ctx, sizeof(ngx_http_huella_ctx_t));

    r.pool = &pool;
    ctx.request = &r;

    ctx.raw_body.len = size;
    ctx.raw_body.data = ngx_pnalloc(&pool, size);
    ngx_memcpy(ctx.raw_body.data, data, size);

    rc = ngx_http_huella_parse_body(&ctx);
    check(&ctx, rc);

    if (rc != NGX_OK) {
        goto done;
    }

    rc = ngx_http_huella_body_curp(&ctx);

    if (rc == NGX_OK
        && (ctx.curp.len != NGX_HTTP_HUELLA_CURP_LEN
            || ngx_http_huella_curp_check(ctx.curp.data, ctx.curp.len)))
    {
        abort();
    }

    check(&ctx, rc);

    rc = ngx_http_huella_finger(&ctx, ctx.body, &ngx_http_huella_top_fields,
                                &finger);
    check_finger(&ctx, rc, &finger);

    rc = ngx_http_huella_nested_finger(&ctx, &finger);
    check_finger(&ctx, rc, &finger);

    for (i = 0; strings[i]; i++) {
        rc = ngx_http_huella_string(&ctx, ctx.body, strings[i], strings[i],
                                    i & 1, &s);
        check(&ctx, rc);
    }

    n = 0;
    rc = ngx_http_huella_integer(&ctx, ctx.body, "max_candidates",
                                 "max_candidates", 1, 100, &n);

    if (rc == NGX_OK && (n < 0 || n > 100)) {
        abort();
    }

    check(&ctx, rc);

done:

    ngx_fuzz_pool_reset();

    return 0;
}
