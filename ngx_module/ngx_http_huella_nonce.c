
/*
 * The nonce cache of signed captures: a shared-memory zone, common to all
 * workers ("huella_signature_nonce_zone NAME SIZE"), holding SHA-256(keyid
 * NUL nonce) of every accepted signature for twice the clock window
 * ("huella_signature_window", 300s by default): a signature is accepted
 * with created in [now - window, now + window], so a nonce recorded at t
 * can only be replayed until t + 2 x window.  Entries live in a queue in
 * the order they were recorded (their expiry times are in that order too)
 * and an rbtree (ngx_http_huella_shstore.c).  A full zone refuses new
 * signatures (fails closed) rather than forget a nonce that is still valid.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_auth.h"
#include "ngx_http_huella_signature.h"
#include "ngx_http_huella_shstore.h"


typedef struct {
    ngx_http_huella_shnode_t   sh;
    time_t                     expires;
} ngx_http_huella_nnode_t;


static void ngx_http_huella_nonce_expire(ngx_http_huella_shstore_t *store,
    ngx_uint_t n);


char *
ngx_http_huella_nonce_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_huella_main_conf_t *hmcf = conf;

    return ngx_http_huella_shstore_zone(cf, &hmcf->nonce_zone, "nonce");
}


/* frees up to n expired entries (0: all of them), oldest first */

static void
ngx_http_huella_nonce_expire(ngx_http_huella_shstore_t *store, ngx_uint_t n)
{
    time_t                    now;
    ngx_uint_t                i;
    ngx_http_huella_nnode_t  *nn;

    now = ngx_time();

    for (i = 0; n == 0 || i < n; i++) {

        nn = (ngx_http_huella_nnode_t *) ngx_http_huella_shstore_oldest(store);

        if (nn == NULL || now < nn->expires) {
            return;
        }

        ngx_http_huella_shstore_free(store, &nn->sh);
    }
}


ngx_int_t
ngx_http_huella_nonce_seen(ngx_http_request_t *r, u_char *key)
{
    ngx_http_huella_nnode_t      *nn;
    ngx_http_huella_shstore_t    *store;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->nonce_zone == NULL) {
        return NGX_ABORT;
    }

    store = hmcf->nonce_zone->data;

    ngx_shmtx_lock(&store->shpool->mutex);

    nn = (ngx_http_huella_nnode_t *) ngx_http_huella_shstore_lookup(store,
                                                                    key);

    if (nn && ngx_time() >= nn->expires) {
        nn = NULL;
    }

    ngx_shmtx_unlock(&store->shpool->mutex);

    return nn ? NGX_DECLINED : NGX_OK;
}


ngx_int_t
ngx_http_huella_nonce_add(ngx_http_request_t *r, u_char *key)
{
    ngx_http_huella_nnode_t      *nn;
    ngx_http_huella_shstore_t    *store;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->nonce_zone == NULL) {
        return NGX_ABORT;
    }

    store = hmcf->nonce_zone->data;

    ngx_shmtx_lock(&store->shpool->mutex);

    ngx_http_huella_nonce_expire(store, 4);

    nn = (ngx_http_huella_nnode_t *) ngx_http_huella_shstore_lookup(store,
                                                                    key);

    if (nn) {
        if (ngx_time() < nn->expires) {
            ngx_shmtx_unlock(&store->shpool->mutex);
            return NGX_DECLINED;
        }

        /* expired, still queued: record it again */

        ngx_http_huella_shstore_free(store, &nn->sh);
    }

    nn = ngx_slab_alloc_locked(store->shpool, sizeof(ngx_http_huella_nnode_t));

    if (nn == NULL) {
        ngx_http_huella_nonce_expire(store, 0);

        nn = ngx_slab_alloc_locked(store->shpool,
                                   sizeof(ngx_http_huella_nnode_t));
        if (nn == NULL) {
            ngx_shmtx_unlock(&store->shpool->mutex);

            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "huella: nonce zone \"%V\" is full, signed "
                          "requests are refused until nonces expire",
                          &hmcf->nonce_zone->shm.name);
            return NGX_BUSY;
        }
    }

    nn->expires = ngx_time() + 2 * hmcf->signature_window;

    ngx_http_huella_shstore_insert(store, &nn->sh, key);

    ngx_shmtx_unlock(&store->shpool->mutex);

    return NGX_OK;
}


time_t
ngx_http_huella_nonce_since(ngx_http_request_t *r)
{
    ngx_http_huella_shstore_t    *store;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->nonce_zone == NULL) {
        return 0;
    }

    store = hmcf->nonce_zone->data;

    return store->sh->born;
}
