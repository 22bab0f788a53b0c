
/*
 * JSON responses, the error format and base64 for the Huella API.
 */


#ifndef _NGX_HTTP_HUELLA_JSON_H_INCLUDED_
#define _NGX_HTTP_HUELLA_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>


/* sends doc (its reference is taken) with the given status */
ngx_int_t ngx_http_huella_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *doc);

/* sends {"error":{"code","message","field"}}; field may be empty */
ngx_int_t ngx_http_huella_send_error(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *code, ngx_str_t *message,
    ngx_str_t *field);

/* the same with the members of extra (reference taken) in "error" */
ngx_int_t ngx_http_huella_send_error_extra(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *code, ngx_str_t *message,
    ngx_str_t *field, json_t *extra);

/* sends a response without a body (204) */
ngx_int_t ngx_http_huella_send_empty(ngx_http_request_t *r,
    ngx_uint_t status);

ngx_int_t ngx_http_huella_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value);

/*
 * strict standard base64 (padding optional): NGX_OK, or NGX_DECLINED with
 * a precise message in err
 */
ngx_int_t ngx_http_huella_base64_decode(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst, ngx_str_t *err);

/* "2025-11-25T13:06:00Z" into buf, returns the end */
u_char *ngx_http_huella_iso8601(u_char *buf, time_t t);

#define NGX_HTTP_HUELLA_ISO8601_LEN  (sizeof("1970-01-01T00:00:00Z") - 1)


#endif /* _NGX_HTTP_HUELLA_JSON_H_INCLUDED_ */
