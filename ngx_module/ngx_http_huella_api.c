
/*
 * The API's content handler: routing, authorization, the JSON body, and
 * the life of a request while the matcher works on it.
 *
 * A request is routed to an endpoint (404, 405 with Allow), its caller
 * found and authorized (401, 403; ngx_http_huella_auth.c, possibly
 * suspended while huellad checks a bearer token), its path parameters
 * validated (422),
 * its body read in memory and parsed (415, 413, 400).  The endpoint encodes
 * the matcher message; the request is then suspended (r->main->count++,
 * NGX_DONE) until ngx_http_huella_done() runs: on the reply, at the
 * deadline, or when the link goes down.  Matcher statuses map to HTTP ones
 * here, with the matcher's own code, message and field passed through.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"


#define NGX_HTTP_HUELLA_PAYLOAD_SLACK  1024


static ngx_int_t ngx_http_huella_continue(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_huella_check_body(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *ctx);
static void ngx_http_huella_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_huella_read_body(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *ctx);
static void ngx_http_huella_signed(ngx_http_huella_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_huella_body_ready(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_huella_process(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *ctx, size_t body_len);
static ngx_int_t ngx_http_huella_send_rejected(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_send_degraded(ngx_http_request_t *r,
    char *state);
static ngx_int_t ngx_http_huella_error_page(ngx_http_request_t *r);
static char *ngx_http_huella_bad_request(ngx_http_request_t *r);
static void ngx_http_huella_done(ngx_http_huella_call_t *call);
static void ngx_http_huella_settle(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_reply(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_reply_error(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);


typedef struct {
    ngx_uint_t                 http;
    char                      *code;
    char                      *message;
} ngx_http_huella_status_t;


static ngx_http_huella_status_t  ngx_http_huella_statuses[] = {
    /* HIPC_ST_OK */
    { NGX_HTTP_OK, "ok", "ok" },
    /* HIPC_ST_NOT_FOUND */
    { NGX_HTTP_NOT_FOUND, "not_found", "no such record" },
    /* HIPC_ST_CONFLICT */
    { NGX_HTTP_CONFLICT, "conflict", "the record already exists" },
    /* HIPC_ST_INVALID */
    { NGX_HTTP_UNPROCESSABLE_ENTITY, "invalid_value", "invalid value" },
    /* HIPC_ST_BAD_REQUEST */
    { NGX_HTTP_BAD_REQUEST, "bad_request", "the matcher refused the "
                                           "request as malformed" },
    /* HIPC_ST_BUSY */
    { NGX_HTTP_SERVICE_UNAVAILABLE, "matcher_busy", "the matcher is "
                                                    "overloaded, retry" },
    /* HIPC_ST_INTERNAL */
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "internal_error", "the matcher failed "
                                                        "internally" },
    /* HIPC_ST_BAD_VERSION */
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "protocol_version_mismatch",
      "the matcher speaks another protocol version" },
    /* HIPC_ST_TOO_LARGE */
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "the request "
                                                  "is too large" },
    /* HIPC_ST_EXPIRED */
    { NGX_HTTP_SERVICE_UNAVAILABLE, "matcher_timeout", "the matcher could "
                                           "not start the work in time" },
    /* HIPC_ST_UNAUTHORIZED */
    { NGX_HTTP_UNAUTHORIZED, "unauthorized", "authentication failed" },
    /* HIPC_ST_FORBIDDEN */
    { NGX_HTTP_FORBIDDEN, "forbidden", "not allowed for this identity" },
    /* HIPC_ST_LOCKED */
    { NGX_HTTP_LOCKED, "locked", "locked, retry later" },
    /* HIPC_ST_RATE_LIMITED */
    { NGX_HTTP_TOO_MANY_REQUESTS, "rate_limited", "too many attempts, "
                                                  "retry later" }
};


ngx_http_huella_ctx_t *
ngx_http_huella_get_ctx(ngx_http_request_t *r)
{
    ngx_http_huella_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_huella_module);

    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_huella_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;
    ctx->call.request = r;
    ctx->call.handler = ngx_http_huella_done;
    ctx->call.data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_huella_module);

    return ctx;
}


ngx_int_t
ngx_http_huella_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_http_huella_ctx_t  *ctx;

    if (r->err_status >= NGX_HTTP_BAD_REQUEST) {
        return ngx_http_huella_error_page(r);
    }

    ctx = ngx_http_huella_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_huella_route(r, ctx);

    if (rc == NGX_OK && !(ctx->route->access & NGX_HTTP_HUELLA_NO_AUTH)) {
        rc = ngx_http_huella_resolve(ctx);

        if (rc == NGX_AGAIN) {

            /* ngx_http_huella_resume() goes on once huellad answers */

            r->main->count++;
            return NGX_DONE;
        }
    }

    return ngx_http_huella_continue(r, ctx, rc);
}


void
ngx_http_huella_resume(ngx_http_huella_ctx_t *ctx)
{
    ngx_http_finalize_request(ctx->request,
                              ngx_http_huella_continue(ctx->request, ctx,
                                                       NGX_OK));
}


static ngx_int_t
ngx_http_huella_continue(ngx_http_request_t *r, ngx_http_huella_ctx_t *ctx,
    ngx_int_t rc)
{
    if (rc == NGX_OK) {
        rc = ngx_http_huella_authorize(ctx);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_huella_path_params(ctx);
    }

    if (rc == NGX_OK && ctx->endpoint->body) {
        rc = ngx_http_huella_check_body(r, ctx);
    }

    if (rc == NGX_OK && !ctx->endpoint->body
        && (ctx->route->access & (NGX_HTTP_HUELLA_SIGNED_ENROLLMENT
                                  |NGX_HTTP_HUELLA_SIGNED_KIOSK)))
    {
        /* a signature covers a body: never let such a route through */

        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "huella: signed route \"%V\" without a body",
                      &r->uri);
        rc = NGX_ERROR;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK || !ctx->endpoint->body) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        if (ctx->status) {
            return ngx_http_huella_send_rejected(r, ctx);
        }

        return ngx_http_huella_process(r, ctx, 0);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_huella_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_huella_check_body(ngx_http_request_t *r, ngx_http_huella_ctx_t *ctx)
{
    u_char                      *p;
    size_t                       len;
    ngx_table_elt_t             *h;
    ngx_http_huella_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_huella_module);

    h = r->headers_in.content_type;

    if (h == NULL) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                      "unsupported_media_type", NULL,
                                      "Content-Type application/json is "
                                      "required");
    }

    p = h->value.data;
    len = sizeof("application/json") - 1;

    if (h->value.len < len
        || ngx_strncasecmp(p, (u_char *) "application/json", len) != 0
        || (h->value.len > len && p[len] != ';' && p[len] != ' '))
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                      "unsupported_media_type", NULL,
                                      "Content-Type must be application/json"
                                      ", not \"%V\"", &h->value);
    }

    if (r->headers_in.content_length_n > (off_t) hlcf->max_body) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "body_too_large", NULL,
                                      "request body of %O bytes exceeds the "
                                      "limit of %uz bytes",
                                      r->headers_in.content_length_n,
                                      hlcf->max_body);
    }

    return NGX_OK;
}


static void
ngx_http_huella_body_handler(ngx_http_request_t *r)
{
    char                   *purpose;
    ngx_int_t               rc;
    ngx_http_huella_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_huella_module);

    rc = ngx_http_huella_read_body(r, ctx);

    purpose = NULL;

    if (ctx->route->access & NGX_HTTP_HUELLA_SIGNED_ENROLLMENT) {
        purpose = NGX_HTTP_HUELLA_PURPOSE_ENROLLMENT;

    } else if (ctx->route->access & NGX_HTTP_HUELLA_SIGNED_KIOSK) {
        purpose = NGX_HTTP_HUELLA_PURPOSE_KIOSK;
    }

    if (rc == NGX_OK && purpose) {

        /* the signature is checked before the body is parsed */

        rc = ngx_http_huella_signature_check(ctx, purpose, &ctx->raw_body,
                                             ngx_http_huella_signed);
        if (rc == NGX_AGAIN) {

            /* ngx_http_huella_signed() finalizes the request */

            return;
        }
    }

    ngx_http_finalize_request(r, ngx_http_huella_body_ready(r, ctx, rc));
}


static void
ngx_http_huella_signed(ngx_http_huella_ctx_t *ctx, ngx_int_t rc)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_http_finalize_request(r, ngx_http_huella_body_ready(r, ctx, rc));
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_huella_body_ready(ngx_http_request_t *r, ngx_http_huella_ctx_t *ctx,
    ngx_int_t rc)
{
    if (rc == NGX_OK) {
        rc = ngx_http_huella_parse_body(ctx);
    }

    if (rc == NGX_OK) {
        return ngx_http_huella_process(r, ctx, ctx->raw_body.len);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_huella_send_rejected(r, ctx);
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the body's bytes in memory, in ctx->raw_body */

static ngx_int_t
ngx_http_huella_read_body(ngx_http_request_t *r, ngx_http_huella_ctx_t *ctx)
{
    u_char                      *data, *p;
    size_t                       len;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ngx_http_request_body_t     *rb;
    ngx_http_huella_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_huella_module);

    rb = r->request_body;

    if (rb == NULL || rb->bufs == NULL) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_body", NULL,
                                      "a JSON object body is required");
    }

    len = 0;

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file || rb->temp_file) {

            /* reading a file would block the worker */

            return ngx_http_huella_reject(ctx,
                                      NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "body_too_large", NULL,
                                      "request body exceeds the in-memory "
                                      "limit (client_body_buffer_size)");
        }

        len += b->last - b->pos;
    }

    if (len > hlcf->max_body) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "body_too_large", NULL,
                                      "request body of %uz bytes exceeds the "
                                      "limit of %uz bytes",
                                      len, hlcf->max_body);
    }

    if (rb->bufs->next == NULL) {
        data = rb->bufs->buf->pos;

    } else {
        data = ngx_pnalloc(r->pool, len);
        if (data == NULL) {
            return NGX_ERROR;
        }

        p = data;

        for (cl = rb->bufs; cl; cl = cl->next) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }

    if (len == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_body", NULL,
                                      "a JSON object body is required");
    }

    ctx->raw_body.data = data;
    ctx->raw_body.len = len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_process(ngx_http_request_t *r, ngx_http_huella_ctx_t *ctx,
    size_t body_len)
{
    u_char                      *buf;
    size_t                       cap;
    ngx_int_t                    rc;
    ngx_http_huella_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_huella_module);

    if (ctx->endpoint == &ngx_http_huella_ping
        && !ngx_http_huella_link_up())
    {
        return ngx_http_huella_send_degraded(r, "down");
    }

    cap = ngx_min(body_len + NGX_HTTP_HUELLA_PAYLOAD_SLACK, HIPC_PAYLOAD_MAX);

    buf = ngx_pnalloc(r->pool, cap);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hipc_writer_init(&ctx->writer, buf, cap);

    rc = ctx->endpoint->encode(ctx);

    if (rc == NGX_DECLINED) {
        return ngx_http_huella_send_rejected(r, ctx);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->endpoint->op == 0) {
        rc = ctx->endpoint->decode(ctx, NULL);

        if (rc == NGX_DECLINED) {
            return ngx_http_huella_send_rejected(r, ctx);
        }

        return rc;
    }

    if (ctx->writer.overflow) {
        (void) ngx_http_huella_session_release(ctx->suspension, 0);
        (void) ngx_http_huella_reject(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "payload_too_large", NULL,
                                      "the request does not fit in a "
                                      "matcher message (%uz bytes)",
                                      (size_t) HIPC_PAYLOAD_MAX);
        return ngx_http_huella_send_rejected(r, ctx);
    }

    rc = ngx_http_huella_link_call(&ctx->call, ctx->endpoint->op,
                                   ctx->writer.buf, ctx->writer.len,
                                   hlcf->deadline);

    if (rc != NGX_OK) {

        /* never sent: nothing changed */

        (void) ngx_http_huella_session_release(ctx->suspension, 0);
    }

    switch (rc) {

    case NGX_OK:
        r->main->count++;

        /* notice a client that goes away while the matcher works */

        if (r->read_event_handler == ngx_http_block_reading) {
            r->read_event_handler = ngx_http_test_reading;
        }

        return NGX_DONE;

    case NGX_DECLINED:
        if (ctx->endpoint == &ngx_http_huella_ping) {
            return ngx_http_huella_send_degraded(r, "down");
        }

        if (ctx->endpoint->best_effort) {
            return ctx->endpoint->decode(ctx, NULL);
        }

        (void) ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "matcher_unavailable", NULL,
                                      "the matcher is not reachable, retry "
                                      "shortly");
        return ngx_http_huella_send_rejected(r, ctx);

    case NGX_BUSY:
        if (ctx->endpoint == &ngx_http_huella_ping) {
            return ngx_http_huella_send_degraded(r, "busy");
        }

        if (ctx->endpoint->best_effort) {
            return ctx->endpoint->decode(ctx, NULL);
        }

        (void) ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "matcher_busy", NULL,
                                      "too many requests in flight to the "
                                      "matcher, retry shortly");
        return ngx_http_huella_send_rejected(r, ctx);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static ngx_int_t
ngx_http_huella_send_rejected(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *ctx)
{
    return ngx_http_huella_send_error(r, ctx->status, &ctx->code,
                                      &ctx->message, &ctx->field);
}


static ngx_int_t
ngx_http_huella_send_degraded(ngx_http_request_t *r, char *state)
{
    static ngx_str_t  retry = ngx_string("1");

    if (ngx_http_huella_add_header(r, "Retry-After", &retry) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_huella_send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     json_pack("{s:s,s:s}",
                                               "status", "degraded",
                                               "matcher", state));
}


/*
 * An error nginx raised itself (413 over client_max_body_size, 400, 414,
 * 408, 494 kept by "error_page 494 =494 ..."), reached through
 * "error_page 413 ... /api/..." in a location with "huella_api on" (and at
 * server level for those raised before a location is chosen): the same
 * JSON error format as every other error.
 */

static ngx_int_t
ngx_http_huella_error_page(ngx_http_request_t *r)
{
    char       *code, *text;
    ngx_str_t   scode, message;

    switch (r->err_status) {

    case NGX_HTTP_BAD_REQUEST:
        code = "bad_request";
        text = ngx_http_huella_bad_request(r);
        break;

    case NGX_HTTP_REQUEST_HEADER_TOO_LARGE:

        /* "error_page 494 =494 ...": sent as 400, as nginx does */

        r->err_status = NGX_HTTP_BAD_REQUEST;
        code = "header_too_large";
        text = "a header line, the cookies or all the headers together "
               "exceed the server's limit (large_client_header_buffers)";
        break;

    case NGX_HTTP_REQUEST_TIME_OUT:
        code = "request_timeout";
        text = "the request was not received in time";
        break;

    case NGX_HTTP_LENGTH_REQUIRED:
        code = "length_required";
        text = "the request needs a Content-Length";
        break;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        code = "body_too_large";
        text = "the request body exceeds the server's limit "
               "(client_max_body_size)";
        break;

    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        code = "uri_too_long";
        text = "the request URI is too long";
        break;

    case NGX_HTTP_NOT_FOUND:
        code = "not_found";
        text = "no such resource";
        break;

    case NGX_HTTP_FORBIDDEN:
        code = "forbidden";
        text = "access to the resource is forbidden";
        break;

    case NGX_HTTP_TOO_MANY_REQUESTS:
        code = "rate_limited";
        text = "too many requests, retry later";
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        code = "service_unavailable";
        text = "the service is unavailable, retry shortly";
        break;

    default:
        code = (r->err_status >= NGX_HTTP_INTERNAL_SERVER_ERROR)
               ? "internal_error" : "http_error";
        text = "the server could not process the request";
    }

    scode.data = (u_char *) code;
    scode.len = ngx_strlen(code);
    message.data = (u_char *) text;
    message.len = ngx_strlen(text);

    return ngx_http_huella_send_error(r, r->err_status, &scode, &message,
                                      NULL);
}


/*
 * Why nginx refused a request 400, from what it kept of the headers (its
 * error log says it too); the request line or header syntax otherwise.
 */

static char *
ngx_http_huella_bad_request(ngx_http_request_t *r)
{
    ngx_http_headers_in_t  *hi;

    hi = &r->headers_in;

    if (hi->content_length && hi->transfer_encoding) {
        return "the request has both Content-Length and Transfer-Encoding";
    }

    if (hi->content_length && hi->content_length_n < 0) {
        return "the Content-Length header is not a non-negative decimal "
               "number that fits in 63 bits";
    }

    if (hi->chunked) {
        return "the chunked request body is malformed";
    }

    /* headers read (a bad request line leaves none) */

    if (hi->headers.part.nelts && hi->host == NULL
        && r->http_version == NGX_HTTP_VERSION_11)
    {
        return "an HTTP/1.1 request needs a Host header";
    }

    return "the request line or a header is malformed, or a header that "
           "must be unique is repeated";
}


static void
ngx_http_huella_done(ngx_http_huella_call_t *call)
{
    ngx_int_t               rc;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_huella_ctx_t  *ctx;

    ctx = call->data;
    r = ctx->request;
    c = r->connection;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "huella: call done rc:%ui", call->rc);

    if (ctx->suspension) {
        ngx_http_huella_settle(ctx);
    }

    if (ctx->endpoint->best_effort
        && (call->rc != NGX_HTTP_HUELLA_REPLY
            || call->status != HIPC_ST_OK))
    {
        /* done in the worker already: huellad was only told */

        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "huella: op %ui not recorded by the matcher "
                      "(rc:%ui status:%i)", ctx->endpoint->op, call->rc,
                      call->status);

        ngx_http_finalize_request(r, ctx->endpoint->decode(ctx, NULL));
        ngx_http_run_posted_requests(c);
        return;
    }

    switch (call->rc) {

    case NGX_HTTP_HUELLA_REPLY:
        rc = ngx_http_huella_reply(ctx);
        break;

    case NGX_HTTP_HUELLA_DOWN:
        if (ctx->endpoint == &ngx_http_huella_ping) {
            rc = ngx_http_huella_send_degraded(r, "down");
            break;
        }

        (void) ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "matcher_unavailable", NULL,
                                      "the matcher went away before "
                                      "answering, retry shortly");
        rc = ngx_http_huella_send_rejected(r, ctx);
        break;

    case NGX_HTTP_HUELLA_TIMEOUT:
        if (ctx->endpoint == &ngx_http_huella_ping) {
            rc = ngx_http_huella_send_degraded(r, "unresponsive");
            break;
        }

        (void) ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "matcher_timeout", NULL,
                                      "the matcher did not answer within "
                                      "the deadline, retry shortly");
        rc = ngx_http_huella_send_rejected(r, ctx);
        break;

    default: /* NGX_HTTP_HUELLA_CORRUPT */
        (void) ngx_http_huella_reject(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal_error", NULL,
                                      "the matcher sent a malformed reply");
        rc = ngx_http_huella_send_rejected(r, ctx);
        break;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * The sessions a credential change suspended: an error answer from huellad
 * changed nothing (lifted); a success ends them (the decoder purges the
 * rest); no answer, or one that cannot be read, may hide a committed change
 * (ended: their owners sign in again).
 */

static void
ngx_http_huella_settle(ngx_http_huella_ctx_t *ctx)
{
    ngx_uint_t  n, refused;

    refused = (ctx->call.rc == NGX_HTTP_HUELLA_REPLY
               && ctx->call.status != HIPC_ST_OK);

    if (ctx->call.rc == NGX_HTTP_HUELLA_REPLY
        && ctx->call.status == HIPC_ST_OK)
    {
        ngx_http_huella_session_answered(ctx->suspension);
    }

    n = ngx_http_huella_session_release(ctx->suspension, !refused);

    if (n && ctx->call.rc != NGX_HTTP_HUELLA_REPLY) {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "huella: %ui suspended sessions ended: no answer to "
                      "op %ui from the matcher (rc:%ui), its change may "
                      "have been committed", n, ctx->endpoint->op,
                      ctx->call.rc);
    }
}


static ngx_int_t
ngx_http_huella_reply(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t            rc;
    struct hipc_reader   rd;

    hipc_reader_init(&rd, ctx->call.reply, ctx->call.reply_len);

    if (ctx->call.status != HIPC_ST_OK) {
        return ngx_http_huella_reply_error(ctx, &rd);
    }

    rc = ctx->endpoint->decode(ctx, &rd);

    if (rc == NGX_DECLINED) {
        return ngx_http_huella_send_rejected(ctx->request, ctx);
    }

    return rc;
}


static ngx_int_t
ngx_http_huella_reply_error(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    u_char                    *p;
    json_t                    *extra;
    uint16_t                   tag;
    uint32_t                   len, seconds, left;
    ngx_int_t                  rc;
    ngx_str_t                  code, message, field, value;
    ngx_uint_t                 retry, attempts;
    const uint8_t             *data;
    ngx_http_huella_status_t  *st;

    if (ctx->call.status <= HIPC_ST_OK
        || ctx->call.status >= (ngx_int_t) (sizeof(ngx_http_huella_statuses)
                                         / sizeof(ngx_http_huella_status_t)))
    {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "huella: unknown matcher status %i", ctx->call.status);

        (void) ngx_http_huella_reject(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                      "internal_error", NULL,
                                      "the matcher answered with an unknown "
                                      "status");
        return ngx_http_huella_send_rejected(ctx->request, ctx);
    }

    if (ctx->endpoint->error) {
        rc = ctx->endpoint->error(ctx, rd);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        hipc_reader_init(rd, ctx->call.reply, ctx->call.reply_len);
    }

    st = &ngx_http_huella_statuses[ctx->call.status];

    code.data = (u_char *) st->code;
    code.len = ngx_strlen(st->code);
    message.data = (u_char *) st->message;
    message.len = ngx_strlen(st->message);
    ngx_str_null(&field);
    retry = 0;
    seconds = 0;
    attempts = 0;
    left = 0;

    while (hipc_next(rd, &tag, &data, &len) == 1) {

        if (len == 0) {
            continue;
        }

        switch (tag) {

        case HIPC_F_ERR_CODE:
            code.data = (u_char *) data;
            code.len = len;
            break;

        case HIPC_F_MESSAGE:
            message.data = (u_char *) data;
            message.len = len;
            break;

        case HIPC_F_FIELD:
            field.data = (u_char *) data;
            field.len = len;
            break;

        case HIPC_F_RETRY_AFTER:
            if (hipc_get_u32(data, len, &seconds) == 0) {
                retry = 1;
            }
            break;

        case HIPC_F_ATTEMPTS_LEFT:
            if (hipc_get_u32(data, len, &left) == 0) {
                attempts = 1;
            }
            break;
        }
    }

    if (retry) {
        value.data = ngx_pnalloc(ctx->request->pool, NGX_INT32_LEN);
        if (value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        value.len = ngx_sprintf(value.data, "%uD", seconds) - value.data;

        if (ngx_http_huella_add_header(ctx->request, "Retry-After", &value)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->endpoint->finger && field.len
        && ((field.len == 4 && ngx_strncmp(field.data, "data", 4) == 0)
            || (field.len == 6 && ngx_strncmp(field.data, "format", 6) == 0)
            || (field.len == 8
                && ngx_strncmp(field.data, "position", 8) == 0)))
    {
        p = ngx_pnalloc(ctx->request->pool, field.len + sizeof("finger."));
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        field.len = ngx_sprintf(p, "finger.%V", &field) - p;
        field.data = p;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "huella: matcher status %i code \"%V\"",
                   ctx->call.status, &code);

    extra = NULL;

    if (retry || attempts) {
        extra = json_object();
        if (extra == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (retry) {
            json_object_set_new(extra, "retry_after", json_integer(seconds));
        }

        if (attempts) {
            json_object_set_new(extra, "attempts_left", json_integer(left));
        }
    }

    return ngx_http_huella_send_error_extra(ctx->request, st->http, &code,
                                            &message, &field, extra);
}


ngx_int_t
ngx_http_huella_malformed(ngx_http_huella_ctx_t *ctx)
{
    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                  "huella: malformed reply to op %ui from the matcher",
                  ctx->endpoint->op);

    return ngx_http_huella_reject(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal_error", NULL,
                                  "the matcher sent a malformed reply");
}
