
/*
 * A keyed shared-memory store (ngx_http_huella_shstore.c): a zone of
 * entries keyed by a SHA-256 hash, in a red-black tree for lookups and in
 * a queue, most recently inserted or touched first, for expiry (in the
 * manner of ngx_http_limit_req_module).  An entry begins with an
 * ngx_http_huella_shnode_t; what follows, and when it expires, is its
 * user's: the session zone and the nonce cache.  Callers hold
 * store->shpool->mutex around every call but the directive's.
 */


#ifndef _NGX_HTTP_HUELLA_SHSTORE_H_INCLUDED_
#define _NGX_HTTP_HUELLA_SHSTORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_auth.h"


typedef struct {
    ngx_rbtree_node_t          node;        /* key: first hash bytes */
    ngx_queue_t                queue;       /* most recent first */
    u_char                     key[NGX_HTTP_HUELLA_HASH_LEN];
} ngx_http_huella_shnode_t;


typedef struct {
    ngx_rbtree_t               rbtree;
    ngx_rbtree_node_t          sentinel;
    ngx_queue_t                queue;
    time_t                     born;        /* made, empty (nginx start) */

    /* the session zone's entries by account (ngx_http_huella_session.c):
     * ending an account's sessions visits those, not the whole zone */
    ngx_rbtree_t               accounts;
    ngx_rbtree_node_t          accounts_sentinel;

    /* the session zone's follower of huellad's credential events
     * (ngx_http_huella_sync.c), shared by the workers */
    uint64_t                   sync_seq;    /* the last event applied */
    uint64_t                   sync_at;     /* its EVENT_AT, 0: unknown */
    uint64_t                   sync_started; /* unix ms a poll went out,
                                               0: none in flight */
    ngx_uint_t                 sync_known;  /* sync_seq means something */
} ngx_http_huella_shstore_sh_t;


typedef struct {
    ngx_http_huella_shstore_sh_t  *sh;
    ngx_slab_pool_t               *shpool;
    char                          *what;    /* "session", "nonce" */
} ngx_http_huella_shstore_t;


char *ngx_http_huella_shstore_zone(ngx_conf_t *cf, ngx_shm_zone_t **zonep,
    char *what);
ngx_http_huella_shnode_t *ngx_http_huella_shstore_lookup(
    ngx_http_huella_shstore_t *store, u_char *key);
void ngx_http_huella_shstore_insert(ngx_http_huella_shstore_t *store,
    ngx_http_huella_shnode_t *sn, u_char *key);
void ngx_http_huella_shstore_touch(ngx_http_huella_shstore_t *store,
    ngx_http_huella_shnode_t *sn);
ngx_http_huella_shnode_t *ngx_http_huella_shstore_oldest(
    ngx_http_huella_shstore_t *store);
void ngx_http_huella_shstore_free(ngx_http_huella_shstore_t *store,
    ngx_http_huella_shnode_t *sn);


#endif /* _NGX_HTTP_HUELLA_SHSTORE_H_INCLUDED_ */
