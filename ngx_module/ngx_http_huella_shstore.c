
/*
 * The keyed shared-memory store of the session zone and the nonce cache
 * (see ngx_http_huella_shstore.h): "NAME SIZE" zones of entries keyed by
 * SHA-256, an rbtree on the hash's first bytes and a queue of last use.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_shstore.h"


static ngx_int_t ngx_http_huella_shstore_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_huella_shstore_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


/* the "huella_..._zone NAME SIZE" directives; what names it in the log */

char *
ngx_http_huella_shstore_zone(ngx_conf_t *cf, ngx_shm_zone_t **zonep,
    char *what)
{
    ssize_t                     size;
    ngx_str_t                  *value;
    ngx_http_huella_shstore_t  *store;

    if (*zonep) {
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

    store = ngx_pcalloc(cf->pool, sizeof(ngx_http_huella_shstore_t));
    if (store == NULL) {
        return NGX_CONF_ERROR;
    }

    store->what = what;

    *zonep = ngx_shared_memory_add(cf, &value[1], size,
                                   &ngx_http_huella_module);
    if (*zonep == NULL) {
        return NGX_CONF_ERROR;
    }

    if ((*zonep)->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &value[1]);
        return NGX_CONF_ERROR;
    }

    (*zonep)->init = ngx_http_huella_shstore_init;
    (*zonep)->data = store;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_huella_shstore_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_huella_shstore_t  *ostore = data;

    size_t                      len;
    ngx_http_huella_shstore_t  *store;

    store = shm_zone->data;

    if (ostore) {
        store->sh = ostore->sh;
        store->shpool = ostore->shpool;
        return NGX_OK;
    }

    store->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        store->sh = store->shpool->data;
        return NGX_OK;
    }

    store->sh = ngx_slab_alloc(store->shpool,
                               sizeof(ngx_http_huella_shstore_sh_t));
    if (store->sh == NULL) {
        return NGX_ERROR;
    }

    store->shpool->data = store->sh;

    ngx_rbtree_init(&store->sh->rbtree, &store->sh->sentinel,
                    ngx_http_huella_shstore_rbtree_insert);

    ngx_queue_init(&store->sh->queue);

    ngx_rbtree_init(&store->sh->accounts, &store->sh->accounts_sentinel,
                    ngx_rbtree_insert_value);

    store->sh->born = ngx_time();
    store->sh->sync_seq = 0;
    store->sh->sync_at = 0;
    store->sh->sync_started = 0;
    store->sh->sync_known = 0;

    len = sizeof(" in huella  zone \"\"") + ngx_strlen(store->what)
          + shm_zone->shm.name.len;

    store->shpool->log_ctx = ngx_slab_alloc(store->shpool, len);
    if (store->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(store->shpool->log_ctx, " in huella %s zone \"%V\"%Z",
                store->what, &shm_zone->shm.name);

    store->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_huella_shstore_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_huella_shnode_t   *sn, *snt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            sn = (ngx_http_huella_shnode_t *) node;
            snt = (ngx_http_huella_shnode_t *) temp;

            p = (ngx_memcmp(sn->key, snt->key, NGX_HTTP_HUELLA_HASH_LEN) < 0)
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
ngx_http_huella_shstore_key(u_char *key)
{
    ngx_rbtree_key_t  k;

    ngx_memcpy(&k, key, sizeof(ngx_rbtree_key_t));

    return k;
}


ngx_http_huella_shnode_t *
ngx_http_huella_shstore_lookup(ngx_http_huella_shstore_t *store, u_char *key)
{
    ngx_int_t                  rc;
    ngx_rbtree_key_t           k;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_huella_shnode_t  *sn;

    k = ngx_http_huella_shstore_key(key);

    node = store->sh->rbtree.root;
    sentinel = store->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (k < node->key) {
            node = node->left;
            continue;
        }

        if (k > node->key) {
            node = node->right;
            continue;
        }

        sn = (ngx_http_huella_shnode_t *) node;

        rc = ngx_memcmp(key, sn->key, NGX_HTTP_HUELLA_HASH_LEN);

        if (rc == 0) {
            return sn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* sn: a fresh slab allocation, key not yet in the store */

void
ngx_http_huella_shstore_insert(ngx_http_huella_shstore_t *store,
    ngx_http_huella_shnode_t *sn, u_char *key)
{
    ngx_memcpy(sn->key, key, NGX_HTTP_HUELLA_HASH_LEN);
    sn->node.key = ngx_http_huella_shstore_key(key);

    ngx_rbtree_insert(&store->sh->rbtree, &sn->node);
    ngx_queue_insert_head(&store->sh->queue, &sn->queue);
}


void
ngx_http_huella_shstore_touch(ngx_http_huella_shstore_t *store,
    ngx_http_huella_shnode_t *sn)
{
    ngx_queue_remove(&sn->queue);
    ngx_queue_insert_head(&store->sh->queue, &sn->queue);
}


/* the least recently inserted or touched entry, NULL when empty */

ngx_http_huella_shnode_t *
ngx_http_huella_shstore_oldest(ngx_http_huella_shstore_t *store)
{
    ngx_queue_t  *q;

    if (ngx_queue_empty(&store->sh->queue)) {
        return NULL;
    }

    q = ngx_queue_last(&store->sh->queue);

    return ngx_queue_data(q, ngx_http_huella_shnode_t, queue);
}


void
ngx_http_huella_shstore_free(ngx_http_huella_shstore_t *store,
    ngx_http_huella_shnode_t *sn)
{
    ngx_queue_remove(&sn->queue);
    ngx_rbtree_delete(&store->sh->rbtree, &sn->node);
    ngx_slab_free_locked(store->shpool, sn);
}
