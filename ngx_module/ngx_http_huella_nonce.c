
/*
 * The nonce cache of signed captures: a shared-memory zone, common to all
 * workers ("huella_signature_nonce_zone NAME SIZE"), holding SHA-256(keyid
 * NUL nonce) of every accepted signature for twice the clock window
 * ("huella_signature_window", 300s by default): a signature is accepted
 * with created in [now - window, now + window], so a nonce recorded at t
 * can only be replayed until t + 2 x window.  Entries live in a queue in
 * the order they were recorded (their expiry times are in that order too)
 * and an rbtree.  A full zone refuses new signatures (fails closed)
 * rather than forget a nonce that is still valid.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_auth.h"
#include "ngx_http_huella_signature.h"


typedef struct {
    ngx_rbtree_node_t          node;        /* key: first hash bytes */
    ngx_queue_t                queue;       /* oldest first */
    time_t                     expires;
    u_char                     key[NGX_HTTP_HUELLA_HASH_LEN];
} ngx_http_huella_nnode_t;


typedef struct {
    ngx_rbtree_t               rbtree;
    ngx_rbtree_node_t          sentinel;
    ngx_queue_t                queue;
} ngx_http_huella_nonce_sh_t;


typedef struct {
    ngx_http_huella_nonce_sh_t *sh;
    ngx_slab_pool_t           *shpool;
} ngx_http_huella_nonce_zone_t;


static ngx_int_t ngx_http_huella_nonce_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_huella_nonce_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_huella_nnode_t *ngx_http_huella_nonce_lookup(
    ngx_http_huella_nonce_zone_t *zone, u_char *key);
static void ngx_http_huella_nonce_expire(ngx_http_huella_nonce_zone_t *zone,
    ngx_uint_t n);


char *
ngx_http_huella_nonce_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_huella_main_conf_t *hmcf = conf;

    ssize_t                        size;
    ngx_str_t                     *value;
    ngx_http_huella_nonce_zone_t  *zone;

    if (hmcf->nonce_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small or its size \"%V\" "
                           "is invalid (at least %uz)", &value[1],
                           &value[2], 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_huella_nonce_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    hmcf->nonce_zone = ngx_shared_memory_add(cf, &value[1], size,
                                             &ngx_http_huella_module);
    if (hmcf->nonce_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (hmcf->nonce_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &value[1]);
        return NGX_CONF_ERROR;
    }

    hmcf->nonce_zone->init = ngx_http_huella_nonce_init;
    hmcf->nonce_zone->data = zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_huella_nonce_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_huella_nonce_zone_t  *ozone = data;

    size_t                         len;
    ngx_http_huella_nonce_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_huella_nonce_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_huella_nonce_insert);

    ngx_queue_init(&zone->sh->queue);

    len = sizeof(" in huella nonce zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in huella nonce zone \"%V\"%Z",
                &shm_zone->shm.name);

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_huella_nonce_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t       **p;
    ngx_http_huella_nnode_t  *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = (ngx_http_huella_nnode_t *) node;
            t = (ngx_http_huella_nnode_t *) temp;

            p = (ngx_memcmp(n->key, t->key, NGX_HTTP_HUELLA_HASH_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_rbtree_key_t
ngx_http_huella_nonce_rbkey(u_char *key)
{
    ngx_rbtree_key_t  k;

    ngx_memcpy(&k, key, sizeof(ngx_rbtree_key_t));

    return k;
}


/* called with the zone locked */

static ngx_http_huella_nnode_t *
ngx_http_huella_nonce_lookup(ngx_http_huella_nonce_zone_t *zone, u_char *key)
{
    ngx_int_t                 rc;
    ngx_rbtree_key_t          k;
    ngx_rbtree_node_t        *node, *sentinel;
    ngx_http_huella_nnode_t  *n;

    k = ngx_http_huella_nonce_rbkey(key);

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (k < node->key) {
            node = node->left;
            continue;
        }

        if (k > node->key) {
            node = node->right;
            continue;
        }

        n = (ngx_http_huella_nnode_t *) node;

        rc = ngx_memcmp(key, n->key, NGX_HTTP_HUELLA_HASH_LEN);

        if (rc == 0) {
            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* frees up to n expired entries (0: all of them), oldest first */

static void
ngx_http_huella_nonce_expire(ngx_http_huella_nonce_zone_t *zone,
    ngx_uint_t n)
{
    time_t                    now;
    ngx_uint_t                i;
    ngx_queue_t              *q;
    ngx_http_huella_nnode_t  *nn;

    now = ngx_time();

    for (i = 0; n == 0 || i < n; i++) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return;
        }

        q = ngx_queue_head(&zone->sh->queue);
        nn = ngx_queue_data(q, ngx_http_huella_nnode_t, queue);

        if (now < nn->expires) {
            return;
        }

        ngx_queue_remove(&nn->queue);
        ngx_rbtree_delete(&zone->sh->rbtree, &nn->node);
        ngx_slab_free_locked(zone->shpool, nn);
    }
}


ngx_int_t
ngx_http_huella_nonce_seen(ngx_http_request_t *r, u_char *key)
{
    ngx_http_huella_nnode_t       *nn;
    ngx_http_huella_nonce_zone_t  *zone;
    ngx_http_huella_main_conf_t   *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->nonce_zone == NULL) {
        return NGX_ABORT;
    }

    zone = hmcf->nonce_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    nn = ngx_http_huella_nonce_lookup(zone, key);

    if (nn && ngx_time() >= nn->expires) {
        nn = NULL;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return nn ? NGX_DECLINED : NGX_OK;
}


ngx_int_t
ngx_http_huella_nonce_add(ngx_http_request_t *r, u_char *key)
{
    ngx_http_huella_nnode_t       *nn;
    ngx_http_huella_nonce_zone_t  *zone;
    ngx_http_huella_main_conf_t   *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->nonce_zone == NULL) {
        return NGX_ABORT;
    }

    zone = hmcf->nonce_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_huella_nonce_expire(zone, 4);

    nn = ngx_http_huella_nonce_lookup(zone, key);

    if (nn) {
        if (ngx_time() < nn->expires) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_DECLINED;
        }

        /* expired, still queued: record it again */

        ngx_queue_remove(&nn->queue);
        ngx_rbtree_delete(&zone->sh->rbtree, &nn->node);
        ngx_slab_free_locked(zone->shpool, nn);
    }

    nn = ngx_slab_alloc_locked(zone->shpool, sizeof(ngx_http_huella_nnode_t));

    if (nn == NULL) {
        ngx_http_huella_nonce_expire(zone, 0);

        nn = ngx_slab_alloc_locked(zone->shpool,
                                   sizeof(ngx_http_huella_nnode_t));
        if (nn == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);

            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "huella: nonce zone \"%V\" is full, signed "
                          "requests are refused until nonces expire",
                          &hmcf->nonce_zone->shm.name);
            return NGX_BUSY;
        }
    }

    ngx_memcpy(nn->key, key, NGX_HTTP_HUELLA_HASH_LEN);
    nn->node.key = ngx_http_huella_nonce_rbkey(key);
    nn->expires = ngx_time() + 2 * hmcf->signature_window;

    ngx_rbtree_insert(&zone->sh->rbtree, &nn->node);
    ngx_queue_insert_tail(&zone->sh->queue, &nn->queue);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}
