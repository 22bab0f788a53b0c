
/*
 * The API's request context and its endpoints: what the router
 * (ngx_http_huella_api.c) and the operations (ngx_http_huella_endpoints.c)
 * share.
 */


#ifndef _NGX_HTTP_HUELLA_API_H_INCLUDED_
#define _NGX_HTTP_HUELLA_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_huella_link.h"
#include "ngx_http_huella_auth.h"
#include "ngx_http_huella_signature.h"


typedef struct ngx_http_huella_ctx_s  ngx_http_huella_ctx_t;


typedef struct {
    ngx_uint_t                 op;          /* enum hipc_op */

    /*
     * encode() validates the request and writes the TLV payload into
     * ctx->writer: NGX_OK, NGX_DECLINED after ngx_http_huella_reject(),
     * or NGX_ERROR
     */
    ngx_int_t                (*encode)(ngx_http_huella_ctx_t *ctx);

    /* decode() turns an HIPC_ST_OK reply into the response, returns rc */
    ngx_int_t                (*decode)(ngx_http_huella_ctx_t *ctx,
                                       struct hipc_reader *rd);

    unsigned                   body:1;      /* takes a JSON body */
    unsigned                   finger:1;    /* fields live under "finger" */

    /*
     * error(), if set, may render a matcher error itself (NGX_DECLINED:
     * the generic mapping applies)
     */
    ngx_int_t                (*error)(ngx_http_huella_ctx_t *ctx,
                                      struct hipc_reader *rd);

    /*
     * op 0: answered in the worker, decode(ctx, NULL) after encode();
     * best_effort: decode(ctx, NULL) answers even when the matcher
     * cannot be reached
     */
    unsigned                   best_effort:1;
} ngx_http_huella_endpoint_t;


/* a line of the routing table: who may call what */
typedef struct {
    ngx_uint_t                 methods;     /* NGX_HTTP_GET|... */
    char                      *path;        /* {curp}, {position}, {id} */
    ngx_http_huella_endpoint_t *endpoint;
    ngx_uint_t                 access;      /* roles and NGX_HTTP_HUELLA_* */
} ngx_http_huella_route_t;


struct ngx_http_huella_ctx_s {
    ngx_http_huella_call_t     call;
    ngx_http_request_t        *request;
    ngx_http_huella_endpoint_t *endpoint;
    ngx_http_huella_route_t   *route;

    ngx_str_t                  path_curp;   /* raw, as routed */
    ngx_str_t                  path_position;
    ngx_str_t                  path_id;

    /* the caller (ngx_http_huella_auth.c); NULL: anonymous */
    ngx_http_huella_identity_t *identity;
    ngx_http_huella_call_t     auth_call;   /* TOKEN_CHECK */
    ngx_str_t                  bearer;
    char                      *auth_error;  /* why there is no identity */
    char                      *auth_why;    /* its message, if precise */

    ngx_str_t                  curp;        /* validated, upper case */
    ngx_uint_t                 position;    /* from the path, 0 if none */

    json_t                    *body;
    ngx_str_t                  raw_body;    /* the body's bytes */
    struct hipc_writer         writer;

    /*
     * the sessions the call would end, suspended by encode() last thing
     * (ngx_http_huella_session_suspend()): the router lifts them when the
     * call is not sent or huellad answers an error, and ends them when the
     * answer is a success or does not come (deadline, link lost)
     */
    ngx_http_huella_suspension_t *suspension;

    /* the device that signed the request (NGX_HTTP_HUELLA_SIGNED_*) */
    ngx_http_huella_device_t  *device;

    void                      *data;        /* the endpoint's own state */

    /* a rejected request, see ngx_http_huella_reject() */
    ngx_uint_t                 status;
    ngx_str_t                  code;
    ngx_str_t                  message;
    ngx_str_t                  field;

    unsigned                   resolved:1;
    unsigned                   resolving:1;
    unsigned                   access_phase:1;
    unsigned                   auth_unavailable:1;
};


extern ngx_http_huella_endpoint_t  ngx_http_huella_ping;
extern ngx_http_huella_endpoint_t  ngx_http_huella_subject_create;
extern ngx_http_huella_endpoint_t  ngx_http_huella_subject_get;
extern ngx_http_huella_endpoint_t  ngx_http_huella_subject_delete;
extern ngx_http_huella_endpoint_t  ngx_http_huella_finger_put;
extern ngx_http_huella_endpoint_t  ngx_http_huella_finger_delete;
extern ngx_http_huella_endpoint_t  ngx_http_huella_verify;
extern ngx_http_huella_endpoint_t  ngx_http_huella_identify;
extern ngx_http_huella_endpoint_t  ngx_http_huella_validate;
extern ngx_http_huella_endpoint_t  ngx_http_huella_account_create;
extern ngx_http_huella_endpoint_t  ngx_http_huella_me;
extern ngx_http_huella_endpoint_t  ngx_http_huella_password_change;
extern ngx_http_huella_endpoint_t  ngx_http_huella_recovery_start;
extern ngx_http_huella_endpoint_t  ngx_http_huella_recovery_finish;
extern ngx_http_huella_endpoint_t  ngx_http_huella_roles_set;
extern ngx_http_huella_endpoint_t  ngx_http_huella_account_unlock;
extern ngx_http_huella_endpoint_t  ngx_http_huella_login;
extern ngx_http_huella_endpoint_t  ngx_http_huella_logout;
extern ngx_http_huella_endpoint_t  ngx_http_huella_efirma_challenge;
extern ngx_http_huella_endpoint_t  ngx_http_huella_efirma_login;
extern ngx_http_huella_endpoint_t  ngx_http_huella_efirma_inspect;
extern ngx_http_huella_endpoint_t  ngx_http_huella_tokens_list;
extern ngx_http_huella_endpoint_t  ngx_http_huella_token_create;
extern ngx_http_huella_endpoint_t  ngx_http_huella_token_revoke;
extern ngx_http_huella_endpoint_t  ngx_http_huella_audit_list;
extern ngx_http_huella_endpoint_t  ngx_http_huella_audit_verify;
extern ngx_http_huella_endpoint_t  ngx_http_huella_auth_check;
/* issue 5: devices and enrollment (ngx_http_huella_devices.h) */
extern ngx_http_huella_endpoint_t  ngx_http_huella_device_register;
extern ngx_http_huella_endpoint_t  ngx_http_huella_devices_list;
extern ngx_http_huella_endpoint_t  ngx_http_huella_device_suspend;
extern ngx_http_huella_endpoint_t  ngx_http_huella_device_reactivate;
extern ngx_http_huella_endpoint_t  ngx_http_huella_device_revoke;
extern ngx_http_huella_endpoint_t  ngx_http_huella_receipt_get;
extern ngx_http_huella_endpoint_t  ngx_http_huella_jwks;
extern ngx_http_huella_endpoint_t  ngx_http_huella_subject_lookup;
extern ngx_http_huella_endpoint_t  ngx_http_huella_enroll;
extern ngx_http_huella_endpoint_t  ngx_http_huella_dedup_list;
extern ngx_http_huella_endpoint_t  ngx_http_huella_dedup_resolve;
extern ngx_http_huella_endpoint_t  ngx_http_huella_exceptions;
extern ngx_http_huella_endpoint_t  ngx_http_huella_my_exceptions;
extern ngx_http_huella_endpoint_t  ngx_http_huella_dedup_job_get;
extern ngx_http_huella_endpoint_t  ngx_http_huella_dedup_jobs_list;
/* issue 6: attendance (ngx_http_huella_attendance.h) */
extern ngx_http_huella_endpoint_t  ngx_http_huella_punch;
extern ngx_http_huella_endpoint_t  ngx_http_huella_my_attendance;
extern ngx_http_huella_endpoint_t  ngx_http_huella_subject_attendance;
extern ngx_http_huella_endpoint_t  ngx_http_huella_attendance_rules;
extern ngx_http_huella_endpoint_t  ngx_http_huella_attendance_rules_change;
extern ngx_http_huella_endpoint_t  ngx_http_huella_biometric_disabled;
extern ngx_http_huella_endpoint_t  ngx_http_huella_biometric_enable;
extern ngx_http_huella_endpoint_t  ngx_http_huella_attendance_report;
extern ngx_http_huella_endpoint_t  ngx_http_huella_justification_create;
extern ngx_http_huella_endpoint_t  ngx_http_huella_justifications_list;
extern ngx_http_huella_endpoint_t  ngx_http_huella_justification_decide;
extern ngx_http_huella_endpoint_t  ngx_http_huella_justification_attachment;
extern ngx_http_huella_endpoint_t  ngx_http_huella_notifications;


/* a finger template of a request */
typedef struct {
    uint32_t                   format;      /* enum hipc_format */
    ngx_uint_t                 position;    /* 0 if absent */
    ngx_str_t                  data;        /* decoded record */
} ngx_http_huella_finger_t;


/* the names its fields are reported under */
typedef struct {
    char                      *format;
    char                      *data;
    char                      *position;
} ngx_http_huella_finger_fields_t;


extern ngx_http_huella_finger_fields_t  ngx_http_huella_top_fields;
extern ngx_http_huella_finger_fields_t  ngx_http_huella_nested_fields;


/* ngx_http_huella_route.c */
ngx_int_t ngx_http_huella_route(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *ctx);
ngx_int_t ngx_http_huella_path_params(ngx_http_huella_ctx_t *ctx);

/*
 * ngx_http_huella_fields.c, without events: reject() records an error
 * response for ctx and returns NGX_DECLINED; the others return NGX_OK,
 * NGX_DECLINED (rejected) or NGX_ERROR.  parse_body() sets ctx->body from
 * ctx->raw_body (freed with the request's pool).
 */
ngx_int_t ngx_http_huella_reject(ngx_http_huella_ctx_t *ctx,
    ngx_uint_t status, char *code, char *field, const char *fmt, ...);
ngx_int_t ngx_http_huella_parse_body(ngx_http_huella_ctx_t *ctx);
ngx_int_t ngx_http_huella_string(ngx_http_huella_ctx_t *ctx, json_t *obj,
    char *key, char *field, ngx_uint_t required, ngx_str_t *out);
ngx_int_t ngx_http_huella_integer(ngx_http_huella_ctx_t *ctx, json_t *obj,
    char *key, char *field, ngx_int_t min, ngx_int_t max, ngx_int_t *out);
ngx_int_t ngx_http_huella_body_curp(ngx_http_huella_ctx_t *ctx);
ngx_int_t ngx_http_huella_finger(ngx_http_huella_ctx_t *ctx, json_t *obj,
    ngx_http_huella_finger_fields_t *fields,
    ngx_http_huella_finger_t *finger);
ngx_int_t ngx_http_huella_nested_finger(ngx_http_huella_ctx_t *ctx,
    ngx_http_huella_finger_t *finger);
ngx_int_t ngx_http_huella_face(ngx_http_huella_ctx_t *ctx, json_t *face);
json_t *ngx_http_huella_format_json(uint32_t format);

/* ngx_http_huella_auth.c */
ngx_int_t ngx_http_huella_resolve(ngx_http_huella_ctx_t *ctx);
ngx_int_t ngx_http_huella_authorize(ngx_http_huella_ctx_t *ctx);
ngx_int_t ngx_http_huella_audit(ngx_http_huella_ctx_t *ctx, char *action,
    ngx_str_t *target);

/* ngx_http_huella_login.c */
ngx_int_t ngx_http_huella_start_session(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);

/* ngx_http_huella_api.c */
ngx_http_huella_ctx_t *ngx_http_huella_get_ctx(ngx_http_request_t *r);
void ngx_http_huella_resume(ngx_http_huella_ctx_t *ctx);
ngx_int_t ngx_http_huella_malformed(ngx_http_huella_ctx_t *ctx);


#endif /* _NGX_HTTP_HUELLA_API_H_INCLUDED_ */
