
/*
 * Employer enrollment (issue 5, docs/devices.md): what the files of its
 * endpoints share.
 *
 *   ngx_http_huella_devices.c  capture devices, receipts, the JWK set,
 *                              and the helpers below
 *   ngx_http_huella_enroll.c   worker lookup, signed enrollment, dedup
 *                              cases, exceptions
 */


#ifndef _NGX_HTTP_HUELLA_DEVICES_H_INCLUDED_
#define _NGX_HTTP_HUELLA_DEVICES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_api.h"


#define NGX_HTTP_HUELLA_RFC_MAX  13


/*
 * The employer a call acts for, in rfc: an employer_rep's own RFC (a
 * body's "employer_rfc", if any, must be it), or for an admin the
 * "employer_rfc" of the body (required when "required").  NGX_OK,
 * NGX_DECLINED (rejected), NGX_ERROR.  *admin tells which.
 */
ngx_int_t ngx_http_huella_employer(ngx_http_huella_ctx_t *ctx,
    ngx_uint_t required, ngx_str_t *rfc, ngx_uint_t *admin);

/* ACTOR and CLIENT of the caller into ctx->writer */
void ngx_http_huella_put_actor(ngx_http_huella_ctx_t *ctx);

/* the first string field tag of a reply, or an empty string */
void ngx_http_huella_reply_str(struct hipc_reader *rd, uint16_t tag,
    ngx_str_t *out);

/* the JSON field of a reply, parsed (the caller owns it), or NULL */
json_t *ngx_http_huella_reply_doc(struct hipc_reader *rd);

/* a path id of [A-Za-z0-9_-]{1,64}: NGX_OK or NGX_DECLINED (rejected) */
ngx_int_t ngx_http_huella_path_token(ngx_http_huella_ctx_t *ctx,
    char *field);

/* a query argument, unescaped: NGX_OK, NGX_DONE when absent, NGX_ERROR */
ngx_int_t ngx_http_huella_query_arg(ngx_http_huella_ctx_t *ctx, char *name,
    ngx_str_t *value);


#endif /* _NGX_HTTP_HUELLA_DEVICES_H_INCLUDED_ */
