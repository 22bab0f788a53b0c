
/*
 * Who is calling: identities, roles, the session zone and the checks the
 * router applies (ngx_http_huella_auth.c, ngx_http_huella_session.c).
 */


#ifndef _NGX_HTTP_HUELLA_AUTH_H_INCLUDED_
#define _NGX_HTTP_HUELLA_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>


/* roles, one bit each */
#define NGX_HTTP_HUELLA_WORKER        0x0001
#define NGX_HTTP_HUELLA_SUPERVISOR    0x0002
#define NGX_HTTP_HUELLA_EMPLOYER_REP  0x0004
#define NGX_HTTP_HUELLA_PENSIONER     0x0008
#define NGX_HTTP_HUELLA_AUDITOR       0x0010
#define NGX_HTTP_HUELLA_ADMIN         0x0020
#define NGX_HTTP_HUELLA_ANY_ROLE      0x003f

/* what a route asks of its caller, besides roles */
#define NGX_HTTP_HUELLA_NO_AUTH       0x0100  /* creates a session/account */
#define NGX_HTTP_HUELLA_PUBLIC        0x0200  /* anyone, identity optional */
#define NGX_HTTP_HUELLA_SESSION_ONLY  0x0400  /* a cookie session, no token */

/*
 * the request must carry the RFC 9421 signature of a registered device of
 * that purpose (ngx_http_huella_signature.h); with a body only
 */
#define NGX_HTTP_HUELLA_SIGNED_ENROLLMENT  0x0800
#define NGX_HTTP_HUELLA_SIGNED_KIOSK       0x1000

#define NGX_HTTP_HUELLA_SECRET_LEN    32      /* session id, csrf token */
#define NGX_HTTP_HUELLA_SECRET_B64    43      /* base64url, no padding */
#define NGX_HTTP_HUELLA_HASH_LEN      32      /* SHA-256 */

#define NGX_HTTP_HUELLA_COOKIE        "huella_session"


/* the strings of an identity, in the order the session zone stores them */
#define NGX_HTTP_HUELLA_ID_CURP       0
#define NGX_HTTP_HUELLA_ID_NAME       1
#define NGX_HTTP_HUELLA_ID_EMAIL      2
#define NGX_HTTP_HUELLA_ID_ROLES      3       /* canonical comma list */
#define NGX_HTTP_HUELLA_ID_RFC        4       /* employer RFC, if bound */
#define NGX_HTTP_HUELLA_ID_METHOD     5       /* password, efirma, token */
#define NGX_HTTP_HUELLA_ID_TOKEN_ID   6       /* service accounts */
#define NGX_HTTP_HUELLA_ID_CSRF       7       /* sessions */
#define NGX_HTTP_HUELLA_ID_FIELDS     8


typedef struct {
    ngx_str_t                  f[NGX_HTTP_HUELLA_ID_FIELDS];
    ngx_uint_t                 roles;         /* role bits */
    time_t                     created;
    time_t                     expires;       /* sessions: absolute end */
    uint64_t                   password_changed; /* unix ms, 0: not said:
                                                 a new session proves the
                                                 credential after it */
    u_char                     key[NGX_HTTP_HUELLA_HASH_LEN];
    unsigned                   session:1;     /* from the cookie */
} ngx_http_huella_identity_t;


struct ngx_http_huella_ctx_s;                /* ngx_http_huella_api.h */

/* sessions a request holds suspended (ngx_http_huella_session.c) */
typedef struct ngx_http_huella_suspension_s  ngx_http_huella_suspension_t;


/* ngx_http_huella_auth.c */
ngx_uint_t ngx_http_huella_roles_parse(u_char *p, size_t len);
json_t *ngx_http_huella_roles_json(ngx_str_t *roles);
ngx_int_t ngx_http_huella_roles_body(struct ngx_http_huella_ctx_s *ctx,
    ngx_str_t *list);
json_t *ngx_http_huella_identity_json(ngx_http_huella_identity_t *id);
ngx_int_t ngx_http_huella_identity_decode(ngx_pool_t *pool,
    u_char *reply, size_t len, ngx_http_huella_identity_t *id);
ngx_str_t *ngx_http_huella_client(ngx_http_request_t *r);
ngx_str_t *ngx_http_huella_actor(ngx_http_huella_identity_t *id);
ngx_int_t ngx_http_huella_access_init(ngx_conf_t *cf);

/* a bound of ngx_http_huella_session_end() and the purges: any time */
#define NGX_HTTP_HUELLA_ANY_TIME      UINT64_MAX

/* what credential events say of one account (ngx_http_huella_sync.c) */
typedef struct {
    ngx_str_t                  curp;
    uint64_t                   password_at;   /* unix ms, 0: no change */
    uint64_t                   roles_at;      /* unix ms, 0: no change */
} ngx_http_huella_outdated_t;

/* ngx_http_huella_session.c */
char *ngx_http_huella_session_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_huella_random(u_char *buf, size_t len, ngx_log_t *log);
void ngx_http_huella_sha256(u_char *data, size_t len, u_char *out);
ngx_int_t ngx_http_huella_session_create(ngx_http_request_t *r,
    ngx_http_huella_identity_t *id, ngx_str_t *cookie);
ngx_int_t ngx_http_huella_session_find(ngx_http_request_t *r,
    ngx_str_t *cookie, ngx_http_huella_identity_t *id);
void ngx_http_huella_session_delete(ngx_http_request_t *r, u_char *key);
ngx_uint_t ngx_http_huella_session_purge_curp(ngx_http_request_t *r,
    ngx_str_t *curp, u_char *keep);
uint64_t ngx_http_huella_now_ms(void);
ngx_http_huella_suspension_t *ngx_http_huella_session_suspend(
    ngx_http_request_t *r, ngx_str_t *curp, u_char *keep,
    ngx_uint_t *failed);
ngx_uint_t ngx_http_huella_session_release(ngx_http_huella_suspension_t *sp,
    ngx_uint_t end);
ngx_uint_t ngx_http_huella_session_purge_before(ngx_http_request_t *r,
    ngx_str_t *curp, uint64_t proven_before);
void ngx_http_huella_session_answered(ngx_http_huella_suspension_t *sp);
void ngx_http_huella_session_proven(ngx_http_request_t *r, u_char *key,
    uint64_t changed_at);
ngx_uint_t ngx_http_huella_session_end(ngx_shm_zone_t *shm, ngx_str_t *curp,
    uint64_t proven_before, uint64_t born_before);
int ngx_http_huella_outdated_cmp(const void *a, const void *b);
ngx_uint_t ngx_http_huella_session_end_outdated(ngx_shm_zone_t *shm,
    ngx_http_huella_outdated_t *list, ngx_uint_t n);
ngx_int_t ngx_http_huella_token_cache_find(ngx_http_request_t *r,
    ngx_str_t *token, ngx_http_huella_identity_t *id);
void ngx_http_huella_token_cache_store(ngx_http_request_t *r,
    ngx_str_t *token, ngx_http_huella_identity_t *id);
ngx_uint_t ngx_http_huella_token_cache_purge(ngx_http_request_t *r,
    ngx_str_t *token_id);
ngx_uint_t ngx_http_huella_token_cache_end(ngx_shm_zone_t *shm,
    ngx_str_t *token_id);
ngx_int_t ngx_http_huella_set_cookie(ngx_http_request_t *r,
    ngx_str_t *value);


#endif /* _NGX_HTTP_HUELLA_AUTH_H_INCLUDED_ */
