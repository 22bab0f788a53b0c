
/*
 * The worker's end of the shared-memory link to huellad: the call object
 * a request hands to the link and the link's entry points.
 */


#ifndef _NGX_HTTP_HUELLA_LINK_H_INCLUDED_
#define _NGX_HTTP_HUELLA_LINK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "huella_ipc.h"


/* how a call ended, in ngx_http_huella_call_t.rc */
#define NGX_HTTP_HUELLA_REPLY      0    /* a reply arrived, see status */
#define NGX_HTTP_HUELLA_DOWN       1    /* the link went down */
#define NGX_HTTP_HUELLA_TIMEOUT    2    /* the deadline passed */
#define NGX_HTTP_HUELLA_CORRUPT    3    /* the reply was malformed */


typedef struct ngx_http_huella_call_s  ngx_http_huella_call_t;

typedef void (*ngx_http_huella_call_pt)(ngx_http_huella_call_t *call);


struct ngx_http_huella_call_s {
    ngx_http_request_t        *request;     /* NULL: pool and log are set */
    ngx_pool_t                *pool;        /* the reply, the cleanup */
    ngx_log_t                 *log;
    ngx_http_huella_call_pt    handler;     /* runs once, when the call ends */
    void                      *data;

    ngx_event_t                timer;       /* the deadline */

    ngx_uint_t                 slot;
    uint32_t                   generation;

    ngx_uint_t                 rc;
    ngx_int_t                  status;      /* enum hipc_status */
    u_char                    *reply;       /* copy of the reply payload */
    size_t                     reply_len;

    ngx_http_huella_call_t    *next;        /* link-internal list */

    unsigned                   pending:1;   /* sent, waiting for a reply */
};


/* what the metrics module reports about this worker's link */
typedef struct {
    ngx_uint_t                 up;
    ngx_uint_t                 slots_in_use;  /* incl. abandoned ones */
    ngx_uint_t                 queued;      /* not yet taken by huellad */
    uint64_t                   server_pid;
    uint64_t                   epoch;       /* huellad's start, see ack */
} ngx_http_huella_link_info_t;


ngx_int_t ngx_http_huella_link_init(ngx_cycle_t *cycle, ngx_str_t *path);
void ngx_http_huella_link_exit(ngx_cycle_t *cycle);
ngx_uint_t ngx_http_huella_link_up(void);
void ngx_http_huella_link_info(ngx_http_huella_link_info_t *info);

/*
 * Sends op with the payload and arms the deadline; call->handler runs once
 * when the call ends.  A call made for a request lives in its pool; one
 * made without (call->request NULL: the session follower) brings its own
 * pool and log, and destroying that pool abandons a pending call.  NGX_OK,
 * NGX_DECLINED when the link is down, NGX_BUSY when no slot is free, or
 * NGX_ERROR.  The payload must not exceed
 * HIPC_PAYLOAD_MAX.
 */
ngx_int_t ngx_http_huella_link_call(ngx_http_huella_call_t *call,
    ngx_uint_t op, u_char *payload, size_t len, ngx_msec_t deadline);


#endif /* _NGX_HTTP_HUELLA_LINK_H_INCLUDED_ */
