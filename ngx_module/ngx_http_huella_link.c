
/*
 * The worker's end of the shared-memory link to huellad.
 *
 * Each worker owns one link: a memfd holding a struct hipc_region, a request
 * doorbell and a reply doorbell (eventfds), and a unix socket to huellad
 * that carries the handshake and then stays open as the lifeline.  The reply
 * eventfd and the lifeline are registered in the worker's event loop as
 * nginx connections (edge-triggered), so the worker never blocks.
 *
 * A request reserves a slot, writes its payload, and sends; the reply comes
 * back in the same slot with the same generation.  Three safeguards end
 * every call: the lifeline (EOF fails every pending call at once), the
 * call's own deadline timer, and a pool cleanup that abandons the slot of a
 * request freed while it waits.  An abandoned slot is reused only once its
 * reply arrived or the link was rebuilt.  When huellad goes away the link
 * retries every NGX_HTTP_HUELLA_RETRY ms with a fresh region.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/un.h>

#include <poll.h>

#include "ngx_http_huella_link.h"


#define NGX_HTTP_HUELLA_RETRY           250
#define NGX_HTTP_HUELLA_HELLO_TIMEOUT   1000
#define NGX_HTTP_HUELLA_LOG_EVERY       40


#define NGX_HTTP_HUELLA_LINK_DOWN       0
#define NGX_HTTP_HUELLA_LINK_HELLO      1
#define NGX_HTTP_HUELLA_LINK_UP         2


/* ms a starting worker waits for the handshake, see link_init */
#define NGX_HTTP_HUELLA_STARTUP_WAIT    250


#define NGX_HTTP_HUELLA_SLOT_FREE       0
#define NGX_HTTP_HUELLA_SLOT_BUSY       1
#define NGX_HTTP_HUELLA_SLOT_ABANDONED  2


typedef struct {
    ngx_http_huella_call_t    *call;
    uint32_t                   generation;
    ngx_uint_t                 state;
} ngx_http_huella_slot_t;


typedef struct {
    ngx_str_t                  path;
    ngx_log_t                 *log;
    ngx_uint_t                 state;
    ngx_uint_t                 failures;
    time_t                     busy_logged;

    struct hipc_region        *region;
    int                        req_fd;
    ngx_connection_t          *lifeline;
    ngx_connection_t          *doorbell;    /* the reply eventfd */
    ngx_event_t                timer;       /* retry or handshake timeout */

    u_char                     ack[sizeof(struct hipc_hello_ack)];
    size_t                     ack_len;
    uint64_t                   server_pid;
    uint64_t                   epoch;

    ngx_uint_t                 nfree;
    uint32_t                   free[HIPC_SLOTS];
    ngx_http_huella_slot_t     slots[HIPC_SLOTS];
} ngx_http_huella_link_t;


static void ngx_http_huella_link_connect(ngx_http_huella_link_t *lk);
static ngx_int_t ngx_http_huella_link_hello(ngx_http_huella_link_t *lk,
    int s, int memfd, int rep_fd);
static ngx_connection_t *ngx_http_huella_link_connection(
    ngx_http_huella_link_t *lk, int fd, ngx_event_handler_pt handler);
static void ngx_http_huella_link_timer(ngx_event_t *ev);
static void ngx_http_huella_link_lifeline(ngx_event_t *rev);
static ngx_int_t ngx_http_huella_link_ack(ngx_http_huella_link_t *lk);
static void ngx_http_huella_link_doorbell(ngx_event_t *rev);
static ngx_int_t ngx_http_huella_link_drain(ngx_http_huella_link_t *lk);
static void ngx_http_huella_link_reply(ngx_http_huella_link_t *lk,
    ngx_uint_t idx);
static void ngx_http_huella_link_down(ngx_http_huella_link_t *lk);
static void ngx_http_huella_link_close(ngx_http_huella_link_t *lk);
static void ngx_http_huella_link_reset_slots(ngx_http_huella_link_t *lk);
static ngx_uint_t ngx_http_huella_link_level(ngx_http_huella_link_t *lk);
static void ngx_http_huella_link_empty(ngx_event_t *ev);
static void ngx_http_huella_call_timeout(ngx_event_t *ev);
static void ngx_http_huella_call_cleanup(void *data);
static void ngx_http_huella_call_abandon(ngx_http_huella_call_t *call);


static ngx_http_huella_link_t  ngx_http_huella_link;


ngx_int_t
ngx_http_huella_link_init(ngx_cycle_t *cycle, ngx_str_t *path)
{
    struct pollfd            pfd;
    ngx_http_huella_link_t  *lk;

    lk = &ngx_http_huella_link;

    ngx_memzero(lk, sizeof(ngx_http_huella_link_t));

    lk->path = *path;
    lk->log = cycle->log;
    lk->req_fd = -1;

    lk->timer.handler = ngx_http_huella_link_timer;
    lk->timer.data = lk;
    lk->timer.log = cycle->log;
    lk->timer.cancelable = 1;

    ngx_http_huella_link_reset_slots(lk);

    ngx_http_huella_link_connect(lk);

    /*
     * A worker that starts (first start, reload, respawn) waits briefly for
     * the handshake before its event loop accepts connections, so that its
     * first requests find the link up instead of answering 503.  Bounded,
     * and no request exists yet to be held up by it.
     */

    if (lk->state == NGX_HTTP_HUELLA_LINK_HELLO) {
        pfd.fd = lk->lifeline->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;

        if (poll(&pfd, 1, NGX_HTTP_HUELLA_STARTUP_WAIT) > 0) {
            ngx_http_huella_link_lifeline(lk->lifeline->read);
        }
    }

    return NGX_OK;
}


void
ngx_http_huella_link_exit(ngx_cycle_t *cycle)
{
    ngx_http_huella_link_t  *lk;

    lk = &ngx_http_huella_link;

    if (lk->log == NULL) {
        return;
    }

    ngx_http_huella_link_close(lk);

    lk->state = NGX_HTTP_HUELLA_LINK_DOWN;
    lk->log = NULL;
}


ngx_uint_t
ngx_http_huella_link_up(void)
{
    return ngx_http_huella_link.state == NGX_HTTP_HUELLA_LINK_UP;
}


void
ngx_http_huella_link_info(ngx_http_huella_link_info_t *info)
{
    ngx_http_huella_link_t  *lk;

    lk = &ngx_http_huella_link;

    ngx_memzero(info, sizeof(ngx_http_huella_link_info_t));

    if (lk->state != NGX_HTTP_HUELLA_LINK_UP || lk->region == NULL) {
        return;
    }

    info->up = 1;
    info->slots_in_use = HIPC_SLOTS - lk->nfree;
    info->queued = (uint32_t)
        (atomic_load_explicit(&lk->region->req.tail, memory_order_acquire)
         - atomic_load_explicit(&lk->region->req.head,
                                memory_order_acquire));
    info->server_pid = lk->server_pid;
    info->epoch = lk->epoch;
}


ngx_int_t
ngx_http_huella_link_call(ngx_http_huella_call_t *call, ngx_uint_t op,
    u_char *payload, size_t len, ngx_msec_t deadline)
{
    uint32_t                 idx;
    uint64_t                 one;
    struct timespec          ts;
    struct hipc_slot        *slot;
    ngx_pool_cleanup_t      *cln;
    ngx_http_huella_slot_t  *s;
    ngx_http_huella_link_t  *lk;

    lk = &ngx_http_huella_link;

    if (call->request) {
        call->pool = call->request->pool;
        call->log = call->request->connection->log;
    }

    if (lk->state != NGX_HTTP_HUELLA_LINK_UP) {
        return NGX_DECLINED;
    }

    if (len > HIPC_PAYLOAD_MAX) {
        return NGX_ERROR;
    }

    if (lk->nfree == 0) {
        if (lk->busy_logged != ngx_time()) {
            lk->busy_logged = ngx_time();
            ngx_log_error(NGX_LOG_WARN, call->log, 0,
                          "huella: all %d slots of the link are in use",
                          HIPC_SLOTS);
        }

        return NGX_BUSY;
    }

    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
        ngx_log_error(NGX_LOG_ALERT, call->log,
                      ngx_errno, "clock_gettime(CLOCK_MONOTONIC) failed");
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(call->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    idx = lk->free[lk->nfree - 1];

    s = &lk->slots[idx];
    slot = &lk->region->slots[idx];

    s->generation++;

    slot->msg.version = HIPC_VERSION;
    slot->msg.op = (uint16_t) op;
    slot->msg.generation = s->generation;
    slot->msg.length = (uint32_t) len;
    slot->msg.status = 0;
    slot->msg.deadline_ns = (uint64_t) ts.tv_sec * 1000000000
                            + (uint64_t) ts.tv_nsec
                            + (uint64_t) deadline * 1000000;
    slot->msg.reserved = 0;

    ngx_memcpy(slot->payload, payload, len);

    if (hipc_ring_push(&lk->region->req, idx) != 0) {
        ngx_log_error(NGX_LOG_WARN, call->log, 0,
                      "huella: request ring of the link is full");
        return NGX_BUSY;
    }

    lk->nfree--;

    s->state = NGX_HTTP_HUELLA_SLOT_BUSY;
    s->call = call;

    call->slot = idx;
    call->generation = s->generation;
    call->pending = 1;

    cln->handler = ngx_http_huella_call_cleanup;
    cln->data = call;

    atomic_thread_fence(memory_order_seq_cst);

    if (atomic_load_explicit(&lk->region->server_sleeping,
                             memory_order_relaxed))
    {
        one = 1;

        if (write(lk->req_fd, &one, sizeof(uint64_t)) == -1
            && ngx_errno != NGX_EAGAIN)
        {
            ngx_log_error(NGX_LOG_ALERT, lk->log, ngx_errno,
                          "huella: write() to request doorbell failed");
        }
    }

    call->timer.handler = ngx_http_huella_call_timeout;
    call->timer.data = call;
    call->timer.log = call->log;

    ngx_add_timer(&call->timer, deadline);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, call->log, 0,
                   "huella: op %ui sent in slot %ui gen %uD len %uz",
                   op, call->slot, call->generation, len);

    return NGX_OK;
}


static void
ngx_http_huella_link_connect(ngx_http_huella_link_t *lk)
{
    int                  s, memfd, rep_fd;
    ngx_err_t            err;
    ngx_uint_t           level;
    struct sockaddr_un   sun;

    s = -1;
    rep_fd = -1;

    memfd = memfd_create("huella-link", MFD_CLOEXEC);
    if (memfd == -1) {
        ngx_log_error(NGX_LOG_ALERT, lk->log, ngx_errno,
                      "huella: memfd_create() failed");
        goto failed;
    }

    if (ftruncate(memfd, HIPC_REGION_SIZE) == -1) {
        ngx_log_error(NGX_LOG_ALERT, lk->log, ngx_errno,
                      "huella: ftruncate() of the link region failed");
        goto failed;
    }

    lk->region = mmap(NULL, HIPC_REGION_SIZE, PROT_READ|PROT_WRITE,
                      MAP_SHARED, memfd, 0);
    if (lk->region == MAP_FAILED) {
        lk->region = NULL;
        ngx_log_error(NGX_LOG_ALERT, lk->log, ngx_errno,
                      "huella: mmap() of the link region failed");
        goto failed;
    }

    lk->region->magic = HIPC_MAGIC;
    lk->region->version = HIPC_VERSION;
    lk->region->slot_count = HIPC_SLOTS;
    lk->region->slot_size = HIPC_SLOT_SIZE;

    lk->req_fd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);
    if (lk->req_fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, lk->log, ngx_errno,
                      "huella: eventfd() failed");
        goto failed;
    }

    rep_fd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);
    if (rep_fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, lk->log, ngx_errno,
                      "huella: eventfd() failed");
        goto failed;
    }

    s = socket(AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0);
    if (s == -1) {
        ngx_log_error(NGX_LOG_ALERT, lk->log, ngx_socket_errno,
                      "huella: socket() failed");
        goto failed;
    }

    ngx_memzero(&sun, sizeof(struct sockaddr_un));
    sun.sun_family = AF_UNIX;
    ngx_memcpy(sun.sun_path, lk->path.data, lk->path.len);

    if (connect(s, (struct sockaddr *) &sun, sizeof(struct sockaddr_un))
        == -1)
    {
        err = ngx_socket_errno;
        level = ngx_http_huella_link_level(lk);

        ngx_log_error(level, lk->log, err,
                      "huella: connect() to matcher at \"%V\" failed "
                      "(attempt %ui), retrying every %d ms",
                      &lk->path, lk->failures + 1, NGX_HTTP_HUELLA_RETRY);
        goto failed;
    }

    if (ngx_http_huella_link_hello(lk, s, memfd, rep_fd) != NGX_OK) {
        goto failed;
    }

    close(memfd);
    memfd = -1;

    lk->lifeline = ngx_http_huella_link_connection(lk, s,
                                               ngx_http_huella_link_lifeline);
    if (lk->lifeline == NULL) {
        goto failed;
    }

    s = -1;

    lk->doorbell = ngx_http_huella_link_connection(lk, rep_fd,
                                               ngx_http_huella_link_doorbell);
    if (lk->doorbell == NULL) {
        goto failed;
    }

    rep_fd = -1;

    lk->state = NGX_HTTP_HUELLA_LINK_HELLO;
    lk->ack_len = 0;

    ngx_add_timer(&lk->timer, NGX_HTTP_HUELLA_HELLO_TIMEOUT);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, lk->log, 0,
                   "huella: hello sent to \"%V\"", &lk->path);

    return;

failed:

    lk->failures++;

    if (memfd != -1) {
        close(memfd);
    }

    if (rep_fd != -1) {
        close(rep_fd);
    }

    if (s != -1) {
        close(s);
    }

    ngx_http_huella_link_close(lk);

    lk->state = NGX_HTTP_HUELLA_LINK_DOWN;

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(&lk->timer, NGX_HTTP_HUELLA_RETRY);
    }
}


static ngx_int_t
ngx_http_huella_link_hello(ngx_http_huella_link_t *lk, int s, int memfd,
    int rep_fd)
{
    int                 fds[3];
    ssize_t             n;
    struct iovec        iov;
    struct msghdr       msg;
    struct cmsghdr     *cmsg;
    struct hipc_hello   hello;

    union {
        struct cmsghdr  cm;
        u_char          space[CMSG_SPACE(sizeof(fds))];
    } control;

    ngx_memzero(&hello, sizeof(struct hipc_hello));

    hello.magic = HIPC_MAGIC;
    hello.version = HIPC_VERSION;
    hello.slot_count = HIPC_SLOTS;
    hello.slot_size = HIPC_SLOT_SIZE;
    hello.region_size = HIPC_REGION_SIZE;
    hello.client_pid = (uint64_t) ngx_pid;

    fds[0] = memfd;
    fds[1] = lk->req_fd;
    fds[2] = rep_fd;

    ngx_memzero(&control, sizeof(control));
    ngx_memzero(&msg, sizeof(struct msghdr));

    iov.iov_base = &hello;
    iov.iov_len = sizeof(struct hipc_hello);

    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = CMSG_SPACE(sizeof(fds));

    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_len = CMSG_LEN(sizeof(fds));
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    ngx_memcpy(CMSG_DATA(cmsg), fds, sizeof(fds));

    n = sendmsg(s, &msg, MSG_NOSIGNAL);

    if (n == -1) {
        ngx_log_error(NGX_LOG_ERR, lk->log, ngx_socket_errno,
                      "huella: sendmsg() of hello to \"%V\" failed",
                      &lk->path);
        return NGX_ERROR;
    }

    if ((size_t) n != sizeof(struct hipc_hello)) {
        ngx_log_error(NGX_LOG_ERR, lk->log, 0,
                      "huella: short sendmsg() of hello to \"%V\"",
                      &lk->path);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_connection_t *
ngx_http_huella_link_connection(ngx_http_huella_link_t *lk, int fd,
    ngx_event_handler_pt handler)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(fd, lk->log);
    if (c == NULL) {
        return NULL;
    }

    c->data = lk;
    c->log = lk->log;

    c->read->handler = handler;
    c->read->log = lk->log;
    c->write->handler = ngx_http_huella_link_empty;
    c->write->log = lk->log;

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_CLEAR_EVENT) != NGX_OK) {
        /* the caller closes the descriptor */
        ngx_free_connection(c);
        return NULL;
    }

    return c;
}


static void
ngx_http_huella_link_timer(ngx_event_t *ev)
{
    ngx_http_huella_link_t  *lk;

    lk = ev->data;

    if (lk->state == NGX_HTTP_HUELLA_LINK_HELLO) {
        ngx_log_error(ngx_http_huella_link_level(lk), lk->log, 0,
                      "huella: matcher at \"%V\" did not answer the "
                      "handshake in %d ms", &lk->path,
                      NGX_HTTP_HUELLA_HELLO_TIMEOUT);
        ngx_http_huella_link_down(lk);
        return;
    }

    if (lk->state == NGX_HTTP_HUELLA_LINK_DOWN) {
        ngx_http_huella_link_connect(lk);
    }
}


static void
ngx_http_huella_link_lifeline(ngx_event_t *rev)
{
    u_char                   buf[64];
    ssize_t                  n;
    ngx_err_t                err;
    ngx_uint_t               up, level;
    ngx_connection_t        *c;
    ngx_http_huella_link_t  *lk;

    c = rev->data;
    lk = c->data;

    for ( ;; ) {

        if (lk->state == NGX_HTTP_HUELLA_LINK_HELLO) {
            n = recv(c->fd, lk->ack + lk->ack_len,
                     sizeof(struct hipc_hello_ack) - lk->ack_len, 0);

        } else {
            n = recv(c->fd, buf, sizeof(buf), 0);
        }

        if (n == 0) {
            up = (lk->state == NGX_HTTP_HUELLA_LINK_UP);
            level = up ? NGX_LOG_ERR : ngx_http_huella_link_level(lk);

            ngx_log_error(level, lk->log, 0,
                          "huella: matcher at \"%V\" closed the link%s",
                          &lk->path, up ? "" : " during the handshake");
            ngx_http_huella_link_down(lk);
            return;
        }

        if (n == -1) {
            err = ngx_socket_errno;

            if (err == NGX_EAGAIN) {
                break;
            }

            if (err == NGX_EINTR) {
                continue;
            }

            ngx_log_error(NGX_LOG_ERR, lk->log, err,
                          "huella: recv() from matcher at \"%V\" failed",
                          &lk->path);
            ngx_http_huella_link_down(lk);
            return;
        }

        if (lk->state != NGX_HTTP_HUELLA_LINK_HELLO) {
            ngx_log_error(NGX_LOG_WARN, lk->log, 0,
                          "huella: %z unexpected bytes on the lifeline "
                          "ignored", n);
            continue;
        }

        lk->ack_len += n;

        if (lk->ack_len < sizeof(struct hipc_hello_ack)) {
            continue;
        }

        if (ngx_http_huella_link_ack(lk) != NGX_OK) {
            ngx_http_huella_link_down(lk);
            return;
        }
    }
}


static ngx_int_t
ngx_http_huella_link_ack(ngx_http_huella_link_t *lk)
{
    struct hipc_hello_ack  ack;

    ngx_memcpy(&ack, lk->ack, sizeof(struct hipc_hello_ack));

    if (ack.magic != HIPC_MAGIC) {
        ngx_log_error(ngx_http_huella_link_level(lk), lk->log, 0,
                      "huella: \"%V\" is not a huella matcher "
                      "(bad magic 0x%08xD)", &lk->path, ack.magic);
        return NGX_ERROR;
    }

    if (ack.version != HIPC_VERSION || ack.status != HIPC_ST_OK) {
        ngx_log_error(ngx_http_huella_link_level(lk), lk->log, 0,
                      "huella: matcher at \"%V\" refused the link "
                      "(status %D, its protocol version %uD, ours %d)",
                      &lk->path, ack.status, ack.version, HIPC_VERSION);
        return NGX_ERROR;
    }

    if (lk->timer.timer_set) {
        ngx_del_timer(&lk->timer);
    }

    lk->state = NGX_HTTP_HUELLA_LINK_UP;
    lk->server_pid = ack.server_pid;
    lk->epoch = ack.epoch;

    ngx_log_error(NGX_LOG_NOTICE, lk->log, 0,
                  "huella: attached to matcher pid %uL epoch %uL at \"%V\""
                  "%s", ack.server_pid, ack.epoch, &lk->path,
                  lk->failures ? " (reattached)" : "");

    lk->failures = 0;

    return NGX_OK;
}


static void
ngx_http_huella_link_doorbell(ngx_event_t *rev)
{
    uint64_t                 count;
    ngx_connection_t        *c;
    ngx_http_huella_link_t  *lk;

    c = rev->data;
    lk = c->data;

    /* reading the eventfd resets it; replies rung later ring again */

    if (read(c->fd, &count, sizeof(uint64_t)) == -1
        && ngx_errno != NGX_EAGAIN)
    {
        ngx_log_error(NGX_LOG_ALERT, lk->log, ngx_errno,
                      "huella: read() from reply doorbell failed");
    }

    if (lk->state != NGX_HTTP_HUELLA_LINK_UP) {
        return;
    }

    if (ngx_http_huella_link_drain(lk) != NGX_OK) {
        ngx_http_huella_link_down(lk);
    }
}


static ngx_int_t
ngx_http_huella_link_drain(ngx_http_huella_link_t *lk)
{
    int64_t  idx;

    for ( ;; ) {

        if (lk->region == NULL) {
            return NGX_OK;
        }

        idx = hipc_ring_pop(&lk->region->rep);

        if (idx == -1) {
            return NGX_OK;
        }

        if (idx < 0) {
            ngx_log_error(NGX_LOG_ALERT, lk->log, 0,
                          "huella: corrupt reply ring, dropping the link");
            return NGX_ERROR;
        }

        ngx_http_huella_link_reply(lk, (ngx_uint_t) idx);
    }
}


static void
ngx_http_huella_link_reply(ngx_http_huella_link_t *lk, ngx_uint_t idx)
{
    const char              *reason;
    struct hipc_msg          msg;
    struct hipc_slot        *slot;
    ngx_http_huella_call_t  *call;
    ngx_http_huella_slot_t  *s;

    s = &lk->slots[idx];
    slot = &lk->region->slots[idx];

    ngx_memcpy(&msg, &slot->msg, sizeof(struct hipc_msg));

    if (s->state != NGX_HTTP_HUELLA_SLOT_BUSY
        && s->state != NGX_HTTP_HUELLA_SLOT_ABANDONED)
    {
        ngx_log_error(NGX_LOG_WARN, lk->log, 0,
                      "huella: reply in idle slot %ui dropped", idx);
        return;
    }

    if (msg.generation != s->generation) {
        ngx_log_error(NGX_LOG_WARN, lk->log, 0,
                      "huella: stale reply in slot %ui dropped "
                      "(generation %uD, expected %uD)",
                      idx, msg.generation, s->generation);
        return;
    }

    call = s->call;

    s->state = NGX_HTTP_HUELLA_SLOT_FREE;
    s->call = NULL;
    lk->free[lk->nfree++] = (uint32_t) idx;

    if (call == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, lk->log, 0,
                       "huella: late reply in abandoned slot %ui", idx);
        return;
    }

    call->pending = 0;

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }

    reason = hipc_msg_check(&msg);

    if (reason) {
        ngx_log_error(NGX_LOG_ERR, call->log, 0,
                      "huella: malformed reply in slot %ui: %s",
                      idx, reason);
        call->rc = NGX_HTTP_HUELLA_CORRUPT;
        call->handler(call);
        return;
    }

    call->rc = NGX_HTTP_HUELLA_REPLY;
    call->status = msg.status;
    call->reply_len = msg.length;

    call->reply = ngx_pnalloc(call->pool, msg.length + 1);
    if (call->reply == NULL) {
        call->rc = NGX_HTTP_HUELLA_CORRUPT;
        call->handler(call);
        return;
    }

    ngx_memcpy(call->reply, slot->payload, msg.length);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, call->log, 0,
                   "huella: reply in slot %ui status %D len %uD",
                   idx, msg.status, msg.length);

    call->handler(call);
}


static void
ngx_http_huella_link_down(ngx_http_huella_link_t *lk)
{
    ngx_uint_t               i;
    ngx_http_huella_call_t  *call, *failed;

    /* replies already in the ring are delivered, not failed */

    if (lk->state == NGX_HTTP_HUELLA_LINK_UP) {
        (void) ngx_http_huella_link_drain(lk);
    }

    if (lk->state == NGX_HTTP_HUELLA_LINK_UP) {
        ngx_log_error(NGX_LOG_ERR, lk->log, 0,
                      "huella: link to matcher pid %uL is down, "
                      "reconnecting", lk->server_pid);
    }

    ngx_http_huella_link_close(lk);

    lk->state = NGX_HTTP_HUELLA_LINK_DOWN;
    lk->failures++;

    failed = NULL;

    for (i = 0; i < HIPC_SLOTS; i++) {
        call = lk->slots[i].call;

        if (call && lk->slots[i].state == NGX_HTTP_HUELLA_SLOT_BUSY) {
            call->pending = 0;
            call->next = failed;
            failed = call;
        }
    }

    ngx_http_huella_link_reset_slots(lk);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(&lk->timer, NGX_HTTP_HUELLA_RETRY);
    }

    while (failed) {
        call = failed;
        failed = call->next;

        if (call->timer.timer_set) {
            ngx_del_timer(&call->timer);
        }

        call->rc = NGX_HTTP_HUELLA_DOWN;
        call->handler(call);
    }
}


static void
ngx_http_huella_link_close(ngx_http_huella_link_t *lk)
{
    if (lk->timer.timer_set) {
        ngx_del_timer(&lk->timer);
    }

    if (lk->lifeline) {
        ngx_close_connection(lk->lifeline);
        lk->lifeline = NULL;
    }

    if (lk->doorbell) {
        ngx_close_connection(lk->doorbell);
        lk->doorbell = NULL;
    }

    if (lk->req_fd != -1) {
        close(lk->req_fd);
        lk->req_fd = -1;
    }

    if (lk->region) {
        if (munmap(lk->region, HIPC_REGION_SIZE) == -1) {
            ngx_log_error(NGX_LOG_ALERT, lk->log, ngx_errno,
                          "huella: munmap() of the link region failed");
        }

        lk->region = NULL;
    }
}


static void
ngx_http_huella_link_reset_slots(ngx_http_huella_link_t *lk)
{
    ngx_uint_t  i;

    lk->nfree = 0;

    for (i = 0; i < HIPC_SLOTS; i++) {
        lk->slots[i].state = NGX_HTTP_HUELLA_SLOT_FREE;
        lk->slots[i].call = NULL;

        /* lowest index on top: warm slots are reused first */
        lk->free[lk->nfree++] = (uint32_t) (HIPC_SLOTS - 1 - i);
    }
}


/*
 * While the matcher stays away the same failure repeats every retry: it is
 * logged at the first attempt, then once every NGX_HTTP_HUELLA_LOG_EVERY.
 */

static ngx_uint_t
ngx_http_huella_link_level(ngx_http_huella_link_t *lk)
{
    if (lk->failures == 0) {
        return NGX_LOG_ERR;
    }

    if (lk->failures % NGX_HTTP_HUELLA_LOG_EVERY == 0) {
        return NGX_LOG_WARN;
    }

    return NGX_LOG_DEBUG;
}


static void
ngx_http_huella_link_empty(ngx_event_t *ev)
{
}


static void
ngx_http_huella_call_timeout(ngx_event_t *ev)
{
    ngx_http_huella_call_t  *call;

    call = ev->data;

    ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                  "huella: matcher did not answer in slot %ui before "
                  "the deadline", call->slot);

    ngx_http_huella_call_abandon(call);

    call->rc = NGX_HTTP_HUELLA_TIMEOUT;
    call->handler(call);
}


static void
ngx_http_huella_call_cleanup(void *data)
{
    ngx_http_huella_call_t  *call = data;

    if (call->pending) {
        ngx_log_error(NGX_LOG_INFO, call->log, 0,
                      "huella: request freed while waiting for the "
                      "matcher, slot %ui abandoned", call->slot);

        ngx_http_huella_call_abandon(call);
    }
}


static void
ngx_http_huella_call_abandon(ngx_http_huella_call_t *call)
{
    ngx_http_huella_slot_t  *s;

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }

    if (!call->pending) {
        return;
    }

    call->pending = 0;

    s = &ngx_http_huella_link.slots[call->slot];

    if (s->call == call && s->generation == call->generation) {
        s->state = NGX_HTTP_HUELLA_SLOT_ABANDONED;
        s->call = NULL;
    }
}
