/*
 * ipc_client.c -- the blocking client side of huella_ipc.h.
 *
 * Owns: creating the region (memfd sealed against shrinking, so huellad
 * can never fault on it) and the two doorbells, the handshake, and the
 * call path.  Threads sharing a client take turns as the "poller": the one
 * waiting in poll() on the reply doorbell drains the whole reply ring under
 * the lock and marks every slot whose generation matches as done; the
 * others wait on a condition variable.  A reply whose generation does not
 * match (a reply to a call that timed out, after its slot was reused) is
 * dropped.
 */

#include "ipc_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { SLOT_FREE, SLOT_WAITING, SLOT_DONE, SLOT_ORPHAN };

struct hipc_client {
    int                   sock;
    int                   memfd;
    int                   req_efd;
    int                   rep_efd;
    struct hipc_region   *r;
    pthread_mutex_t       lock;
    pthread_cond_t        cond;
    uint32_t              next_gen;
    uint32_t              expect[HIPC_SLOTS];
    uint8_t               state[HIPC_SLOTS];
    uint32_t              free_slots[HIPC_SLOTS];
    unsigned              nfree;
    int                   polling;
    int                   dead;
    uint16_t              msg_version;
    unsigned              spin_us;
    uint64_t              server_pid;
};

static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

const char *
hipc_status_name(int status)
{
    static const char *const names[] = {
        "ok", "not found", "conflict", "invalid", "bad request", "busy",
        "internal error", "protocol version mismatch", "too large", "expired"
    };

    if (status >= 0 && status < (int) (sizeof(names) / sizeof(names[0]))) {
        return names[status];
    }
    return "unknown status";
}

int
hipc_find(const void *buf, size_t len, uint16_t tag, const uint8_t **data,
    uint32_t *n)
{
    struct hipc_reader  r;
    uint16_t            t;
    int                 rc;

    hipc_reader_init(&r, buf, len);
    while ((rc = hipc_next(&r, &t, data, n)) == 1) {
        if (t == tag) {
            return 1;
        }
    }
    return rc;
}

static void
client_free(struct hipc_client *c)
{
    if (c->r) {
        munmap(c->r, HIPC_REGION_SIZE);
    }
    if (c->sock >= 0) {
        close(c->sock);
    }
    if (c->memfd >= 0) {
        close(c->memfd);
    }
    if (c->req_efd >= 0) {
        close(c->req_efd);
    }
    if (c->rep_efd >= 0) {
        close(c->rep_efd);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

struct hipc_client *
hipc_client_connect_version(const char *path, uint32_t version,
    int timeout_ms, int *ack_status, char *err, size_t errlen)
{
    struct hipc_client     *c;
    struct sockaddr_un      sa = { .sun_family = AF_UNIX };
    struct hipc_hello       hello = { 0 };
    struct hipc_hello_ack   ack;
    struct iovec            iov;
    struct msghdr           mh = { 0 };
    union {
        struct cmsghdr  h;
        char            buf[CMSG_SPACE(3 * sizeof(int))];
    } ctl;
    struct cmsghdr         *cm;
    struct timeval          tv;
    pthread_condattr_t      ca;
    int                     fds[3];
    unsigned                i;
    ssize_t                 n;

    if (ack_status) {
        *ack_status = -1;
    }
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->sock = c->memfd = c->req_efd = c->rep_efd = -1;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    c->msg_version = HIPC_VERSION;
    for (i = 0; i < HIPC_SLOTS; i++) {
        c->free_slots[i] = HIPC_SLOTS - 1 - i;
    }
    c->nfree = HIPC_SLOTS;

    c->memfd = memfd_create("huella-ipc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (c->memfd < 0 || ftruncate(c->memfd, HIPC_REGION_SIZE) != 0) {
        snprintf(err, errlen, "memfd: %s", strerror(errno));
        goto fail;
    }
    fcntl(c->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
    c->r = mmap(NULL, HIPC_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
        c->memfd, 0);
    if (c->r == MAP_FAILED) {
        c->r = NULL;
        snprintf(err, errlen, "mmap: %s", strerror(errno));
        goto fail;
    }
    c->r->magic = HIPC_MAGIC;
    c->r->version = HIPC_VERSION;
    c->r->slot_count = HIPC_SLOTS;
    c->r->slot_size = HIPC_SLOT_SIZE;
    c->req_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->rep_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->req_efd < 0 || c->rep_efd < 0 || c->sock < 0) {
        snprintf(err, errlen, "eventfd/socket: %s", strerror(errno));
        goto fail;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(c->sock, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        snprintf(err, errlen, "cannot connect to huellad at %s: %s", path,
            strerror(errno));
        goto fail;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    hello.magic = HIPC_MAGIC;
    hello.version = version;
    hello.slot_count = HIPC_SLOTS;
    hello.slot_size = HIPC_SLOT_SIZE;
    hello.region_size = HIPC_REGION_SIZE;
    hello.client_pid = (uint64_t) getpid();
    iov.iov_base = &hello;
    iov.iov_len = sizeof(hello);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
    fds[0] = c->memfd;
    fds[1] = c->req_efd;
    fds[2] = c->rep_efd;
    memcpy(CMSG_DATA(cm), fds, sizeof(fds));
    if (sendmsg(c->sock, &mh, MSG_NOSIGNAL) != (ssize_t) sizeof(hello)) {
        snprintf(err, errlen, "handshake send: %s", strerror(errno));
        goto fail;
    }
    n = recv(c->sock, &ack, sizeof(ack), MSG_WAITALL);
    if (n != (ssize_t) sizeof(ack) || ack.magic != HIPC_MAGIC) {
        snprintf(err, errlen, "huellad closed the link during the "
            "handshake%s", n < 0 && errno == EAGAIN ? " (timeout)" : "");
        goto fail;
    }
    if (ack_status) {
        *ack_status = ack.status;
    }
    if (ack.status != HIPC_ST_OK) {
        snprintf(err, errlen, "huellad refused the link: %s (huellad "
            "speaks protocol version %u)", hipc_status_name(ack.status),
            ack.version);
        goto fail;
    }
    c->server_pid = ack.server_pid;
    tv.tv_sec = tv.tv_usec = 0;
    setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return c;

fail:
    client_free(c);
    return NULL;
}

struct hipc_client *
hipc_client_connect(const char *path, int timeout_ms, char *err,
    size_t errlen)
{
    return hipc_client_connect_version(path, HIPC_VERSION, timeout_ms, NULL,
        err, errlen);
}

void
hipc_client_close(struct hipc_client *c)
{
    if (c) {
        client_free(c);
    }
}

void
hipc_client_set_msg_version(struct hipc_client *c, uint16_t version)
{
    c->msg_version = version;
}

void
hipc_client_set_spin(struct hipc_client *c, unsigned spin_us)
{
    c->spin_us = spin_us;
}

uint64_t
hipc_client_server_pid(const struct hipc_client *c)
{
    return c->server_pid;
}

int
hipc_client_fd(const struct hipc_client *c)
{
    return c->sock;
}

/* Under c->lock: moves every reply on the ring to its slot's state. */
static void
drain_replies(struct hipc_client *c)
{
    int64_t   idx;
    uint32_t  gen;

    while ((idx = hipc_ring_pop(&c->r->rep)) != -1) {
        if (idx < 0) {
            c->dead = 1;        /* huellad never corrupts the ring */
            return;
        }
        gen = c->r->slots[idx].msg.generation;
        if (gen != c->expect[idx]) {
            continue;           /* stale: not the call this slot serves */
        }
        if (c->state[idx] == SLOT_WAITING) {
            c->state[idx] = SLOT_DONE;
        } else if (c->state[idx] == SLOT_ORPHAN) {
            c->state[idx] = SLOT_FREE;
            c->free_slots[c->nfree++] = (uint32_t) idx;
        }
    }
}

static void
to_timespec(uint64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t) (ns / 1000000000u);
    ts->tv_nsec = (long) (ns % 1000000000u);
}

int
hipc_client_call(struct hipc_client *c, uint16_t op, const void *req,
    size_t req_len, void *rep, size_t rep_cap, size_t *rep_len, int *status,
    int timeout_ms)
{
    uint64_t          deadline = now_ns() + (uint64_t) timeout_ms * 1000000u;
    struct timespec   ts;
    struct hipc_slot *s;
    struct pollfd     pfd[2];
    uint64_t          drain, one = 1, t;
    uint32_t          idx, len;
    int               ms, rc = 0;
    char              byte;

    if (req_len > HIPC_PAYLOAD_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    to_timespec(deadline, &ts);
    pthread_mutex_lock(&c->lock);
    while (c->nfree == 0 && !c->dead) {
        if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&c->lock);
            errno = ETIMEDOUT;
            return -1;
        }
    }
    if (c->dead) {
        pthread_mutex_unlock(&c->lock);
        errno = EPIPE;
        return -1;
    }
    idx = c->free_slots[--c->nfree];
    c->state[idx] = SLOT_WAITING;
    if (++c->next_gen == 0) {
        c->next_gen = 1;
    }
    c->expect[idx] = c->next_gen;
    s = &c->r->slots[idx];
    s->msg.version = c->msg_version;
    s->msg.op = op;
    s->msg.generation = c->next_gen;
    s->msg.length = (uint32_t) req_len;
    s->msg.status = 0;
    s->msg.deadline_ns = deadline;
    s->msg.reserved = 0;
    if (req_len) {
        memcpy(s->payload, req, req_len);
    }
    /* The request ring has one producer per region: the lock serialises
     * this client's threads. */
    hipc_ring_push(&c->r->req, idx);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&c->r->server_sleeping)) {
        if (write(c->req_efd, &one, sizeof(one)) < 0) {
            /* EAGAIN: the counter is already non-zero, huellad will wake */
        }
    }

    for (;;) {
        if (c->state[idx] == SLOT_DONE) {
            break;
        }
        if (c->dead) {
            c->state[idx] = SLOT_ORPHAN;
            errno = EPIPE;
            rc = -1;
            goto out;
        }
        t = now_ns();
        if (t >= deadline) {
            c->state[idx] = SLOT_ORPHAN;
            errno = ETIMEDOUT;
            rc = -1;
            goto out;
        }
        if (c->polling) {
            pthread_cond_timedwait(&c->cond, &c->lock, &ts);
            continue;
        }
        c->polling = 1;
        pthread_mutex_unlock(&c->lock);
        if (c->spin_us) {
            uint64_t  until = now_ns() + c->spin_us * 1000u;

            while (hipc_ring_empty(&c->r->rep) && now_ns() < until) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
            }
        }
        pfd[0].fd = c->rep_efd;
        pfd[0].events = POLLIN;
        pfd[1].fd = c->sock;
        pfd[1].events = POLLIN;
        pfd[0].revents = pfd[1].revents = 0;
        ms = (int) ((deadline - t + 999999) / 1000000);
        if (!hipc_ring_empty(&c->r->rep)) {
            ms = 0;
        }
        if (poll(pfd, 2, ms) < 0 && errno != EINTR) {
            pfd[1].revents = POLLERR;
        }
        pthread_mutex_lock(&c->lock);
        c->polling = 0;
        if (pfd[1].revents) {
            ssize_t  n = recv(c->sock, &byte, 1, MSG_DONTWAIT);

            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                c->dead = 1;
            }
        }
        if (read(c->rep_efd, &drain, sizeof(drain)) < 0) {
            /* EAGAIN: nothing rung */
        }
        drain_replies(c);
        pthread_cond_broadcast(&c->cond);
    }

    /* Our slot is done: nobody else touches it until we free it. */
    len = s->msg.length;
    *status = s->msg.status;
    if (len > HIPC_PAYLOAD_MAX) {
        len = 0;
        *status = HIPC_ST_INTERNAL;
    }
    if (len > rep_cap) {
        errno = EMSGSIZE;
        rc = -1;
    } else {
        if (len) {
            memcpy(rep, s->payload, len);
        }
        *rep_len = len;
    }
    c->state[idx] = SLOT_FREE;
    c->free_slots[c->nfree++] = idx;
    pthread_cond_broadcast(&c->cond);
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}
