/*
 * ipc_server.c -- huellad's end of the shared-memory link (huella_ipc.h).
 *
 * Owns: the listening unix socket, the handshake (hello + memfd and two
 * eventfds by SCM_RIGHTS, checked and answered with an ack), one ring thread
 * per client link, the reply path (hd_reply) and the link's lifetime.
 *
 * Ring thread: pops request slots, copies each request out of shared memory
 * (so a client scribbling on its slot cannot change what was validated) and
 * hands it to ops_handle().  When the ring is empty it spins for a bounded,
 * adaptive time (matcher.spin_us, and never more spinners than half the
 * cores), then announces server_sleeping, re-checks the ring after a seq_cst
 * fence (the client does the mirror image, so no doorbell is lost) and
 * sleeps in poll() on the request eventfd and the lifeline socket.
 *
 * Lifetime: a link is reference-counted; the ring thread holds one
 * reference and every request handed to another thread holds one, so the
 * region stays mapped until the last late reply is written (and dropped).
 */

#include "ipc_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct hd_conn {
    _Atomic int           refs;
    _Atomic int           dead;
    int                   sock;
    int                   memfd;
    int                   req_efd;
    int                   rep_efd;
    struct hipc_region   *region;
    pthread_mutex_t       reply_lock;   /* the reply ring has many producers */
    uint64_t              client_pid;
};

static struct {
    struct hd_config      cfg;
    int                   listen_fd;
    int                   stop_efd;
    pthread_t             accept_thread;
    int                   running;
    _Atomic unsigned      clients;
    _Atomic unsigned      spinners;
    unsigned              max_spinners;
    uint64_t              epoch;
    _Atomic int           warned_seal;
} srv = { .listen_fd = -1, .stop_efd = -1 };

static void
log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
log_msg(const char *fmt, ...)
{
    va_list  ap;
    char     buf[512];

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "huellad[%d]: %s\n", (int) getpid(), buf);
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

unsigned
ipc_server_clients(void)
{
    return atomic_load(&srv.clients);
}

/* ---- link lifetime -------------------------------------------------------- */

void
hd_conn_ref(struct hd_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void
hd_conn_unref(struct hd_conn *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1) {
        return;
    }
    if (c->region) {
        munmap(c->region, HIPC_REGION_SIZE);
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
    if (c->sock >= 0) {
        close(c->sock);
    }
    pthread_mutex_destroy(&c->reply_lock);
    free(c);
    atomic_fetch_sub(&srv.clients, 1);
}

/* ---- replies -------------------------------------------------------------- */

void
hd_reply(const struct hd_request *rq, int status, const void *payload,
    size_t len)
{
    struct hd_conn    *c = rq->conn;
    struct hipc_slot  *s;
    uint64_t           one = 1;
    int                pushed;

    if (c == NULL) {
        return;     /* huellad's own request (a dedup job): nobody waits */
    }
    if (atomic_load_explicit(&c->dead, memory_order_acquire)) {
        return;
    }
    s = &c->region->slots[rq->slot];
    if (len > HIPC_PAYLOAD_MAX) {
        len = 0;
        status = HIPC_ST_TOO_LARGE;
    }
    if (len && payload != s->payload) {
        memcpy(s->payload, payload, len);
    }
    s->msg.version = HIPC_VERSION;
    s->msg.op = rq->op;
    s->msg.generation = rq->generation;
    s->msg.length = (uint32_t) len;
    s->msg.status = status;

    /* The push's release store publishes the slot's bytes above. */
    pthread_mutex_lock(&c->reply_lock);
    pushed = hipc_ring_push(&c->region->rep, rq->slot);
    pthread_mutex_unlock(&c->reply_lock);
    if (pushed != 0) {
        /* A client with more than HIPC_SLOTS requests in flight broke the
         * protocol: drop the link rather than guess. */
        log_msg("client %llu overflowed its reply ring; dropping the link",
            (unsigned long long) c->client_pid);
        atomic_store(&c->dead, 1);
        shutdown(c->sock, SHUT_RDWR);
    }
    /* Always ring: the client sleeps in epoll and has no flag to read. */
    if (write(c->rep_efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        atomic_store(&c->dead, 1);
    }
}

/* ---- handshake ------------------------------------------------------------ */

static int
fd_is_eventfd(int fd)
{
    char  path[64], target[64];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        return 0;
    }
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

static void
send_ack(struct hd_conn *c, int status)
{
    struct hipc_hello_ack  ack = { 0 };

    ack.magic = HIPC_MAGIC;
    ack.version = HIPC_VERSION;
    ack.status = status;
    ack.server_pid = (uint64_t) getpid();
    ack.epoch = srv.epoch;
    if (send(c->sock, &ack, sizeof(ack), MSG_NOSIGNAL) != sizeof(ack)) {
        log_msg("cannot send the handshake ack: %s", strerror(errno));
    }
}

/* Receives and checks the hello; 0 when the link is ready.  On refusal an
 * ack with the reason's status has been sent. */
static int
handshake(struct hd_conn *c)
{
    struct hipc_hello   hello;
    struct iovec        iov = { &hello, sizeof(hello) };
    union {
        struct cmsghdr  h;
        char            buf[CMSG_SPACE(8 * sizeof(int))];
    } ctl;
    struct msghdr       mh = { 0 };
    struct cmsghdr     *cm;
    struct timeval      tv = { 2, 0 };
    struct stat         st;
    int                 fds[8], nfds = 0, i, seals;
    ssize_t             n;
    void               *map;

    setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof(ctl.buf);
    n = recvmsg(c->sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            int  k = (int) ((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

            for (i = 0; i < k && nfds < 8; i++) {
                memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int),
                    sizeof(int));
            }
        }
    }
    if (nfds == 3) {
        c->memfd = fds[0];
        c->req_efd = fds[1];
        c->rep_efd = fds[2];
    } else {
        for (i = 0; i < nfds; i++) {
            close(fds[i]);
        }
    }
    if (n != (ssize_t) sizeof(hello)) {
        if (n != 0) {   /* 0: a probe that connected and left (fine) */
            log_msg("handshake: short hello (%zd bytes)", n);
        }
        return -1;
    }
    if (hello.magic != HIPC_MAGIC) {
        send_ack(c, HIPC_ST_BAD_REQUEST);
        log_msg("handshake: bad magic 0x%08x", hello.magic);
        return -1;
    }
    if (hello.version != HIPC_VERSION) {
        send_ack(c, HIPC_ST_BAD_VERSION);
        log_msg("handshake refused: client pid %llu speaks protocol version "
            "%u, this huellad speaks %u", (unsigned long long)
            hello.client_pid, hello.version, HIPC_VERSION);
        return -1;
    }
    c->client_pid = hello.client_pid;
    if (nfds != 3 || (mh.msg_flags & MSG_CTRUNC)
        || hello.slot_count != HIPC_SLOTS
        || hello.slot_size != HIPC_SLOT_SIZE
        || hello.region_size != HIPC_REGION_SIZE)
    {
        send_ack(c, HIPC_ST_BAD_REQUEST);
        log_msg("handshake refused: %d descriptors, %u slots of %u bytes, "
            "region %llu bytes", nfds, hello.slot_count, hello.slot_size,
            (unsigned long long) hello.region_size);
        return -1;
    }
    if (fstat(c->memfd, &st) != 0 || !S_ISREG(st.st_mode)
        || (uint64_t) st.st_size < HIPC_REGION_SIZE
        || !fd_is_eventfd(c->req_efd) || !fd_is_eventfd(c->rep_efd))
    {
        send_ack(c, HIPC_ST_BAD_REQUEST);
        log_msg("handshake refused: descriptors are not memfd + 2 eventfds "
            "of the right size");
        return -1;
    }
    /* A client that shrinks the memfd would make huellad fault (SIGBUS):
     * seal it when the client allowed sealing. */
    seals = fcntl(c->memfd, F_GET_SEALS);
    if (seals >= 0 && !(seals & F_SEAL_SHRINK)) {
        if (fcntl(c->memfd, F_ADD_SEALS, F_SEAL_SHRINK) != 0
            && !atomic_exchange(&srv.warned_seal, 1))
        {
            log_msg("warning: client pid %llu's memfd cannot be sealed "
                "against shrinking (create it with MFD_ALLOW_SEALING)",
                (unsigned long long) c->client_pid);
        }
    }
    map = mmap(NULL, HIPC_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
        c->memfd, 0);
    if (map == MAP_FAILED) {
        send_ack(c, HIPC_ST_INTERNAL);
        log_msg("handshake: mmap failed: %s", strerror(errno));
        return -1;
    }
    c->region = map;
    if (c->region->magic != HIPC_MAGIC || c->region->version != HIPC_VERSION
        || c->region->slot_count != HIPC_SLOTS
        || c->region->slot_size != HIPC_SLOT_SIZE)
    {
        send_ack(c, HIPC_ST_BAD_REQUEST);
        log_msg("handshake refused: the region's header does not match");
        return -1;
    }
    if (atomic_load(&srv.clients) > srv.cfg.max_clients) {
        send_ack(c, HIPC_ST_BUSY);
        log_msg("handshake refused: %u clients already (matcher."
            "max_clients)", srv.cfg.max_clients);
        return -1;
    }
    tv.tv_sec = 0;
    setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    send_ack(c, HIPC_ST_OK);
    return 0;
}

/* ---- the ring thread ------------------------------------------------------ */

/* Serves one slot.  rq is the thread's buffer. */
static void
serve_slot(struct hd_conn *c, struct hd_request *rq, struct hd_thread *th,
    uint32_t idx)
{
    struct hipc_slot  *s = &c->region->slots[idx];
    struct hipc_msg    m;
    const char        *why;

    memcpy(&m, &s->msg, sizeof(m));
    rq->conn = c;
    rq->slot = idx;
    rq->generation = m.generation;
    rq->op = m.op;
    rq->deadline_ns = m.deadline_ns;
    rq->prep = NULL;
    rq->prep_free = NULL;
    rq->len = 0;
    why = hipc_msg_check(&m);
    if (why) {
        ops_reply_error(rq, m.version != HIPC_VERSION ? HIPC_ST_BAD_VERSION
            : HIPC_ST_BAD_REQUEST, m.version != HIPC_VERSION
            ? "protocol_version" : "malformed_request", NULL,
            "%s (huellad speaks version %u)", why, HIPC_VERSION);
        return;
    }
    rq->len = m.length;
    memcpy(rq->payload, s->payload, m.length);
    if (hd_expired(rq)) {
        ops_reply_error(rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the request's deadline passed before huellad read it");
        return;
    }
    ops_handle(rq, th);
}

/* Spins up to budget_ns for a request; 1 if one arrived. */
static int
spin_for_work(struct hd_conn *c, uint64_t budget_ns)
{
    unsigned  cur = atomic_load(&srv.spinners), i;
    uint64_t  t0;
    int       found = 0;

    if (budget_ns == 0) {
        return 0;
    }
    do {
        if (cur >= srv.max_spinners) {
            return 0;
        }
    } while (!atomic_compare_exchange_weak(&srv.spinners, &cur, cur + 1));
    t0 = hd_now_ns();
    while (!found) {
        for (i = 0; i < 64; i++) {
            if (!hipc_ring_empty(&c->region->req)) {
                found = 1;
                break;
            }
            cpu_relax();
        }
        if (hd_now_ns() - t0 >= budget_ns) {
            break;
        }
    }
    atomic_fetch_sub(&srv.spinners, 1);
    return found;
}

/* 0 while the peer is there; -1 at EOF or error (the lifeline broke). */
static int
lifeline_check(struct hd_conn *c)
{
    char     buf[256];
    ssize_t  n = recv(c->sock, buf, sizeof(buf), MSG_DONTWAIT);

    if (n > 0) {
        return 0;       /* nothing is defined after the hello: ignore */
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    {
        return 0;
    }
    return -1;
}

static void
ring_loop(struct hd_conn *c)
{
    struct hipc_region  *r = c->region;
    struct hd_thread    *th = hd_thread_new();
    struct hd_request   *rq = malloc(sizeof(*rq) + HIPC_PAYLOAD_MAX);
    struct pollfd        pfd[2];
    uint64_t             max_spin = (uint64_t) srv.cfg.spin_us * 1000u;
    uint64_t             spin = max_spin, slept, count = 0;
    uint64_t             drain;
    int64_t              idx;

    if (th == NULL || rq == NULL) {
        log_msg("out of memory for a client link");
        goto out;
    }
    while (!atomic_load_explicit(&c->dead, memory_order_acquire)) {
        idx = hipc_ring_pop(&r->req);
        if (idx >= 0) {
            serve_slot(c, rq, th, (uint32_t) idx);
            if ((++count & 1023) == 0 && lifeline_check(c) != 0) {
                break;
            }
            continue;
        }
        if (idx == -2) {
            log_msg("client %llu corrupted its request ring; dropping the "
                "link", (unsigned long long) c->client_pid);
            break;
        }
        if (spin_for_work(c, spin)) {
            spin = max_spin;
            continue;
        }
        atomic_store(&r->server_sleeping, 1);
        atomic_thread_fence(memory_order_seq_cst);
        if (!hipc_ring_empty(&r->req)) {
            atomic_store(&r->server_sleeping, 0);
            continue;
        }
        slept = hd_now_ns();
        pfd[0].fd = c->req_efd;
        pfd[0].events = POLLIN;
        pfd[1].fd = c->sock;
        pfd[1].events = POLLIN;
        pfd[0].revents = pfd[1].revents = 0;
        if (poll(pfd, 2, 1000) < 0 && errno != EINTR) {
            break;
        }
        atomic_store(&r->server_sleeping, 0);
        if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
            && lifeline_check(c) != 0)
        {
            break;
        }
        if (pfd[0].revents & POLLIN) {
            if (read(c->req_efd, &drain, sizeof(drain)) < 0) {
                /* nonblocking and already drained: fine */
            }
        }
        /* Adapt: when work came soon after we gave up spinning, spinning
         * would have paid; when the link is idle, spin less and less. */
        slept = hd_now_ns() - slept;
        if (slept <= 2 * max_spin) {
            spin = max_spin;
        } else {
            spin /= 2;
            if (spin < 1000) {
                spin = 0;
            }
        }
    }
out:
    atomic_store(&c->dead, 1);
    hd_thread_free(th);
    free(rq);
}

static void *
conn_main(void *arg)
{
    struct hd_conn  *c = arg;

    if (handshake(c) == 0) {
        ring_loop(c);
    }
    atomic_store(&c->dead, 1);
    hd_conn_unref(c);
    return NULL;
}

/* ---- listening ------------------------------------------------------------ */

static void *
accept_main(void *arg)
{
    struct pollfd    pfd[2];
    struct hd_conn  *c;
    pthread_t        t;
    pthread_attr_t   attr;
    int              fd;

    (void) arg;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (;;) {
        pfd[0].fd = srv.listen_fd;
        pfd[0].events = POLLIN;
        pfd[1].fd = srv.stop_efd;
        pfd[1].events = POLLIN;
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (pfd[1].revents) {
            break;
        }
        fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                usleep(10000);
            }
            continue;
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        atomic_init(&c->refs, 1);
        c->sock = fd;
        c->memfd = c->req_efd = c->rep_efd = -1;
        pthread_mutex_init(&c->reply_lock, NULL);
        atomic_fetch_add(&srv.clients, 1);
        if (pthread_create(&t, &attr, conn_main, c) != 0) {
            log_msg("cannot start a ring thread");
            hd_conn_unref(c);
        }
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

int
ipc_server_start(const struct hd_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_un  sa = { .sun_family = AF_UNIX };
    struct timespec     ts;
    long                ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int                 probe;

    srv.cfg = *cfg;
    clock_gettime(CLOCK_REALTIME, &ts);
    srv.epoch = (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
    /* At most half the cores spin at once (at least one), so a 2-core box
     * always keeps a core for nginx. */
    srv.max_spinners = ncpu > 2 ? (unsigned) ncpu / 2 : 1;

    if (strlen(cfg->socket_path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long: %s", cfg->socket_path);
        return -1;
    }
    memcpy(sa.sun_path, cfg->socket_path, strlen(cfg->socket_path) + 1);

    /* A socket file that still answers belongs to a live huellad. */
    probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
        if (connect(probe, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
            close(probe);
            snprintf(err, errlen, "another huellad is listening on %s",
                cfg->socket_path);
            return -1;
        }
        close(probe);
    }
    unlink(cfg->socket_path);

    srv.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (srv.listen_fd < 0
        || bind(srv.listen_fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || chmod(cfg->socket_path, cfg->socket_mode) != 0
        || listen(srv.listen_fd, 128) != 0)
    {
        snprintf(err, errlen, "cannot listen on %s: %s", cfg->socket_path,
            strerror(errno));
        if (srv.listen_fd >= 0) {
            close(srv.listen_fd);
            srv.listen_fd = -1;
        }
        return -1;
    }
    srv.stop_efd = eventfd(0, EFD_CLOEXEC);
    if (srv.stop_efd < 0
        || pthread_create(&srv.accept_thread, NULL, accept_main, NULL) != 0)
    {
        snprintf(err, errlen, "cannot start the accept thread");
        return -1;
    }
    srv.running = 1;
    return 0;
}

void
ipc_server_stop(void)
{
    uint64_t  one = 1;

    if (!srv.running) {
        return;
    }
    if (write(srv.stop_efd, &one, sizeof(one)) < 0) {
        log_msg("cannot stop the accept thread: %s", strerror(errno));
    }
    pthread_join(srv.accept_thread, NULL);
    close(srv.listen_fd);
    srv.listen_fd = -1;
    unlink(srv.cfg.socket_path);
    srv.running = 0;
}
