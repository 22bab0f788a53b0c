
/*
 * Huella metrics: what the three files of the metrics module share.
 *
 *   ngx_http_huella_metrics_module.c  directives, the shared zone, the
 *                                     per-worker link report, GET /metrics
 *   ngx_http_huella_metrics_count.c   the LOG phase: requests by route and
 *                                     code, latency, 503 reasons, logins
 *   ngx_http_huella_metrics_text.c    the Prometheus text exposition
 */


#ifndef _NGX_HTTP_HUELLA_METRICS_H_INCLUDED_
#define _NGX_HTTP_HUELLA_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_HUELLA_METRICS_ROUTES     96   /* method + route pairs */
#define NGX_HTTP_HUELLA_METRICS_ROUTE_LEN  72
#define NGX_HTTP_HUELLA_METRICS_WORKERS    64
#define NGX_HTTP_HUELLA_METRICS_CODES      32
#define NGX_HTTP_HUELLA_METRICS_BUCKETS    13   /* +Inf is the count */
#define NGX_HTTP_HUELLA_METRICS_REASONS    5
#define NGX_HTTP_HUELLA_METRICS_LOGIN_KINDS    2
#define NGX_HTTP_HUELLA_METRICS_LOGIN_RESULTS  6

/* a worker's report older than this (seconds) is not counted */
#define NGX_HTTP_HUELLA_METRICS_STALE      5


typedef struct {
    ngx_atomic_t               ready;       /* name is complete */
    ngx_uint_t                 method;      /* index in the method names */
    size_t                     len;
    u_char                     name[NGX_HTTP_HUELLA_METRICS_ROUTE_LEN];

    ngx_atomic_t               codes[NGX_HTTP_HUELLA_METRICS_CODES];
    ngx_atomic_t               buckets[NGX_HTTP_HUELLA_METRICS_BUCKETS];
    ngx_atomic_t               count;
    ngx_atomic_t               sum_ms;
} ngx_http_huella_metrics_route_t;


typedef struct {
    ngx_atomic_t               updated;     /* ngx_time() of the report */
    ngx_atomic_t               pid;
    ngx_atomic_t               up;
    ngx_atomic_t               slots_in_use;
    ngx_atomic_t               queued;
} ngx_http_huella_metrics_worker_t;


typedef struct {
    ngx_atomic_t               started;     /* unix time the zone was made */
    ngx_atomic_t               restarts;    /* huellad epochs seen change */
    ngx_atomic_t               last_epoch;
    ngx_atomic_t               unavailable[NGX_HTTP_HUELLA_METRICS_REASONS];
    ngx_atomic_t               logins[NGX_HTTP_HUELLA_METRICS_LOGIN_KINDS]
                                     [NGX_HTTP_HUELLA_METRICS_LOGIN_RESULTS];
    ngx_atomic_t               scrapes;
    ngx_atomic_t               denied;

    ngx_http_huella_metrics_worker_t
                               workers[NGX_HTTP_HUELLA_METRICS_WORKERS];

    ngx_atomic_t               lock;        /* taken to add a route */
    ngx_atomic_t               nroutes;     /* entries made, 0 = "other" */
    ngx_http_huella_metrics_route_t
                               routes[NGX_HTTP_HUELLA_METRICS_ROUTES];
} ngx_http_huella_metrics_shm_t;


/* reasons of a 503, see ngx_http_huella_metrics_reasons */
#define NGX_HTTP_HUELLA_METRICS_TIMEOUT      0
#define NGX_HTTP_HUELLA_METRICS_UNAVAILABLE  1
#define NGX_HTTP_HUELLA_METRICS_BUSY         2
#define NGX_HTTP_HUELLA_METRICS_FULL         3
#define NGX_HTTP_HUELLA_METRICS_OTHER        4

typedef struct {
    ngx_shm_zone_t            *shm_zone;
} ngx_http_huella_metrics_main_conf_t;


typedef struct {
    ngx_flag_t                 enable;
    ngx_array_t               *allow;       /* ngx_cidr_t */
    ngx_uint_t                 allow_all;
    ngx_uint_t                 allow_set;
    ngx_str_t                  token;
} ngx_http_huella_metrics_loc_conf_t;


/* what the text writer needs besides the zone */
typedef struct {
    ngx_http_huella_metrics_shm_t  *shm;

    ngx_uint_t                 matcher_up;  /* STATS answered */
    u_char                    *stats;       /* the STATS reply payload */
    size_t                     stats_len;
} ngx_http_huella_metrics_scrape_t;


extern ngx_module_t  ngx_http_huella_metrics_module;


extern ngx_str_t   ngx_http_huella_metrics_methods[];
extern ngx_str_t   ngx_http_huella_metrics_reasons[];
extern ngx_str_t   ngx_http_huella_metrics_login_kinds[];
extern ngx_str_t   ngx_http_huella_metrics_login_results[];
extern ngx_str_t   ngx_http_huella_metrics_code_names[];
extern ngx_msec_t  ngx_http_huella_metrics_bounds[];
extern char       *ngx_http_huella_metrics_les[];


/* ngx_http_huella_metrics_module.c */
void ngx_http_huella_metrics_publish(ngx_http_huella_metrics_shm_t *shm);

/* ngx_http_huella_metrics_count.c: the LOG phase handler */
ngx_int_t ngx_http_huella_metrics_log(ngx_http_request_t *r);

/* ngx_http_huella_metrics_text.c: the exposition, NULL on no memory */
ngx_chain_t *ngx_http_huella_metrics_text(ngx_http_request_t *r,
    ngx_http_huella_metrics_scrape_t *sc);


#endif /* _NGX_HTTP_HUELLA_METRICS_H_INCLUDED_ */
