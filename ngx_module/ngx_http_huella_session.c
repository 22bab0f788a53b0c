
/*
 * The session zone: server-side sessions and the bearer token cache in one
 * nginx shared-memory zone ("huella_session_zone NAME SIZE"), so that every
 * worker sees a login, a logout or a revoked token at once.
 *
 * Entries live in a red-black tree keyed by SHA-256 of their secret (the
 * 32 random bytes of a session id, or a bearer token): the zone never holds
 * a secret that could be replayed.  A queue keeps them in order of last
 * use (ngx_http_huella_shstore.c); expired entries are reaped from its
 * tail, and when the zone is full the least recently used go first (as
 * ngx_http_limit_req_module does).
 *
 * A session ends after "huella_session_idle" without use or
 * "huella_session_absolute" after login, whichever comes first.  A cached
 * token answer lives for a few seconds and is dropped at once when the
 * token is revoked through this nginx.
 *
 * A credential change ends sessions only once huellad has committed it, so
 * the sessions it may end are suspended before the call goes out (refused
 * like ended ones): a definite answer lifts or ends them, an answer that
 * never comes (deadline, link lost, worker killed) leaves them ended.  Each
 * request counts its own suspensions and lifts only those.  A session also
 * remembers when it last proved the account's credential ("proven"), so
 * that a login can end the ones opened before huellad's last password
 * change (a recovery whose answer was lost).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/random.h>
#include <openssl/sha.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_auth.h"
#include "ngx_http_huella_shstore.h"


#define NGX_HTTP_HUELLA_KIND_SESSION  1
#define NGX_HTTP_HUELLA_KIND_TOKEN    2

#define NGX_HTTP_HUELLA_FIELD_MAX     1024


typedef struct {
    ngx_http_huella_shnode_t   sh;            /* most recent use first */
    ngx_rbtree_node_t          account;       /* a session with a CURP: in
                                                 sh->accounts, key its
                                                 CRC32 */
    ngx_uint_t                 kind;
    time_t                     created;
    time_t                     last_seen;
    time_t                     expires;       /* absolute end */
    uint64_t                   proven;        /* unix ms, see above */
    uint64_t                   born;          /* unix ms it was made */
    ngx_uint_t                 suspended;     /* requests holding it */
    ngx_uint_t                 proving;       /* its own password changes
                                                 under way */
    uint64_t                   owed;          /* latest password change
                                                 skipped meanwhile, unix ms */
    ngx_uint_t                 roles;
    u_short                    len[NGX_HTTP_HUELLA_ID_FIELDS];
    u_char                     data[1];
} ngx_http_huella_snode_t;


static ngx_http_huella_snode_t *ngx_http_huella_lookup(
    ngx_http_huella_shstore_t *store, u_char *key);
static ngx_uint_t ngx_http_huella_indexed(ngx_http_huella_snode_t *sn);
static ngx_uint_t ngx_http_huella_purge_one(ngx_http_huella_shstore_t *zone,
    ngx_http_huella_snode_t *sn, ngx_uint_t kind, ngx_uint_t field,
    ngx_str_t *value, u_char *keep, uint64_t proven_before,
    uint64_t born_before);
static ngx_http_huella_snode_t *ngx_http_huella_account_first(
    ngx_http_huella_shstore_t *zone, ngx_str_t *curp);
static ngx_http_huella_snode_t *ngx_http_huella_account_next(
    ngx_http_huella_shstore_t *zone, ngx_http_huella_snode_t *sn);
static void ngx_http_huella_expire(ngx_http_huella_shstore_t *store,
    ngx_uint_t n, time_t idle);
static void ngx_http_huella_free(ngx_http_huella_shstore_t *store,
    ngx_http_huella_snode_t *sn);
static ngx_int_t ngx_http_huella_store(ngx_http_request_t *r,
    ngx_uint_t kind, u_char *key, ngx_http_huella_identity_t *id,
    time_t expires);
static ngx_int_t ngx_http_huella_load(ngx_http_request_t *r,
    ngx_http_huella_snode_t *sn, ngx_http_huella_identity_t *id);
static ngx_int_t ngx_http_huella_cookie_key(ngx_str_t *cookie, u_char *key);
static ngx_uint_t ngx_http_huella_field_is(ngx_http_huella_snode_t *sn,
    ngx_uint_t field, ngx_str_t *value);
static void ngx_http_huella_suspension_cleanup(void *data);
static ngx_uint_t ngx_http_huella_purge_locked(
    ngx_http_huella_shstore_t *zone, ngx_uint_t kind, ngx_uint_t field,
    ngx_str_t *value, u_char *keep, uint64_t proven_before,
    uint64_t born_before);


struct ngx_http_huella_suspension_s {
    ngx_http_huella_shstore_t  *zone;
    ngx_array_t                 keys;         /* of session keys */
    ngx_log_t                  *log;
    u_char                      prover[NGX_HTTP_HUELLA_HASH_LEN];
    unsigned                    held:1;       /* neither lifted nor ended */
    unsigned                    proving:1;    /* prover: the session whose
                                                 own change this is */
    unsigned                    answered:1;   /* huellad said it committed */
};


char *
ngx_http_huella_session_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_huella_main_conf_t *hmcf = conf;

    return ngx_http_huella_shstore_zone(cf, &hmcf->session_zone, "session");
}


/* called with the zone locked */

static ngx_http_huella_snode_t *
ngx_http_huella_lookup(ngx_http_huella_shstore_t *store, u_char *key)
{
    return (ngx_http_huella_snode_t *) ngx_http_huella_shstore_lookup(store,
                                                                      key);
}


/*
 * Reaps up to n expired entries from the tail; n == 0 frees the least
 * recently used one or two whatever their age (the zone is full).
 */

static void
ngx_http_huella_expire(ngx_http_huella_shstore_t *store, ngx_uint_t n,
    time_t idle)
{
    time_t                    now;
    ngx_uint_t                i, force;
    ngx_http_huella_snode_t  *sn;

    now = ngx_time();
    force = (n == 0);

    for (i = 0; i < (force ? 2 : n); i++) {

        sn = (ngx_http_huella_snode_t *) ngx_http_huella_shstore_oldest(store);

        if (sn == NULL) {
            return;
        }

        if (!force && now < sn->expires && now - sn->last_seen < idle) {
            return;
        }

        ngx_http_huella_free(store, sn);
    }
}


static void
ngx_http_huella_free(ngx_http_huella_shstore_t *store,
    ngx_http_huella_snode_t *sn)
{
    if (ngx_http_huella_indexed(sn)) {
        ngx_rbtree_delete(&store->sh->accounts, &sn->account);
    }

    ngx_http_huella_shstore_free(store, &sn->sh);
}


/* a session with a CURP: in the zone's account index */

static ngx_uint_t
ngx_http_huella_indexed(ngx_http_huella_snode_t *sn)
{
    return sn->kind == NGX_HTTP_HUELLA_KIND_SESSION
           && sn->len[NGX_HTTP_HUELLA_ID_CURP] != 0;
}


/*
 * called with the zone locked: the first of the sessions whose CURP hashes
 * like curp's, in the account index (equal keys lie next to each other in
 * order); NULL: none.  A hash can be shared: callers compare the CURP.
 */

static ngx_http_huella_snode_t *
ngx_http_huella_account_first(ngx_http_huella_shstore_t *zone,
    ngx_str_t *curp)
{
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel, *first;

    key = ngx_crc32_short(curp->data, curp->len);

    node = zone->sh->accounts.root;
    sentinel = zone->sh->accounts.sentinel;
    first = NULL;

    while (node != sentinel) {

        if (key <= node->key) {
            if (key == node->key) {
                first = node;
            }

            node = node->left;

        } else {
            node = node->right;
        }
    }

    if (first == NULL) {
        return NULL;
    }

    return (ngx_http_huella_snode_t *)
               ((u_char *) first - offsetof(ngx_http_huella_snode_t,
                                            account));
}


/* the session after sn in the account index with sn's key; NULL: none */

static ngx_http_huella_snode_t *
ngx_http_huella_account_next(ngx_http_huella_shstore_t *zone,
    ngx_http_huella_snode_t *sn)
{
    ngx_rbtree_node_t  *next;

    next = ngx_rbtree_next(&zone->sh->accounts, &sn->account);

    if (next == NULL || next->key != sn->account.key) {
        return NULL;
    }

    return (ngx_http_huella_snode_t *)
               ((u_char *) next - offsetof(ngx_http_huella_snode_t,
                                           account));
}


static ngx_int_t
ngx_http_huella_store(ngx_http_request_t *r, ngx_uint_t kind, u_char *key,
    ngx_http_huella_identity_t *id, time_t expires)
{
    u_char                       *p;
    size_t                        size;
    ngx_uint_t                    i;
    ngx_http_huella_shstore_t    *zone;
    ngx_http_huella_snode_t      *sn;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->session_zone == NULL) {
        return NGX_DECLINED;
    }

    zone = hmcf->session_zone->data;

    size = offsetof(ngx_http_huella_snode_t, data);

    for (i = 0; i < NGX_HTTP_HUELLA_ID_FIELDS; i++) {
        if (id->f[i].len > NGX_HTTP_HUELLA_FIELD_MAX) {
            return NGX_ERROR;
        }

        size += id->f[i].len;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_huella_expire(zone, 2, hmcf->session_idle);

    sn = ngx_http_huella_lookup(zone, key);

    if (sn) {
        ngx_http_huella_free(zone, sn);
    }

    sn = ngx_slab_alloc_locked(zone->shpool, size);

    if (sn == NULL) {
        ngx_http_huella_expire(zone, 0, hmcf->session_idle);

        sn = ngx_slab_alloc_locked(zone->shpool, size);

        if (sn == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);

            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "huella: session zone \"%V\" is full",
                          &hmcf->session_zone->shm.name);
            return NGX_ERROR;
        }
    }

    sn->kind = kind;
    sn->created = ngx_time();
    sn->last_seen = sn->created;
    sn->expires = expires;
    sn->born = ngx_http_huella_now_ms();

    /*
     * Times are whole milliseconds, and a change is taken to follow
     * whatever happened in its millisecond (fail closed): a session
     * checked against a password set at password_changed proved it after.
     */

    sn->proven = id->password_changed
                 ? ngx_max(sn->born, id->password_changed + 1) : sn->born;
    sn->suspended = 0;
    sn->proving = 0;
    sn->owed = 0;
    sn->roles = id->roles;

    p = sn->data;

    for (i = 0; i < NGX_HTTP_HUELLA_ID_FIELDS; i++) {
        sn->len[i] = (u_short) id->f[i].len;

        if (id->f[i].len) {
            p = ngx_cpymem(p, id->f[i].data, id->f[i].len);
        }
    }

    ngx_http_huella_shstore_insert(zone, &sn->sh, key);

    if (ngx_http_huella_indexed(sn)) {
        sn->account.key = ngx_crc32_short(sn->data,
                                          sn->len[NGX_HTTP_HUELLA_ID_CURP]);
        ngx_rbtree_insert(&zone->sh->accounts, &sn->account);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    id->created = sn->created;
    id->expires = expires;

    return NGX_OK;
}


/* called with the zone locked: copies the entry into the request's pool */

static ngx_int_t
ngx_http_huella_load(ngx_http_request_t *r, ngx_http_huella_snode_t *sn,
    ngx_http_huella_identity_t *id)
{
    u_char      *p, *q;
    size_t       size;
    ngx_uint_t   i;

    size = 0;

    for (i = 0; i < NGX_HTTP_HUELLA_ID_FIELDS; i++) {
        size += sn->len[i];
    }

    q = ngx_pnalloc(r->pool, size + 1);
    if (q == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(q, sn->data, size);

    p = q;

    for (i = 0; i < NGX_HTTP_HUELLA_ID_FIELDS; i++) {
        id->f[i].data = p;
        id->f[i].len = sn->len[i];
        p += sn->len[i];
    }

    id->roles = sn->roles;
    id->created = sn->created;
    id->expires = sn->expires;
    ngx_memcpy(id->key, sn->sh.key, NGX_HTTP_HUELLA_HASH_LEN);

    return NGX_OK;
}


ngx_int_t
ngx_http_huella_session_create(ngx_http_request_t *r,
    ngx_http_huella_identity_t *id, ngx_str_t *cookie)
{
    u_char                        secret[NGX_HTTP_HUELLA_SECRET_LEN];
    u_char                        csrf[NGX_HTTP_HUELLA_SECRET_LEN];
    ngx_int_t                     rc;
    ngx_str_t                     src;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->session_zone == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "huella: a login needs \"huella_session_zone\"");
        return NGX_ERROR;
    }

    if (ngx_http_huella_random(secret, sizeof(secret), r->connection->log)
        != NGX_OK
        || ngx_http_huella_random(csrf, sizeof(csrf), r->connection->log)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    cookie->data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(
                                            NGX_HTTP_HUELLA_SECRET_LEN));
    id->f[NGX_HTTP_HUELLA_ID_CSRF].data = ngx_pnalloc(r->pool,
                                            ngx_base64_encoded_length(
                                            NGX_HTTP_HUELLA_SECRET_LEN));

    if (cookie->data == NULL || id->f[NGX_HTTP_HUELLA_ID_CSRF].data == NULL) {
        return NGX_ERROR;
    }

    src.data = secret;
    src.len = sizeof(secret);
    ngx_encode_base64url(cookie, &src);

    src.data = csrf;
    src.len = sizeof(csrf);
    ngx_encode_base64url(&id->f[NGX_HTTP_HUELLA_ID_CSRF], &src);

    ngx_http_huella_sha256(secret, sizeof(secret), id->key);
    ngx_explicit_memzero(secret, sizeof(secret));

    id->session = 1;

    rc = ngx_http_huella_store(r, NGX_HTTP_HUELLA_KIND_SESSION, id->key, id,
                               ngx_time() + hmcf->session_absolute);

    return (rc == NGX_OK) ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_huella_cookie_key(ngx_str_t *cookie, u_char *key)
{
    u_char     secret[NGX_HTTP_HUELLA_SECRET_LEN + 3];
    ngx_str_t  dst;

    if (cookie->len != NGX_HTTP_HUELLA_SECRET_B64) {
        return NGX_DECLINED;
    }

    dst.data = secret;

    if (ngx_decode_base64url(&dst, cookie) != NGX_OK
        || dst.len != NGX_HTTP_HUELLA_SECRET_LEN)
    {
        return NGX_DECLINED;
    }

    ngx_http_huella_sha256(secret, NGX_HTTP_HUELLA_SECRET_LEN, key);
    ngx_explicit_memzero(secret, sizeof(secret));

    return NGX_OK;
}


/* NGX_OK with the identity, NGX_DECLINED when absent or expired */

ngx_int_t
ngx_http_huella_session_find(ngx_http_request_t *r, ngx_str_t *cookie,
    ngx_http_huella_identity_t *id)
{
    time_t                        now;
    ngx_int_t                     rc;
    u_char                        key[NGX_HTTP_HUELLA_HASH_LEN];
    ngx_http_huella_shstore_t    *zone;
    ngx_http_huella_snode_t      *sn;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->session_zone == NULL
        || ngx_http_huella_cookie_key(cookie, key) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    zone = hmcf->session_zone->data;
    now = ngx_time();

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_huella_lookup(zone, key);

    if (sn == NULL || sn->kind != NGX_HTTP_HUELLA_KIND_SESSION) {
        rc = NGX_DECLINED;
        goto done;
    }

    if (now >= sn->expires || now - sn->last_seen >= hmcf->session_idle) {
        ngx_http_huella_free(zone, sn);
        rc = NGX_DECLINED;
        goto done;
    }

    if (sn->suspended) {

        /* a credential change that may end it is under way */

        rc = NGX_DECLINED;
        goto done;
    }

    sn->last_seen = now;
    ngx_http_huella_shstore_touch(zone, &sn->sh);

    rc = ngx_http_huella_load(r, sn, id);
    id->session = 1;

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


void
ngx_http_huella_session_delete(ngx_http_request_t *r, u_char *key)
{
    ngx_http_huella_shstore_t    *zone;
    ngx_http_huella_snode_t      *sn;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->session_zone == NULL) {
        return;
    }

    zone = hmcf->session_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_huella_lookup(zone, key);

    if (sn) {
        ngx_http_huella_free(zone, sn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * drops every entry of a kind whose field equals value and that last proved
 * its credential at or before proven_before (NGX_HTTP_HUELLA_ANY_TIME:
 * whenever), but keep if given
 */

static ngx_uint_t
ngx_http_huella_purge(ngx_http_request_t *r, ngx_uint_t kind,
    ngx_uint_t field, ngx_str_t *value, u_char *keep, uint64_t proven_before)
{
    ngx_uint_t                    n;
    ngx_http_huella_shstore_t    *zone;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->session_zone == NULL || value->len == 0) {
        return 0;
    }

    zone = hmcf->session_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    n = ngx_http_huella_purge_locked(zone, kind, field, value, keep,
                                     proven_before, NGX_HTTP_HUELLA_ANY_TIME);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}


/*
 * called with the zone locked: ngx_http_huella_purge() for a value (NULL:
 * every entry of the kind), also bounded by when the entry was made.  A
 * session proving a new password of its own is not ended for an older
 * one: the change is noted (owed), and settled when its own ends.  An
 * account's sessions are found through the account index; anything else
 * visits the whole zone.
 */

static ngx_uint_t
ngx_http_huella_purge_locked(ngx_http_huella_shstore_t *zone,
    ngx_uint_t kind, ngx_uint_t field, ngx_str_t *value, u_char *keep,
    uint64_t proven_before, uint64_t born_before)
{
    ngx_uint_t                n;
    ngx_queue_t              *q;
    ngx_http_huella_snode_t  *sn, *next;

    n = 0;

    if (value && kind == NGX_HTTP_HUELLA_KIND_SESSION
        && field == NGX_HTTP_HUELLA_ID_CURP)
    {
        for (sn = ngx_http_huella_account_first(zone, value);
             sn;
             sn = next)
        {
            next = ngx_http_huella_account_next(zone, sn);

            n += ngx_http_huella_purge_one(zone, sn, kind, field, value,
                                           keep, proven_before,
                                           born_before);
        }

        return n;
    }

    q = ngx_queue_head(&zone->sh->queue);

    while (q != ngx_queue_sentinel(&zone->sh->queue)) {
        sn = ngx_queue_data(q, ngx_http_huella_snode_t, sh.queue);
        q = ngx_queue_next(q);

        n += ngx_http_huella_purge_one(zone, sn, kind, field, value, keep,
                                       proven_before, born_before);
    }

    return n;
}


/* called with the zone locked: one entry of ngx_http_huella_purge_locked();
 * 1 if it was ended */

static ngx_uint_t
ngx_http_huella_purge_one(ngx_http_huella_shstore_t *zone,
    ngx_http_huella_snode_t *sn, ngx_uint_t kind, ngx_uint_t field,
    ngx_str_t *value, u_char *keep, uint64_t proven_before,
    uint64_t born_before)
{
    if (sn->kind != kind
        || sn->proven > proven_before
        || sn->born > born_before
        || (keep && ngx_memcmp(sn->sh.key, keep,
                               NGX_HTTP_HUELLA_HASH_LEN) == 0))
    {
        return 0;
    }

    if (value && !ngx_http_huella_field_is(sn, field, value)) {
        return 0;
    }

    if (sn->proving && proven_before != NGX_HTTP_HUELLA_ANY_TIME) {
        sn->owed = ngx_max(sn->owed, proven_before);
        return 0;
    }

    ngx_http_huella_free(zone, sn);

    return 1;
}


/*
 * The follower (ngx_http_huella_sync.c): ends the sessions of a CURP (NULL:
 * of everyone) that last proved the credential at or before proven_before
 * and were made at or before born_before (unix ms;
 * NGX_HTTP_HUELLA_ANY_TIME: any).
 */

ngx_uint_t
ngx_http_huella_session_end(ngx_shm_zone_t *shm, ngx_str_t *curp,
    uint64_t proven_before, uint64_t born_before)
{
    ngx_uint_t                  n;
    ngx_http_huella_shstore_t  *zone;

    zone = shm->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    n = ngx_http_huella_purge_locked(zone, NGX_HTTP_HUELLA_KIND_SESSION,
                                     NGX_HTTP_HUELLA_ID_CURP, curp, NULL,
                                     proven_before, born_before);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}


/* orders ngx_http_huella_outdated_t by CURP (bytes, then length) */

int
ngx_http_huella_outdated_cmp(const void *a, const void *b)
{
    int                                rc;
    const ngx_http_huella_outdated_t  *x, *y;

    x = a;
    y = b;

    rc = ngx_memcmp(x->curp.data, y->curp.data,
                    ngx_min(x->curp.len, y->curp.len));

    if (rc != 0) {
        return rc;
    }

    return (x->curp.len > y->curp.len) - (x->curp.len < y->curp.len);
}


/*
 * The follower's batch: under one hold of the zone's lock, ends the
 * sessions that the entries of list (one per CURP) outdate: made at or
 * before roles_at, or that last proved the credential at or before
 * password_at (a session proving a new password of its own notes the
 * change instead, see ngx_http_huella_purge_locked()).
 */

ngx_uint_t
ngx_http_huella_session_end_outdated(ngx_shm_zone_t *shm,
    ngx_http_huella_outdated_t *list, ngx_uint_t n)
{
    ngx_uint_t                   i, ended;
    ngx_http_huella_shstore_t   *zone;
    ngx_http_huella_snode_t     *sn, *next;
    ngx_http_huella_outdated_t  *o;

    zone = shm->data;
    ended = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < n; i++) {
        o = &list[i];

        for (sn = ngx_http_huella_account_first(zone, &o->curp);
             sn;
             sn = next)
        {
            next = ngx_http_huella_account_next(zone, sn);

            if (!ngx_http_huella_field_is(sn, NGX_HTTP_HUELLA_ID_CURP,
                                          &o->curp))
            {
                continue;
            }

            if (o->roles_at && sn->born <= o->roles_at) {
                ngx_http_huella_free(zone, sn);
                ended++;
                continue;
            }

            if (o->password_at && sn->proven <= o->password_at) {

                if (sn->proving) {
                    sn->owed = ngx_max(sn->owed, o->password_at);
                    continue;
                }

                ngx_http_huella_free(zone, sn);
                ended++;
            }
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return ended;
}


/* ends the sessions of a CURP in every worker, but keep (a key) if given */

ngx_uint_t
ngx_http_huella_session_purge_curp(ngx_http_request_t *r, ngx_str_t *curp,
    u_char *keep)
{
    return ngx_http_huella_purge(r, NGX_HTTP_HUELLA_KIND_SESSION,
                                 NGX_HTTP_HUELLA_ID_CURP, curp, keep,
                                 NGX_HTTP_HUELLA_ANY_TIME);
}


/* called with the zone locked: the entry's field equals value */

static ngx_uint_t
ngx_http_huella_field_is(ngx_http_huella_snode_t *sn, ngx_uint_t field,
    ngx_str_t *value)
{
    u_char      *p;
    ngx_uint_t   i;

    if (sn->len[field] != value->len) {
        return 0;
    }

    p = sn->data;

    for (i = 0; i < field; i++) {
        p += sn->len[i];
    }

    return ngx_memcmp(p, value->data, value->len) == 0;
}


uint64_t
ngx_http_huella_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * Suspends the sessions of a CURP but keep (a key) if given, until
 * ngx_http_huella_session_release(): NULL without a session zone, or when
 * out of memory (*failed set).  The keys are the request's: another
 * request's suspensions are never lifted with them.  Should the request
 * be freed first (a client gone while huellad works), the sessions end.
 */

ngx_http_huella_suspension_t *
ngx_http_huella_session_suspend(ngx_http_request_t *r, ngx_str_t *curp,
    u_char *keep, ngx_uint_t *failed)
{
    u_char                        *k;
    ngx_pool_cleanup_t            *cln;
    ngx_http_huella_shstore_t     *zone;
    ngx_http_huella_snode_t       *sn, *next;
    ngx_http_huella_suspension_t  *sp;
    ngx_http_huella_main_conf_t   *hmcf;

    *failed = 0;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->session_zone == NULL || curp->len == 0) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_huella_suspension_t));
    if (cln == NULL) {
        *failed = 1;
        return NULL;
    }

    sp = cln->data;

    if (ngx_array_init(&sp->keys, r->pool, 4, NGX_HTTP_HUELLA_HASH_LEN)
        != NGX_OK)
    {
        *failed = 1;
        return NULL;
    }

    zone = hmcf->session_zone->data;

    sp->zone = zone;
    sp->log = r->connection->log;
    sp->held = 1;
    sp->proving = 0;
    sp->answered = 0;

    cln->handler = ngx_http_huella_suspension_cleanup;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (sn = ngx_http_huella_account_first(zone, curp); sn; sn = next) {
        next = ngx_http_huella_account_next(zone, sn);

        if (!ngx_http_huella_field_is(sn, NGX_HTTP_HUELLA_ID_CURP, curp)) {
            continue;
        }

        if (keep && ngx_memcmp(sn->sh.key, keep, NGX_HTTP_HUELLA_HASH_LEN)
                    == 0)
        {
            /* the session changing its own password: not ended by the
             * feed before the answer proves it anew */

            ngx_memcpy(sp->prover, keep, NGX_HTTP_HUELLA_HASH_LEN);
            sp->proving = 1;
            sn->proving++;
            continue;
        }

        k = ngx_array_push(&sp->keys);

        if (k == NULL) {

            /* a suspension that could not be lifted: ended at once */

            ngx_http_huella_free(zone, sn);
            continue;
        }

        ngx_memcpy(k, sn->sh.key, NGX_HTTP_HUELLA_HASH_LEN);
        sn->suspended++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "huella: %ui sessions of \"%V\" suspended",
                   sp->keys.nelts, curp);

    return sp;
}


/*
 * The outcome is known: lift the request's suspensions (huellad refused
 * the change, or it was never sent) or end those sessions (it committed,
 * or nobody can tell).  Returns how many sessions it ended.
 */

ngx_uint_t
ngx_http_huella_session_release(ngx_http_huella_suspension_t *sp,
    ngx_uint_t end)
{
    u_char                   *k;
    ngx_uint_t                i, n;
    ngx_http_huella_snode_t  *sn;

    if (sp == NULL || !sp->held) {
        return 0;
    }

    sp->held = 0;
    n = 0;
    k = sp->keys.elts;

    ngx_shmtx_lock(&sp->zone->shpool->mutex);

    if (sp->proving) {
        sn = ngx_http_huella_lookup(sp->zone, sp->prover);

        if (sn && sn->kind == NGX_HTTP_HUELLA_KIND_SESSION && sn->proving) {
            sn->proving--;

            /* a password change it did not prove went by meanwhile */

            if (sn->owed >= sn->proven && !sp->answered) {
                ngx_http_huella_free(sp->zone, sn);
            }
        }
    }

    for (i = 0; i < sp->keys.nelts; i++, k += NGX_HTTP_HUELLA_HASH_LEN) {

        sn = ngx_http_huella_lookup(sp->zone, k);

        /* gone already: expired, evicted, logged out or purged */

        if (sn == NULL || sn->kind != NGX_HTTP_HUELLA_KIND_SESSION
            || sn->suspended == 0)
        {
            continue;
        }

        if (end) {
            ngx_http_huella_free(sp->zone, sn);
            n++;

        } else {
            sn->suspended--;
        }
    }

    ngx_shmtx_unlock(&sp->zone->shpool->mutex);

    return n;
}


static void
ngx_http_huella_suspension_cleanup(void *data)
{
    ngx_uint_t                     n;
    ngx_http_huella_suspension_t  *sp;

    sp = data;

    if (!sp->held) {
        return;
    }

    n = ngx_http_huella_session_release(sp, 1);

    if (n) {
        ngx_log_error(NGX_LOG_WARN, sp->log, 0,
                      "huella: %ui suspended sessions ended: the request "
                      "went away before the matcher answered", n);
    }
}


/*
 * Ends the sessions of a CURP that last proved the account's credential
 * at or before proven_before (unix ms): opened before huellad's last
 * password change (a change follows whatever shared its millisecond).
 */

ngx_uint_t
ngx_http_huella_session_purge_before(ngx_http_request_t *r, ngx_str_t *curp,
    uint64_t proven_before)
{
    return ngx_http_huella_purge(r, NGX_HTTP_HUELLA_KIND_SESSION,
                                 NGX_HTTP_HUELLA_ID_CURP, curp, NULL,
                                 proven_before);
}


/* huellad answered the change the suspension was placed for */

void
ngx_http_huella_session_answered(ngx_http_huella_suspension_t *sp)
{
    if (sp) {
        sp->answered = 1;
    }
}


/*
 * the session of key has just proved the account's credential again, with
 * the password huellad stamped changed_at (unix ms, 0: not said): unless a
 * later change went by meanwhile, which ends it
 */

void
ngx_http_huella_session_proven(ngx_http_request_t *r, u_char *key,
    uint64_t changed_at)
{
    ngx_http_huella_shstore_t    *zone;
    ngx_http_huella_snode_t      *sn;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->session_zone == NULL) {
        return;
    }

    zone = hmcf->session_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_huella_lookup(zone, key);

    if (sn && sn->kind == NGX_HTTP_HUELLA_KIND_SESSION) {

        if (sn->owed > changed_at) {
            ngx_http_huella_free(zone, sn);

        } else {
            sn->proven = ngx_max(ngx_http_huella_now_ms(), changed_at + 1);

            if (sn->proving == 0) {
                sn->owed = 0;
            }
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


ngx_int_t
ngx_http_huella_token_cache_find(ngx_http_request_t *r, ngx_str_t *token,
    ngx_http_huella_identity_t *id)
{
    ngx_int_t                     rc;
    u_char                        key[NGX_HTTP_HUELLA_HASH_LEN];
    ngx_http_huella_shstore_t    *zone;
    ngx_http_huella_snode_t      *sn;
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->session_zone == NULL || hmcf->token_cache_ttl == 0) {
        return NGX_DECLINED;
    }

    ngx_http_huella_sha256(token->data, token->len, key);

    zone = hmcf->session_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    sn = ngx_http_huella_lookup(zone, key);

    if (sn == NULL || sn->kind != NGX_HTTP_HUELLA_KIND_TOKEN) {
        rc = NGX_DECLINED;

    } else if (ngx_time() >= sn->expires) {
        ngx_http_huella_free(zone, sn);
        rc = NGX_DECLINED;

    } else {
        rc = ngx_http_huella_load(r, sn, id);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


void
ngx_http_huella_token_cache_store(ngx_http_request_t *r, ngx_str_t *token,
    ngx_http_huella_identity_t *id)
{
    u_char                        key[NGX_HTTP_HUELLA_HASH_LEN];
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    if (hmcf->token_cache_ttl == 0) {
        return;
    }

    ngx_http_huella_sha256(token->data, token->len, key);

    (void) ngx_http_huella_store(r, NGX_HTTP_HUELLA_KIND_TOKEN, key, id,
                                 ngx_time() + hmcf->token_cache_ttl);
}


/* the follower: a token revoked through another nginx leaves the cache */

ngx_uint_t
ngx_http_huella_token_cache_end(ngx_shm_zone_t *shm, ngx_str_t *token_id)
{
    ngx_uint_t                  n;
    ngx_http_huella_shstore_t  *zone;

    zone = shm->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    n = ngx_http_huella_purge_locked(zone, NGX_HTTP_HUELLA_KIND_TOKEN,
                                     NGX_HTTP_HUELLA_ID_TOKEN_ID, token_id,
                                     NULL, NGX_HTTP_HUELLA_ANY_TIME,
                                     NGX_HTTP_HUELLA_ANY_TIME);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}


ngx_uint_t
ngx_http_huella_token_cache_purge(ngx_http_request_t *r,
    ngx_str_t *token_id)
{
    return ngx_http_huella_purge(r, NGX_HTTP_HUELLA_KIND_TOKEN,
                                 NGX_HTTP_HUELLA_ID_TOKEN_ID, token_id, NULL,
                                 NGX_HTTP_HUELLA_ANY_TIME);
}


/* "huella_session=V; Path=/; HttpOnly; SameSite=Strict[; Secure]" */

ngx_int_t
ngx_http_huella_set_cookie(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char            *p;
    size_t             len;
    ngx_uint_t         secure;
    ngx_table_elt_t   *h;

    secure = 0;

#if (NGX_HTTP_SSL)
    secure = (r->connection->ssl != NULL);
#endif

    len = sizeof(NGX_HTTP_HUELLA_COOKIE "=") - 1 + value->len
          + sizeof("; Path=/; HttpOnly; SameSite=Strict") - 1
          + sizeof("; Max-Age=0") - 1 + sizeof("; Secure") - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Set-Cookie");
    h->lowcase_key = NULL;
    h->value.data = p;

    p = ngx_sprintf(p, NGX_HTTP_HUELLA_COOKIE "=%V; Path=/; HttpOnly; "
                    "SameSite=Strict", value);

    if (value->len == 0) {
        p = ngx_cpymem(p, "; Max-Age=0", sizeof("; Max-Age=0") - 1);
    }

    if (secure) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    h->value.len = p - h->value.data;

    return NGX_OK;
}


ngx_int_t
ngx_http_huella_random(u_char *buf, size_t len, ngx_log_t *log)
{
    ssize_t  n;

    /* the kernel's pool is initialized long before nginx runs */

    n = getrandom(buf, len, GRND_NONBLOCK);

    if (n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "huella: getrandom(%uz) failed", len);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_huella_sha256(u_char *data, size_t len, u_char *out)
{
    (void) SHA256(data, len, out);
}
