
/*
 * Huella: the nginx side of the portal.
 *
 * Owns the configuration structures shared by the module's files and the
 * prototypes that cross file boundaries.  One concept per file:
 *
 *   ngx_http_huella_module.c     directives, configuration, process hooks
 *   ngx_http_huella_link.c       the worker's end of the shared-memory link
 *   ngx_http_huella_api.c        content handler, body, life of a call,
 *                                matcher status -> HTTP status
 *   ngx_http_huella_route.c      routing, path parameters, bearer token
 *   ngx_http_huella_fields.c     typed JSON request fields, templates
 *   ngx_http_huella_health.c     GET /healthz
 *   ngx_http_huella_subjects.c   subjects and their fingers
 *   ngx_http_huella_match.c      verify (1:1) and identify (1:N)
 *   ngx_http_huella_json.c       JSON out, the error format, base64
 *   ngx_http_huella_ident.c      CURP and NSS validation
 *   ngx_http_huella_rfc.c        RFC validation (homoclave check digit)
 *   ngx_http_huella_validate.c   POST /api/v1/validate
 *   ngx_http_huella_session.c    the shared session zone: sessions and
 *                                the bearer token cache
 *   ngx_http_huella_sync.c       the follower of huellad's credential
 *                                events (huella_session_sync)
 *   ngx_http_huella_auth.c       who is calling: cookie, bearer token,
 *                                roles, CSRF, "huella_auth", /api/v1/auth
 *   ngx_http_huella_account.c    accounts, /me, password, recovery
 *   ngx_http_huella_login.c      password and e.firma login, logout
 *   ngx_http_huella_admin.c      service tokens, roles, audit trail
 *   ngx_http_huella_attendance.c attendance consultation, rules, reports
 *   ngx_http_huella_justify.c    justifications, attachments, notifications
 *   ngx_http_huella_punch.c      kiosk punches (RFC 9421 signed)
 *   ngx_http_huella_signature.c  RFC 9421 signed captures of devices
 *   ngx_http_huella_nonce.c      their nonce cache, a shared zone
 */


#ifndef _NGX_HTTP_HUELLA_MODULE_H_INCLUDED_
#define _NGX_HTTP_HUELLA_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* nginx 1.22 has no names for them */
#define NGX_HTTP_UNPROCESSABLE_ENTITY  422
#define NGX_HTTP_LOCKED                423


typedef struct {
    ngx_str_t                  matcher;       /* huellad's unix socket */
    ngx_str_t                  token_file;
    ngx_str_t                  token;         /* admin bearer token */

    ngx_shm_zone_t            *session_zone;
    time_t                     session_idle;
    time_t                     session_absolute;
    time_t                     token_cache_ttl;
    ngx_msec_t                 session_sync;  /* 0: off */

    ngx_shm_zone_t            *nonce_zone;    /* signed captures */
    time_t                     signature_window;
} ngx_http_huella_main_conf_t;


typedef struct {
    ngx_flag_t                 enable;
    ngx_msec_t                 deadline;
    size_t                     max_body;
    ngx_flag_t                 auth;          /* huella_auth */
} ngx_http_huella_loc_conf_t;


ngx_int_t ngx_http_huella_handler(ngx_http_request_t *r);

/* ngx_http_huella_sync.c */
char *ngx_http_huella_session_sync(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_huella_sync_init(ngx_cycle_t *cycle,
    ngx_http_huella_main_conf_t *hmcf);


extern ngx_module_t  ngx_http_huella_module;


#endif /* _NGX_HTTP_HUELLA_MODULE_H_INCLUDED_ */
