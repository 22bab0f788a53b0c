
/*
 * Signed captures: RFC 9421 HTTP Message Signatures over "@method",
 * "@path" and "content-digest" (RFC 9530, sha-256), with the parameters
 * created, keyid and nonce (alg optional), checked for a device purpose
 * ("enrollment" or "kiosk").  The profile is in docs/devices.md.
 *
 * The easy way: add NGX_HTTP_HUELLA_SIGNED_ENROLLMENT or
 * NGX_HTTP_HUELLA_SIGNED_KIOSK (ngx_http_huella_auth.h) to the route's
 * access in the routing table (ngx_http_huella_route.c), for an endpoint
 * with a body.  The API (ngx_http_huella_api.c) then reads the body,
 * checks the signature before the body is parsed, and calls encode()
 * only for a valid one, with ctx->device set (id, employer rfc, purpose);
 * every failure is answered with its code (401 unless noted):
 *
 *     signature_missing        no Signature-Input or no Signature
 *     signature_invalid        malformed headers, components other than
 *                              the three, unknown parameters, a bad
 *                              signature (huellad)
 *     signature_expired        created outside +-huella_signature_window,
 *                              or before the nonce cache began (nginx
 *                              start), or expires in the past
 *     content_digest_mismatch  sha-256 of the body differs
 *     nonce_replayed           keyid + nonce seen in the window (the
 *                              huella_signature_nonce_zone, all workers)
 *     device_unknown, device_suspended, device_revoked,
 *     device_purpose_mismatch  huellad's DEVICE_VERIFY
 *     matcher_unavailable, matcher_busy, matcher_timeout,
 *     nonce_cache_full         503
 *
 * The lower-level way, for a handler of its own:
 * ngx_http_huella_signature_check(ctx, purpose, body, handler).
 */


#ifndef _NGX_HTTP_HUELLA_SIGNATURE_H_INCLUDED_
#define _NGX_HTTP_HUELLA_SIGNATURE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_HUELLA_PURPOSE_ENROLLMENT  "enrollment"
#define NGX_HTTP_HUELLA_PURPOSE_KIOSK       "kiosk"


/* the device behind a verified signature (strings in r->pool) */
typedef struct {
    ngx_str_t                  id;          /* keyid, "dev_" + 16 hex */
    ngx_str_t                  rfc;         /* the employer it belongs to */
    ngx_str_t                  purpose;     /* "enrollment" | "kiosk" */
    ngx_str_t                  key_alg;     /* "ES256" | "Ed25519" */
    ngx_str_t                  nonce;
    time_t                     created;
} ngx_http_huella_device_t;


struct ngx_http_huella_ctx_s;

/*
 * Runs once the check is over: rc NGX_OK (ctx->device set), NGX_DECLINED
 * (ctx->status, code and message set: send them), or NGX_ERROR.
 */
typedef void (*ngx_http_huella_signed_pt)(struct ngx_http_huella_ctx_s *ctx,
    ngx_int_t rc);


/*
 * Checks ctx->request's signature over body for purpose.  NGX_AGAIN:
 * huellad's DEVICE_VERIFY is in flight and handler(ctx, rc) runs when it
 * ends (the caller keeps the request alive: r->main->count); NGX_DECLINED:
 * refused here, ctx->status/code set (401, or 503/500); NGX_ERROR.
 * handler never runs unless NGX_AGAIN was returned.
 */
ngx_int_t ngx_http_huella_signature_check(struct ngx_http_huella_ctx_s *ctx,
    char *purpose, ngx_str_t *body, ngx_http_huella_signed_pt handler);

/*
 * ngx_http_huella_nonce.c: the nonce cache shared by all workers, keys
 * being SHA-256(keyid NUL nonce), kept 2 x huella_signature_window.
 * seen: NGX_OK (new), NGX_DECLINED (seen).  add: NGX_OK (recorded),
 * NGX_DECLINED (seen), NGX_BUSY (zone full).  Both: NGX_ABORT without
 * a zone.  since: when the cache began empty (the zone made by an nginx
 * start, kept across reloads), 0 without a zone.
 */
char *ngx_http_huella_nonce_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_huella_nonce_seen(ngx_http_request_t *r, u_char *key);
ngx_int_t ngx_http_huella_nonce_add(ngx_http_request_t *r, u_char *key);
time_t ngx_http_huella_nonce_since(ngx_http_request_t *r);


#endif /* _NGX_HTTP_HUELLA_SIGNATURE_H_INCLUDED_ */
