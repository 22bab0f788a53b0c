
/*
 * Routing and authorization of the API: which endpoint a URI and method
 * name (404, 405 with Allow), the CURP and finger position in the path
 * (422), and the admin bearer token (401, compared in constant time).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"


static ngx_int_t ngx_http_huella_not_allowed(ngx_http_huella_ctx_t *ctx,
    char *allow);
static ngx_int_t ngx_http_huella_path_curp(ngx_http_huella_ctx_t *ctx,
    u_char *p, size_t len);
static ngx_int_t ngx_http_huella_path_position(ngx_http_huella_ctx_t *ctx,
    u_char *p, size_t len);


ngx_int_t
ngx_http_huella_route(ngx_http_request_t *r, ngx_http_huella_ctx_t *ctx)
{
    u_char      *p, *last, *curp, *slash;
    ngx_uint_t   m;

    p = r->uri.data;
    last = p + r->uri.len;
    m = r->method;

    if (r->uri.len == sizeof("/healthz") - 1
        && ngx_strncmp(p, "/healthz", sizeof("/healthz") - 1) == 0)
    {
        if (!(m & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_huella_not_allowed(ctx, "GET, HEAD");
        }

        ctx->endpoint = &ngx_http_huella_ping;
        return NGX_OK;
    }

    if (r->uri.len < sizeof("/api/v1/") - 1
        || ngx_strncmp(p, "/api/v1/", sizeof("/api/v1/") - 1) != 0)
    {
        goto not_found;
    }

    p += sizeof("/api/v1/") - 1;

    if (last - p == sizeof("verify") - 1
        && ngx_strncmp(p, "verify", sizeof("verify") - 1) == 0)
    {
        if (m != NGX_HTTP_POST) {
            return ngx_http_huella_not_allowed(ctx, "POST");
        }

        ctx->endpoint = &ngx_http_huella_verify;
        return NGX_OK;
    }

    if (last - p == sizeof("identify") - 1
        && ngx_strncmp(p, "identify", sizeof("identify") - 1) == 0)
    {
        if (m != NGX_HTTP_POST) {
            return ngx_http_huella_not_allowed(ctx, "POST");
        }

        ctx->endpoint = &ngx_http_huella_identify;
        return NGX_OK;
    }

    if (last - p < (ssize_t) sizeof("subjects") - 1
        || ngx_strncmp(p, "subjects", sizeof("subjects") - 1) != 0)
    {
        goto not_found;
    }

    p += sizeof("subjects") - 1;

    if (p == last) {
        if (m != NGX_HTTP_POST) {
            return ngx_http_huella_not_allowed(ctx, "POST");
        }

        ctx->endpoint = &ngx_http_huella_subject_create;
        return NGX_OK;
    }

    if (*p++ != '/' || p == last) {
        goto not_found;
    }

    curp = p;
    slash = ngx_strlchr(p, last, '/');

    if (slash == NULL) {
        if (m != NGX_HTTP_GET && m != NGX_HTTP_HEAD && m != NGX_HTTP_DELETE) {
            return ngx_http_huella_not_allowed(ctx, "GET, HEAD, DELETE");
        }

        ctx->endpoint = (m == NGX_HTTP_DELETE)
                        ? &ngx_http_huella_subject_delete
                        : &ngx_http_huella_subject_get;

        ctx->path_curp.data = curp;
        ctx->path_curp.len = last - curp;

        return NGX_OK;
    }

    p = slash;

    if (last - p <= (ssize_t) sizeof("/fingers/") - 1
        || ngx_strncmp(p, "/fingers/", sizeof("/fingers/") - 1) != 0)
    {
        goto not_found;
    }

    p += sizeof("/fingers/") - 1;

    if (ngx_strlchr(p, last, '/') != NULL) {
        goto not_found;
    }

    if (m != NGX_HTTP_PUT && m != NGX_HTTP_DELETE) {
        return ngx_http_huella_not_allowed(ctx, "PUT, DELETE");
    }

    ctx->endpoint = (m == NGX_HTTP_PUT) ? &ngx_http_huella_finger_put
                                        : &ngx_http_huella_finger_delete;

    ctx->path_curp.data = curp;
    ctx->path_curp.len = slash - curp;
    ctx->path_position.data = p;
    ctx->path_position.len = last - p;

    return NGX_OK;

not_found:

    return ngx_http_huella_reject(ctx, NGX_HTTP_NOT_FOUND, "not_found", NULL,
                                  "no API resource at \"%V\"", &r->uri);
}


static ngx_int_t
ngx_http_huella_not_allowed(ngx_http_huella_ctx_t *ctx, char *allow)
{
    ngx_str_t            value;
    ngx_http_request_t  *r;

    r = ctx->request;

    value.data = (u_char *) allow;
    value.len = ngx_strlen(allow);

    if (ngx_http_huella_add_header(r, "Allow", &value) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_huella_reject(ctx, NGX_HTTP_NOT_ALLOWED,
                                  "method_not_allowed", NULL,
                                  "method %V is not allowed here, use %s",
                                  &r->method_name, allow);
}


/* validated only once the caller is authorized */

ngx_int_t
ngx_http_huella_path_params(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->path_curp.data) {
        rc = ngx_http_huella_path_curp(ctx, ctx->path_curp.data,
                                       ctx->path_curp.len);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ctx->path_position.data) {
        return ngx_http_huella_path_position(ctx, ctx->path_position.data,
                                             ctx->path_position.len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_path_curp(ngx_http_huella_ctx_t *ctx, u_char *p, size_t len)
{
    char  *rule;

    if (len > NGX_HTTP_HUELLA_CURP_LEN) {
        len = NGX_HTTP_HUELLA_CURP_LEN + 1;
    }

    ctx->curp.data = ngx_pnalloc(ctx->request->pool, len);
    if (ctx->curp.data == NULL) {
        return NGX_ERROR;
    }

    ctx->curp.len = len;

    /* CURPs are upper case; lower case input is accepted and normalized */

    while (len--) {
        ctx->curp.data[len] = ngx_toupper(p[len]);
    }

    rule = ngx_http_huella_curp_check(ctx->curp.data, ctx->curp.len);

    if (rule) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_curp", "curp", "%s", rule);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_path_position(ngx_http_huella_ctx_t *ctx, u_char *p,
    size_t len)
{
    ngx_int_t  n;

    n = ngx_atoi(p, len);

    if (n < 1 || n > 10) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_position", "position",
                                      "finger position must be an integer "
                                      "from 1 (right thumb) to 10 "
                                      "(left little finger)");
    }

    ctx->position = n;

    return NGX_OK;
}


ngx_int_t
ngx_http_huella_authorize(ngx_http_request_t *r, ngx_http_huella_ctx_t *ctx)
{
    u_char                       *p, *last, diff;
    size_t                        i, len;
    ngx_table_elt_t              *h;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->token.len == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "unauthorized", NULL,
                                      "no admin token is configured on "
                                      "this server");
    }

    h = r->headers_in.authorization;

    if (h == NULL) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "missing_token", NULL,
                                      "an \"Authorization: Bearer <token>\" "
                                      "header is required");
    }

    p = h->value.data;
    last = p + h->value.len;

    if (h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(p, (u_char *) "Bearer ", sizeof("Bearer ") - 1)
           != 0)
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "invalid_token", NULL,
                                      "the Authorization scheme must be "
                                      "Bearer");
    }

    p += sizeof("Bearer ") - 1;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    /* constant time in the length of the configured token */

    len = last - p;
    diff = (len != hmcf->token.len);

    for (i = 0; i < hmcf->token.len; i++) {
        diff |= hmcf->token.data[i] ^ (i < len ? p[i] : 0);
    }

    if (diff) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "invalid_token", NULL,
                                      "the bearer token is not valid");
    }

    return NGX_OK;
}
