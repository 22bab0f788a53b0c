
/*
 * Attendance (issue 6, docs/attendance-api.md): what the files of its
 * endpoints share.
 *
 *   ngx_http_huella_attendance.c  the caller and period fields, the test
 *                                 clock, consultation, rules, reports
 *   ngx_http_huella_justify.c     justifications, their attachments and
 *                                 decisions, notifications
 *   ngx_http_huella_punch.c       kiosk punches (RFC 9421 signed)
 */


#ifndef _NGX_HTTP_HUELLA_ATTENDANCE_H_INCLUDED_
#define _NGX_HTTP_HUELLA_ATTENDANCE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_api.h"


/* huellad's limits (matcher/attendance.h) */
#define NGX_HTTP_HUELLA_ATT_TEXT_MAX     2000
#define NGX_HTTP_HUELLA_ATT_COMMENT_MAX  1000
#define NGX_HTTP_HUELLA_ATT_WORD_MAX     63

/* the test clock, forwarded as TEST_NOW (huellad refuses it unless
 * attendance.test_clock is true) */
#define NGX_HTTP_HUELLA_TEST_NOW_HEADER  "X-Huella-Test-Now"


/* ACTOR, ROLES and CLIENT of the caller */
void ngx_http_huella_att_caller(ngx_http_huella_ctx_t *ctx);

/* TEST_NOW from X-Huella-Test-Now when present */
ngx_int_t ngx_http_huella_att_test_now(ngx_http_huella_ctx_t *ctx);

/* "YYYY-MM-DD" of a real calendar day */
ngx_uint_t ngx_http_huella_att_date_valid(u_char *p, size_t len);

/* a printable word without spaces of 1..max bytes */
ngx_uint_t ngx_http_huella_att_word(ngx_str_t *s, size_t max);

/* a query argument, unescaped: NGX_OK, NGX_DONE when absent, NGX_DECLINED
 * (rejected) or NGX_ERROR */
ngx_int_t ngx_http_huella_att_arg(ngx_http_huella_ctx_t *ctx, char *name,
    ngx_str_t *value);

/* the JSON document of a reply; NULL when there is none */

/* a body of bytes with its own Content-Type (and Content-Disposition) */
ngx_int_t ngx_http_huella_att_send_bytes(ngx_http_request_t *r,
    ngx_str_t *type, ngx_str_t *disposition, u_char *data, size_t len);


#endif /* _NGX_HTTP_HUELLA_ATTENDANCE_H_INCLUDED_ */
