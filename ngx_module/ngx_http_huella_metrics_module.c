
/*
 * Huella metrics module (a second module in the same .so): "huella_metrics
 * on" serves GET /metrics in the Prometheus text format.  This file holds
 * the directives, the shared zone, the per-worker report and the scrape;
 * the LOG phase counting is ngx_http_huella_metrics_count.c's, the text
 * ngx_http_huella_metrics_text.c's.
 *
 * Each worker reports its end of the huellad link (up, slots in use,
 * requests queued) once a second, and notices huellad restarts by the
 * epoch of the handshake.  At scrape time the scraping worker asks huellad
 * for its counters (HIPC_OP_STATS) with a short deadline; without an
 * answer the page is still served, with huella_matcher_up 0.
 *
 * Access: the client address must match "huella_metrics_allow" (loopback
 * when none is given), or the request must carry the bearer token of
 * "huella_metrics_token_file"; 403 otherwise.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_metrics.h"


#define NGX_HTTP_HUELLA_METRICS_ZONE_SIZE  (256 * 1024)
#define NGX_HTTP_HUELLA_METRICS_DEADLINE   1000
#define NGX_HTTP_HUELLA_METRICS_REPORT     1000
#define NGX_HTTP_HUELLA_METRICS_TOKEN_MIN  16
#define NGX_HTTP_HUELLA_METRICS_TOKEN_MAX  4096


typedef struct {
    ngx_http_huella_call_t     call;
    ngx_http_request_t        *request;
} ngx_http_huella_metrics_ctx_t;


static ngx_int_t ngx_http_huella_metrics_init(ngx_conf_t *cf);
static void *ngx_http_huella_metrics_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_huella_metrics_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_huella_metrics_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_huella_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_huella_metrics_allow(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_huella_metrics_token_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_huella_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_huella_metrics_init_process(ngx_cycle_t *cycle);
static void ngx_http_huella_metrics_report(ngx_event_t *ev);
static ngx_int_t ngx_http_huella_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_huella_metrics_access(ngx_http_request_t *r,
    ngx_http_huella_metrics_loc_conf_t *mlcf);
static void ngx_http_huella_metrics_done(ngx_http_huella_call_t *call);
static ngx_int_t ngx_http_huella_metrics_send(ngx_http_request_t *r,
    ngx_uint_t matcher_up, u_char *stats, size_t stats_len);


static ngx_command_t  ngx_http_huella_metrics_commands[] = {

    { ngx_string("huella_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_huella_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_huella_metrics_loc_conf_t, enable),
      NULL },

    { ngx_string("huella_metrics_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_huella_metrics_allow,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("huella_metrics_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_huella_metrics_token_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_huella_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_huella_metrics_init,          /* postconfiguration */

    ngx_http_huella_metrics_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_huella_metrics_create_loc_conf, /* create location conf */
    ngx_http_huella_metrics_merge_loc_conf /* merge location configuration */
};


ngx_module_t  ngx_http_huella_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_huella_metrics_module_ctx,   /* module context */
    ngx_http_huella_metrics_commands,      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_huella_metrics_init_process,  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_str_t  ngx_http_huella_metrics_methods[] = {
    ngx_string("GET"),
    ngx_string("HEAD"),
    ngx_string("POST"),
    ngx_string("PUT"),
    ngx_string("DELETE"),
    ngx_string("PATCH"),
    ngx_string("OPTIONS"),
    ngx_string("other")
};


ngx_str_t  ngx_http_huella_metrics_reasons[] = {
    ngx_string("matcher_timeout"),
    ngx_string("matcher_unavailable"),
    ngx_string("matcher_busy"),
    ngx_string("storage_full"),
    ngx_string("other")
};


ngx_str_t  ngx_http_huella_metrics_login_kinds[] = {
    ngx_string("password"),
    ngx_string("efirma")
};


ngx_str_t  ngx_http_huella_metrics_login_results[] = {
    ngx_string("success"),
    ngx_string("invalid_credentials"),
    ngx_string("locked"),
    ngx_string("rate_limited"),
    ngx_string("invalid_request"),
    ngx_string("error")
};


ngx_str_t  ngx_http_huella_metrics_code_names[] = {
    ngx_string("0"), ngx_string("200"), ngx_string("201"),
    ngx_string("202"), ngx_string("204"), ngx_string("206"),
    ngx_string("301"), ngx_string("302"), ngx_string("304"),
    ngx_string("400"), ngx_string("401"), ngx_string("403"),
    ngx_string("404"), ngx_string("405"), ngx_string("408"),
    ngx_string("409"), ngx_string("411"), ngx_string("413"),
    ngx_string("414"), ngx_string("415"), ngx_string("422"),
    ngx_string("423"), ngx_string("429"), ngx_string("499"),
    ngx_string("500"), ngx_string("502"), ngx_string("503"),
    ngx_string("504"), ngx_string("2xx"), ngx_string("3xx"),
    ngx_string("4xx"), ngx_string("5xx")
};


/* histogram bounds in ms (a bucket holds durations <= its bound) */
ngx_msec_t  ngx_http_huella_metrics_bounds[] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

/* the same bounds in seconds, as "le" labels; 2.5 ms counts as 2 ms */
char  *ngx_http_huella_metrics_les[] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
    "0.5", "1", "2.5", "5", "10"
};


static ngx_event_t  ngx_http_huella_metrics_timer;


static ngx_int_t
ngx_http_huella_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt                  *h;
    ngx_http_core_main_conf_t            *cmcf;
    ngx_http_huella_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_huella_metrics_module);

    if (mmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_huella_metrics_log;

    return NGX_OK;
}


static void *
ngx_http_huella_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_huella_metrics_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_huella_metrics_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mmcf->shm_zone = NULL;
     */

    return mmcf;
}


static void *
ngx_http_huella_metrics_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_huella_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_huella_metrics_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mlcf->allow = NULL;
     *     mlcf->allow_all = 0;
     *     mlcf->allow_set = 0;
     *     mlcf->token = { 0, NULL };
     */

    mlcf->enable = NGX_CONF_UNSET;

    return mlcf;
}


static char *
ngx_http_huella_metrics_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_huella_metrics_loc_conf_t *prev = parent;
    ngx_http_huella_metrics_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (!conf->allow_set) {
        conf->allow = prev->allow;
        conf->allow_all = prev->allow_all;
        conf->allow_set = prev->allow_set;
    }

    ngx_conf_merge_str_value(conf->token, prev->token, "");

    return NGX_CONF_OK;
}


static char *
ngx_http_huella_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                                 *rv;
    ngx_str_t                             name;
    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_huella_metrics_loc_conf_t   *mlcf = conf;
    ngx_http_huella_metrics_main_conf_t  *mmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK || !mlcf->enable) {
        return rv;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_huella_metrics_handler;

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_huella_metrics_module);

    if (mmcf->shm_zone) {
        return NGX_CONF_OK;
    }

    ngx_str_set(&name, "huella_metrics");

    mmcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                           NGX_HTTP_HUELLA_METRICS_ZONE_SIZE,
                                           &ngx_http_huella_metrics_module);
    if (mmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    mmcf->shm_zone->init = ngx_http_huella_metrics_init_zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_huella_metrics_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_huella_metrics_loc_conf_t *mlcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_cidr_t  *cidr;

    value = cf->args->elts;

    mlcf->allow_set = 1;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "all", 3) == 0) {
        mlcf->allow_all = 1;
        return NGX_CONF_OK;
    }

    if (value[1].len == 4 && ngx_strncmp(value[1].data, "none", 4) == 0) {
        return NGX_CONF_OK;
    }

    if (mlcf->allow == NULL) {
        mlcf->allow = ngx_array_create(cf->pool, 4, sizeof(ngx_cidr_t));
        if (mlcf->allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    cidr = ngx_array_push(mlcf->allow);
    if (cidr == NULL) {
        return NGX_CONF_ERROR;
    }

    rc = ngx_ptocidr(&value[1], cidr);

    if (rc == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid address or network \"%V\" in \"%V\" "
                           "(an address, a CIDR, \"all\" or \"none\")",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (rc == NGX_DONE) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "low address bits of %V are meaningless",
                           &value[1]);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_huella_metrics_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_huella_metrics_loc_conf_t *mlcf = conf;

    u_char           *p, *last;
    ssize_t           n;
    ngx_str_t        *value;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (mlcf->token.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_conf_full_name(cf->cycle, &value[1], 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = value[1];
    file.log = cf->log;

    file.fd = ngx_open_file(value[1].data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &value[1]);
        return NGX_CONF_ERROR;
    }

    n = NGX_ERROR;

    p = ngx_pnalloc(cf->pool, NGX_HTTP_HUELLA_METRICS_TOKEN_MAX);

    if (p != NULL && ngx_fd_info(file.fd, &fi) != NGX_FILE_ERROR) {

        if (ngx_file_access(&fi) & 0077) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "metrics token file \"%V\" is accessible by "
                               "group or others, mode 0600 is advised",
                               &value[1]);
        }

        n = ngx_read_file(&file, p, NGX_HTTP_HUELLA_METRICS_TOKEN_MAX, 0);
    }

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &value[1]);
    }

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    last = p + n;

    while (p < last && (*p == ' ' || *p == '\t' || *p == CR || *p == LF)) {
        p++;
    }

    while (last > p
           && (last[-1] == ' ' || last[-1] == '\t'
               || last[-1] == CR || last[-1] == LF))
    {
        last--;
    }

    if (last - p < NGX_HTTP_HUELLA_METRICS_TOKEN_MIN
        || n >= NGX_HTTP_HUELLA_METRICS_TOKEN_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the token in \"%V\" must have %d to %d "
                           "characters", &value[1],
                           NGX_HTTP_HUELLA_METRICS_TOKEN_MIN,
                           NGX_HTTP_HUELLA_METRICS_TOKEN_MAX - 1);
        return NGX_CONF_ERROR;
    }

    for (mlcf->token.data = p; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the token in \"%V\" contains a space or a "
                               "non-printable character", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    mlcf->token.len = last - mlcf->token.data;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_huella_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t                *shpool;
    ngx_http_huella_metrics_shm_t  *shm;

    if (data) {
        /* a reload: the counters go on */
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    shm = ngx_slab_calloc(shpool, sizeof(ngx_http_huella_metrics_shm_t));
    if (shm == NULL) {
        return NGX_ERROR;
    }

    shm->started = ngx_time();

    /* entry 0 takes what does not fit in the table */

    shm->routes[0].method = (sizeof(ngx_http_huella_metrics_methods)
                             / sizeof(ngx_str_t)) - 1;
    shm->routes[0].len = sizeof("other") - 1;
    ngx_memcpy(shm->routes[0].name, "other", sizeof("other") - 1);
    shm->routes[0].ready = 1;
    shm->nroutes = 1;

    shpool->data = shm;
    shm_zone->data = shm;

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_event_t                          *ev;
    ngx_http_huella_metrics_main_conf_t  *mmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_huella_metrics_module);

    if (mmcf == NULL || mmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    ev = &ngx_http_huella_metrics_timer;

    ngx_memzero(ev, sizeof(ngx_event_t));

    ev->handler = ngx_http_huella_metrics_report;
    ev->data = mmcf->shm_zone;
    ev->log = cycle->log;
    ev->cancelable = 1;

    /* the link's handshake is in flight: report shortly after it */

    ngx_add_timer(ev, 300);

    return NGX_OK;
}


static void
ngx_http_huella_metrics_report(ngx_event_t *ev)
{
    ngx_shm_zone_t  *shm_zone;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    shm_zone = ev->data;

    if (shm_zone->data) {
        ngx_http_huella_metrics_publish(shm_zone->data);
    }

    ngx_add_timer(ev, NGX_HTTP_HUELLA_METRICS_REPORT);
}


/* this worker's view of the link, and huellad restarts by their epoch */

void
ngx_http_huella_metrics_publish(ngx_http_huella_metrics_shm_t *shm)
{
    ngx_atomic_uint_t                  old;
    ngx_http_huella_link_info_t        info;
    ngx_http_huella_metrics_worker_t  *w;

    ngx_http_huella_link_info(&info);

    if (ngx_worker < NGX_HTTP_HUELLA_METRICS_WORKERS) {
        w = &shm->workers[ngx_worker];

        w->pid = ngx_pid;
        w->up = info.up;
        w->slots_in_use = info.slots_in_use;
        w->queued = info.queued;

        ngx_memory_barrier();

        w->updated = ngx_time();
    }

    if (!info.up || info.epoch == 0) {
        return;
    }

    for ( ;; ) {
        old = shm->last_epoch;

        if ((ngx_atomic_uint_t) info.epoch <= old) {
            return;
        }

        if (ngx_atomic_cmp_set(&shm->last_epoch, old,
                               (ngx_atomic_uint_t) info.epoch))
        {
            if (old != 0) {
                (void) ngx_atomic_fetch_add(&shm->restarts, 1);
            }

            return;
        }
    }
}


static ngx_int_t
ngx_http_huella_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                             rc;
    ngx_http_huella_metrics_ctx_t        *ctx;
    ngx_http_huella_metrics_shm_t        *shm;
    ngx_http_huella_metrics_loc_conf_t   *mlcf;
    ngx_http_huella_metrics_main_conf_t  *mmcf;

    static u_char  none[1];

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_metrics_module);
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_huella_metrics_module);

    if (mmcf->shm_zone == NULL || mmcf->shm_zone->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    shm = mmcf->shm_zone->data;

    if (ngx_http_huella_metrics_access(r, mlcf) != NGX_OK) {
        (void) ngx_atomic_fetch_add(&shm->denied, 1);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "huella: metrics refused to %V",
                      &r->connection->addr_text);

        return NGX_HTTP_FORBIDDEN;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    (void) ngx_atomic_fetch_add(&shm->scrapes, 1);

    ngx_http_huella_metrics_publish(shm);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_huella_metrics_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->call.request = r;
    ctx->call.handler = ngx_http_huella_metrics_done;
    ctx->call.data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_huella_metrics_module);

    rc = ngx_http_huella_link_call(&ctx->call, HIPC_OP_STATS, none, 0,
                                   NGX_HTTP_HUELLA_METRICS_DEADLINE);

    if (rc == NGX_OK) {
        r->main->count++;

        if (r->read_event_handler == ngx_http_block_reading) {
            r->read_event_handler = ngx_http_test_reading;
        }

        return NGX_DONE;
    }

    /* the link is down or full: the page without huellad's counters */

    return ngx_http_huella_metrics_send(r, 0, NULL, 0);
}


static ngx_int_t
ngx_http_huella_metrics_access(ngx_http_request_t *r,
    ngx_http_huella_metrics_loc_conf_t *mlcf)
{
    u_char                *p;
    size_t                 i;
    ngx_uint_t             diff;
    ngx_str_t             *auth;
    struct sockaddr       *sa;
    struct sockaddr_in    *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6   *sin6;
#endif

    if (mlcf->token.len && r->headers_in.authorization) {
        auth = &r->headers_in.authorization->value;

        if (auth->len == sizeof("Bearer ") - 1 + mlcf->token.len
            && ngx_strncasecmp(auth->data, (u_char *) "Bearer ",
                               sizeof("Bearer ") - 1) == 0)
        {
            p = auth->data + sizeof("Bearer ") - 1;
            diff = 0;

            /* in constant time */

            for (i = 0; i < mlcf->token.len; i++) {
                diff |= p[i] ^ mlcf->token.data[i];
            }

            if (diff == 0) {
                return NGX_OK;
            }
        }
    }

    if (mlcf->allow_all) {
        return NGX_OK;
    }

    if (mlcf->allow) {
        return ngx_cidr_match(r->connection->sockaddr, mlcf->allow) == NGX_OK
               ? NGX_OK : NGX_DECLINED;
    }

    if (mlcf->allow_set || mlcf->token.len) {
        return NGX_DECLINED;
    }

    /* neither an allow-list nor a token: loopback only */

    sa = r->connection->sockaddr;

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127
               ? NGX_OK : NGX_DECLINED;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;

        if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
            return NGX_OK;
        }

        return (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)
                && sin6->sin6_addr.s6_addr[12] == 127)
               ? NGX_OK : NGX_DECLINED;
#endif

#if (NGX_HAVE_UNIX_DOMAIN)
    case AF_UNIX:
        return NGX_OK;
#endif

    default:
        return NGX_DECLINED;
    }
}


static void
ngx_http_huella_metrics_done(ngx_http_huella_call_t *call)
{
    ngx_int_t                       rc;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_huella_metrics_ctx_t  *ctx;

    ctx = call->data;
    r = ctx->request;
    c = r->connection;

    if (call->rc == NGX_HTTP_HUELLA_REPLY && call->status == HIPC_ST_OK) {
        rc = ngx_http_huella_metrics_send(r, 1, call->reply, call->reply_len);

    } else {
        rc = ngx_http_huella_metrics_send(r, 0, NULL, 0);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_huella_metrics_send(ngx_http_request_t *r, ngx_uint_t matcher_up,
    u_char *stats, size_t stats_len)
{
    off_t                                 len;
    ngx_int_t                             rc;
    ngx_chain_t                          *out, *cl;
    ngx_table_elt_t                      *h;
    ngx_http_huella_metrics_scrape_t      sc;
    ngx_http_huella_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_metrics_module);

    sc.shm = mmcf->shm_zone->data;
    sc.matcher_up = matcher_up;
    sc.stats = stats;
    sc.stats_len = stats_len;

    out = ngx_http_huella_metrics_text(r, &sc);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (cl = out; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}
