
/*
 * The session follower: huellad's credential-event feed applied to the
 * session zone ("huella_session_sync", docs/identity-api.md "Sessions and
 * credential changes").
 *
 * huellad appends an event to a durable log in the same transaction as
 * every change that must end sessions (a new password, new roles) or a
 * cached bearer token (its revocation).  nginx
 * ends sessions when the change's answer reaches it; the feed is what ends
 * them when that answer was lost, and in every other nginx.  Each worker
 * has a timer; at each tick it asks huellad (op CREDENTIAL_EVENTS, through
 * the worker's link, with a deadline) for the events after the last one
 * applied.  That sequence number lives in the session zone, so the workers
 * share it, and so does a flag with the time the poll in flight went out:
 * one poll at a time across the workers, the flag expiring after the
 * call's deadline should its worker die.  A poll never blocks the worker;
 * a huellad away only means the next tick tries again.
 *
 * Applying: a "password" event ends the account's sessions that last
 * proved the credential before the event's time, a "roles" event those
 * made before it, a "token" event drops the token's cached answer; then
 * the zone's sequence advances.  A fresh zone starts
 * at huellad's head (it holds no session yet).  Events pruned before this
 * nginx read them end every session made before the oldest event still
 * kept (fail closed); a head behind the sequence applied (huellad restored
 * from an older backup) restarts from the head.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_link.h"
#include "ngx_http_huella_auth.h"
#include "ngx_http_huella_shstore.h"


#define NGX_HTTP_HUELLA_SYNC_DEADLINE   2000    /* ms, of one poll */
#define NGX_HTTP_HUELLA_SYNC_EXPIRE     3000    /* ms: a flag left older
                                                   belongs to a dead poll */
#define NGX_HTTP_HUELLA_SYNC_MAX        1024    /* events asked per poll */
#define NGX_HTTP_HUELLA_SYNC_LOG_EVERY  30      /* failed polls per log */


typedef struct {
    ngx_event_t                   timer;
    ngx_msec_t                    interval;
    ngx_shm_zone_t               *zone;
    ngx_log_t                    *log;
    ngx_pool_t                   *pool;       /* of the poll in flight */
    uint64_t                      started;    /* its flag in the zone */
    ngx_uint_t                    asked_since;
    ngx_uint_t                    failures;
} ngx_http_huella_sync_t;


typedef struct {
    uint64_t                      head;
    uint64_t                      oldest;
    uint64_t                      oldest_at;  /* 0: not in the reply */
    uint64_t                      since_at;   /* 0: not in the reply */
    uint64_t                      last;       /* the last event's seq */
    uint64_t                      last_at;    /* and its time, 0: unknown */
    ngx_uint_t                    events;
    ngx_uint_t                    has_head:1;
    ngx_uint_t                    has_oldest:1;
} ngx_http_huella_feed_t;


static void ngx_http_huella_sync_tick(ngx_event_t *ev);
static void ngx_http_huella_sync_poll(ngx_http_huella_sync_t *sy);
static void ngx_http_huella_sync_done(ngx_http_huella_call_t *call);
static ngx_int_t ngx_http_huella_sync_scan(ngx_http_huella_sync_t *sy,
    u_char *reply, size_t len, ngx_http_huella_feed_t *fd);
static ngx_int_t ngx_http_huella_sync_apply(ngx_http_huella_sync_t *sy,
    u_char *reply, size_t len, ngx_http_huella_feed_t *fd);
static ngx_int_t ngx_http_huella_sync_event(ngx_http_huella_sync_t *sy,
    const uint8_t *data, uint32_t len, ngx_array_t *batch, uint64_t *seq,
    uint64_t *at);
static ngx_uint_t ngx_http_huella_sync_merge(ngx_array_t *batch);
static void ngx_http_huella_sync_release(ngx_http_huella_sync_t *sy,
    ngx_http_huella_feed_t *fd);
static void ngx_http_huella_sync_failed(ngx_http_huella_sync_t *sy,
    ngx_http_huella_call_t *call);


static ngx_http_huella_sync_t  ngx_http_huella_sync;


/* huella_session_sync off | <interval> */

char *
ngx_http_huella_session_sync(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_huella_main_conf_t *hmcf = conf;

    ngx_str_t   *value;
    ngx_msec_t   ms;

    if (hmcf->session_sync != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        hmcf->session_sync = 0;
        return NGX_CONF_OK;
    }

    ms = ngx_parse_time(&value[1], 0);

    if (ms == (ngx_msec_t) NGX_ERROR || ms < 100 || ms > 3600000) {
        return "must be \"off\" or an interval from 100ms to 1h";
    }

    hmcf->session_sync = ms;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_huella_sync_init(ngx_cycle_t *cycle,
    ngx_http_huella_main_conf_t *hmcf)
{
    ngx_http_huella_sync_t  *sy;

    if (hmcf->session_sync == 0 || hmcf->session_zone == NULL
        || hmcf->matcher.len == 0)
    {
        return NGX_OK;
    }

    sy = &ngx_http_huella_sync;

    ngx_memzero(sy, sizeof(ngx_http_huella_sync_t));

    sy->interval = hmcf->session_sync;
    sy->zone = hmcf->session_zone;
    sy->log = cycle->log;

    sy->timer.handler = ngx_http_huella_sync_tick;
    sy->timer.data = sy;
    sy->timer.log = cycle->log;
    sy->timer.cancelable = 1;       /* never holds up a graceful exit */

    /* the first poll as soon as the link is up: a fresh zone learns the
     * head before sessions exist */

    ngx_add_timer(&sy->timer, 1);

    return NGX_OK;
}


static void
ngx_http_huella_sync_tick(ngx_event_t *ev)
{
    ngx_http_huella_sync_t  *sy;

    sy = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (sy->pool == NULL) {
        ngx_http_huella_sync_poll(sy);
    }

    ngx_add_timer(&sy->timer, sy->interval);
}


static void
ngx_http_huella_sync_poll(ngx_http_huella_sync_t *sy)
{
    u_char                      *buf;
    uint64_t                     now, since;
    ngx_int_t                    rc;
    ngx_uint_t                   known;
    struct hipc_writer           w;
    ngx_http_huella_call_t      *call;
    ngx_http_huella_shstore_t   *zone;

    if (!ngx_http_huella_link_up()) {
        return;
    }

    zone = sy->zone->data;
    now = ngx_http_huella_now_ms();

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (zone->sh->sync_started != 0
        && now - zone->sh->sync_started < NGX_HTTP_HUELLA_SYNC_EXPIRE
        && now >= zone->sh->sync_started)
    {
        /* another worker's poll is under way */

        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    /* our stamp: non-zero and never equal to the last one's */

    if (now <= zone->sh->sync_started) {
        now = zone->sh->sync_started + 1;
    }

    zone->sh->sync_started = now;
    since = zone->sh->sync_seq;
    known = zone->sh->sync_known;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    sy->started = now;
    sy->asked_since = known;

    sy->pool = ngx_create_pool(1024, sy->log);
    if (sy->pool == NULL) {
        goto failed;
    }

    call = ngx_pcalloc(sy->pool, sizeof(ngx_http_huella_call_t));
    buf = ngx_palloc(sy->pool, 64);

    if (call == NULL || buf == NULL) {
        goto failed;
    }

    hipc_writer_init(&w, buf, 64);

    if (known) {
        hipc_put_u64(&w, HIPC_F_SINCE, since);
    }

    hipc_put_u32(&w, HIPC_F_MAX_EVENTS, NGX_HTTP_HUELLA_SYNC_MAX);

    call->pool = sy->pool;
    call->log = sy->log;
    call->handler = ngx_http_huella_sync_done;
    call->data = sy;

    rc = ngx_http_huella_link_call(call, HIPC_OP_CREDENTIAL_EVENTS, w.buf,
                                   w.len, NGX_HTTP_HUELLA_SYNC_DEADLINE);

    if (rc == NGX_OK) {
        return;
    }

failed:

    ngx_http_huella_sync_release(sy, NULL);

    if (sy->pool) {
        ngx_destroy_pool(sy->pool);
        sy->pool = NULL;
    }
}


static void
ngx_http_huella_sync_done(ngx_http_huella_call_t *call)
{
    ngx_int_t                rc;
    ngx_pool_t              *pool;
    ngx_http_huella_feed_t   fd;
    ngx_http_huella_sync_t  *sy;

    sy = call->data;
    rc = NGX_ERROR;

    ngx_memzero(&fd, sizeof(ngx_http_huella_feed_t));

    if (call->rc == NGX_HTTP_HUELLA_REPLY && call->status == HIPC_ST_OK) {
        rc = ngx_http_huella_sync_scan(sy, call->reply, call->reply_len,
                                       &fd);
        if (rc == NGX_OK) {
            rc = ngx_http_huella_sync_apply(sy, call->reply,
                                            call->reply_len, &fd);
        }
    }

    if (rc == NGX_ERROR) {
        ngx_http_huella_sync_failed(sy, call);
        ngx_http_huella_sync_release(sy, NULL);

    } else {
        sy->failures = 0;
    }

    /* the call is done with: its pool can go (the link holds no pointer) */

    pool = sy->pool;
    sy->pool = NULL;
    ngx_destroy_pool(pool);

    /* more than one reply holds: go on at once */

    if (rc == NGX_OK && fd.events && fd.last < fd.head
        && !ngx_exiting && !ngx_terminate && !ngx_quit)
    {
        ngx_http_huella_sync_poll(sy);
    }
}


/* the reply's HEAD, OLDEST and its events, checked before any is applied */

static ngx_int_t
ngx_http_huella_sync_scan(ngx_http_huella_sync_t *sy, u_char *reply,
    size_t len, ngx_http_huella_feed_t *fd)
{
    int                  rc;
    uint16_t             tag;
    uint32_t             n;
    uint64_t             seq, at, prev;
    const uint8_t       *data;
    struct hipc_reader   rd;

    prev = 0;

    hipc_reader_init(&rd, reply, len);

    while ((rc = hipc_next(&rd, &tag, &data, &n)) == 1) {

        switch (tag) {

        case HIPC_F_HEAD:
            if (hipc_get_u64(data, n, &fd->head) != 0) {
                goto malformed;
            }

            fd->has_head = 1;
            break;

        case HIPC_F_OLDEST:
            if (hipc_get_u64(data, n, &fd->oldest) != 0) {
                goto malformed;
            }

            fd->has_oldest = 1;
            break;

        case HIPC_F_SINCE_AT:
            if (hipc_get_u64(data, n, &fd->since_at) != 0) {
                goto malformed;
            }

            break;

        case HIPC_F_CRED_EVENT:
            if (ngx_http_huella_sync_event(sy, data, n, NULL, &seq, &at)
                != NGX_OK
                || seq <= prev)
            {
                goto malformed;
            }

            if (seq == fd->oldest) {
                fd->oldest_at = at;
            }

            prev = seq;
            fd->last = seq;
            fd->last_at = at;
            fd->events++;
            break;

        default:
            break;          /* a newer huellad may say more */
        }
    }

    if (rc < 0 || !fd->has_head || !fd->has_oldest
        || (fd->events && fd->last > fd->head))
    {
        goto malformed;
    }

    return NGX_OK;

malformed:

    ngx_log_error(NGX_LOG_ERR, sy->log, 0,
                  "huella: malformed credential-event reply from the "
                  "matcher");

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_huella_sync_apply(ngx_http_huella_sync_t *sy, u_char *reply,
    size_t len, ngx_http_huella_feed_t *fd)
{
    uint16_t                    tag;
    uint32_t                    n;
    uint64_t                    seq, at, applied, applied_at, bound;
    ngx_uint_t                  known, ended, accounts, level;
    ngx_array_t                 batch;
    const uint8_t              *data;
    struct hipc_reader          rd;
    ngx_http_huella_shstore_t  *zone;

    zone = sy->zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (zone->sh->sync_started != sy->started) {

        /* too late: our flag expired and another poll took over */

        ngx_shmtx_unlock(&zone->shpool->mutex);

        fd->events = 0;
        return NGX_DECLINED;
    }

    applied = zone->sh->sync_seq;
    applied_at = zone->sh->sync_at;
    known = zone->sh->sync_known;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (!known || !sy->asked_since) {

        /* a fresh zone holds no session an earlier event could end */

        ngx_log_error(NGX_LOG_INFO, sy->log, 0,
                      "huella: following credential events from %uL",
                      fd->head);

        fd->events = 0;
        fd->last = fd->head;
        ngx_http_huella_sync_release(sy, fd);
        return NGX_OK;
    }

    if (fd->head < applied) {
        ngx_log_error(NGX_LOG_WARN, sy->log, 0,
                      "huella: the matcher's credential events end at %uL, "
                      "before %uL already applied (its data restored from "
                      "an older backup?): following from %uL", fd->head,
                      applied, fd->head);

        fd->events = 0;
        fd->last = fd->head;
        fd->last_at = 0;
        ngx_http_huella_sync_release(sy, fd);
        return NGX_OK;
    }

    if (fd->since_at && applied_at && fd->since_at != applied_at) {

        /*
         * The event numbered as the last one applied is another one: the
         * log was restored from an older backup and has grown again since.
         * What this nginx skipped cannot be told apart: fail closed.
         */

        ended = ngx_http_huella_session_end(sy->zone, NULL,
                                            NGX_HTTP_HUELLA_ANY_TIME,
                                            NGX_HTTP_HUELLA_ANY_TIME);

        ngx_log_error(NGX_LOG_WARN, sy->log, 0,
                      "huella: the matcher's credential event %uL is not "
                      "the one applied (its data restored from an older "
                      "backup, then changed?): %ui sessions ended, "
                      "following from %uL", applied, ended, fd->head);

        fd->events = 0;
        fd->last = fd->head;
        fd->last_at = 0;
        ngx_http_huella_sync_release(sy, fd);
        return NGX_OK;
    }

    if (fd->oldest > applied + 1) {

        /*
         * Events this nginx never saw were pruned: any session made before
         * the oldest one kept may be outdated by them.  Fail closed.
         */

        bound = fd->oldest_at ? fd->oldest_at : NGX_HTTP_HUELLA_ANY_TIME;

        ended = ngx_http_huella_session_end(sy->zone, NULL,
                                            NGX_HTTP_HUELLA_ANY_TIME, bound);

        ngx_log_error(NGX_LOG_WARN, sy->log, 0,
                      "huella: credential events %uL to %uL were pruned "
                      "before this nginx read them: %ui sessions made "
                      "before the oldest kept ended", applied + 1,
                      fd->oldest - 1, ended);

        if (fd->events == 0) {
            fd->last = fd->head;
            fd->last_at = 0;
        }
    }

    /* what the events say of each account, then their sessions, through
     * the account index, under one hold of the lock */

    if (fd->events) {
        if (ngx_array_init(&batch, sy->pool, fd->events,
                           sizeof(ngx_http_huella_outdated_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        hipc_reader_init(&rd, reply, len);

        while (hipc_next(&rd, &tag, &data, &n) == 1) {
            if (tag == HIPC_F_CRED_EVENT
                && ngx_http_huella_sync_event(sy, data, n, &batch, &seq,
                                              &at)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        accounts = ngx_http_huella_sync_merge(&batch);

        ended = ngx_http_huella_session_end_outdated(sy->zone, batch.elts,
                                                     accounts);

        level = ended ? NGX_LOG_NOTICE : NGX_LOG_INFO;

        ngx_log_error(level, sy->log, 0,
                      "huella: credential events %uL to %uL (%ui "
                      "accounts): %ui sessions ended", applied + 1,
                      fd->last, accounts, ended);
    }

    if (fd->events == 0 && fd->oldest <= applied + 1) {
        fd->last = applied;
        fd->last_at = applied_at;
    }

    ngx_http_huella_sync_release(sy, fd);

    return NGX_OK;
}


/*
 * One CRED_EVENT: checked (batch NULL), or applied: an account's password
 * and roles changes are added to batch (applied together), a revoked
 * token leaves the token cache at once.  *seq and *at get its number and
 * time.
 */

static ngx_int_t
ngx_http_huella_sync_event(ngx_http_huella_sync_t *sy, const uint8_t *data,
    uint32_t len, ngx_array_t *batch, uint64_t *seq, uint64_t *at)
{
    uint16_t                     tag;
    uint32_t                     n;
    ngx_str_t                    curp, kind, token_id;
    ngx_uint_t                   has_seq, has_at;
    const uint8_t               *d;
    struct hipc_reader           rd;
    ngx_http_huella_outdated_t  *o;

    ngx_str_null(&curp);
    ngx_str_null(&kind);
    ngx_str_null(&token_id);
    has_seq = 0;
    has_at = 0;

    hipc_reader_init(&rd, data, len);

    while (hipc_next(&rd, &tag, &d, &n) == 1) {

        switch (tag) {

        case HIPC_F_SEQ:
            has_seq = (hipc_get_u64(d, n, seq) == 0);
            break;

        case HIPC_F_EVENT_AT:
            has_at = (hipc_get_u64(d, n, at) == 0);
            break;

        case HIPC_F_CURP:
            curp.data = (u_char *) d;
            curp.len = n;
            break;

        case HIPC_F_TOKEN_ID:
            token_id.data = (u_char *) d;
            token_id.len = n;
            break;

        case HIPC_F_EVENT_KIND:
            kind.data = (u_char *) d;
            kind.len = n;
            break;

        default:
            break;
        }
    }

    if (!has_seq || !has_at || *at == 0 || kind.len == 0
        || (curp.len == 0 && token_id.len == 0))
    {
        return NGX_ERROR;
    }

    if (batch == NULL) {
        return NGX_OK;
    }

    if (curp.len == 0) {

        /* a revoked token (or a later kind about one): not in the cache
         * any more */

        if (ngx_http_huella_token_cache_end(sy->zone, &token_id)) {
            ngx_log_error(NGX_LOG_NOTICE, sy->log, 0,
                          "huella: credential event %uL: token \"%V\" "
                          "revoked, dropped from the cache", *seq,
                          &token_id);
        }

        return NGX_OK;
    }

    o = ngx_array_push(batch);
    if (o == NULL) {
        return NGX_ERROR;
    }

    o->curp = curp;                 /* points into the reply */
    o->password_at = 0;
    o->roles_at = 0;

    if (kind.len == sizeof("password") - 1
        && ngx_strncmp(kind.data, "password", kind.len) == 0)
    {
        /* sessions that proved the credential before the new one */

        o->password_at = *at;

    } else {

        /* "roles", or a kind this nginx does not know: the sessions made
         * before it end */

        o->roles_at = *at;
    }

    return NGX_OK;
}


/* sorts the batch by CURP and folds each account's entries into one */

static ngx_uint_t
ngx_http_huella_sync_merge(ngx_array_t *batch)
{
    ngx_uint_t                   i, n;
    ngx_http_huella_outdated_t  *o;

    o = batch->elts;

    if (batch->nelts == 0) {
        return 0;
    }

    ngx_qsort(o, batch->nelts, sizeof(ngx_http_huella_outdated_t),
              ngx_http_huella_outdated_cmp);

    n = 0;

    for (i = 1; i < batch->nelts; i++) {

        if (ngx_http_huella_outdated_cmp(&o[n], &o[i]) == 0) {
            o[n].password_at = ngx_max(o[n].password_at, o[i].password_at);
            o[n].roles_at = ngx_max(o[n].roles_at, o[i].roles_at);
            continue;
        }

        o[++n] = o[i];
    }

    return n + 1;
}


/*
 * Lowers the zone's flag if it is still ours; with a feed, the sequence
 * advances to its last event first.
 */

static void
ngx_http_huella_sync_release(ngx_http_huella_sync_t *sy,
    ngx_http_huella_feed_t *fd)
{
    ngx_http_huella_shstore_t  *zone;

    zone = sy->zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (zone->sh->sync_started == sy->started) {

        if (fd) {
            zone->sh->sync_seq = fd->last;
            zone->sh->sync_at = fd->last_at;
            zone->sh->sync_known = 1;
        }

        zone->sh->sync_started = 0;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* logged at the first failure, then once every few */

static void
ngx_http_huella_sync_failed(ngx_http_huella_sync_t *sy,
    ngx_http_huella_call_t *call)
{
    ngx_uint_t  level;

    level = (sy->failures % NGX_HTTP_HUELLA_SYNC_LOG_EVERY == 0)
            ? NGX_LOG_WARN : NGX_LOG_DEBUG;

    sy->failures++;

    ngx_log_error(level, sy->log, 0,
                  "huella: credential events not read (rc:%ui status:%i), "
                  "next try in %M ms", call->rc, call->status, sy->interval);
}
