
/*
 * Huella metrics: counting, in the LOG phase of every request of the http
 * block, with atomics in the shared zone so that every worker adds to the
 * same numbers: requests by method, normalised route and status code, a
 * latency histogram per route, 503s by the reason the API gave, and logins
 * by method and result.  Routes are normalised
 * (/api/v1/subjects/{curp}/fingers/{position}) and their table is bounded;
 * anything past it counts as route "other".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_metrics.h"


#define NGX_HTTP_HUELLA_METRICS_SEGMENTS   8


static ngx_http_huella_metrics_route_t *ngx_http_huella_metrics_route(
    ngx_http_request_t *r, ngx_http_huella_metrics_shm_t *shm,
    ngx_http_huella_ctx_t *hctx);
static size_t ngx_http_huella_metrics_normalise(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *hctx, u_char *out);
static ngx_uint_t ngx_http_huella_metrics_code(ngx_uint_t status);
static ngx_uint_t ngx_http_huella_metrics_reason(ngx_http_huella_ctx_t *hctx);
static void ngx_http_huella_metrics_login(ngx_http_huella_metrics_shm_t *shm,
    ngx_http_request_t *r, u_char *route, size_t len, ngx_uint_t status);


/* the codes counted one by one; others by class (the last four) */
static ngx_uint_t  ngx_http_huella_metrics_codes[] = {
    0, 200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405,
    408, 409, 411, 413, 414, 415, 422, 423, 429, 499, 500, 502, 503, 504,
    2, 3, 4, 5
};



ngx_int_t
ngx_http_huella_metrics_log(ngx_http_request_t *r)
{
    ngx_msec_int_t                        ms;
    ngx_uint_t                            status, i;
    ngx_time_t                           *tp;
    ngx_http_huella_ctx_t                *hctx;
    ngx_http_huella_metrics_shm_t        *shm;
    ngx_http_huella_metrics_route_t      *rt;
    ngx_http_huella_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_metrics_module);

    if (mmcf->shm_zone == NULL || mmcf->shm_zone->data == NULL) {
        return NGX_OK;
    }

    shm = mmcf->shm_zone->data;

    if (r->err_status) {
        status = r->err_status;

    } else {
        status = r->headers_out.status;
    }

    hctx = ngx_http_get_module_ctx(r, ngx_http_huella_module);

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    rt = ngx_http_huella_metrics_route(r, shm, hctx);

    i = ngx_http_huella_metrics_code(status);

    (void) ngx_atomic_fetch_add(&rt->codes[i], 1);
    (void) ngx_atomic_fetch_add(&rt->count, 1);
    (void) ngx_atomic_fetch_add(&rt->sum_ms, (ngx_atomic_int_t) ms);

    for (i = 0; i < NGX_HTTP_HUELLA_METRICS_BUCKETS; i++) {
        if ((ngx_msec_t) ms <= ngx_http_huella_metrics_bounds[i]) {
            (void) ngx_atomic_fetch_add(&rt->buckets[i], 1);
            break;
        }
    }

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE && hctx) {
        i = ngx_http_huella_metrics_reason(hctx);
        (void) ngx_atomic_fetch_add(&shm->unavailable[i], 1);
    }

    if (rt->method == 2 && hctx) {
        ngx_http_huella_metrics_login(shm, r, rt->name, rt->len, status);
    }

    return NGX_OK;
}


static ngx_http_huella_metrics_route_t *
ngx_http_huella_metrics_route(ngx_http_request_t *r,
    ngx_http_huella_metrics_shm_t *shm, ngx_http_huella_ctx_t *hctx)
{
    u_char                           *name;
    size_t                            len;
    ngx_uint_t                        i, n, method;
    ngx_http_huella_metrics_route_t  *rt;
    u_char                            buf[NGX_HTTP_HUELLA_METRICS_ROUTE_LEN];

    switch (r->method) {
    case NGX_HTTP_GET:     method = 0; break;
    case NGX_HTTP_HEAD:    method = 1; break;
    case NGX_HTTP_POST:    method = 2; break;
    case NGX_HTTP_PUT:     method = 3; break;
    case NGX_HTTP_DELETE:  method = 4; break;
    case NGX_HTTP_PATCH:   method = 5; break;
    case NGX_HTTP_OPTIONS: method = 6; break;
    default:               method = 7; break;
    }

    len = ngx_http_huella_metrics_normalise(r, hctx, buf);
    name = buf;

    n = shm->nroutes;
    ngx_memory_barrier();

    for (i = 1; i < n && i < NGX_HTTP_HUELLA_METRICS_ROUTES; i++) {
        rt = &shm->routes[i];

        if (rt->ready && rt->method == method && rt->len == len
            && ngx_memcmp(rt->name, name, len) == 0)
        {
            return rt;
        }
    }

    if (n >= NGX_HTTP_HUELLA_METRICS_ROUTES) {
        return &shm->routes[0];
    }

    /* a new route: made under the zone's lock, looked up without it */

    rt = NULL;

    ngx_rwlock_wlock(&shm->lock);

    for (n = shm->nroutes; i < n; i++) {
        if (shm->routes[i].method == method && shm->routes[i].len == len
            && ngx_memcmp(shm->routes[i].name, name, len) == 0)
        {
            rt = &shm->routes[i];
            break;
        }
    }

    if (rt == NULL && n < NGX_HTTP_HUELLA_METRICS_ROUTES) {
        rt = &shm->routes[n];

        rt->method = method;
        rt->len = len;
        ngx_memcpy(rt->name, name, len);

        ngx_memory_barrier();

        rt->ready = 1;
        shm->nroutes = n + 1;
    }

    ngx_rwlock_unlock(&shm->lock);

    return rt ? rt : &shm->routes[0];
}


/*
 * The route label: "/healthz", "/metrics", "static" (the portal's files
 * and anything outside /api/), "/api/{unmatched}" (no such endpoint), or
 * the API path with its parameters named: a segment is kept when it looks
 * like a word (lower case, at most two digits, as "v1"), else it becomes
 * {curp} after subjects and accounts, {position} after fingers, and {id}
 * elsewhere.
 */

static size_t
ngx_http_huella_metrics_normalise(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *hctx, u_char *out)
{
    u_char                              *p, *last, *seg, *o, *end, *prev;
    u_char                               ch;
    size_t                               len, prev_len, i;
    ngx_uint_t                           nseg, digits, word;
    ngx_str_t                            param;
    ngx_http_huella_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_huella_metrics_module);

    if (mlcf->enable) {
        return ngx_cpymem(out, "/metrics", sizeof("/metrics") - 1) - out;
    }

    if (r->unparsed_uri.len) {
        p = r->unparsed_uri.data;
        last = p + r->unparsed_uri.len;

    } else {
        p = r->uri.data;
        last = p + r->uri.len;
    }

    for (o = p; o < last; o++) {
        if (*o == '?' || *o == '#') {
            break;
        }
    }

    last = o;
    len = last - p;

    if (len == sizeof("/healthz") - 1
        && ngx_strncmp(p, "/healthz", sizeof("/healthz") - 1) == 0)
    {
        return ngx_cpymem(out, "/healthz", sizeof("/healthz") - 1) - out;
    }

    if (len < sizeof("/api/") - 1
        || ngx_strncmp(p, "/api/", sizeof("/api/") - 1) != 0)
    {
        return ngx_cpymem(out, "static", sizeof("static") - 1) - out;
    }

    if (hctx && hctx->endpoint == NULL) {
        return ngx_cpymem(out, "/api/{unmatched}",
                          sizeof("/api/{unmatched}") - 1) - out;
    }

    o = out;
    end = out + NGX_HTTP_HUELLA_METRICS_ROUTE_LEN;
    prev = NULL;
    prev_len = 0;
    nseg = 0;

    while (p < last) {

        while (p < last && *p == '/') {
            p++;
        }

        if (p == last) {
            break;
        }

        seg = p;

        while (p < last && *p != '/') {
            p++;
        }

        len = p - seg;

        if (++nseg > NGX_HTTP_HUELLA_METRICS_SEGMENTS) {
            ngx_str_set(&param, "{more}");
            seg = param.data;
            len = param.len;
            p = last;
            goto append;
        }

        word = (len <= 32 && seg[0] >= 'a' && seg[0] <= 'z');
        digits = 0;

        for (i = 0; word && i < len; i++) {
            ch = seg[i];

            if (ch >= '0' && ch <= '9') {
                digits++;

            } else if (!((ch >= 'a' && ch <= 'z') || ch == '_' || ch == '-'
                         || ch == '.'))
            {
                word = 0;
            }
        }

        if (digits > 2) {
            word = 0;
        }

        if (word) {
            prev = seg;
            prev_len = len;
            goto append;
        }

        if (prev && prev_len == sizeof("fingers") - 1
            && ngx_strncmp(prev, "fingers", prev_len) == 0)
        {
            ngx_str_set(&param, "{position}");

        } else if (prev && prev_len == sizeof("subjects") - 1
                   && (ngx_strncmp(prev, "subjects", prev_len) == 0
                       || ngx_strncmp(prev, "accounts", prev_len) == 0))
        {
            ngx_str_set(&param, "{curp}");

        } else {
            ngx_str_set(&param, "{id}");
        }

        seg = param.data;
        len = param.len;
        prev = NULL;
        prev_len = 0;

    append:

        if ((size_t) (end - o) < len + 1) {
            break;
        }

        *o++ = '/';
        o = ngx_cpymem(o, seg, len);
    }

    if (o == out) {
        *o++ = '/';
    }

    return o - out;
}


static ngx_uint_t
ngx_http_huella_metrics_code(ngx_uint_t status)
{
    ngx_uint_t  i, n;

    n = sizeof(ngx_http_huella_metrics_codes) / sizeof(ngx_uint_t) - 4;

    for (i = 1; i < n; i++) {
        if (ngx_http_huella_metrics_codes[i] == status) {
            return i;
        }
    }

    if (status >= 200 && status < 600) {
        return n + status / 100 - 2;
    }

    return 0;
}


/*
 * Why a 503 of the API: the code the module rejected it with, else the
 * code or status of huellad's reply (its ERR_CODE, as the client saw it).
 */

static ngx_uint_t
ngx_http_huella_metrics_reason(ngx_http_huella_ctx_t *hctx)
{
    uint16_t             tag;
    uint32_t             len;
    ngx_str_t            code;
    ngx_uint_t           i;
    const uint8_t       *data;
    struct hipc_reader   rd;

    code = hctx->code;

    if (code.len == 0 && hctx->call.rc == NGX_HTTP_HUELLA_REPLY
        && hctx->call.reply && hctx->call.status != HIPC_ST_OK)
    {
        if (hctx->call.status == HIPC_ST_EXPIRED) {
            return NGX_HTTP_HUELLA_METRICS_TIMEOUT;
        }

        hipc_reader_init(&rd, hctx->call.reply, hctx->call.reply_len);

        while (hipc_next(&rd, &tag, &data, &len) == 1) {
            if (tag == HIPC_F_ERR_CODE) {
                code.data = (u_char *) data;
                code.len = len;
                break;
            }
        }

        if (code.len == 0 && hctx->call.status == HIPC_ST_BUSY) {
            return NGX_HTTP_HUELLA_METRICS_BUSY;
        }
    }

    for (i = 0; i < NGX_HTTP_HUELLA_METRICS_OTHER; i++) {
        if (code.len == ngx_http_huella_metrics_reasons[i].len
            && ngx_strncmp(code.data, ngx_http_huella_metrics_reasons[i].data,
                           code.len) == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_HUELLA_METRICS_OTHER;
}


static void
ngx_http_huella_metrics_login(ngx_http_huella_metrics_shm_t *shm,
    ngx_http_request_t *r, u_char *route, size_t len, ngx_uint_t status)
{
    ngx_uint_t  kind, result;

    if (len == sizeof("/api/v1/session") - 1
        && ngx_strncmp(route, "/api/v1/session", len) == 0)
    {
        kind = 0;

    } else if (len == sizeof("/api/v1/session/efirma") - 1
               && ngx_strncmp(route, "/api/v1/session/efirma", len) == 0)
    {
        kind = 1;

    } else {
        return;
    }

    switch (status) {

    case NGX_HTTP_UNAUTHORIZED:
    case NGX_HTTP_FORBIDDEN:
        result = 1;
        break;

    case NGX_HTTP_LOCKED:
        result = 2;
        break;

    case NGX_HTTP_TOO_MANY_REQUESTS:
        result = 3;
        break;

    case NGX_HTTP_BAD_REQUEST:
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
    case NGX_HTTP_UNSUPPORTED_MEDIA_TYPE:
    case NGX_HTTP_UNPROCESSABLE_ENTITY:
        result = 4;
        break;

    default:
        result = (status >= 200 && status < 300) ? 0 : 5;
    }

    (void) ngx_atomic_fetch_add(&shm->logins[kind][result], 1);
}
