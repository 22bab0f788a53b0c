
/*
 * Huella metrics: the Prometheus text exposition (format 0.0.4) of the
 * metrics zone and of huellad's STATS reply.  Every family is written
 * whole, with its HELP and TYPE lines, in one buffer sized beforehand.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "huella_ipc.h"
#include "ngx_http_huella_metrics.h"


#define NGX_HTTP_HUELLA_METRICS_LINE       256
#define NGX_HTTP_HUELLA_METRICS_FIXED      (32 * 1024)
#define NGX_HTTP_HUELLA_METRICS_STATS_MAX  128
#define NGX_HTTP_HUELLA_METRICS_STAT_NAME  48


typedef struct {
    u_char                     name[NGX_HTTP_HUELLA_METRICS_STAT_NAME];
    size_t                     len;
    uint64_t                   value;
    ngx_uint_t                 done;
} ngx_http_huella_metrics_stat_t;


typedef struct {
    uint64_t                   pid;
    uint64_t                   subjects;
    uint64_t                   templates;
    uint64_t                   uptime;
    ngx_uint_t                 nstats;
    ngx_http_huella_metrics_stat_t
                               stats[NGX_HTTP_HUELLA_METRICS_STATS_MAX];
} ngx_http_huella_metrics_stats_t;


/* huellad's counters with a name and type of their own */
typedef struct {
    char                      *stat;
    char                      *metric;
    char                      *type;
    char                      *help;
} ngx_http_huella_metrics_known_t;


static ngx_http_huella_metrics_known_t  ngx_http_huella_metrics_known[] = {
    { "comparisons", "huella_matcher_comparisons_total", "counter",
      "Template comparisons huellad performed (1:1 and 1:N)." },
    { "errors", "huella_matcher_errors_total", "counter",
      "Requests huellad answered with an error." },
    { "clients", "huella_matcher_clients", "gauge",
      "Client links attached to huellad (nginx workers, huellactl)." },
    { "threads", "huella_matcher_threads", "gauge",
      "huellad's search worker threads." },
    { "lmdb_map_size_bytes", "huella_lmdb_map_size_bytes", "gauge",
      "Size of the LMDB map (matcher.map_size_mb)." },
    { "lmdb_map_used_bytes", "huella_lmdb_map_used_bytes", "gauge",
      "Bytes of the LMDB map in use (pages up to the last one written)." },
    { NULL, NULL, NULL, NULL }
};


static void ngx_http_huella_metrics_parse(u_char *stats, size_t len,
    ngx_http_huella_metrics_stats_t *st);
static u_char *ngx_http_huella_metrics_head(u_char *p, char *name,
    char *type, char *help);
static u_char *ngx_http_huella_metrics_routes(u_char *p,
    ngx_http_huella_metrics_shm_t *shm);
static u_char *ngx_http_huella_metrics_matcher(u_char *p,
    ngx_http_huella_metrics_scrape_t *sc);
static u_char *ngx_http_huella_metrics_huellad(u_char *p,
    ngx_http_huella_metrics_stats_t *st);


ngx_chain_t *
ngx_http_huella_metrics_text(ngx_http_request_t *r,
    ngx_http_huella_metrics_scrape_t *sc)
{
    u_char                           *p;
    size_t                            size;
    ngx_buf_t                        *b;
    ngx_uint_t                        n;
    ngx_chain_t                      *out;
    ngx_http_huella_metrics_stats_t  *st;

    st = ngx_pcalloc(r->pool, sizeof(ngx_http_huella_metrics_stats_t));
    if (st == NULL) {
        return NULL;
    }

    if (sc->matcher_up) {
        ngx_http_huella_metrics_parse(sc->stats, sc->stats_len, st);
    }

    n = ngx_min(sc->shm->nroutes, NGX_HTTP_HUELLA_METRICS_ROUTES);

    /* per route: its codes, the buckets, +Inf, _sum and _count */

    size = NGX_HTTP_HUELLA_METRICS_FIXED
           + n * (NGX_HTTP_HUELLA_METRICS_CODES
                  + NGX_HTTP_HUELLA_METRICS_BUCKETS + 3)
               * NGX_HTTP_HUELLA_METRICS_LINE
           + st->nstats * 2 * NGX_HTTP_HUELLA_METRICS_LINE;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    p = ngx_http_huella_metrics_routes(p, sc->shm);
    p = ngx_http_huella_metrics_matcher(p, sc);

    if (sc->matcher_up) {
        p = ngx_http_huella_metrics_huellad(p, st);
    }

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out = ngx_alloc_chain_link(r->pool);
    if (out == NULL) {
        return NULL;
    }

    out->buf = b;
    out->next = NULL;

    return out;
}


static void
ngx_http_huella_metrics_parse(u_char *stats, size_t len,
    ngx_http_huella_metrics_stats_t *st)
{
    u_char                          *q;
    uint16_t                         tag, itag;
    uint32_t                         flen, ilen;
    uint64_t                         v;
    const uint8_t                   *data, *idata;
    struct hipc_reader               rd, ird;
    ngx_http_huella_metrics_stat_t  *s;

    hipc_reader_init(&rd, stats, len);

    while (hipc_next(&rd, &tag, &data, &flen) == 1) {

        if (tag != HIPC_F_STAT) {
            if (flen != sizeof(uint64_t)) {
                continue;
            }

            ngx_memcpy(&v, data, sizeof(uint64_t));

            switch (tag) {
            case HIPC_F_PID:       st->pid = v; break;
            case HIPC_F_SUBJECTS:  st->subjects = v; break;
            case HIPC_F_TEMPLATES: st->templates = v; break;
            case HIPC_F_UPTIME:    st->uptime = v; break;
            }

            continue;
        }

        if (st->nstats == NGX_HTTP_HUELLA_METRICS_STATS_MAX) {
            continue;
        }

        s = &st->stats[st->nstats];
        s->len = 0;
        s->value = 0;

        hipc_reader_init(&ird, data, flen);

        while (hipc_next(&ird, &itag, &idata, &ilen) == 1) {

            if (itag == HIPC_F_NAME) {

                /* a metric name: [a-z0-9_] only */

                for (q = s->name;
                     ilen && q < s->name + NGX_HTTP_HUELLA_METRICS_STAT_NAME;
                     ilen--, idata++)
                {
                    *q++ = ((*idata >= 'a' && *idata <= 'z')
                            || (*idata >= '0' && *idata <= '9'))
                           ? *idata : '_';
                }

                s->len = q - s->name;

            } else if (itag == HIPC_F_VALUE && ilen == sizeof(uint64_t)) {
                ngx_memcpy(&s->value, idata, sizeof(uint64_t));
            }
        }

        if (s->len) {
            st->nstats++;
        }
    }
}


static u_char *
ngx_http_huella_metrics_head(u_char *p, char *name, char *type, char *help)
{
    return ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                       name, help, name, type);
}


static u_char *
ngx_http_huella_metrics_routes(u_char *p, ngx_http_huella_metrics_shm_t *shm)
{
    ngx_uint_t                        i, k, n;
    ngx_atomic_uint_t                 v, cum;
    ngx_http_huella_metrics_route_t  *rt;

    n = ngx_min(shm->nroutes, NGX_HTTP_HUELLA_METRICS_ROUTES);
    ngx_memory_barrier();

    p = ngx_http_huella_metrics_head(p, "huella_http_requests_total",
            "counter", "HTTP requests by method, route and status code.");

    for (i = 0; i < n; i++) {
        rt = &shm->routes[i];

        if (!rt->ready) {
            continue;
        }

        for (k = 0; k < NGX_HTTP_HUELLA_METRICS_CODES; k++) {
            v = rt->codes[k];

            if (v == 0) {
                continue;
            }

            p = ngx_sprintf(p, "huella_http_requests_total{method=\"%V\","
                            "route=\"%*s\",code=\"%V\"} %uA\n",
                            &ngx_http_huella_metrics_methods[rt->method],
                            rt->len, rt->name,
                            &ngx_http_huella_metrics_code_names[k], v);
        }
    }

    p = ngx_http_huella_metrics_head(p,
            "huella_http_request_duration_seconds", "histogram",
            "Time from the first byte of the request to the log phase.");

    for (i = 0; i < n; i++) {
        rt = &shm->routes[i];

        if (!rt->ready || rt->count == 0) {
            continue;
        }

        cum = 0;

        for (k = 0; k < NGX_HTTP_HUELLA_METRICS_BUCKETS; k++) {
            cum += rt->buckets[k];

            p = ngx_sprintf(p, "huella_http_request_duration_seconds_bucket"
                            "{method=\"%V\",route=\"%*s\",le=\"%s\"} %uA\n",
                            &ngx_http_huella_metrics_methods[rt->method],
                            rt->len, rt->name,
                            ngx_http_huella_metrics_les[k], cum);
        }

        /* count is added apart from the buckets: never below them */

        v = ngx_max(rt->count, cum);

        p = ngx_sprintf(p, "huella_http_request_duration_seconds_bucket"
                        "{method=\"%V\",route=\"%*s\",le=\"+Inf\"} %uA\n"
                        "huella_http_request_duration_seconds_sum"
                        "{method=\"%V\",route=\"%*s\"} %uA.%03uA\n"
                        "huella_http_request_duration_seconds_count"
                        "{method=\"%V\",route=\"%*s\"} %uA\n",
                        &ngx_http_huella_metrics_methods[rt->method],
                        rt->len, rt->name, v,
                        &ngx_http_huella_metrics_methods[rt->method],
                        rt->len, rt->name,
                        rt->sum_ms / 1000, rt->sum_ms % 1000,
                        &ngx_http_huella_metrics_methods[rt->method],
                        rt->len, rt->name, v);
    }

    p = ngx_http_huella_metrics_head(p, "huella_http_unavailable_total",
            "counter", "API answers 503, by reason (the error code).");

    for (i = 0; i < NGX_HTTP_HUELLA_METRICS_REASONS; i++) {
        p = ngx_sprintf(p, "huella_http_unavailable_total{reason=\"%V\"} "
                        "%uA\n", &ngx_http_huella_metrics_reasons[i],
                        shm->unavailable[i]);
    }

    p = ngx_http_huella_metrics_head(p,
            "huella_matcher_deadline_expiries_total", "counter",
            "API calls that got no answer from huellad within "
            "huella_deadline (503 matcher_timeout).");

    p = ngx_sprintf(p, "huella_matcher_deadline_expiries_total %uA\n",
                    shm->unavailable[0]);

    p = ngx_http_huella_metrics_head(p, "huella_logins_total", "counter",
            "Login attempts by method and result.");

    for (i = 0; i < NGX_HTTP_HUELLA_METRICS_LOGIN_KINDS; i++) {
        for (k = 0; k < NGX_HTTP_HUELLA_METRICS_LOGIN_RESULTS; k++) {
            p = ngx_sprintf(p, "huella_logins_total{method=\"%V\","
                            "result=\"%V\"} %uA\n",
                            &ngx_http_huella_metrics_login_kinds[i],
                            &ngx_http_huella_metrics_login_results[k],
                            shm->logins[i][k]);
        }
    }

    return p;
}


static u_char *
ngx_http_huella_metrics_matcher(u_char *p,
    ngx_http_huella_metrics_scrape_t *sc)
{
    time_t                             now;
    ngx_uint_t                         i, workers, up, slots, queued;
    ngx_http_huella_metrics_shm_t     *shm;
    ngx_http_huella_metrics_worker_t  *w;

    shm = sc->shm;
    now = ngx_time();
    workers = 0;
    up = 0;
    slots = 0;
    queued = 0;

    for (i = 0; i < NGX_HTTP_HUELLA_METRICS_WORKERS; i++) {
        w = &shm->workers[i];

        if (w->updated == 0
            || now - (time_t) w->updated > NGX_HTTP_HUELLA_METRICS_STALE)
        {
            continue;
        }

        workers++;
        up += w->up;
        slots += w->slots_in_use;
        queued += w->queued;
    }

    p = ngx_http_huella_metrics_head(p, "huella_matcher_up", "gauge",
            "1 when huellad answered this scrape's STATS call in time.");
    p = ngx_sprintf(p, "huella_matcher_up %ui\n", sc->matcher_up);

    p = ngx_http_huella_metrics_head(p, "huella_nginx_workers", "gauge",
            "nginx workers that reported in the last seconds.");
    p = ngx_sprintf(p, "huella_nginx_workers %ui\n", workers);

    p = ngx_http_huella_metrics_head(p, "huella_matcher_links_up", "gauge",
            "nginx workers whose link to huellad is up.");
    p = ngx_sprintf(p, "huella_matcher_links_up %ui\n", up);

    p = ngx_http_huella_metrics_head(p, "huella_matcher_slots_in_use",
            "gauge", "Link slots holding a call (all workers; abandoned "
            "ones included until huellad answers).");
    p = ngx_sprintf(p, "huella_matcher_slots_in_use %ui\n", slots);

    p = ngx_http_huella_metrics_head(p, "huella_matcher_slots", "gauge",
            "Link slots per worker (HIPC_SLOTS).");
    p = ngx_sprintf(p, "huella_matcher_slots %d\n", HIPC_SLOTS);

    p = ngx_http_huella_metrics_head(p, "huella_matcher_queue_depth",
            "gauge", "Calls sent that huellad has not picked up yet "
            "(all workers).");
    p = ngx_sprintf(p, "huella_matcher_queue_depth %ui\n", queued);

    p = ngx_http_huella_metrics_head(p, "huella_matcher_restarts_total",
            "counter", "huellad restarts seen by the workers (a new "
            "epoch in the link's handshake).");
    p = ngx_sprintf(p, "huella_matcher_restarts_total %uA\n", shm->restarts);

    p = ngx_http_huella_metrics_head(p, "huella_metrics_scrapes_total",
            "counter", "Scrapes of the metrics page served.");
    p = ngx_sprintf(p, "huella_metrics_scrapes_total %uA\n", shm->scrapes);

    p = ngx_http_huella_metrics_head(p, "huella_metrics_denied_total",
            "counter", "Requests for the metrics page refused (403).");
    p = ngx_sprintf(p, "huella_metrics_denied_total %uA\n", shm->denied);

    p = ngx_http_huella_metrics_head(p,
            "huella_metrics_start_time_seconds", "gauge",
            "Unix time the counters started (they survive reloads).");
    p = ngx_sprintf(p, "huella_metrics_start_time_seconds %uA\n",
                    shm->started);

    return p;
}


static u_char *
ngx_http_huella_metrics_huellad(u_char *p, ngx_http_huella_metrics_stats_t *st)
{
    ngx_uint_t                        i, first;
    ngx_http_huella_metrics_stat_t   *s;
    ngx_http_huella_metrics_known_t  *kn;

    p = ngx_http_huella_metrics_head(p, "huella_matcher_uptime_seconds",
            "gauge", "Seconds since huellad started.");
    p = ngx_sprintf(p, "huella_matcher_uptime_seconds %uL\n", st->uptime);

    p = ngx_http_huella_metrics_head(p, "huella_gallery_subjects", "gauge",
            "Subjects enrolled.");
    p = ngx_sprintf(p, "huella_gallery_subjects %uL\n", st->subjects);

    p = ngx_http_huella_metrics_head(p, "huella_gallery_templates", "gauge",
            "Finger templates enrolled (the 1:N gallery).");
    p = ngx_sprintf(p, "huella_gallery_templates %uL\n", st->templates);

    /* requests_<op> as one family with an op label */

    first = 1;

    for (i = 0; i < st->nstats; i++) {
        s = &st->stats[i];

        if (s->len <= sizeof("requests_") - 1
            || ngx_strncmp(s->name, "requests_", sizeof("requests_") - 1)
               != 0)
        {
            continue;
        }

        if (first) {
            p = ngx_http_huella_metrics_head(p,
                    "huella_matcher_requests_total", "counter",
                    "Requests huellad received, by operation.");
            first = 0;
        }

        p = ngx_sprintf(p, "huella_matcher_requests_total{op=\"%*s\"} "
                        "%uL\n", s->len - (sizeof("requests_") - 1),
                        s->name + sizeof("requests_") - 1, s->value);
        s->done = 1;
    }

    for (kn = ngx_http_huella_metrics_known; kn->stat; kn++) {
        for (i = 0; i < st->nstats; i++) {
            s = &st->stats[i];

            if (s->done || s->len != ngx_strlen(kn->stat)
                || ngx_strncmp(s->name, kn->stat, s->len) != 0)
            {
                continue;
            }

            p = ngx_http_huella_metrics_head(p, kn->metric, kn->type,
                                             kn->help);
            p = ngx_sprintf(p, "%s %uL\n", kn->metric, s->value);
            s->done = 1;
            break;
        }
    }

    /* counters huellad may add later, under their own name */

    first = 1;

    for (i = 0; i < st->nstats; i++) {
        s = &st->stats[i];

        if (s->done) {
            continue;
        }

        if (first) {
            p = ngx_http_huella_metrics_head(p, "huella_matcher_stat",
                    "untyped", "Other huellad counters, by name.");
            first = 0;
        }

        p = ngx_sprintf(p, "huella_matcher_stat{name=\"%*s\"} %uL\n",
                        s->len, s->name, s->value);
        s->done = 1;
    }

    return p;
}
