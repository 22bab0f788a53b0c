
/*
 * JSON out and the API's error format.
 *
 * Every response carries "Content-Type: application/json; charset=utf-8"
 * and "Cache-Control: no-store".  Errors are always
 * {"error":{"code":"snake_case","message":"...","field":"..."}}; a 503
 * adds Retry-After and a 401 adds WWW-Authenticate: Bearer.  Documents are
 * built with jansson and serialized straight into a pool buffer.  The
 * strict base64 decoder declared here is in ngx_http_huella_fields.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_json.h"


#define NGX_HTTP_HUELLA_JSON_FLAGS  (JSON_COMPACT|JSON_REAL_PRECISION(6))


static ngx_int_t ngx_http_huella_send_body(ngx_http_request_t *r,
    ngx_uint_t status, ngx_buf_t *b);
static ngx_uint_t ngx_http_huella_has_header(ngx_http_request_t *r,
    char *key);


static ngx_str_t  ngx_http_huella_content_type =
    ngx_string("application/json; charset=utf-8");

static ngx_str_t  ngx_http_huella_no_store = ngx_string("no-store");
static ngx_str_t  ngx_http_huella_retry_after = ngx_string("1");
static ngx_str_t  ngx_http_huella_bearer =
    ngx_string("Bearer realm=\"huella\"");
static ngx_str_t  ngx_http_huella_422 =
    ngx_string("422 Unprocessable Entity");
static ngx_str_t  ngx_http_huella_423 = ngx_string("423 Locked");


ngx_int_t
ngx_http_huella_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *doc)
{
    size_t      size;
    ngx_buf_t  *b;

    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    size = json_dumpb(doc, NULL, 0, NGX_HTTP_HUELLA_JSON_FLAGS);

    if (size == 0) {
        json_decref(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, size + 1);
    if (b == NULL) {
        json_decref(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last += json_dumpb(doc, (char *) b->pos, size,
                          NGX_HTTP_HUELLA_JSON_FLAGS);
    *b->last++ = LF;

    json_decref(doc);

    return ngx_http_huella_send_body(r, status, b);
}


ngx_int_t
ngx_http_huella_send_error(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *code, ngx_str_t *message, ngx_str_t *field)
{
    return ngx_http_huella_send_error_extra(r, status, code, message, field,
                                            NULL);
}


ngx_int_t
ngx_http_huella_send_error_extra(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *code, ngx_str_t *message, ngx_str_t *field, json_t *extra)
{
    json_t  *doc, *err;

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        && !ngx_http_huella_has_header(r, "Retry-After"))
    {
        if (ngx_http_huella_add_header(r, "Retry-After",
                                       &ngx_http_huella_retry_after)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (status == NGX_HTTP_UNAUTHORIZED) {
        if (ngx_http_huella_add_header(r, "WWW-Authenticate",
                                       &ngx_http_huella_bearer)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    doc = json_object();
    err = json_object();

    if (doc == NULL || err == NULL
        || json_object_set_new(doc, "error", err) != 0)
    {
        json_decref(doc);
        json_decref(extra);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(err, "code",
                        json_stringn((char *) code->data, code->len));
    json_object_set_new(err, "message",
                        json_stringn((char *) message->data, message->len));

    if (field && field->len) {
        json_object_set_new(err, "field",
                            json_stringn((char *) field->data, field->len));
    }

    if (extra) {
        json_object_update(err, extra);
        json_decref(extra);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "huella: error %ui %V: %V", status, code, message);

    return ngx_http_huella_send_json(r, status, doc);
}


ngx_int_t
ngx_http_huella_send_empty(ngx_http_request_t *r, ngx_uint_t status)
{
    r->headers_out.status = status;
    r->headers_out.content_length_n = 0;

    if (ngx_http_huella_add_header(r, "Cache-Control",
                                   &ngx_http_huella_no_store)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->header_only = 1;

    return ngx_http_send_header(r);
}


ngx_int_t
ngx_http_huella_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;
    h->lowcase_key = NULL;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_huella_has_header(ngx_http_request_t *r, char *key)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(key);
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) key, len) == 0)
        {
            return 1;
        }
    }
}


static ngx_int_t
ngx_http_huella_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b)
{
    ngx_int_t     rc;
    ngx_chain_t   out;

    r->headers_out.status = status;

    /* nginx 1.22 knows no reason phrase for these */

    if (status == NGX_HTTP_UNPROCESSABLE_ENTITY) {
        r->headers_out.status_line = ngx_http_huella_422;

    } else if (status == NGX_HTTP_LOCKED) {
        r->headers_out.status_line = ngx_http_huella_423;
    }

    r->headers_out.content_type = ngx_http_huella_content_type;
    r->headers_out.content_type_len = ngx_http_huella_content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = b->last - b->pos;

    if (ngx_http_huella_add_header(r, "Cache-Control",
                                   &ngx_http_huella_no_store)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


u_char *
ngx_http_huella_iso8601(u_char *buf, time_t t)
{
    ngx_tm_t  tm;

    ngx_gmtime(t, &tm);

    return ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}
